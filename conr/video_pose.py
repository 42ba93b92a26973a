"""Drive a character with a video: UDP frames detected from a dancing figure.

The released ``udpparsernet`` predicts the UDP of a cut-out anime figure, so
any clip of an anime character dancing (an MMD render, a game capture, an
animation) can become a pose sequence:

    video (MP4/WebM/GIF, or a folder/zip of images)
      -> frames at the chosen fps, at most ``max_seconds``, downscaled
      -> background removal per frame (the same matting as for sheets)
      -> the UDP detector, batched
      -> optional temporal smoothing (median over a few frames)
      -> a ``UdpSequence`` usable everywhere a bundled dance is.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import numpy as np

from .archive import check_entry, is_hidden_entry, is_unsafe_name, open_zip, read_entry
from .errors import InputError
from .limits import Limits, check_fps
from .progress import STAGE_CUTOUTS, Progress
from .udp import UdpSequence, natural_key
from .video import resize_longest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".mov", ".mkv", ".avi", ".m4v")
#: One frame image inside a zip may be at most this large (reads stop there, so no ratio check:
#: uncompressed BMP frames legitimately deflate very well).
MAX_IMAGE_BYTES = 64 * 1024**2

#: Frames are downscaled so their longer side is at most this (the UDP canvas).
WORK_SIDE = 512


@dataclass
class VideoFrames:
    """Decoded frames (RGB or RGBA uint8) and the rate they are sampled at."""

    frames: list[np.ndarray]
    fps: float
    source_seconds: float
    name: str


def _sample_times(duration: float, fps: float, max_seconds: float | None) -> list[float]:
    length = duration if not max_seconds else min(duration, max_seconds)
    count = max(1, int(length * fps + 1e-6))
    return [i / fps for i in range(count)]


def _check_gif_screen(path: Path, limits: Limits) -> None:
    """Refuse a GIF by its logical screen size (header bytes 6-10), which decoders allocate for every frame."""
    with open(path, "rb") as file:
        head = file.read(10)
    if len(head) == 10 and head[:6] in (b"GIF87a", b"GIF89a"):
        width, height = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        if max(width, height) > limits.max_video_side:
            raise InputError(
                f"'{path.name}' is a GIF of {width}x{height} pixels; the limit is {limits.max_video_side} pixels "
                "per side. Scale it down first."
            )


def _read_video_file(path: Path, fps: float, max_seconds: float | None, limits: Limits) -> VideoFrames:
    from moviepy import VideoFileClip
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    _check_gif_screen(path, limits)
    try:
        info = ffmpeg_parse_infos(str(path))
    except (OSError, IOError, IndexError) as exc:
        raise InputError(
            f"'{path.name}' is not a video file ffmpeg can read ({str(exc).splitlines()[0][:200]})."
        ) from None
    if not info.get("video_found"):
        raise InputError(f"'{path.name}' has no video stream (is it an audio file?). Upload an MP4, WebM or GIF.")
    duration = float(info.get("duration") or 0)
    if not info.get("video_size"):
        raise InputError(
            f"'{path.name}': ffmpeg cannot tell the size of its frames (damaged, or over {limits.max_video_side} "
            "pixels per side). Upload an MP4, WebM or GIF of at most that size."
        )
    width, height = info["video_size"]
    if max(width, height) > limits.max_video_side:
        raise InputError(
            f"'{path.name}' is {width}x{height}; the limit is {limits.max_video_side} pixels per side. Scale it down first."
        )
    if not max_seconds and duration > limits.max_video_seconds:
        raise InputError(
            f"'{path.name}' lasts {duration:.1f} s, over the limit of {limits.max_video_seconds:g} s. "
            "Trim it, or choose to use only its first seconds."
        )
    max_seconds = min(max_seconds or limits.max_video_seconds, limits.max_video_seconds)
    frames = []
    clip = VideoFileClip(str(path), audio=False, has_mask=path.suffix.lower() in (".gif", ".webm"))
    try:
        source_fps = clip.fps or fps
        for t in _sample_times(clip.duration or duration, fps, max_seconds):
            t = min(t, max(0.0, (clip.duration or duration) - 1.0 / source_fps))
            rgb = clip.get_frame(t).astype(np.uint8)
            if clip.mask is not None:
                alpha = (np.clip(clip.mask.get_frame(t), 0, 1) * 255).astype(np.uint8)
                rgb = np.dstack([rgb, alpha])
            frames.append(resize_longest(rgb, WORK_SIDE))
    except (OSError, IOError) as exc:
        raise InputError(f"'{path.name}' could not be decoded ({str(exc).splitlines()[0][:200]}).") from None
    finally:
        clip.close()
    if not frames:
        raise InputError(f"'{path.name}' has no frames.")
    return VideoFrames(frames, fps, duration, path.name)


def _is_image_name(name: str) -> bool:
    return not is_hidden_entry(name) and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _image_entries(path: Path) -> tuple[list[str], Callable[[str], bytes]]:
    """The frame images of a folder or zip in natural order (hidden files and macOS forks skipped), and their reader."""
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.is_file() and _is_image_name(p.name)), key=lambda p: natural_key(p.name)
        )
        return [p.name for p in files], lambda name: (path / name).read_bytes()
    infos = {}
    with open_zip(path) as archive:
        for info in archive.infolist():
            if is_unsafe_name(info.filename):
                raise InputError(f"'{path.name}' contains an unsafe path '{info.filename}'; refusing it.")
            if not info.is_dir() and _is_image_name(info.filename):
                check_entry(path, info, info.filename, max_bytes=MAX_IMAGE_BYTES, kind="frame image")
                infos[info.filename] = info
    names = sorted(infos, key=natural_key)

    def load(name: str) -> bytes:
        with zipfile.ZipFile(path) as archive:
            return read_entry(archive, infos[name], path)

    return names, load


def _read_image_sequence(
    path: Path, source_fps: float, fps: float, max_seconds: float | None, limits: Limits
) -> VideoFrames:
    from .sheet import load_image

    names, load = _image_entries(path)
    if not names:
        raise InputError(f"'{path.name}' holds no images (PNG, JPEG, WebP).")
    if len(names) > limits.max_zip_entries:
        raise InputError(f"'{path.name}' holds {len(names)} images, over the limit of {limits.max_zip_entries}.")
    duration = len(names) / source_fps
    if not max_seconds and duration > limits.max_video_seconds:
        raise InputError(
            f"'{path.name}' is {duration:.1f} s of frames at {source_fps:g} fps, over the limit of {limits.max_video_seconds:g} s."
        )
    max_seconds = min(max_seconds or limits.max_video_seconds, limits.max_video_seconds)
    frames = []
    for t in _sample_times(duration, fps, max_seconds):
        name = names[min(len(names) - 1, int(t * source_fps + 1e-6))]
        rgba = load_image(load(name), name, max_pixels=limits.max_video_side**2, kind=f"'{path.name}': frame")
        frames.append(resize_longest(rgba, WORK_SIDE))
    return VideoFrames(frames, fps, duration, path.name)


def read_video(
    path: str | Path,
    fps: float = 15.0,
    max_seconds: float | None = None,
    limits: Limits | None = None,
    source_fps: float = 30.0,
) -> VideoFrames:
    """Frames of a video file, GIF, or folder/zip of images (played at ``source_fps``), sampled at ``fps``.

    With ``max_seconds`` the clip is trimmed to that; without, a clip longer
    than ``limits.max_video_seconds`` is refused.
    """
    path, limits = Path(path), limits or Limits()
    if not path.exists():
        raise InputError(f"'{path.name}' does not exist.")
    check_fps(fps)
    if path.is_dir() or path.suffix.lower() == ".zip":
        return _read_image_sequence(path, source_fps, fps, max_seconds, limits)
    return _read_video_file(path, fps, max_seconds, limits)


# ---------------------------------------------------------------- smoothing


def smooth_udp(frames: Sequence[np.ndarray], window: int = 3) -> list[np.ndarray]:
    """Temporal median over ``window`` frames (odd), on occupancy and on XYZ.

    Occupancy becomes a majority vote; XYZ is the median over the frames
    where the pixel is occupied, so the background never drags coordinates
    towards zero. Reduces the detector's frame-to-frame flicker.
    """
    if window <= 1 or len(frames) < 2:
        return [f.copy() for f in frames]
    if window % 2 == 0:
        window += 1
    stack = np.stack(frames)  # (T, H, W, 4)
    occupied = stack[..., 3] > 0.5
    xyz = np.where(occupied[..., None], stack[..., :3], np.nan)
    half = window // 2
    out = []
    for t in range(len(frames)):
        lo, hi = max(0, t - half), min(len(frames), t + half + 1)
        votes = occupied[lo:hi].mean(axis=0) > 0.5
        with warnings.catch_warnings():  # all-NaN pixels (never occupied) are expected
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(xyz[lo:hi], axis=0)
        median = np.where(np.isnan(median), stack[t, ..., :3], median)
        frame = np.concatenate([median * votes[..., None], votes[..., None]], axis=2).astype(np.float32)
        out.append(frame)
    return out


def flicker(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change of the UDP on pixels occupied in both frames (a steadiness measure)."""
    changes = []
    for a, b in zip(frames, frames[1:]):
        both = (a[..., 3] > 0.5) & (b[..., 3] > 0.5)
        if both.any():
            changes.append(float(np.abs(a[..., :3] - b[..., :3])[both].mean()))
    return float(np.mean(changes)) if changes else 0.0


