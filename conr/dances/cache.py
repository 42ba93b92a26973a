"""Rendered dances on disk, so each (dance, size, fps, convention) is rendered once.

A cached dance is an ordinary UDP archive: a zip of 16-bit RGBA PNG frames
(``00000.png`` ...; stored, PNG already compresses), readable by
``conr.udp.open_udp_sequence`` and ``python -m conr render --poses``. Its
name holds the dance, size and fps plus a hash of everything else that
changes the pixels (motion keys, mesh and rig, convention, format version),
so an edit invalidates it. The zip is written to a temporary name and
renamed when complete, so a crash never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Iterable

import numpy as np

from ..runtime import cache_folder
from ..udp import write_udp_zip

#: Bump when the way frames are produced or stored changes.
FORMAT_VERSION = 1

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def default_cache_dir() -> Path:
    """``$CONR_CACHE_DIR/dances``, else ``~/.cache/conr/dances``."""
    return cache_folder("dances")


def cache_name(dance: str, size: int, fps: float, parts: Iterable[str]) -> str:
    """File stem for a rendered dance; ``parts`` are the fingerprints of everything else involved."""
    digest = hashlib.sha1(json.dumps([FORMAT_VERSION, *parts]).encode()).hexdigest()[:12]
    return f"{dance}-{size}px-{fps:g}fps-{digest}"


def lock_for(path: Path) -> threading.Lock:
    """One lock per cache entry, so two threads asking for the same dance render it once."""
    with _locks_guard:
        return _locks.setdefault(str(path), threading.Lock())


def write_cache(path: Path, frames: Iterable[np.ndarray], meta: dict) -> Path:
    """Write ``frames`` (16-bit PNG) and ``meta.json`` into the zip at ``path``, complete or not at all."""
    return write_udp_zip(path, frames, "png", extra={"meta.json": json.dumps(meta, indent=1)})
