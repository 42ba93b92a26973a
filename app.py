"""CoNR Space: upload drawings of a character, pick a dance, get a video.

A thin Gradio UI over the ``conr`` library. Run locally with
``python app.py`` (http://127.0.0.1:7860; ``--share``, ``--port``), or as a
Hugging Face Space (see README front matter). Launch-time limits come from
the environment (``CONR_MAX_IMAGES``, ``CONR_MAX_PIXELS``, ``CONR_MAX_FRAMES``,
``CONR_MAX_FILE_MB``, ``CONR_QUEUE_SIZE``, ``CONR_CONCURRENCY``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import logging
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

try:  # ZeroGPU on Hugging Face; a no-op decorator elsewhere
    import spaces
except ImportError:  # pragma: no cover
    spaces = None

from conr import dances, matting
from conr.video_pose import VideoLimits, flicker, pose_from_video, write_comparison_preview
from conr.errors import Cancelled, ConrError, InputError, check_cancelled, public_message
from conr.outputs import OutputFolders
from conr.udp import UdpSequence, open_udp_sequence, write_udp_zip
from conr.video import parse_background

log = logging.getLogger("conr.app")
ROOT = Path(__file__).resolve().parent
EXAMPLE_SHEET = sorted((ROOT / "examples" / "sheet").glob("*.png"))


# ---------------------------------------------------------------- configuration


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; set at launch."""

    max_images: int = 8
    max_pixels: int = 25_000_000
    max_frames: int = 600
    max_file_mb: int = 50
    max_zip_entries: int = 2000
    max_zip_mb: int = 2048
    queue_size: int = 8
    concurrency: int = 1
    max_video_seconds: int = 20
    output_ttl_minutes: int = 120
    output_max_mb: int = 4096

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_images=_env_int("CONR_MAX_IMAGES", cls.max_images),
            max_pixels=_env_int("CONR_MAX_PIXELS", cls.max_pixels),
            max_frames=_env_int("CONR_MAX_FRAMES", cls.max_frames),
            max_file_mb=_env_int("CONR_MAX_FILE_MB", cls.max_file_mb),
            queue_size=_env_int("CONR_QUEUE_SIZE", cls.queue_size),
            concurrency=_env_int("CONR_CONCURRENCY", cls.concurrency),
            max_video_seconds=_env_int("CONR_MAX_VIDEO_SECONDS", cls.max_video_seconds),
            output_ttl_minutes=_env_int("CONR_OUTPUT_TTL_MINUTES", cls.output_ttl_minutes),
            output_max_mb=_env_int("CONR_OUTPUT_MAX_MB", cls.output_max_mb),
        )

    @property
    def video(self) -> VideoLimits:
        return VideoLimits(max_seconds=self.max_video_seconds, max_input_side=4096, max_images=self.max_frames * 4)