# ---------------------------------------------------------------- the whole path


@dataclass
class VideoPose:
    """The result: the UDP sequence (smoothed if asked) and the raw detection for comparison."""

    udp: UdpSequence
    raw: list[np.ndarray]
    fps: float
    name: str
    #: Set when another background-removal model than the chosen one was used, saying why.
    matting_note: str | None = None


def pose_from_video(
    renderer,
    path: str | Path,
    fps: float = 15.0,
    max_seconds: float | None = None,
    smooth: int = 3,
    matting_model: str | None = None,
    limits: Limits | None = None,
    source_fps: float = 30.0,
    progress: Progress | None = None,
) -> VideoPose:
    """Video -> frames -> cut-outs -> detected UDP (-> smoothed).

    ``renderer`` is a ``ConrRenderer`` (its UDP detector runs batched on its
    device). Raises InputError when no figure is found in any frame.
    """
    from . import matting

    clip = read_video(path, fps, max_seconds, limits, source_fps)
    model = matting_model or matting.DEFAULT_MODEL
    cutouts, note = [], None
    total = len(clip.frames)
    for index, frame in enumerate(clip.frames):
        rgba = frame if frame.shape[2] == 4 else np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
        if not matting.has_meaningful_alpha(rgba):
            rgba, frame_note = _cut_out_frame(rgba, model)
            note = note or frame_note
        cutouts.append(rgba)
        if progress:
            progress(STAGE_CUTOUTS, index + 1, total)
    raw = renderer.detect_poses(cutouts, progress=progress)
    if not any(f[..., 3].any() for f in raw):
        raise InputError(
            f"No figure was detected in any frame of '{clip.name}'. The video should show one character, "
            "fully in view, against a background the cut-out can separate."
        )
    frames = smooth_udp(raw, smooth) if smooth and smooth > 1 else raw
    names = [f"{clip.name} frame {i}" for i in range(len(frames))]
    return VideoPose(UdpSequence.from_arrays(frames, names), raw, fps, clip.name, note)


def _cut_out_frame(rgba: np.ndarray, model: str) -> tuple[np.ndarray, str | None]:
    """Matting for one video frame, with the fallback note; a frame where nothing is found stays empty (no figure)."""
    from . import matting

    try:
        result = matting.cut_out(rgba, model=model, force=True, name="frame", subject="video frames")
        return result.rgba, result.note
    except matting.NoFigureFound:
        return np.zeros_like(rgba), None


def write_comparison_preview(
    path: str | Path, raw: Sequence[np.ndarray], smoothed: Sequence[np.ndarray], fps: float
) -> Path:
    """The detected poses as colours, raw on the left and smoothed on the right, as an MP4."""
    from .udp import udp_preview
    from .video import write_video

    def pictures():
        for a, b in zip(raw, smoothed):
            left, right = udp_preview(a), udp_preview(b)
            gap = np.full((left.shape[0], 6, 3), 160, np.uint8)
            yield np.hstack([left, gap, right])

    return write_video(path, pictures(), fps)
