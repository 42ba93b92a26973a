"""A UDP frame of any posed mesh: rasterize the rest positions across the visible surface, encode them.

This is the only place a UDP frame of ours is made, for our character
(``conr.dances.generator``) and for imported models (``conr.mmd.to_udp``)
alike, so every frame comes from the same rasterizers and the one
``UdpConvention``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..limits import check_fps
from .camera import Camera
from .convention import DEFAULT_CONVENTION, UdpConvention
from .raster import get_rasterizer

#: The frame sides (pixels) and frame rates a render of UDP frames accepts, for our dances and imported ones.
MIN_SIZE, MAX_SIZE = 64, 2048


def check_size_fps(size: int, fps: float) -> None:
    """InputError unless ``size`` is within the limits above and ``fps`` within ``conr.limits``'."""
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise InputError(f"UDP frame size {size} is out of range: use {MIN_SIZE} to {MAX_SIZE} pixels.")
    check_fps(fps)


def render_udp(
    positions,
    rest,
    triangles,
    part_ids,
    camera: Camera,
    size: int,
    convention: UdpConvention = DEFAULT_CONVENTION,
    rasterizer=None,
) -> np.ndarray:
    """A UDP frame (size, size, 4) float32: ``positions`` (V, 3) posed, ``rest`` (V, 3) canonical, same vertex order.

    Channels 0-2 hold ``rest`` in ``convention`` where the mesh is visible, channel 3 occupancy.
    """
    rasterizer = rasterizer or get_rasterizer()
    buffer = rasterizer.rasterize(camera.to_clip(positions), triangles, rest, part_ids, size)
    frame = np.zeros((size, size, 4), np.float32)
    frame[buffer.coverage, :3] = convention.encode(buffer.attributes[buffer.coverage])
    frame[buffer.coverage, 3] = 1.0
    return frame
