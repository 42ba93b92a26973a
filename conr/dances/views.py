"""The example character sheet's views (the rest pose turned to face front, three-quarter, side and back), and the
toon drawings with their UDP frames that calibrate the convention (``conr.render3d.calibrate``)."""

from __future__ import annotations

import numpy as np

from ..render3d.camera import Camera, fit_camera
from ..render3d.convention import DEFAULT_CONVENTION, UdpConvention
from ..render3d.raster import get_rasterizer
from .character import build_character
from .generator import dance_camera, udp_frame
from .motion import turn
from .motions import MOTIONS
from .posing import Pose, posed_mesh
from .toon import render_toon

#: View name -> how far the figure is turned about the vertical, in degrees (at 90 it faces the viewer's left).
SHEET_VIEWS = {"front": 0.0, "three-quarter": 40.0, "side": 90.0, "back": 180.0}
SHEET_SIZE = 512
#: Dance poses added to the four sheet views for calibration: (dance, time in seconds).
DANCE_SAMPLES = (("idle-sway", 0.0), ("wave", 2.2), ("step-and-clap", 1.3), ("spin", 3.0))


def view_pose(yaw_degrees: float) -> Pose:
    """The canonical A-pose, turned about the vertical through the hips."""
    pose = Pose.rest(len(build_character().skeleton))
    pose.root_yaw = turn((0.0, 1.0, 0.0), yaw_degrees)
    return pose


def view_camera(pose: Pose) -> Camera:
    """A camera that frames this pose alone (the figure fills the sheet's height)."""
    positions, _ = posed_mesh(build_character(), pose)
    return fit_camera(positions)


def sheet_view(name: str, size: int = SHEET_SIZE, rasterizer=None) -> np.ndarray:
    """One toon-shaded view of the example sheet, straight RGBA uint8 on transparency."""
    pose = view_pose(SHEET_VIEWS[name])
    return render_toon(build_character(), pose, view_camera(pose), size, rasterizer or get_rasterizer())


def toon_and_udp(
    pose: Pose, camera: Camera, size: int, convention: UdpConvention = DEFAULT_CONVENTION, rasterizer=None
):
    """The toon drawing and the UDP frame of the same pose and camera (for calibration and tests)."""
    rasterizer = rasterizer or get_rasterizer()
    character = build_character()
    return render_toon(character, pose, camera, size, rasterizer), udp_frame(
        character, pose, camera, size, convention, rasterizer
    )


def calibration_images(size: int = 512, rasterizer=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(toon RGBA drawing, our UDP frame) pairs for ``calibrate``: the four sheet views and one pose of each dance."""
    pairs = []
    for yaw in SHEET_VIEWS.values():
        pose = view_pose(yaw)
        pairs.append(toon_and_udp(pose, view_camera(pose), size, rasterizer=rasterizer))
    for name, t in DANCE_SAMPLES:
        motion = MOTIONS[name]
        pairs.append(toon_and_udp(motion.sample(t), dance_camera(motion), size, rasterizer=rasterizer))
    return pairs