LIMITS = Limits.from_env()
OUTPUT_ROOT = Path(os.environ.get("CONR_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "conr-space")
#: Session folders are named by the server (a keyed hash of Gradio's client-chosen session id), never by the client.
OUTPUTS = OutputFolders(OUTPUT_ROOT, ttl_seconds=LIMITS.output_ttl_minutes * 60, max_bytes=LIMITS.output_max_mb * 1024**2)


SOURCE_DANCE = "Bundled dance"
SOURCE_UPLOAD = "Upload UDP frames (.zip)"
SOURCE_VIDEO = "From a video"
SOURCE_MMD = "Your own MMD dance (.pmx + .vmd)"


def gpu_seconds(items, source, dance, udp_zip, fps, seconds, *args, **kwargs) -> int:
    """ZeroGPU time budget for a render: about 0.05 s per frame on a shared GPU, plus start-up and detection."""
    frames = int((seconds or 10) * (fps or 30))
    detection = 0.3 * frames if source == SOURCE_VIDEO else 0.1 * frames if source == SOURCE_MMD else 0
    return int(min(300, 30 + 0.05 * frames + detection))


def video_gpu_seconds(video, fps, seconds, *args, **kwargs) -> int:
    """ZeroGPU time budget for pose detection: matting and the detector, about 0.3 s per frame."""
    return int(min(300, 30 + 0.3 * (seconds or LIMITS.max_video_seconds) * (fps or 15)))


def _on_gpu(duration):
    def decorate(fn):
        if spaces is not None and hasattr(spaces, "GPU"):
            return spaces.GPU(duration=duration)(fn)
        return fn

    return decorate


_gpu = _on_gpu(gpu_seconds)
_gpu_for_video = _on_gpu(video_gpu_seconds)


# ---------------------------------------------------------------- the engine, loaded once


class Engine:
    """The renderer, loaded once per process in the background so the page opens at once."""

    def __init__(self) -> None:
        self.renderer = None
        self.error: str | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._load, name="conr-load", daemon=True)

    def start(self) -> Engine:
        self._thread.start()
        return self

    def _load(self) -> None:
        from conr.pipeline import ConrRenderer

        try:
            started = time.perf_counter()
            dtype = os.environ.get("CONR_DTYPE") or None
            renderer = ConrRenderer.from_pretrained(dtype=dtype)
            log.info("CoNR weights loaded in %.1f s on %s", time.perf_counter() - started, renderer.device)
            if dtype is None:
                self._choose_precision(renderer)
            self.renderer = renderer
        except ConrError as exc:  # the page shows what to do; paths and PyTorch's words go to the log
            self.error = public_message(exc)
            log.warning("CoNR weights unavailable: %s", exc)
        except Exception as exc:  # never leave the app without an explanation
            self.error = public_message(exc)
            log.exception("loading CoNR failed")
        finally:
            self._ready.set()

    @staticmethod
    def _choose_precision(renderer) -> None:
        """Use the fastest precision whose render stays within 2e-2 of float32, measured here on our example."""
        from conr.pipeline import reduced_precisions

        if not reduced_precisions(renderer.device) or not EXAMPLE_SHEET:
            return
        frame = dances.dance_udp(dances.list_dances()[0].name)[0]
        renderer.parse_sheet([str(EXAMPLE_SHEET[0])])
        results = renderer.choose_precision([frame] * 2, tolerance=2e-2)
        table = ", ".join(f"{k}: {v['seconds_per_frame'] * 1000:.0f} ms/frame, max diff {v['max_abs_diff']:.4f}" for k, v in results.items())
        log.info("precision: chose %s (%s)", renderer.dtype, table)

    def get(self):
        """The renderer, waiting for the load; raises gr.Error saying what the host must do."""
        self._ready.wait()
        if self.renderer is None:
            raise gr.Error(self.error, title="CoNR weights missing")
        return self.renderer

    def banner(self) -> str:
        self._ready.wait(timeout=0.5)
        if self.error:
            return (
                f"### ⚠️ This server cannot render yet\n{self.error}\n\n"
                "You can still prepare your character sheet; **Render** will work once the weights are in place."
            )
        return ""


ENGINE = Engine()
# Background removal: importing rembg compiles numba code (about 30 s the first time), so do it now.
threading.Thread(target=matting.warm_up, name="rembg-warm-up", daemon=True).start()


# ---------------------------------------------------------------- per-session files and running jobs


def _session_key(request: gr.Request | None) -> str | None:
    """Gradio's session hash: chosen by the client, so only ever an input to ``OUTPUTS``' keyed hash."""
    return request.session_hash if request else None


class RunningJobs:
    """Cancel signals of the renders and detections running now, by session.

    Set by Gradio's cancel (the Cancel button, ``job.cancel()``), by a
    client that disconnected, and by a closed tab (``demo.unload``); the
    library checks them between batches.
    """

    def __init__(self) -> None:
        self._signals: dict[str | None, set[threading.Event]] = {}
        self._lock = threading.Lock()

    def add(self, session: str | None) -> threading.Event:
        signal = threading.Event()
        with self._lock:
            self._signals.setdefault(session, set()).add(signal)
        return signal

    def discard(self, session: str | None, signal: threading.Event) -> None:
        with self._lock:
            self._signals.get(session, set()).discard(signal)
            if not self._signals.get(session, True):
                del self._signals[session]

    def cancel_session(self, session: str | None) -> int:
        with self._lock:
            signals = list(self._signals.get(session, ()))
        for signal in signals:
            signal.set()
        return len(signals)


RUNNING = RunningJobs()


def _event_alive() -> bool:
    """False once Gradio has marked this event's client as gone (it closed the stream)."""
    try:  # Gradio keeps this in its queue; if its internals change we only lose disconnect detection
        from gradio.context import LocalContext

        blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
        for job in blocks._queue.active_jobs if blocks and event_id else []:
            for event in job or []:
                if event._id == event_id:
                    return bool(event.alive)
    except Exception:  # pragma: no cover
        pass
    return True


async def run_cancellable(work, request: gr.Request | None):
    """Run ``work(cancel)`` on a worker thread; stop it cooperatively when the job is cancelled.

    A cancel from Gradio arrives here as ``CancelledError``: the signal is
    set and the thread is waited for (it stops within one batch), so the next
    job never runs beside a cancelled one. A disconnected client or a closed
    tab sets the signal too.
    """
    session = _session_key(request)
    cancel = RUNNING.add(session)
    context = contextvars.copy_context()  # gr.Progress finds its event through context variables
    future = asyncio.get_running_loop().run_in_executor(None, context.run, work, cancel)
    try:
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout=0.5)
            except (asyncio.TimeoutError, TimeoutError):
                if not _event_alive():
                    log.info("client gone: cancelling its job")
                    cancel.set()
    except asyncio.CancelledError:
        cancel.set()
        await asyncio.wait([future])
        raise
    finally:
        RUNNING.discard(session, cancel)


