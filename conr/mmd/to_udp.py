"""An MMD model and motion -> UDP frames, through the UDP convention and renderer of ``conr.render3d``.

The canonical coordinates of a UDP pixel are the surface point's place in
the model's own bind pose (MMD models are modelled in the A-pose the
released network was trained with), mapped by the one ``UdpConvention``
with its box set to the bind-pose mesh (MMD x, z, y per channel, min-max
normalised; a saved calibration's affine map applies as it does to the
bundled dances). Frames are rendered by ``conr.render3d.frames.render_udp``
(the same rasterizers as the bundled dances) from a camera that follows the
character (``conr.mmd.framing``) or the dance's own MMD camera
(``conr.mmd.camera``), at 30 frames per second by default, from ``start``
seconds into the motion. Physics-driven bones (hair, skirts) swing as
spring chains (``conr.mmd.physics``) unless ``physics=False``.

Faces of hidden materials (diffuse alpha 0) are left out; faces of
double-sided materials are drawn from both sides (added once more, wound
the other way), as MMD shows them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..limits import Limits
from ..progress import STAGE_POSING, Progress
from ..render3d.calibrate import active_convention
from ..render3d.camera import FRAMING_RATE, Camera
from ..render3d.convention import UdpConvention
from ..render3d.frames import check_size_fps, render_udp
from ..udp import UdpSequence, encode_udp, open_udp_sequence, write_udp_zip
from .camera import CameraView, camera_views
from .files import load_model, load_motion
from .framing import FRAMINGS, extent_of, fixed_camera, follow_cameras
from .physics import PhysicsRig
from .pmx import PmxModel
from .posing import MotionBinding, Rig, below_marked
from .vmd import FPS as VMD_FPS
from .vmd import CameraTrack, VmdMotion

log = logging.getLogger(__name__)

#: Framing samples every 7th vertex (as the bundled dances do), and at most about this many points a frame ...
FRAMING_POINTS = 20_000
#: ... and, for one fixed camera fitted to all sampled poses at once, this many in all.
FIXED_FRAMING_POINTS = 2_000_000
#: Poses evaluated per batch when sampling the motion.
BATCH_FRAMES = 32


def mmd_convention(rest_points: np.ndarray, base: UdpConvention | None = None) -> UdpConvention:
    """The active convention (axes, calibration) with its box set to this bind-pose mesh (metres)."""
    if base is None:
        base = active_convention()
    low, high = rest_points.min(axis=0), rest_points.max(axis=0)
    extent = high - low
    if extent.max() < 1e-6:
        raise InputError(
            "The model has no extent (all its visible vertices are at one point), so it cannot give UDP coordinates."
        )
    flat = extent < 1e-6 * extent.max()  # a paper-thin model: that channel sits at 0.5
    low, high = (
        np.where(flat, (low + high) / 2 - extent.max() / 2, low),
        np.where(flat, (low + high) / 2 + extent.max() / 2, high),
    )
    return UdpConvention(tuple(float(v) for v in low), tuple(float(v) for v in high), base.axes, base.affine, base.name)


class MmdScene:
    """A model bound to a motion: poses, skinned surfaces and the faces to draw, in our model space."""

    def __init__(self, model: PmxModel, motion: VmdMotion, physics: bool = True):
        self.model, self.motion = model, motion
        self.rig = Rig(model)
        self.binding = MotionBinding(self.rig, motion)
        self.physics = PhysicsRig(model, self.rig.heads, self.rig.parents) if physics and model.rigid_bodies else None
        self.physics = self.physics or None  # no chain to simulate: pose as keyed
        triangles = model.triangles
        materials = model.triangle_materials()
        if materials is None:
            log.warning("%s: the materials do not cover the faces exactly; drawing every face one-sided", model.source)
        elif len(triangles):
            hidden = np.array([m.diffuse_alpha <= 0.0 for m in model.materials], bool)
            double = np.array([m.double_sided for m in model.materials], bool)
            shown = ~hidden[materials]
            triangles = np.concatenate([triangles[shown], triangles[shown & double[materials]][:, ::-1]])
        if not len(triangles):
            raise InputError(f"'{model.source}' has no visible faces to draw.")
        # Only vertices that faces use: stray vertices elsewhere must not shift the box or the framing.
        self.used, inverse = np.unique(triangles, return_inverse=True)
        self.triangles = inverse.reshape(-1, 3).astype(np.int32)
        self.drawn = self.rig.skin_arrays(self.used)
        self.rest = self.drawn[0]
        self.part_ids = np.ones(len(self.used), np.uint8)
        self.sampled = self.framing_arrays(1)

    def worlds(self, frames: np.ndarray) -> Iterator[np.ndarray]:
        """Bone world transforms at each VMD frame number (fractional allowed; in order, for physics)."""
        frames = np.asarray(frames, np.float64)
        run = (
            self.physics.run() if self.physics is not None else None
        )  # each pass simulates afresh: same frames, same result
        for start in range(0, len(frames), BATCH_FRAMES):
            samples = self.binding.sample(frames[start : start + BATCH_FRAMES])
            for k in range(len(samples.rotations)):
                world = self.rig.pose(samples.rotations[k], samples.translations[k], samples.ik_enabled[k])
                yield world if run is None else run.step(world, float(frames[start + k]) / VMD_FPS)

    def positions(self, world: np.ndarray) -> np.ndarray:
        """Posed positions (metres) of the drawn vertices, in ``rest`` order."""
        return self.rig.posed_vertices(world, self.drawn)

    def framing_arrays(self, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Skin arrays of the vertices framing looks at: every 7th, fewer for big models or many frames at once."""
        step = max(
            7,
            int(np.ceil(len(self.used) / FRAMING_POINTS)),
            int(np.ceil(len(self.used) * frames / FIXED_FRAMING_POINTS)),
        )
        return self.rig.skin_arrays(self.used[::step])

    def framing_points(self, frames: np.ndarray, arrays=None) -> Iterator[np.ndarray]:
        """Posed framing vertices at each VMD frame."""
        for world in self.worlds(frames):
            yield self.rig.posed_vertices(world, arrays or self.sampled)


