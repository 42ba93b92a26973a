"""Frames to files: background composition, browser-safe MP4, transparent WebM, PNG frames.

Encoding streams: frames go to an ffmpeg process (the binary that ships with
``imageio-ffmpeg``, so no system ffmpeg is needed) as they are produced, and
nothing holds a whole video in memory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from .errors import InputError, OutputError

Colour = tuple[int, int, int]

#: A background that shows where the frame is transparent, as image editors do.
CHECKERBOARD = "checkerboard"

NAMED_COLOURS: dict[str, Colour] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "green": (0, 177, 64),  # chroma-key green
    "blue": (0, 71, 187),  # chroma-key blue
}


def ffmpeg_exe() -> str:
    """The ffmpeg binary: imageio-ffmpeg's bundled build, else one on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # pragma: no cover - only without imageio-ffmpeg
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise RuntimeError("ffmpeg is not available: pip install imageio-ffmpeg") from None
        return exe


def parse_background(spec: str | Sequence[int] | None) -> Colour | None:
    """'white', 'checkerboard', 'transparent', '#RRGGBB' or an (r, g, b) triple -> colour, None for transparent."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        values = tuple(int(v) for v in spec)
        if len(values) != 3 or not all(0 <= v <= 255 for v in values):
            raise InputError(f"Background colour {spec!r} must be three numbers from 0 to 255.")
        return values  # type: ignore[return-value]
    text = spec.strip().lower()
    if text in ("transparent", "none", "alpha"):
        return None
    if text in (CHECKERBOARD, "checker", "checkers"):
        return CHECKERBOARD  # type: ignore[return-value]
    if text in NAMED_COLOURS:
        return NAMED_COLOURS[text]
    match = re.fullmatch(r"#?([0-9a-f]{6}|[0-9a-f]{3})", text)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    rgb = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)", text)
    if rgb:  # what a browser colour picker may send
        return tuple(int(round(min(255.0, float(v)))) for v in rgb.groups())  # type: ignore[return-value]
    names = ", ".join(["transparent", *NAMED_COLOURS])
    raise InputError(f"Unknown background {spec!r}: use {names} or a colour like #RRGGBB.")


def checkerboard(height: int, width: int, square: int = 16) -> np.ndarray:
    """Light grey squares on white, (H, W, 3) float32."""
    rows, cols = np.indices((height, width)) // square
    light = ((rows + cols) % 2 == 0)[:, :, None]
    return np.where(light, np.float32(255), np.float32(204)).repeat(3, axis=2)


def composite(rgba: np.ndarray, background: Colour | str) -> np.ndarray:
    """Straight-alpha RGBA uint8 over a solid colour (or ``CHECKERBOARD``) -> RGB uint8."""
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    if isinstance(background, str) and background == CHECKERBOARD:
        bg = checkerboard(*rgba.shape[:2])
    else:
        bg = np.asarray(background, dtype=np.float32)
    out = rgba[:, :, :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    return (out + 0.5).astype(np.uint8)


def fit_size(width: int, height: int, side: int | None, even: bool = True) -> tuple[int, int]:
    """(width, height) scaled so the longer side is ``side`` (None: unchanged); even sides for video codecs."""
    if not side:
        return width, height
    scale = side / max(width, height)
    if even:
        return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)
    return max(2, round(width * scale)), max(2, round(height * scale))


def resize_longest(image: np.ndarray, side: int, grow: bool = False) -> np.ndarray:
    """Any image (not straight alpha: see ``resize_rgba``) with its longer side at ``side``; smaller ones kept unless ``grow``."""
    h, w = image.shape[:2]
    if max(h, w) == side or (max(h, w) < side and not grow):
        return image
    size = fit_size(w, h, side, even=False)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if max(h, w) > side else cv2.INTER_LINEAR)


def resize_rgba(rgba: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize straight-alpha RGBA without dark fringes: interpolate premultiplied colour."""
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    premultiplied = np.concatenate([rgba[:, :, :3].astype(np.float32) * alpha, alpha * 255.0], axis=2)
    shrink = width < rgba.shape[1]
    out = cv2.resize(premultiplied, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    a = out[:, :, 3:4]
    rgb = np.where(a > 0, out[:, :, :3] * 255.0 / np.maximum(a, 1e-6), 0.0)
    return np.clip(np.concatenate([rgb, a], axis=2) + 0.5, 0, 255).astype(np.uint8)


def letterbox(rgba: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit straight-alpha RGBA into ``width`` x ``height``: scaled to fit, centred, transparent bars.

    A video has one size, so a pose frame of another size is shown whole
    on the first frame's canvas rather than stretched or cropped.
    """
    h, w = rgba.shape[:2]
    if (w, h) == (width, height):
        return rgba
    scale = min(width / w, height / h)
    fitted_w, fitted_h = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    fitted = resize_rgba(rgba, fitted_w, fitted_h)
    out = np.zeros((height, width, 4), np.uint8)
    top, left = (height - fitted_h) // 2, (width - fitted_w) // 2
    out[top : top + fitted_h, left : left + fitted_w] = fitted
    return out


def even_size(width: int, height: int) -> tuple[int, int]:
    """Sizes H.264 in yuv420p accepts: both even (browsers refuse odd ones)."""
    return width + (width % 2), height + (height % 2)


def pad_even(frame: np.ndarray) -> np.ndarray:
    """Pad the right/bottom edge by one pixel where a side is odd (edge colour)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class VideoFormat:
    """An ffmpeg output recipe."""

    suffix: str
    muxer: str  # named, so any file name (or a device such as /dev/full) works
    input_pix_fmt: str
    args: tuple[str, ...]


MP4 = VideoFormat(
    ".mp4",
    "mp4",
    "rgb24",
    # H.264 High, yuv420p, moov atom first: plays in every browser while downloading.
    (
        "-c:v",
        "libx264",
        "-preset",
        "fast",
        "-crf",
        "18",
        "-tune",
        "animation",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
    ),
)
WEBM_ALPHA = VideoFormat(
    ".webm",
    "webm",
    "rgba",
    # VP9 with an alpha plane; auto-alt-ref must be off for alpha.
    (
        "-c:v",
        "libvpx-vp9",
        "-pix_fmt",
        "yuva420p",
        "-b:v",
        "0",
        "-crf",
        "30",
        "-auto-alt-ref",
        "0",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-row-mt",
        "1",
        "-metadata:s:v:0",
        "alpha_mode=1",
    ),
)


#: Encoder threads: half the cores (one on a 2-core Space), so that encoding overlaps the network
#: without taking the cores its forward passes need; the encoder also runs at a lower priority.
ENCODER_THREADS = max(1, (os.cpu_count() or 2) // 2)


def yield_cores(pid: int) -> None:
    """Lower a helper process's CPU priority (nice +10): it gets the cores the network leaves idle."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, pid) + 10))
    except (AttributeError, OSError):  # not on this platform, or the process has already gone
        pass


def output_error(path: Path, reason: str) -> OutputError:
    """An OutputError naming the file (not its folder: the app shows it), the reason and what to do."""
    lines: list[str] = []
    for line in reason.replace(str(path), path.name).splitlines():  # ffmpeg's "[out#0/mp4 @ 0x...] " prefixes go
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip()
        if line and line not in lines:
            lines.append(line)
    reason = "; ".join(lines[:2])[:300] or "no reason given"
    if "no space" in reason.lower():
        advice = "Free some disk space or choose a folder on another disk."
    else:
        advice = "Check that its folder exists, is writable and has free space, or choose another folder."
    return OutputError(f"Could not write {path.name} ({reason}). {advice}")


def remove_output(path: Path) -> None:
    """Delete a partial output; only a regular file (never a device such as /dev/full)."""
    try:
        if path.is_file() and not path.is_symlink():
            path.unlink()
    except OSError:
        pass


class VideoWriter:
    """Stream frames of one size into an ffmpeg process.

    ``write`` takes RGB (MP4) or RGBA (WebM) uint8 frames; odd sizes are
    padded to even. ``close`` waits for ffmpeg; ``abort`` kills it and
    deletes the partial file. Both may be called any number of times. An
    encoder failure (disk full, folder gone) raises OutputError with
    ffmpeg's own reason. Use as a context manager.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, fmt: VideoFormat = MP4):
        self.path = Path(path)
        self.fmt = fmt
        self.size = even_size(width, height)
        self.frames = 0
        self._message: str | None = None  # ffmpeg's log, once it has finished
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(self.path, f"its folder cannot be created ({exc.strerror or exc})") from None
        cmd = [
            ffmpeg_exe(),
            "-y",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            fmt.input_pix_fmt,
            "-s",
            f"{self.size[0]}x{self.size[1]}",
            "-r",
            f"{fps:g}",
            "-i",
            "-",
            "-an",
            "-threads",
            str(ENCODER_THREADS),
            *fmt.args,
            "-r",
            f"{fps:g}",
            "-f",
            fmt.muxer,
            str(self.path),
        ]
        # ffmpeg's messages go to a file: a pipe nobody reads could fill and block it.
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        yield_cores(self._proc.pid)

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def write(self, frame: np.ndarray) -> None:
        channels = 4 if self.fmt.input_pix_fmt == "rgba" else 3
        if frame.ndim != 3 or frame.shape[2] != channels or frame.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames with {channels} channels, got {frame.dtype} {frame.shape}")
        frame = pad_even(frame)
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the video's {self.size}")
        if self._message is not None:
            raise output_error(self.path, self._message or "the encoder has already stopped")
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except OSError:  # a broken pipe: ffmpeg stopped: its log says why
            message = self._finish()
            raise output_error(self.path, message or "the encoder stopped") from None
        self.frames += 1

    def _finish(self) -> str:
        """Close ffmpeg's input, wait for it and read its log; later calls return the same log."""
        if self._message is not None:
            return self._message
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:  # a broken pipe: ffmpeg has stopped already
                pass
        self._proc.wait()
        self._log.seek(0)
        self._message = self._log.read().decode(errors="replace").strip()
        self._log.close()
        return self._message

    def close(self) -> Path:
        """Wait for the encoder; OutputError (and the partial file deleted) when it failed."""
        message = self._finish()
        if self._proc.returncode != 0:
            remove_output(self.path)
            raise output_error(self.path, message or f"ffmpeg exited with status {self._proc.returncode}")
        return self.path

    def abort(self) -> None:
        """Stop the encoder now and delete the partial file."""
        if self._message is None and self.running:
            self._proc.kill()
        self._finish()
        remove_output(self.path)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class FrameSink:
    """Everything one render writes, fed frame by frame (straight-alpha RGBA uint8).

    Any of: an MP4 over ``background`` (H.264 has no alpha, so with a
    transparent background the MP4 shows the figure over white), a
    transparent WebM, numbered PNGs in a folder, a zip of those PNGs.
    All or nothing: when any output fails (or the caller raises inside
    ``with``), every encoder is stopped and every partial file deleted.
    PNG frames keep each frame's own size; the videos are ``width`` x
    ``height`` and show a frame of another size letterboxed.
    """

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        mp4: str | Path | None = None,
        webm: str | Path | None = None,
        frames_dir: str | Path | None = None,
        frames_zip: str | Path | None = None,
        background: Colour | None = (255, 255, 255),
    ):
        self.background = background if background is not None else (255, 255, 255)
        self.size = (width, height)
        self.count = 0
        self.mp4 = self.webm = None
        self._writers: list[VideoWriter] = []
        self._zip: zipfile.ZipFile | None = None
        self._zip_path: Path | None = None  # set once opened: only then is the file ours to delete
        self._pngs: list[Path] = []
        self.frames_dir = Path(frames_dir) if frames_dir else None
        self._made_dir = False
        try:
            self.mp4 = VideoWriter(mp4, width, height, fps, MP4) if mp4 else None
            self._writers = [w for w in (self.mp4,) if w]
            self.webm = VideoWriter(webm, width, height, fps, WEBM_ALPHA) if webm else None
            self._writers = [w for w in (self.mp4, self.webm) if w]
            if self.frames_dir:
                self._made_dir = not self.frames_dir.exists()
                self.frames_dir.mkdir(parents=True, exist_ok=True)
            if frames_zip:
                self._zip = zipfile.ZipFile(frames_zip, "w", compression=zipfile.ZIP_STORED)
                self._zip_path = Path(frames_zip)
        except OSError as exc:
            self.abort()
            raise output_error(
                Path(exc.filename or frames_dir or frames_zip or "output"), exc.strerror or str(exc)
            ) from None
        except BaseException:
            self.abort()
            raise

    def write(self, rgba: np.ndarray) -> None:
        try:
            if self.mp4 or self.webm:
                video = letterbox(rgba, *self.size)
                if self.mp4:
                    self.mp4.write(composite(video, self.background))
                if self.webm:
                    self.webm.write(video)
            if self.frames_dir or self._zip:
                png = encode_png(rgba)
                name = f"{self.count:05d}.png"
                if self.frames_dir:
                    target = self.frames_dir / name
                    self._pngs.append(target)
                    try:
                        target.write_bytes(png)
                    except OSError as exc:
                        raise output_error(target, exc.strerror or str(exc)) from None
                if self._zip:
                    try:
                        self._zip.writestr(name, png)
                    except OSError as exc:
                        raise output_error(self._zip_path, exc.strerror or str(exc)) from None
        except BaseException:
            self.abort()
            raise
        self.count += 1

    def close(self) -> None:
        try:
            for writer in self._writers:
                writer.close()
            if self._zip:
                try:
                    self._zip.close()
                except OSError as exc:
                    raise output_error(self._zip_path, exc.strerror or str(exc)) from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop every encoder and delete everything written so far; safe to call again."""
        for writer in self._writers:
            try:
                writer.abort()
            except Exception:  # the next writer must be stopped all the same
                pass
        if self._zip:
            try:
                self._zip.close()
            except Exception:
                pass
            self._zip = None
        if self._zip_path:
            remove_output(self._zip_path)
        for png in self._pngs:
            remove_output(png)
        self._pngs = []
        if self._made_dir and self.frames_dir:
            try:
                self.frames_dir.rmdir()  # only when empty: never someone else's files
            except OSError:
                pass

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def encode_png(rgba: np.ndarray, level: int = 1) -> bytes:
    """RGBA uint8 -> PNG bytes (by default fast compression: frames are written often)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG frame")
    return data.tobytes()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, fmt: VideoFormat = MP4) -> Path:
    """Write frames (all the same size) to a video file; returns the path."""
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise InputError("There are no frames to write.")
    with VideoWriter(path, first.shape[1], first.shape[0], fps, fmt) as writer:
        writer.write(first)
        for frame in iterator:
            writer.write(frame)
    return Path(path)


# ---------------------------------------------------------------- inspection


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    pix_fmt: str
    width: int
    height: int
    frames: int
    fps: float
    alpha: bool


def probe_video(path: str | Path) -> VideoInfo:
    """Codec, pixel format, size and exact frame count, by decoding the file with ffmpeg."""
    path = Path(path)
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    log = proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg cannot read {path.name}: {log.strip()[-500:]}")
    stream = re.search(r"Stream #0:\d+.*?: Video: (\w+)[^,]*, (\w+)(?:\([^)]*\))?(?:\([^)]*\))?, (\d+)x(\d+)", log)
    frames = re.findall(r"frame=\s*(\d+)", log)
    fps = re.search(r"([\d.]+) fps", log)
    if not stream or not frames:
        raise RuntimeError(f"could not parse ffmpeg's report on {path.name}")
    codec, pix_fmt, width, height = stream.groups()
    alpha = bool(re.search(r"alpha_mode\s*:\s*1", log, re.IGNORECASE)) or "yuva" in pix_fmt
    return VideoInfo(
        codec, pix_fmt, int(width), int(height), int(frames[-1]), float(fps.group(1)) if fps else 0.0, alpha
    )


def read_video_frames(path: str | Path, rgba: bool = False) -> np.ndarray:
    """Decode a whole (short) video to uint8 frames, (N, H, W, 3|4). For tests and previews."""
    path = Path(path)
    info = probe_video(path)
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error"]
    if rgba and info.codec == "vp9":
        args += ["-c:v", "libvpx-vp9"]  # the native decoder drops the alpha plane
    pix = "rgba" if rgba else "rgb24"
    args += ["-i", str(path), "-f", "rawvideo", "-pix_fmt", pix, "-"]
    raw = subprocess.run(args, capture_output=True, check=True).stdout
    channels = 4 if rgba else 3
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, channels)


