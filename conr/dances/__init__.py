"""Bundled dances made by our own code: a procedural character, keyframed motions, a UDP renderer.

    from conr.dances import list_dances, dance_udp, dance_preview
    for info in list_dances():
        print(info.name, info.title, info.description)
    poses = dance_udp("wave")          # UdpSequence of 512x512x4 float32 frames, cached on disk
    dance_preview("wave", "wave.mp4")  # the UDP colour preview

Modules: ``convention`` (the one UDP convention), ``character`` (mesh and
skin weights), ``skeleton`` (bones, skinning, spring chains and body
capsules), ``quaternions``, ``motion`` and ``motions/`` (keyframes, one file
per dance sharing ``motions/moves``), ``springs`` (the damped spring-chain
solver, also used for MMD physics bones) and ``secondary`` (hair and skirt
baked per dance), ``metrics`` (pose variety, foot-skate), ``camera``, ``raster_numpy`` /
``raster_gl`` / ``raster`` (rasterizers), ``generator`` (UDP frames),
``toon`` (the example sheet's shading), ``cache``, ``calibrate``
(fitting our convention to the released UDP detector), ``examples``,
``cli`` and ``bench``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..udp import UdpSequence, open_udp_sequence, write_udp_preview_video

log = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = 64, 2048
MIN_FPS, MAX_FPS = 1, 60


@dataclass(frozen=True)
class DanceInfo:
    """What the app shows for a dance."""

    name: str  # slug, e.g. "idle-sway"
    title: str
    description: str  # one sentence
    seconds: float
    fps: int
    bpm: float = 120.0  # the tempo it is keyed to (beats per minute), for retiming it to music


def _motions():
    from .motions import MOTIONS

    return MOTIONS


def list_dances() -> list[DanceInfo]:
    """The bundled dances, in menu order."""
    return [DanceInfo(m.name, m.title, m.description, m.seconds, m.fps, m.bpm) for m in _motions().values()]


def get_motion(name: str):
    """The ``Motion`` called ``name``; InputError listing the dances otherwise."""
    motions = _motions()
    if name not in motions:
        raise InputError(f"There is no dance called {name!r}. Available dances: {', '.join(motions)}.")
    return motions[name]


def _check(size: int, fps: float) -> None:
    if not (MIN_SIZE <= int(size) <= MAX_SIZE):
        raise InputError(f"Dance size {size} is out of range: use {MIN_SIZE} to {MAX_SIZE} pixels.")
    if not (MIN_FPS <= fps <= MAX_FPS):
        raise InputError(f"Dance frame rate {fps:g} is out of range: use {MIN_FPS} to {MAX_FPS} frames per second.")


def dance_udp(name: str, size: int = 512, fps: float = 30, cache_dir=None, convention=None, rasterizer=None) -> UdpSequence:
    """One loop of a bundled dance as UDP frames (size x size x 4 float32), lazily read from the disk cache.

    The first call renders and caches the dance (a few seconds with
    OpenGL); later calls with the same dance, size, fps and convention only
    open the cache. ``convention`` defaults to ``calibrate.active_convention()``
    (the default one, or the calibrated one if ``calibrate-udp`` saved one).
    Cached frames are 16-bit, so values are multiples of 1/65535.
    """
    from . import cache
    from ..render3d.calibrate import active_convention
    from .character import build_character
    from .generator import dance_frames

    motion = get_motion(name)
    _check(size, fps)
    convention = convention or active_convention()
    directory = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    stem = cache.cache_name(name, int(size), float(fps), [motion.fingerprint, build_character().fingerprint, convention.fingerprint])
    path = directory / f"{stem}.zip"
    with cache.lock_for(path):
        if not path.is_file():
            started = time.perf_counter()
            frames = dance_frames(motion, int(size), fps, convention, rasterizer)
            meta = {"dance": name, "size": int(size), "fps": float(fps), "convention": convention.name,
                    "convention_fingerprint": convention.fingerprint, "calibrated": convention.affine is not None}  # fmt: skip
            cache.write_cache(path, frames, meta)
            log.info("rendered dance %s (%d px, %g fps) in %.1f s into %s", name, size, fps, time.perf_counter() - started, path)
    return open_udp_sequence(path)


def dance_preview(name: str, path, size: int = 256, fps: float | None = None, rasterizer=None) -> Path:
    """Write the UDP colour preview of one loop of a dance as an MP4 (``size`` px square)."""
    from ..render3d.convention import DEFAULT_CONVENTION
    from .generator import dance_frames

    motion = get_motion(name)
    fps = fps or motion.fps
    _check(size, fps)
    frames = dance_frames(motion, int(size), fps, DEFAULT_CONVENTION, rasterizer)
    return write_udp_preview_video(path, frames, fps)


__all__ = ["DanceInfo", "list_dances", "get_motion", "dance_udp", "dance_preview"]
