"""The bundled dances as the app sees them: a list, and each one's UDP frames (cached on disk) and colour preview."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..render3d.calibrate import active_convention
from ..render3d.convention import DEFAULT_CONVENTION
from ..render3d.frames import check_size_fps
from ..udp import UdpSequence, open_udp_sequence, write_udp_preview_video
from . import cache
from .character import build_character
from .generator import dance_frames
from .motions import MOTIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DanceInfo:
    """What the app shows for a dance."""

    name: str  # slug, e.g. "idle-sway"
    title: str
    description: str  # one sentence
    seconds: float
    fps: int
    bpm: float = 120.0  # the tempo it is keyed to (beats per minute), for retiming it to music


def list_dances() -> list[DanceInfo]:
    """The bundled dances, in menu order."""
    return [dance_info(name) for name in MOTIONS]


def dance_info(name: str | None) -> DanceInfo | None:
    """What the app shows for the dance called ``name``; None if there is none (``get_motion`` says which exist)."""
    m = MOTIONS.get(name)
    return None if m is None else DanceInfo(m.name, m.title, m.description, m.seconds, m.fps, m.bpm)


def get_motion(name: str):
    """The ``Motion`` called ``name``; InputError listing the dances otherwise."""
    if name not in MOTIONS:
        raise InputError(f"There is no dance called {name!r}. Available dances: {', '.join(MOTIONS)}.")
    return MOTIONS[name]


def dance_udp(
    name: str, size: int = 512, fps: float = 30, cache_dir=None, convention=None, rasterizer=None
) -> UdpSequence:
    """One loop of a bundled dance as UDP frames (size x size x 4 float32), lazily read from the disk cache.

    The first call renders and caches the dance (a few seconds with
    OpenGL); later calls with the same dance, size, fps and convention only
    open the cache. ``convention`` defaults to ``render3d.calibrate.active_convention()``
    (the default one, or the calibrated one if ``calibrate-udp`` saved one).
    Cached frames are 16-bit, so values are multiples of 1/65535.
    """
    motion = get_motion(name)
    check_size_fps(size, fps)
    convention = convention or active_convention()
    directory = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    stem = cache.cache_name(
        name, int(size), float(fps), [motion.fingerprint, build_character().fingerprint, convention.fingerprint]
    )
    path = directory / f"{stem}.zip"
    with cache.lock_for(path):
        if not path.is_file():
            started = time.perf_counter()
            frames = dance_frames(motion, int(size), fps, convention, rasterizer)
            meta = {
                "dance": name,
                "size": int(size),
                "fps": float(fps),
                "convention": convention.name,
                "convention_fingerprint": convention.fingerprint,
                "calibrated": convention.affine is not None,
            }
            cache.write_cache(path, frames, meta)
            log.info(
                "rendered dance %s (%d px, %g fps) in %.1f s into %s",
                name,
                size,
                fps,
                time.perf_counter() - started,
                path,
            )
    return open_udp_sequence(path)


def dance_preview(name: str, path, size: int = 256, fps: float | None = None, rasterizer=None) -> Path:
    """Write the UDP colour preview of one loop of a dance as an MP4 (``size`` px square)."""
    motion = get_motion(name)
    fps = fps or motion.fps
    check_size_fps(size, fps)
    frames = dance_frames(motion, int(size), fps, DEFAULT_CONVENTION, rasterizer)
    return write_udp_preview_video(path, frames, fps)
