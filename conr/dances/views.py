"""The example character sheet's views: the rest pose turned to face front, three-quarter, side and back."""

from __future__ import annotations

import numpy as np

from .camera import Camera, fit_camera
from .character import build_character
from .convention import DEFAULT_CONVENTION, UdpConvention
from .generator import udp_frame
from .posing import Pose, posed_mesh
from .quaternions import axis_angle
from .raster import get_rasterizer
from .toon import render_toon

#: View name -> how far the figure is turned about the vertical, in degrees (at 90 it faces the viewer's left).
SHEET_VIEWS = {"front": 0.0, "three-quarter": 40.0, "side": 90.0, "back": 180.0}
SHEET_SIZE = 512


def view_pose(yaw_degrees: float) -> Pose:
    """The canonical A-pose, turned about the vertical through the hips."""
    pose = Pose.rest(len(build_character().skeleton))
    pose.root_yaw = axis_angle((0.0, 1.0, 0.0), yaw_degrees)
    return pose


def view_camera(pose: Pose) -> Camera:
    """A camera that frames this pose alone (the figure fills the sheet's height)."""
    positions, _ = posed_mesh(build_character(), pose)
    return fit_camera(positions)


def sheet_view(name: str, size: int = SHEET_SIZE, rasterizer=None) -> np.ndarray:
    """One toon-shaded view of the example sheet, straight RGBA uint8 on transparency."""
    pose = view_pose(SHEET_VIEWS[name])
    return render_toon(build_character(), pose, view_camera(pose), size, rasterizer or get_rasterizer())


def toon_and_udp(pose: Pose, camera: Camera, size: int, convention: UdpConvention = DEFAULT_CONVENTION, rasterizer=None):
    """The toon drawing and the UDP frame of the same pose and camera (for calibration and tests)."""
    rasterizer = rasterizer or get_rasterizer()
    character = build_character()
    return render_toon(character, pose, camera, size, rasterizer), udp_frame(character, pose, camera, size, convention, rasterizer)