def frame_times(
    motion: VmdMotion, fps: float, max_seconds: float | None, limits: Limits | None = None, start: float = 0.0
) -> np.ndarray:
    """Output times in seconds, from ``start`` up to the last key (or ``max_seconds`` of it).

    A span over ``limits.max_frames`` frames at ``fps`` is refused unless trimmed with ``max_seconds``.

    Real dance motions open with an intro: ``start`` skips it.
    """
    if not (np.isfinite(start) and start >= 0):
        raise InputError(f"The start must be a number of seconds from 0 on, not {start!r}.")
    end = motion.last_frame / VMD_FPS
    if start > end + 1e-9:
        raise InputError(
            f"The start {start:g} s is past the end of '{motion.source}' (its last key is at {end:.1f} s); start earlier."
        )
    span, longest = motion.seconds - start, (limits or Limits()).max_frames / fps
    if not max_seconds and span > longest + 1e-9:
        what = f"lasts {span:.1f} s" + (f" from {start:g} s on" if start else "")
        raise InputError(
            f"The motion '{motion.source}' {what}, over the limit of {longest:g} s ({(limits or Limits()).max_frames} frames "
            f"at {fps:g} fps). "
            f"Convert only part of it (max_seconds / --max-seconds), or use a shorter motion."
        )
    count = int(np.floor((end - start) * fps + 1e-6)) + 1  # the last key's moment included
    keep = min(max_seconds or longest, longest)
    return start + np.arange(max(1, min(count, int(round(keep * fps))))) / fps


def frame_cameras(
    scene: MmdScene, times: np.ndarray, framing: str | Camera = "follow", camera_track: CameraTrack | None = None
) -> list[Camera] | list[CameraView]:
    """The camera of each output time (seconds): following the body, fixed for the whole span, given, or the
    MMD camera motion's (``camera_track``, else the dance motion's own camera keys)."""
    times = np.asarray(times, np.float64)
    step = float(times[1] - times[0]) if len(times) > 1 else 1.0 / VMD_FPS
    if isinstance(framing, Camera):
        return [framing] * len(times)
    if framing == "fixed":  # sampled like the bundled dances: FRAMING_RATE poses a second over the span
        first, span = (float(times[0]), float(times[-1] + step - times[0])) if len(times) else (0.0, 0.0)
        samples = first + np.arange(max(1, int(np.ceil(span * FRAMING_RATE - 1e-9)))) / FRAMING_RATE
        points = list(scene.framing_points(samples * VMD_FPS, scene.framing_arrays(len(samples))))
        return [fixed_camera(points)] * len(times)
    if framing == "follow":  # one small summary per frame: long dances frame in constant memory
        return follow_cameras([extent_of(points) for points in scene.framing_points(times * VMD_FPS)], 1.0 / step)
    if framing == "camera":
        track = camera_track or scene.motion.camera
        if track is None:
            raise InputError(
                f"'{scene.motion.source}' has no camera keys to frame the dance with: give a camera motion "
                "(a .vmd with camera keys; --camera on the command line), or use follow or fixed framing."
            )
        return camera_views(track, times * VMD_FPS)
    raise InputError(f"Unknown framing {framing!r}; use one of {', '.join(FRAMINGS)}.")