def cleanup_session(request: gr.Request) -> None:
    """The tab closed: stop its jobs and delete its folders (never anything outside the output root)."""
    session = _session_key(request)
    RUNNING.cancel_session(session)
    OUTPUTS.remove_session(session)


def sweep_outputs_forever(interval: float) -> None:
    """Delete expired and over-quota output folders (API users never close a tab)."""
    while True:
        try:
            OUTPUTS.sweep()
        except Exception:  # pragma: no cover - keep sweeping
            log.exception("sweeping the output folders failed")
        time.sleep(interval)


# ---------------------------------------------------------------- handlers


def _gallery_paths(items) -> list[str]:
    """Gallery values arrive as (path, caption) pairs or paths."""
    paths = []
    for item in items or []:
        if isinstance(item, (list, tuple)):
            item = item[0]
        if isinstance(item, dict):
            item = item.get("path") or item.get("name") or (item.get("image") or {}).get("path")
        if item:
            paths.append(str(item))
    return paths


def _display_name(path: str) -> str:
    return Path(path).name


def prepare_sheet(items, model: str, force: bool, request: gr.Request):
    """Cut out every uploaded drawing; good ones stay in the gallery, problems are reported."""
    paths = _gallery_paths(items)
    if len(paths) > LIMITS.max_images:
        raise gr.Error(f"{len(paths)} pictures is too many: a character sheet takes at most {LIMITS.max_images}.")
    out_dir = OUTPUTS.folder(_session_key(request), "sheet")
    kept, problems, notes = [], [], []
    for path in paths:
        name = _display_name(path)
        if Path(path).parent == out_dir:  # already a cut-out of ours
            kept.append((path, name))
            continue
        try:
            result = matting.cut_out_sheet([path], [name], model=model, force=force, max_pixels=LIMITS.max_pixels)[0]
        except InputError as exc:
            problems.append(str(exc))
            continue
        target = out_dir / f"{uuid.uuid4().hex[:6]}-{Path(name).stem}.png"
        from PIL import Image

        Image.fromarray(result.rgba).save(target)
        kept.append((str(target), name))
        notes.append(f"✂️ {name}: background removed ({result.model})" if result.removed_background else f"✅ {name}: kept its transparency")
    status = "\n".join([f"**{len(kept)} drawing(s) ready.**", *notes, *(f"❌ {p}" for p in problems)])
    return kept, status, "\n\n".join(problems)


def report_problems(problems: str) -> None:
    """Second step of an upload: show what was refused, after the good pictures are kept."""
    if problems:
        raise gr.Error(problems, title="Some pictures were not added")


def remove_selected(items, selected: int | None):
    paths = _gallery_paths(items)
    if selected is None or not (0 <= selected < len(paths)):
        raise gr.Error("Click a drawing in the gallery first, then remove it.")
    del paths[selected]
    return [(p, _display_name(p)) for p in paths], None


def on_select(event: gr.SelectData) -> int:
    return event.index


def dance_choices() -> list[tuple[str, str]]:
    return [(f"{d.title} ({d.seconds:.0f} s)", d.name) for d in dances.list_dances()]


