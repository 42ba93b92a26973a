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
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from ..runtime import cache_folder

#: Bump when the way frames are produced or stored changes.
FORMAT_VERSION = 1
#: zlib level for the PNG frames: fast, and barely larger than the default.
PNG_COMPRESSION = 1

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def default_cache_dir() -> Path:
    """``$CONR_CACHE_DIR/dances``, else ``~/.cache/conr/dances``."""
    return cache_folder("dances")


def cache_name(dance: str, size: int, fps: float, parts: Iterable[str]) -> str:
    """File stem for a rendered dance; ``parts`` are the fingerprints of everything else involved."""
    digest = hashlib.sha1(json.dumps([FORMAT_VERSION, *parts]).encode()).hexdigest()[:12]
    return f"{dance}-{size}px-{fps:g}fps-{digest}"


def encode_frame(frame: np.ndarray) -> bytes:
    """A UDP frame as 16-bit RGBA PNG bytes (value x 65535, rounded)."""
    png = np.round(np.clip(frame, 0.0, 1.0) * 65535.0).astype(np.uint16)
    ok, data = cv2.imencode(".png", cv2.cvtColor(png, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise RuntimeError("OpenCV could not encode a UDP frame as PNG")
    return data.tobytes()


def lock_for(path: Path) -> threading.Lock:
    """One lock per cache entry, so two threads asking for the same dance render it once."""
    with _locks_guard:
        return _locks.setdefault(str(path), threading.Lock())


def write_cache(path: Path, frames: Iterable[np.ndarray], meta: dict) -> Path:
    """Write ``frames`` into the zip at ``path`` (PNG encoding overlaps rendering on a worker thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive, ThreadPoolExecutor(2) as pool:
            pending = []
            for index, frame in enumerate(frames):
                pending.append((index, pool.submit(encode_frame, frame)))
                while len(pending) > 4:
                    i, job = pending.pop(0)
                    archive.writestr(f"{i:05d}.png", job.result())
            for i, job in pending:
                archive.writestr(f"{i:05d}.png", job.result())
            archive.writestr("meta.json", json.dumps(meta, indent=1))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