def mmd_udp_frames(
    scene: MmdScene,
    times: np.ndarray,
    size: int = 512,
    convention: UdpConvention | None = None,
    framing: str | Camera = "follow",
    rasterizer=None,
    progress: Progress | None = None,
    camera_track: CameraTrack | None = None,
) -> Iterator[np.ndarray]:
    """Yield the UDP frames of ``scene`` at ``times`` (seconds)."""
    convention = convention or mmd_convention(scene.rest)
    times = np.asarray(times, np.float64)
    cameras = frame_cameras(scene, times, framing, camera_track)
    for index, (world, camera) in enumerate(zip(scene.worlds(times * VMD_FPS), cameras)):
        positions = scene.positions(world)
        if isinstance(camera, CameraView):
            yield camera.render(positions, scene.rest, scene.triangles, scene.part_ids, size, convention, rasterizer)
        else:
            yield render_udp(
                positions, scene.rest, scene.triangles, scene.part_ids, camera, size, convention, rasterizer
            )
        if progress is not None:
            progress(STAGE_POSING, index + 1, len(times))


def load_camera(camera) -> CameraTrack:
    """The camera keys of a camera motion (.vmd path, a .zip holding one, or a parsed ``VmdMotion``)."""
    motion = camera if isinstance(camera, VmdMotion) else load_motion(camera)
    if motion.camera is None:
        raise InputError(
            f"'{motion.source}' holds no camera keys ({motion.counts.get('bone', 0)} bone keys); "
            "give the camera motion (MMD saves it as a separate .vmd with camera keys)."
        )
    return motion.camera


#: Bones a facial motion keys besides its morphs (eyes, tongue); with the head's descendants they move no body.
FACE_BONES = frozenset({"両目", "左目", "右目", "舌1", "舌2", "舌3", "目"})


def _face_bones(model) -> set[int]:
    """Bones whose motion only changes the face: the named eye/tongue bones and everything below the head."""
    bones = {i for i, b in enumerate(model.bones) if b.name in FACE_BONES}
    head = model.bone_index.get("頭")
    if head is not None:
        under, _ = below_marked([b.parent for b in model.bones], {head})
        bones |= set(np.flatnonzero(under).tolist())
    return bones


def _moves(track) -> bool:
    """Whether any key of ``track`` turns or shifts its bone from the bind pose."""
    return bool((np.abs(track.rotations[:, 0]) < 1 - 1e-9).any() or (np.abs(track.positions) > 1e-9).any())


def check_binding(scene: MmdScene) -> None:
    """Refuse a motion that cannot move this model: no bone keys, keys for the face only, or none for its bones."""
    motion, model = scene.motion, scene.model
    morphs = motion.counts.get("morph", 0)
    face = _face_bones(model)
    face_keys = [t.name for i, t in scene.binding.tracks.items() if i in face and _moves(t)]
    body_keys = [t for i, t in scene.binding.tracks.items() if i not in face and _moves(t)]
    unmatched_face = (
        scene.binding.matched == 0 and motion.tracks and all(t.name in FACE_BONES for t in motion.tracks.values())
    )
    if (
        not body_keys
        and (morphs or face_keys or unmatched_face)
        and not (motion.counts.get("camera", 0) and not morphs)
    ):
        names = sorted(set(face_keys) or {t.name for t in motion.tracks.values()})
        bones = f"bone keys only for the face: {', '.join(names[:5])}" if motion.tracks else "no bone keys"
        raise InputError(
            f"'{motion.source}' has expression keys only ({morphs} morph keys, {bones}); pick a dance motion."
        )
    if not motion.tracks:
        other = ", ".join(
            f"{n} {k}" for k, n in ((k, motion.counts.get(k, 0)) for k in ("camera", "morph", "light")) if n
        )
        hint = f" (it holds {other} keys: a camera or facial motion?)" if other else ""
        raise InputError(f"'{motion.source}' holds no bone keys{hint}. Give a dance motion for the body.")
    if scene.binding.matched == 0:
        examples = ", ".join(t.name for t in list(motion.tracks.values())[:5])
        raise InputError(
            f"None of the bones '{motion.source}' animates ({examples}, ...) exist in '{model.source}'. "
            "MMD motions name bones in Japanese (センター, 左足ＩＫ, ...): use a model with the standard bone names."
        )