def dance_preview_video(name: str) -> str | None:
    if not name:
        return None
    committed = ROOT / "examples" / "dances" / f"{name}.mp4"
    if committed.is_file():
        return str(committed)
    target = OUTPUT_ROOT / "previews" / f"{name}.mp4"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        dances.dance_preview(name, target)
    return str(target)


def dance_description(name: str) -> str:
    for d in dances.list_dances():
        if d.name == name:
            return f"*{d.description}*"
    return ""


def _path(file) -> str | None:
    return file if isinstance(file, str) else getattr(file, "name", None)


class Reporter:
    """A library progress callback ``(done, total)``: shows ``label`` and stops the work once cancelled."""

    def __init__(self, progress, cancel, label: str):
        self.progress, self.cancel, self.label = progress, cancel, label
        self.done = self.total = 0

    def __call__(self, done: int, total: int, stage: str | None = None) -> None:
        self.done, self.total = done, total
        check_cancelled(self.cancel)
        if self.progress is not None:  # gr.Progress has a length, 0 when idle, so never test it for truth
            self.progress((done, total), desc=f"{stage or self.label}: frame {done} of {total}", unit="frames")


def detect_from_video(video, fps: float, seconds: float, smooth: int, model: str, detected: dict,
                      request: gr.Request | None, progress, cancel=None) -> tuple[str, dict, str]:  # fmt: skip
    """UDP from the driving video (cached per session by video and settings): zip path, cache, description."""
    path = _path(video)
    if not path:
        raise InputError("Upload a video of a dancing character (MP4, WebM or GIF), or pick another dance source.")
    key = f"{path}|{fps:g}|{seconds:g}|{int(smooth)}|{model}"
    if key in (detected or {}) and Path(detected[key]["zip"]).is_file():
        return detected[key]["zip"], detected, detected[key]["label"]
    renderer = ENGINE.get()
    report = Reporter(progress, cancel, "Detecting poses")
    result = pose_from_video(
        renderer, path, fps=fps, max_seconds=seconds or None, smooth=int(smooth), matting_model=model,
        limits=LIMITS.video, progress=lambda stage, done, total: report(done, total, stage),
    )  # fmt: skip
    folder = OUTPUTS.folder(_session_key(request), "video-poses")
    stem = uuid.uuid4().hex[:8]
    archive = write_udp_zip(folder / f"{stem}-udp.zip", result.udp)
    preview = write_comparison_preview(folder / f"{stem}-preview.mp4", result.raw, list(result.udp), fps)
    label = (
        f"{len(result.udp)} poses detected in {result.name} at {fps:g} fps; frame-to-frame flicker "
        f"{flicker(result.raw):.3f} raw, {flicker(list(result.udp)):.3f} smoothed (window {int(smooth)})"
    )
    detected = {**(detected or {}), key: {"zip": str(archive), "preview": str(preview), "label": label}}
    return str(archive), detected, label


@_gpu_for_video
def detect_poses_job(video, fps, seconds, smooth, model, detected, request, progress, cancel):
    fps = float(fps or 15)
    archive, detected, label = detect_from_video(video, fps, float(seconds or 0), smooth, model, detected, request,
                                                 progress, cancel)  # fmt: skip
    entry = next(v for v in detected.values() if v["zip"] == archive)
    return entry["preview"], archive, f"**{label}.** Left: as detected; right: smoothed.", detected


async def detect_poses(video, fps, seconds, smooth, model, detected, request: gr.Request, progress=gr.Progress()):
    """The "Detect the poses" button: preview (raw | smoothed), the UDP zip to download, a summary."""
    try:
        return await run_cancellable(
            lambda cancel: detect_poses_job(video, fps, seconds, smooth, model, detected, request, progress, cancel),
            request,
        )  # fmt: skip
    except ConrError as exc:
        raise gr.Error(public_message(exc), title="Cannot use this video") from None


def convert_mmd(mmd_model, mmd_motion, fps: float, seconds: float, request, progress, cancel=None) -> tuple[UdpSequence, str]:
    """A user's MMD model and motion -> UDP frames (our own PMX/VMD readers, the dances' renderer)."""
    from conr.mmd import MmdLimits, udp_from_mmd

    model_path, motion_path = _path(mmd_model), _path(mmd_motion)
    if not model_path or not motion_path:
        raise InputError("Upload both the MMD model (.pmx, or a .zip holding it) and the motion (.vmd).")
    folder = OUTPUTS.folder(_session_key(request), "mmd")
    poses = udp_from_mmd(
        model_path, motion_path, out=folder / f"{uuid.uuid4().hex[:8]}-udp.zip", size=512, fps=fps,
        max_seconds=seconds or None, limits=MmdLimits(max_seconds=LIMITS.max_frames / fps),
        progress=Reporter(progress, cancel, "Posing your MMD model"),
    )  # fmt: skip
    return poses, f"your MMD dance {Path(motion_path).name} on {Path(model_path).name}"


