"""Our dances' UDP frames: a motion, posed and skinned, framed by a fixed camera, rendered by ``conr.render3d``."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..render3d.camera import FRAMING_RATE, Camera, fit_camera
from ..render3d.convention import DEFAULT_CONVENTION, UdpConvention
from ..render3d.frames import render_udp
from ..render3d.raster import get_rasterizer
from .character import Character, build_character
from .motion import Motion
from .posing import Pose, posed_mesh

_cameras: dict[tuple[str, str], Camera] = {}


def dance_camera(motion: Motion) -> Camera:
    """The fixed camera of a dance: level, in front, framing every pose of the loop.

    Fitted to every 7th vertex of 10 poses a second, with a margin wide
    enough for the vertices and moments in between.
    """
    key = (motion.name, motion.fingerprint)
    if key not in _cameras:
        character = build_character()
        times = np.arange(int(np.ceil(motion.seconds * FRAMING_RATE))) / FRAMING_RATE
        points = np.concatenate([posed_mesh(character, motion.sample(t))[0][::7] for t in times])
        _cameras[key] = fit_camera(points, margin=0.08)
    return _cameras[key]


def udp_frame(
    character: Character,
    pose: Pose,
    camera: Camera,
    size: int,
    convention: UdpConvention = DEFAULT_CONVENTION,
    rasterizer=None,
) -> np.ndarray:
    """One UDP frame (size, size, 4) float32: rest XYZ in ``convention`` where visible, and occupancy."""
    positions, _ = posed_mesh(character, pose)
    return render_udp(
        positions, character.vertices, character.triangles, character.part_ids, camera, size, convention, rasterizer
    )


def dance_frames(
    motion: Motion,
    size: int = 512,
    fps: float | None = None,
    convention: UdpConvention = DEFAULT_CONVENTION,
    rasterizer=None,
    times: Sequence[float] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the UDP frames of one loop of ``motion`` (or of the given ``times``)."""
    character = build_character()
    camera = dance_camera(motion)
    rasterizer = rasterizer or get_rasterizer()
    for t in motion.frame_times(fps) if times is None else times:
        yield udp_frame(character, motion.sample(t), camera, size, convention, rasterizer)