def udp_from_mmd(
    model,
    motion,
    out=None,
    size: int = 512,
    fps: float = 30.0,
    max_seconds: float | None = None,
    limits: Limits | None = None,
    start: float = 0.0,
    fmt: str = "npz",
    framing: str | Camera = "follow",
    camera=None,
    physics: bool = True,
    member: str | None = None,
    progress: Progress | None = None,
    convention: UdpConvention | None = None,
    rasterizer=None,
    exr_dir=None,
) -> UdpSequence:
    """Convert an MMD model (.pmx or .pmd, or a .zip with one) and motion (.vmd) into UDP frames.

    Args:
        model: path of a .pmx, .pmd or .zip (or a parsed ``PmxModel``, which PMD files are read into too).
        motion: path of a .vmd, or a .zip holding one (or a parsed ``VmdMotion``).
        out: the .zip of frames to write (``00000.<fmt>``...); default: a new file in the temp folder
            (the caller owns it).
        size: frame side in pixels; fps: frames per second of the result.
        max_seconds: convert only this many seconds (from ``start``); without it a motion longer than
            ``limits.max_frames`` frames at ``fps`` is refused.
        start: skip the motion's first seconds (real dances open with an intro); frame 0 is the pose at ``start``.
        fmt: frame format in the zip: npz (what CoNR reads), exr (float, as the original tools) or png.
        framing: "follow" (default), "fixed", "camera" (the motion's own camera keys), or a
            ``conr.render3d.camera.Camera``.
        camera: a camera motion (.vmd with camera keys, or a .zip holding one, or a parsed ``VmdMotion``):
            the character is framed as its camera shows it (framing "camera").
        physics: move the bones PMX gives to physics (hair, skirts) with spring chains (``conr.mmd.physics``);
            False: they follow their parents rigidly.
        member: which .pmx/.pmd of a zip holding several.
        progress: called as progress(stage, frames_done, frames_total) (``conr.progress``).
        convention: the UDP convention (default: the dances' active one with the box of this model).
        exr_dir: also write each frame there as a float EXR (00000.exr, ...).

    Returns the frames, read lazily from ``out``. Raises InputError for bad files, settings or lengths.
    """
    check_size_fps(size, fps)
    if max_seconds is not None and not max_seconds > 0:
        raise InputError(f"max_seconds must be a positive number of seconds, not {max_seconds!r}.")
    if fmt not in ("npz", "exr", "png"):
        raise InputError(f"Unknown UDP frame format {fmt!r}; use npz, exr or png.")
    model = model if isinstance(model, PmxModel) else load_model(model, member)
    motion = motion if isinstance(motion, VmdMotion) else load_motion(motion)
    camera_track = None if camera is None else load_camera(camera)
    if camera_track is not None:
        framing = "camera"
    scene = MmdScene(model, motion, physics)
    check_binding(scene)
    times = frame_times(motion, fps, max_seconds, limits, start)
    if framing == "camera":
        frame_cameras(scene, times[:1], framing, camera_track)  # no camera keys: say so before any work
    made = out is None
    if out is None:
        handle, name = tempfile.mkstemp(prefix="conr-mmd-", suffix=".zip")
        os.close(handle)
        out = name
    out = Path(out)
    started = time.perf_counter()
    # write_udp_zip leaves no partial zip on a failure or an interrupt (KeyboardInterrupt included).
    exrs: list[Path] = []

    def also_exr(index: int, frame: np.ndarray) -> None:
        exrs.append(Path(exr_dir) / f"{index:05d}.exr")
        exrs[-1].write_bytes(encode_udp(frame, "exr"))

    try:
        if exr_dir is not None:
            Path(exr_dir).mkdir(parents=True, exist_ok=True)
        frames = mmd_udp_frames(scene, times, int(size), convention, framing, rasterizer, progress, camera_track)
        write_udp_zip(out, frames, fmt, each=also_exr if exr_dir is not None else None)
    except BaseException as exc:
        for path in ([out] if made else []) + exrs:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, read-only or vanished folder
            from ..video import output_error

            failed = Path(exc.filename) if exc.filename and Path(exc.filename) in exrs else out
            raise output_error(failed, exc.strerror or str(exc)) from None
        raise
    log.info(
        "converted %s + %s: %d frames of %d px in %.1f s",
        model.source,
        motion.source,
        len(times),
        size,
        time.perf_counter() - started,
    )
    return open_udp_sequence(out)