#: Sources whose poses cost real work (detection, posing): they run after the cheap checks and the cut-outs.
SLOW_SOURCES = (SOURCE_VIDEO, SOURCE_MMD)


def check_pose_source(source: str, dance: str, udp_zip, fps: float, seconds: float, video=None, mmd_model=None,
                      mmd_motion=None) -> None:  # fmt: skip
    """The cheap checks of a slow source: its files are there and the asked length fits the limits."""
    if source == SOURCE_VIDEO and not _path(video):
        raise InputError("Upload a video of a dancing character (MP4, WebM or GIF), or pick another dance source.")
    if source == SOURCE_MMD and not (_path(mmd_model) and _path(mmd_motion)):
        raise InputError("Upload both the MMD model (.pmx, or a .zip holding it) and the motion (.vmd).")
    if seconds and seconds * fps > LIMITS.max_frames:
        raise InputError(
            f"{seconds:g} s at {fps:g} fps is {round(seconds * fps)} frames, over this server's limit of "
            f"{LIMITS.max_frames}. Render at most {LIMITS.max_frames / fps:.0f} s at this frame rate, or lower it."
        )


def load_poses(source: str, dance: str, udp_zip, fps: float, seconds: float, video=None, smooth: int = 3,
               model: str = matting.DEFAULT_MODEL, detected: dict | None = None, request=None,
               progress=None, mmd_model=None, mmd_motion=None, cancel=None) -> tuple[UdpSequence, str, dict]:  # fmt: skip
    """The pose frames to render, a short description of them, and the session's video detections."""
    detected = detected or {}
    if source == SOURCE_MMD:
        poses, label = convert_mmd(mmd_model, mmd_motion, fps, seconds, request, progress, cancel)
    elif source == SOURCE_VIDEO:
        archive, detected, label = detect_from_video(video, fps, seconds, smooth, model, detected, request, progress,
                                                     cancel)  # fmt: skip
        poses = open_udp_sequence(archive)
    elif source == SOURCE_UPLOAD:
        path = _path(udp_zip)
        if not path:
            raise InputError("Choose a .zip of UDP frames to upload (or pick a bundled dance).")
        poses = open_udp_sequence(path, max_entries=LIMITS.max_zip_entries, max_bytes=LIMITS.max_zip_mb * 1024**2)
        if seconds:
            poses = poses.head(int(round(seconds * fps)))
        label = f"your UDP sequence {Path(path).name}"
    else:
        if not dance:
            raise InputError("Pick a dance.")
        info = {d.name: d for d in dances.list_dances()}.get(dance)
        if info is None:
            raise InputError(f"Unknown dance {dance!r}.")
        poses = dances.dance_udp(dance).retime(info.fps, fps, seconds or None)
        label = f"the dance “{info.title}”"
    if len(poses) > LIMITS.max_frames:
        raise InputError(
            f"That is {len(poses)} frames, over this server's limit of {LIMITS.max_frames}. "
            f"Render fewer seconds (at {fps:g} fps, at most {LIMITS.max_frames / fps:.0f} s) or lower the frame rate."
        )
    poses[0]  # decode one frame now: a broken sequence fails before any rendering
    return poses, label, detected