# ---------------------------------------------------------------- sound

#: The audio codec each container gets: what browsers play in it.
AUDIO_ARGS = {
    "mp4": ("-c:a", "aac", "-b:a", "160k", "-ac", "2"),
    "webm": ("-c:a", "libopus", "-b:a", "128k", "-ac", "2", "-ar", "48000"),
}
MUXERS = {".mp4": "mp4", ".webm": "webm"}
#: Muxing copies the video, so it takes seconds; a hung ffmpeg must not hold a worker for ever.
MUX_TIMEOUT = 300


def video_duration(path: str | Path) -> float:
    """A video's length from its frame count and rate (the packets are counted, nothing is decoded)."""
    path = Path(path)
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=MUX_TIMEOUT,
    )
    frames = re.findall(r"frame=\s*(\d+)", proc.stderr)
    fps = re.search(r"Video: .*?([\d.]+) fps", proc.stderr)
    if proc.returncode != 0 or not frames or not fps:
        raise OutputError(f"Could not read the video {path.name} to add sound to it.")
    return int(frames[-1]) / float(fps.group(1))


def mux_audio(video: str | Path, song, start: float = 0.0, duration: float | None = None) -> Path:
    """Add ``song`` (a ``conr.audio.Song``) from ``start`` seconds to a finished MP4 (AAC) or WebM (Opus).

    The sound is cut or padded with silence to the video's ``duration``
    (default: its frame count / rate, so pass ``frames / fps`` when known).
    The video stream is copied, not re-encoded, and the MP4 keeps its index
    in front (faststart). The result replaces ``video`` only once ffmpeg has
    succeeded; on any failure the partial file is deleted, ``video`` is left
    as it was, and OutputError (or InputError for a song ffmpeg cannot
    decode) says why.
    """
    video = Path(video)
    muxer = MUXERS.get(video.suffix.lower())
    if muxer is None:
        raise ValueError(f"cannot add sound to {video.name}: only .mp4 and .webm")
    if duration is None:
        duration = video_duration(video)
    temp = video.with_name(f".{video.stem}.sound{video.suffix}")
    # apad then atrim: exactly ``duration`` of sound whether the song is longer or shorter.
    audio_filter = f"apad=whole_dur={duration:.6f},atrim=duration={duration:.6f},asetpts=N/SR/TB"
    cmd = [
        ffmpeg_exe(),
        "-y",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(video),
        *song.input_args(start),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c:v",
        "copy",
        "-af",
        audio_filter,
        *AUDIO_ARGS[muxer],
        "-map_metadata",
        "0",
        "-map_chapters",
        "-1",
    ]
    if muxer == "mp4":
        cmd += ["-movflags", "+faststart"]
    cmd += ["-f", muxer, str(temp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MUX_TIMEOUT)
    except subprocess.TimeoutExpired:
        remove_output(temp)
        raise OutputError(
            f"Adding the song '{song.name}' to {video.name} took longer than {MUX_TIMEOUT} s; it was stopped."
        ) from None
    except BaseException:
        remove_output(temp)
        raise
    if proc.returncode != 0:
        remove_output(temp)
        reason = proc.stderr.replace(str(temp), video.name).replace(str(song.path), song.name).strip()
        # ffmpeg names the file it failed on: in#0 the video, in#1 the song, out#0 the result.
        if "[in#1" in reason or (song.name in reason and video.name not in reason):
            last = re.sub(r"^(\[[^\]]*\]\s*)+", "", reason.splitlines()[-1])[:200]
            raise InputError(
                f"The song '{song.name}' could not be added to {video.name} ({last}). Try saving it as MP3 or WAV."
            )
        raise output_error(video, reason or f"ffmpeg exited with status {proc.returncode}")
    try:
        temp.replace(video)
    except OSError as exc:
        remove_output(temp)
        raise output_error(video, exc.strerror or str(exc)) from None
    return video


def add_audio(videos: Iterable[str | Path | None], song, start: float = 0.0, duration: float | None = None) -> None:
    """``mux_audio`` into each of a render's videos (None skipped), all or nothing.

    A render asked for with a song is not done without it: when any video
    fails, every one of them is deleted and the error raised.
    """
    paths = [Path(v) for v in videos if v]
    try:
        for path in paths:
            mux_audio(path, song, start, duration)
    except BaseException:
        for path in paths:
            remove_output(path)
        raise


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    seconds: float  # decoded length (the edit list / pre-skip applied, as a player plays it)
    channels: int
    rate: int


def probe_audio(path: str | Path) -> AudioInfo | None:
    """The first audio stream's codec, decoded length, channels and rate; None when there is none."""
    path = Path(path)
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0?", "-f", "s16le", "-"],
        capture_output=True,
        timeout=MUX_TIMEOUT,
    )
    log = proc.stderr.decode(errors="replace")
    stream = re.search(
        r"Stream #0:\d+(?:\[\w+\])?(?:\(\w+\))?: Audio: (\w+).*?, (\d+) Hz, (mono|stereo|\d+ channels)", log
    )
    if stream is None:
        return None
    codec, rate, layout = stream.groups()
    channels = {"mono": 1, "stereo": 2}.get(layout) or int(layout.split()[0])
    samples = len(proc.stdout) // (2 * channels)
    return AudioInfo(codec, samples / int(rate), channels, int(rate))
