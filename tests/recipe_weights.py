"""Deterministic "recipe" weights in the released checkpoints' exact layout.

The rule (from the reference fixture's README): for tensor KEY of checkpoint
STEM, seed numpy's default_rng with crc32("STEM.KEY") and draw a standard
normal of the tensor's shape as float32; tensors of 2+ dimensions are scaled
by sqrt(2 / fan_in), 1-D tensors named ``*weight`` are 0.5 + 0.2 z, others
0.05 z. The original implementation's outputs for these weights are in
``fixtures/conr-reference/expected``.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import numpy as np
import torch

MANIFEST = Path(__file__).parent / "fixtures" / "conr-reference" / "state_dict_manifest.json"


def recipe_tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
    z = np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape).astype(np.float32)
    if len(shape) >= 2:
        return z * np.float32(np.sqrt(2.0 / int(np.prod(shape[1:]))))
    if name.endswith("weight"):
        return np.float32(0.5) + np.float32(0.2) * z
    return np.float32(0.05) * z


def manifest() -> dict[str, dict[str, list[int]]]:
    return json.loads(MANIFEST.read_text())


def write_recipe_weights(directory: Path) -> Path:
    """Write the four .pth files into ``directory`` (about 6 s, 720 MB), once per manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / "MANIFEST_SHA1"
    digest = hashlib.sha1(MANIFEST.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest and all((directory / f"{s}.pth").is_file() for s in manifest()):
        return directory
    for stem, keys in manifest().items():
        state = {k: torch.from_numpy(recipe_tensor(f"{stem}.{k}", tuple(s))) for k, s in keys.items()}
        tmp = directory / f"{stem}.pth.tmp"
        torch.save(state, tmp)
        os.replace(tmp, directory / f"{stem}.pth")
    stamp.write_text(digest)
    return directory