@_gpu
def render_job(items, source, dance, udp_zip, fps, seconds, background, colour, size, model, force, video, smooth,
               mmd_model, mmd_motion, detected, request, progress, cancel):  # fmt: skip
    """Sheet + dance -> MP4, transparent WebM, zip of RGBA PNG frames, cheapest checks first.

    Order: options, the drawings' count, the weights, a cheap pose source
    (bundled dance, UDP zip: opened and one frame decoded) or a slow one's
    files, then the cut-outs, then a slow source's poses, then the render.
    """
    from conr.pipeline import render_to_files

    started = time.perf_counter()
    fps = float(fps or 30)
    if not 1 <= fps <= 60:
        raise InputError(f"Frames per second must be between 1 and 60, not {fps:g}.")
    seconds = float(seconds or 0)
    background_colour = None if background == "Transparent" else parse_background(colour or "#ffffff")
    paths = _gallery_paths(items)
    if not paths:
        raise InputError("Add at least one drawing of your character (PNG, JPEG or WebP).")
    if len(paths) > LIMITS.max_images:
        raise InputError(
            f"{len(paths)} pictures is too many: a character sheet takes at most {LIMITS.max_images}. "
            "Keep the most different views (front, back, side, three-quarter)."
        )
    renderer = ENGINE.get()
    pose_args = (source, dance, udp_zip, fps, seconds, video, int(smooth or 1), model, detected, request, progress,
                 mmd_model, mmd_motion, cancel)  # fmt: skip
    check_pose_source(source, dance, udp_zip, fps, seconds, video, mmd_model, mmd_motion)
    if source not in SLOW_SOURCES:
        poses, label, detected = load_poses(*pose_args)
    progress(0.0, desc="Checking your drawings")
    cutouts = matting.cut_out_sheet(
        paths, [_display_name(p) for p in paths], model=model, force=bool(force),
        max_images=LIMITS.max_images, max_pixels=LIMITS.max_pixels,
    )  # fmt: skip
    check_cancelled(cancel)
    if source in SLOW_SOURCES:
        poses, label, detected = load_poses(*pose_args)
    progress(0.0, desc="Reading your character sheet")
    sheet = renderer.parse_sheet([c.rgba for c in cutouts], [_display_name(p) for p in paths])
    report = Reporter(progress, cancel, "Rendering")
    try:
        with OUTPUTS.job(_session_key(request)) as job:  # deleted with its partial files if this fails
            result = render_to_files(
                renderer, poses, sheet=sheet, fps=fps, background=background_colour,
                mp4=job / "conr-dance.mp4", webm=job / "conr-dance-transparent.webm", frames_zip=job / "conr-frames.zip",
                max_side=int(size) if size and str(size).isdigit() else None, progress=report, cancel=cancel,
            )  # fmt: skip
    except Cancelled:
        log.info("render cancelled after %d of %d frames; its files are deleted", report.done, len(poses))
        raise
    seconds_taken = time.perf_counter() - started
    status = (
        f"**Done:** {result.frames} frames ({result.frames / fps:.1f} s at {fps:g} fps), {result.width}×{result.height}, "
        f"{sheet.views} view(s), {label}, in {seconds_taken:.1f} s on {renderer.device.type.upper()}."
    )
    return result.mp4, result.webm, result.frames_zip, status, detected


async def render(items, source, dance, udp_zip, fps, seconds, background, colour, size, model, force, video=None,
                 smooth=3, mmd_model=None, mmd_motion=None, detected=None, request: gr.Request = None,
                 progress=gr.Progress()):  # fmt: skip
    """The Render button (see ``render_job``); cancellable, errors shown as messages."""
    try:
        return await run_cancellable(
            lambda cancel: render_job(items, source, dance, udp_zip, fps, seconds, background, colour, size, model,
                                      force, video, smooth, mmd_model, mmd_motion, detected, request, progress, cancel),
            request,
        )  # fmt: skip
    except Cancelled:
        raise gr.Error("The render was cancelled.", title="Cancelled") from None
    except ConrError as exc:
        raise gr.Error(public_message(exc), title="Cannot render") from None


async def render_example(items, dance, request: gr.Request, progress=gr.Progress()):
    """An example row: the example sheet with one dance, at this server's default length."""
    mp4, webm, frames_zip, status, _ = await render(
        items, SOURCE_DANCE, dance, None, DEFAULT_FPS, DEFAULT_SECONDS, "Colour", "#ffffff", "Pose canvas",
        matting.DEFAULT_MODEL, False, request=request, progress=progress,
    )  # fmt: skip
    return mp4, webm, frames_zip, status


# ---------------------------------------------------------------- layout

ON_GPU = bool(os.environ.get("SPACES_ZERO_GPU")) or __import__("torch").cuda.is_available()
DEFAULT_FPS = 30 if ON_GPU else 10
DEFAULT_SECONDS = 0 if ON_GPU else 2
SIZES = ["Pose canvas", "256", "384", "512", "768", "1024"]

CSS = """
#render-button {min-height: 3em; font-size: 1.1em}
.conr-banner {border-left: 4px solid #f59e0b; padding-left: 1em}
"""


def build_demo() -> gr.Blocks:
    choices = dance_choices()
    first_dance = choices[0][1] if choices else None
    with gr.Blocks(title="CoNR Dance", delete_cache=(1800, 7200)) as demo:
        gr.Markdown(
            "# 💃 CoNR Dance\n"
            "Upload a few drawings of your character, pick a dance, get a video. "
            "Powered by [CoNR](https://arxiv.org/abs/2207.05378) (Collaborative Neural Rendering using Anime Character Sheets)."
        )
        banner = gr.Markdown(elem_classes="conr-banner")
        problems = gr.State("")
        selected = gr.State(None)
        detected = gr.State({})
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                gr.Markdown("### 1. Your character")
                sheet = gr.Gallery(
                    label=f"Character sheet: 1 to {LIMITS.max_images} drawings of the same character (front, back, side...)",
                    type="filepath", interactive=True, file_types=["image"], columns=4, height=220,
                    elem_id="sheet-gallery",
                )  # fmt: skip
                sheet_status = gr.Markdown("Drop PNG, JPEG or WebP drawings above. Backgrounds are removed for you.")
                with gr.Row():
                    remove_button = gr.Button("Remove selected drawing", size="sm")
                gr.Markdown("### 2. The dance")
                source = gr.Radio([SOURCE_DANCE, SOURCE_UPLOAD, SOURCE_VIDEO, SOURCE_MMD], value=SOURCE_DANCE,
                                  label="Dance source")  # fmt: skip
                with gr.Row(visible=True, equal_height=False) as dance_group:
                    with gr.Column(scale=3, min_width=200):
                        dance = gr.Dropdown(choices, value=first_dance, label="Dance", elem_id="dance-dropdown")
                        dance_about = gr.Markdown(dance_description(first_dance) if first_dance else "")
                    preview = gr.Video(label="Pose preview", autoplay=True, loop=True, height=200,
                                       interactive=False, scale=2, min_width=160)  # fmt: skip
                with gr.Group(visible=False) as upload_group:
                    udp_zip = gr.File(label="UDP sequence: a .zip of .npz (key 'i'), float .exr or 16-bit .png frames",
                                      file_types=[".zip"], type="filepath")  # fmt: skip
                with gr.Group(visible=False) as video_group:
                    drive_video = gr.File(
                        label=f"A video of one dancing anime character (MP4, WebM, GIF or a .zip of frames; "
                        f"up to {LIMITS.max_video_seconds} s)",
                        file_types=[".mp4", ".webm", ".gif", ".mov", ".mkv", ".zip"], type="filepath",
                    )  # fmt: skip
                    smooth = gr.Slider(1, 9, value=3, step=2, label="Steadiness: median over N frames (1 = off)")
                    detect_button = gr.Button("Detect the poses", size="sm")
                    video_preview = gr.Video(label="Detected poses: raw | smoothed", autoplay=True, loop=True,
                                             interactive=False, height=200)  # fmt: skip
                    video_status = gr.Markdown()
                    video_udp = gr.File(label="Detected poses as a UDP sequence (.zip)", interactive=False)
                with gr.Group(visible=False) as mmd_group:
                    with gr.Row():
                        mmd_model = gr.File(label="MMD model: .pmx, or a .zip with the .pmx (textures are not needed)",
                                            file_types=[".pmx", ".zip"], type="filepath")  # fmt: skip
                        mmd_motion = gr.File(label="MMD motion: .vmd", file_types=[".vmd", ".zip"], type="filepath")
                    gr.Markdown("PMX 2.0/2.1 with its bones and IK, any VMD bone motion; the camera follows the character.")
                with gr.Accordion("3. Options", open=False):
                    fps = gr.Slider(1, 60, value=DEFAULT_FPS, step=1, label="Frames per second")
                    seconds = gr.Slider(0, 60, value=DEFAULT_SECONDS, step=0.5, label="Length in seconds (0 = the whole dance)")
                    background = gr.Radio(["Colour", "Transparent"], value="Colour", label="Background of the MP4",
                                          info="The WebM and PNG frames are always transparent.")  # fmt: skip
                    colour = gr.ColorPicker("#ffffff", label="Background colour")
                    size = gr.Dropdown(SIZES, value="Pose canvas", label="Output size (longest side, pixels)")
                    model = gr.Dropdown(
                        [(f"{name}: {why}", name) for name, (_, why) in matting.MODELS.items()],
                        value=matting.DEFAULT_MODEL, label="Background removal model",
                    )  # fmt: skip
                    force = gr.Checkbox(False, label="Remove the background even from pictures that already have transparency")
                with gr.Row():
                    render_button = gr.Button("Render the dance", variant="primary", elem_id="render-button", scale=4)
                    cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel-button", scale=1, min_width=80)
            with gr.Column(scale=6):
                gr.Markdown("### Your video")
                video = gr.Video(label="Dance (MP4)", autoplay=True, loop=True, interactive=False, elem_id="result-video")
                with gr.Row():
                    webm = gr.File(label="Transparent video (WebM, VP9 + alpha)", interactive=False)
                    frames_zip = gr.File(label="Frames (zip of RGBA PNGs)", interactive=False)
                status = gr.Markdown()
                if not ON_GPU:
                    gr.Markdown(
                        "ℹ️ This server has no GPU: each frame takes several seconds, so short renders "
                        "(a couple of seconds at 10 fps) are the default."
                    )

        if EXAMPLE_SHEET and choices:
            gr.Examples(
                examples=[[[str(p) for p in EXAMPLE_SHEET], name] for _, name in choices],
                inputs=[sheet, dance], outputs=[video, webm, frames_zip, status], fn=render_example,
                run_on_click=True, cache_examples=False, label="Examples: our character with each dance (one click)",
            )  # fmt: skip

        # events: only the renders and the detection queue; light events (page load, uploads, clicks)
        # bypass the queue, so a full queue never blocks them.
        light = dict(queue=False, api_visibility="private")
        demo.load(ENGINE.banner, None, banner, **light)
        demo.load(dance_preview_video, dance, preview, **light)
        demo.unload(cleanup_session)
        upload = sheet.upload(prepare_sheet, [sheet, model, force], [sheet, sheet_status, problems], api_name="prepare_sheet",
                              queue=False)  # fmt: skip
        upload.then(report_problems, problems, None, **light)
        sheet.select(on_select, None, selected, **light)
        remove_button.click(remove_selected, [sheet, selected], [sheet, selected], **light)
        source.change(
            lambda s: tuple(gr.update(visible=s == k) for k in (SOURCE_DANCE, SOURCE_UPLOAD, SOURCE_VIDEO, SOURCE_MMD)),
            source, [dance_group, upload_group, video_group, mmd_group], **light,
        )  # fmt: skip
        detection = detect_button.click(
            detect_poses, [drive_video, fps, seconds, smooth, model, detected],
            [video_preview, video_udp, video_status, detected], api_name="detect_poses",
            concurrency_limit=LIMITS.concurrency, concurrency_id="gpu",
        )  # fmt: skip
        dance.change(dance_preview_video, dance, preview, **light)
        dance.change(dance_description, dance, dance_about, **light)
        rendering = render_button.click(
            render,
            [sheet, source, dance, udp_zip, fps, seconds, background, colour, size, model, force, drive_video, smooth,
             mmd_model, mmd_motion, detected],  # fmt: skip
            [video, webm, frames_zip, status, detected],
            api_name="render", concurrency_limit=LIMITS.concurrency, concurrency_id="gpu",
        )  # fmt: skip
        cancel_button.click(None, None, None, cancels=[rendering, detection], queue=False, api_visibility="private")
    demo.queue(default_concurrency_limit=LIMITS.concurrency, max_size=LIMITS.queue_size)
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="CoNR Space: a dancing video from your character drawings")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ENGINE.start()
    sweep_every = max(10.0, min(600.0, LIMITS.output_ttl_minutes * 60 / 4))
    threading.Thread(target=sweep_outputs_forever, args=(sweep_every,), name="conr-sweep", daemon=True).start()
    demo = build_demo()
    demo.launch(
        server_name=args.host, server_port=args.port, share=args.share,
        max_file_size=f"{LIMITS.max_file_mb}mb", css=CSS, theme=gr.themes.Soft(primary_hue="pink"),
        allowed_paths=[str(ROOT / "examples")],
    )  # fmt: skip


if __name__ == "__main__":
    main()
