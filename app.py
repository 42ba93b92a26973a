"""CoNR Space: upload drawings of a character, pick a dance, get a video.

Layout and wiring only: the work is ``conr.job`` (one ``RenderJob`` per
click), the files are ``conr.outputs``. Run locally with ``python app.py``
(http://127.0.0.1:7860; ``--share``, ``--port``) or as a Hugging Face Space
(README front matter). Limits come from the environment (``conr.limits``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import inspect
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr

try:  # ZeroGPU on Hugging Face; a no-op decorator elsewhere
    import spaces
except ImportError:  # pragma: no cover
    spaces = None

from conr import dances, matting
from conr.errors import Cancelled, ConrError, InputError, public_message
from conr.job import STAGE_RENDER, BundledDance, MmdDance, Outputs, RenderJob, UdpArchive, VideoPoses, cutout_notes
from conr.limits import Limits
from conr.outputs import OutputFolders
from conr.udp import write_udp_zip
from conr.video import parse_background
from conr.video_pose import flicker, write_comparison_preview

log = logging.getLogger("conr.app")
ROOT = Path(__file__).resolve().parent
EXAMPLE_SHEET = sorted((ROOT / "examples" / "sheet").glob("*.png"))
LIMITS = Limits.from_env()
#: Session folders are named by the server (a keyed hash of Gradio's client-chosen session id), never by the client.
OUTPUTS = OutputFolders(
    os.environ.get("CONR_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "conr-space",
    ttl_seconds=LIMITS.output_ttl_minutes * 60, max_bytes=LIMITS.output_max_mb * 1024**2,
)  # fmt: skip
SOURCE_DANCE, SOURCE_UPLOAD = "Bundled dance", "Upload UDP frames (.zip)"
SOURCE_VIDEO, SOURCE_MMD = "From a video", "Your own MMD dance (.pmx + .vmd)"
BACKGROUNDS = {"Colour": None, "Checkerboard": "checkerboard", "Green screen": "green"}


def _on_gpu(duration):
    """``spaces.GPU`` on ZeroGPU (``duration`` in seconds, from the call's arguments), else unchanged."""
    return (lambda fn: spaces.GPU(duration=duration)(fn)) if spaces is not None and hasattr(spaces, "GPU") else (lambda fn: fn)


def gpu_seconds(job: RenderJob, *args, **kwargs) -> int:
    """ZeroGPU budget of a render: about 0.05 s per frame on a shared GPU, detection and posing extra."""
    frames = (job.seconds or 20) * job.fps
    return int(min(300, 30 + (0.35 if job.source.slow else 0.05) * frames))


# ---------------------------------------------------------------- the engine, loaded once


class Engine:
    """The renderer, loaded in the background so the page opens at once; measures its speed for estimates."""

    def __init__(self) -> None:
        self.renderer, self.error = None, None
        self.seconds_per_view_frame: float | None = None
        self._ready = threading.Event()

    def start(self) -> Engine:
        threading.Thread(target=self._load, name="conr-load", daemon=True).start()
        return self

    def _load(self) -> None:
        try:
            from conr.pipeline import ConrRenderer

            started = time.perf_counter()
            # "auto": the fastest precision whose frames stay within 40 dB PSNR of float32, measured once per
            # device, weights and torch version (a minute or two on a CPU), then read from the cache.
            renderer = ConrRenderer.from_pretrained(dtype=os.environ.get("CONR_DTYPE") or "auto")
            log.info("CoNR weights loaded in %.1f s on %s", time.perf_counter() - started, renderer.device)
            if renderer.precision_choice is not None:
                log.info("%s", renderer.precision_choice.describe())
            self.renderer = renderer
            if EXAMPLE_SHEET:  # warms the kernels and measures this server's speed for the estimates
                sheet = self.renderer.parse_sheet([str(EXAMPLE_SHEET[0])])
                frame = dances.dance_udp(dances.list_dances()[0].name)[0]
                started = time.perf_counter()
                self.renderer.render([frame], sheet=sheet)
                self.measured(1, 1, time.perf_counter() - started)
        except Exception as exc:  # the page says what to do; paths and PyTorch's words go to the log
            self.error = public_message(exc)
            log.warning("CoNR cannot render: %s", exc, exc_info=not isinstance(exc, ConrError))
        finally:
            self._ready.set()

    def measured(self, frames: int, views: int, seconds: float) -> None:
        sample = seconds / max(1, frames * views)
        old = self.seconds_per_view_frame
        self.seconds_per_view_frame = sample if old is None else 0.7 * old + 0.3 * sample

    def get(self):
        self._ready.wait()
        if self.renderer is None:
            raise gr.Error(self.error, title="CoNR weights missing")
        return self.renderer

    def banner(self) -> str:
        self._ready.wait(timeout=0.5)
        return f"### ⚠️ This server cannot render yet\n{self.error}\n\nYou can still prepare your drawings." if self.error else ""


ENGINE = Engine()


# ---------------------------------------------------------------- running jobs: cancel, disconnect, progress


class RunningJobs:
    """Cancel signals of the jobs running now, by session: set by Gradio's cancel, a lost client or a closed tab."""

    def __init__(self) -> None:
        self._signals: dict[str | None, set[threading.Event]] = {}
        self._lock = threading.Lock()

    def add(self, session: str | None) -> threading.Event:
        with self._lock:
            signal = threading.Event()
            self._signals.setdefault(session, set()).add(signal)
            return signal

    def discard(self, session: str | None, signal: threading.Event) -> None:
        with self._lock:
            self._signals.get(session, set()).discard(signal)

    def cancel_session(self, session: str | None) -> None:
        with self._lock:
            for signal in self._signals.pop(session, ()):
                signal.set()


RUNNING = RunningJobs()
#: The threads that render and detect: ``concurrency`` of them, so a job queued behind a cancelled one starts only
#: once that one has stopped, and the allocator's memory stays with the same few threads (no new arenas).
WORKERS = ThreadPoolExecutor(max_workers=LIMITS.concurrency, thread_name_prefix="conr-job")


def _event_alive() -> bool:
    """False once Gradio has marked this event's client as gone (its stream closed)."""
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
    """Run ``work(cancel)`` on a worker thread and stop it cooperatively when the job is cancelled.

    Gradio's cancel arrives as ``CancelledError``: the signal is set and the
    thread stops within one batch; ``WORKERS`` keeps the next job waiting
    until then, so it never runs beside a cancelled one. A client that is
    gone sets the signal too.
    """
    session = request.session_hash if request else None
    cancel = RUNNING.add(session)
    future = asyncio.get_running_loop().run_in_executor(WORKERS, contextvars.copy_context().run, work, cancel)
    try:
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout=0.5)
            except (asyncio.TimeoutError, TimeoutError):
                if not _event_alive():
                    log.info("client gone: cancelling its job")
                    cancel.set()
    except asyncio.CancelledError:  # answer at once; the next job waits in WORKERS until this thread has stopped
        cancel.set()
        future.add_done_callback(lambda done: done.exception())  # its Cancelled is expected: never "unretrieved"
        raise
    finally:
        RUNNING.discard(session, cancel)


class GradioProgress:
    """``conr.job`` progress ``(stage, done, total)`` on Gradio's bar, with frames done and an ETA."""

    def __init__(self, progress: gr.Progress):
        self.progress, self.started, self.done = progress, {}, {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        begun, first = self.started.setdefault(stage, (time.perf_counter(), done))
        self.done[stage] = (done, total)
        eta = ""
        if first < done < total:
            left = (time.perf_counter() - begun) / (done - first) * (total - done)
            eta = f", about {left:.0f} s left" if left < 90 else f", about {left / 60:.0f} min left"
        self.progress((done, total), desc=f"{stage}: {done} of {total}{eta}", unit="frames")


def cleanup_session(request: gr.Request) -> None:
    """The tab closed: stop its jobs and delete its folders (only ever inside the output root)."""
    RUNNING.cancel_session(request.session_hash)
    OUTPUTS.remove_session(request.session_hash)


def sweep_outputs_forever(interval: float) -> None:
    while True:
        OUTPUTS.sweep()
        time.sleep(interval)


# ---------------------------------------------------------------- handlers


def _path(file) -> str | None:
    if isinstance(file, dict):
        file = file.get("path")
    return file if isinstance(file, str) else getattr(file, "name", None)


def _gallery_paths(items) -> list[str]:
    """Gallery values arrive as (path, caption) pairs, dicts or paths."""
    paths = []
    for item in items or []:
        item = item[0] if isinstance(item, (list, tuple)) else item
        if isinstance(item, dict):
            item = item.get("path") or (item.get("image") or {}).get("path")
        if item:
            paths.append(str(item))
    return paths


def add_drawings(items, matting_model: str, force: bool, request: gr.Request):
    """Cut out every new drawing; kept ones stay in the gallery under the names the user gave them."""
    paths = _gallery_paths(items)
    notes = []
    if len(paths) > LIMITS.max_images:
        notes.append(f"⚠️ Only the first {LIMITS.max_images} pictures were kept; {len(paths) - LIMITS.max_images} left out.")
        paths = paths[: LIMITS.max_images]
    folder = OUTPUTS.folder(request.session_hash, "sheet")
    kept, problems = [], []
    for path in paths:
        name = Path(path).name
        if Path(path).parent.parent == folder:  # already one of our cut-outs
            kept.append((path, name))
            continue
        try:
            cut = matting.cut_out_sheet([path], [name], model=matting_model, force=force, max_pixels=LIMITS.max_pixels)[0]
        except InputError as exc:
            problems.append(str(exc))
            continue
        target = OUTPUTS.unique_path(folder, name, ".png")
        from PIL import Image

        Image.fromarray(cut.rgba).save(target)
        kept.append((str(target), name))
        notes += cutout_notes([name], [cut])
    status = "\n\n".join([f"**{len(kept)} drawing(s) ready.**", *notes, *(f"❌ {p}" for p in problems)])
    if problems:
        log.info("refused drawings: %s", " | ".join(problems))
    return kept, status


def selected_index(event: gr.SelectData) -> int:
    return event.index


def remove_selected(items, selected: int | None):
    """Drop the drawing the user clicked; with none clicked, a gentle hint and the gallery untouched."""
    paths = _gallery_paths(items)
    if selected is None or not 0 <= selected < len(paths):
        return gr.update(), None, "👆 Click a drawing in the gallery first, then **Remove selected drawing**."
    removed = Path(paths.pop(selected)).name
    return [(p, Path(p).name) for p in paths], None, f"**{len(paths)} drawing(s) ready.** Removed {removed}."


def dance_choices() -> list[tuple[str, str]]:
    return [(f"{d.title} ({d.seconds:.0f} s)", d.name) for d in dances.list_dances()]


def dance_preview(name: str):
    """The dance's UDP colours as a looping video, and its description."""
    info = {d.name: d for d in dances.list_dances()}.get(name)
    if info is None:
        return None, ""
    video = ROOT / "examples" / "dances" / f"{name}.mp4"
    if not video.is_file():
        video = OUTPUTS.root / "previews" / f"{name}.mp4"
        if not video.is_file():
            video.parent.mkdir(parents=True, exist_ok=True)
            dances.dance_preview(name, video)
    return str(video), f"*{info.description}*"


def render_plan(items, source: str, dance: str, fps: float, seconds: float) -> str:
    """What the next render will do and about how long it takes here, from this server's measured speed."""
    views = min(len(_gallery_paths(items)), LIMITS.max_images)
    drawings = f"{views} drawing(s)" if views else "your drawings (none yet)"
    info = {d.name: d for d in dances.list_dances()}.get(dance)
    length = seconds or (info.seconds if source == SOURCE_DANCE and info else 0)
    if not length:
        return f"The whole sequence at {fps:g} fps from {drawings}."
    frames = min(LIMITS.max_frames, round(length * fps))
    plan = f"**{frames} frames** at {fps:g} fps ({length:g} s) from {drawings}"
    views = max(1, views)
    if ENGINE.seconds_per_view_frame:
        total = frames * views * ENGINE.seconds_per_view_frame
        where = ENGINE.renderer.device.type.upper() if ENGINE.renderer else "this server"
        plan += f", about {total:.0f} s on this {where}" if total < 90 else f", about {total / 60:.0f} min on this {where}"
    return plan + "."


def pose_source(source, dance, udp_zip, video, smooth, matting_model, mmd_model, mmd_motion, mmd_start, mmd_physics,
                detected, mmd_camera=None):  # fmt: skip
    """The job's pose source for the UI's choice; a video already detected in this session is reused."""
    if source == SOURCE_UPLOAD:
        if not _path(udp_zip):
            raise InputError("Choose a .zip of UDP frames to upload (or pick a bundled dance).")
        return UdpArchive(_path(udp_zip))
    if source == SOURCE_VIDEO:
        if not _path(video):
            raise InputError("Upload a video of a dancing character (MP4, WebM or GIF), or pick another dance source.")
        cached = (detected or {}).get(f"{_path(video)}|{int(smooth or 1)}|{matting_model}")
        if cached and Path(cached).is_file():
            return UdpArchive(cached)
        return VideoPoses(_path(video), smooth=int(smooth or 1), matting_model=matting_model)
    if source == SOURCE_MMD:
        if not (_path(mmd_model) and _path(mmd_motion)):
            raise InputError("Upload both the MMD model (.pmx/.pmd, or a .zip holding it) and the motion (.vmd).")
        return MmdDance(_path(mmd_model), _path(mmd_motion), start=float(mmd_start or 0), physics=bool(mmd_physics),
                        camera=_path(mmd_camera))  # fmt: skip
    if not dance:
        raise InputError("Pick a dance.")
    return BundledDance(dance)


#: The render inputs, in order: what a validation result is painted on.
RENDER_INPUTS = ("items", "source", "dance", "udp_zip", "fps", "seconds", "background", "colour", "size", "matting_model",
                 "force", "video", "smooth", "mmd_model", "mmd_motion", "mmd_start", "mmd_physics", "song", "song_start",
                 "inbetween", "detected", "mmd_camera")  # fmt: skip
#: Which control a pose source's problems belong to.
SOURCE_CONTROL = {SOURCE_DANCE: "dance", SOURCE_UPLOAD: "udp_zip", SOURCE_VIDEO: "video", SOURCE_MMD: "mmd_model"}


def build_job(items, source=SOURCE_DANCE, dance=None, udp_zip=None, fps=30, seconds=0, background="Colour",
              colour="#ffffff", size="Pose canvas", matting_model=matting.DEFAULT_MODEL, force=False, video=None,
              smooth=3, mmd_model=None, mmd_motion=None, mmd_start=0, mmd_physics=True, song=None, song_start=0,
              inbetween=True, detected=None, mmd_camera=None, draft=False) -> RenderJob:  # fmt: skip
    """The page's values (``RENDER_INPUTS``) as a job; raises InputError when the pose source's files are missing."""
    paths = _gallery_paths(items)
    return RenderJob(
        paths, pose_source(source, dance, udp_zip, video, smooth, matting_model, mmd_model, mmd_motion, mmd_start,
                           mmd_physics, detected, mmd_camera),
        names=[Path(p).name for p in paths], fps=float(fps or 30), seconds=float(seconds or 0),
        background=parse_background(BACKGROUNDS.get(background) or colour or "#ffffff"),
        max_side=int(size) if str(size).isdigit() else None, matting_model=matting_model, force_matting=bool(force),
        song=_path(song), song_name=Path(_path(song)).name if _path(song) else None, song_start=float(song_start or 0),
        inbetween=0 if inbetween else 1, draft=bool(draft),
    )  # fmt: skip


#: Which control shows a problem of the job (``RenderJob.problems``), by what it is about.
PROBLEM_CONTROL = {"fps": "fps", "seconds": "seconds", "drawings": "items", "song": "song"}


def validate_render(*values):
    """The Render button's cheap checks (``RenderJob.problems``), each shown on the control that is wrong."""
    args = dict(zip(RENDER_INPUTS, values))
    source_control = SOURCE_CONTROL.get(args["source"], "source")
    try:
        found = {PROBLEM_CONTROL.get(what, source_control): message
                 for what, message in build_job(**args).problems(LIMITS).items()}  # fmt: skip
    except InputError as exc:  # the source's files are missing
        found = {source_control: str(exc)}
    if found:
        log.info("render refused: %s", " | ".join(found.values()))
    return [gr.validate(name not in found, found.get(name, "")) for name in RENDER_INPUTS]


@_on_gpu(gpu_seconds)
def run_job(job: RenderJob, session: str | None, progress, cancel):
    """One render into a fresh session folder (deleted with its partial files if it fails or is cancelled)."""
    renderer = ENGINE.get()
    try:
        with OUTPUTS.job(session) as folder:
            return job.run(renderer, Outputs.in_folder(folder), LIMITS, progress=progress, cancel=cancel,
                           work_dir=OUTPUTS.folder(session, "poses"))  # fmt: skip
    except Cancelled:
        done, total = progress.done.get(STAGE_RENDER, (0, 0))
        log.info("render cancelled after %d of %d frames; its files are deleted", done, total)
        raise


async def render(items, source=SOURCE_DANCE, dance=None, udp_zip=None, fps=30, seconds=0, background="Colour",
                 colour="#ffffff", size="Pose canvas", matting_model=matting.DEFAULT_MODEL, force=False, video=None,
                 smooth=3, mmd_model=None, mmd_motion=None, mmd_start=0, mmd_physics=True, song=None, song_start=0,
                 inbetween=True, detected=None, mmd_camera=None, request: gr.Request = None, progress=gr.Progress(), *,
                 draft=False):  # fmt: skip
    """The Render button: drawings + dance (+ a song) -> MP4, transparent WebM, zip of RGBA PNG frames."""
    try:
        job = build_job(items, source, dance, udp_zip, fps, seconds, background, colour, size, matting_model, force, video,
                        smooth, mmd_model, mmd_motion, mmd_start, mmd_physics, song, song_start, inbetween, detected,
                        mmd_camera, draft)  # fmt: skip
        job.check(LIMITS)
        reporter = GradioProgress(progress)
        result = await run_cancellable(lambda cancel: run_job(job, request.session_hash, reporter, cancel), request)
    except Cancelled:
        raise gr.Error("The render was cancelled.", title="Cancelled") from None
    except ConrError as exc:
        log.info("render refused: %s", exc)
        raise gr.Error(public_message(exc), title="Cannot render") from None
    ENGINE.measured(result.network_frames, result.views, result.seconds)
    log.info("rendered %s", result.summary())
    notes = "".join(f"\n\n{note}" for note in result.notes if not note.startswith(("✂️", "✅")))
    return result.render.mp4, result.render.webm, result.render.frames_zip, f"**Done:** {result.summary()}.{notes}"


async def quick_preview(*args, **kwargs):
    """The Preview button: a draft (2 drawings, 1 frame in 3 through the network), marked DRAFT."""
    return await render(*args, **kwargs, draft=True)


quick_preview.__signature__ = inspect.signature(render).replace(
    parameters=[p for p in inspect.signature(render).parameters.values() if p.name != "draft"]
)
quick_preview.__annotations__ = render.__annotations__  # Gradio finds gr.Request by its annotation


async def dance_api(drawings: list, dance: str, fps: float = 30, seconds: float = 0, request: gr.Request = None,
                    progress=gr.Progress()):  # fmt: skip
    """Drawings of a character + a bundled dance -> (mp4, webm, frames_zip)."""
    mp4, webm, frames_zip, _ = await render(drawings, SOURCE_DANCE, dance, fps=fps, seconds=seconds, request=request,
                                            progress=progress)  # fmt: skip
    return mp4, webm, frames_zip


def detection_gpu_seconds(source, fps, seconds, *args, **kwargs) -> int:
    """ZeroGPU budget of a detection: matting and the detector, about 0.3 s per frame."""
    return int(min(300, 30 + 0.3 * (seconds or LIMITS.max_video_seconds) * fps))


@_on_gpu(detection_gpu_seconds)
def run_detection(source: VideoPoses, fps, seconds, progress, cancel):
    source.open(fps, seconds, LIMITS, renderer=ENGINE.get(), progress=progress, cancel=cancel)
    return source.detection


async def detect_video_poses(video, fps=15, seconds=0, smooth=3, matting_model=matting.DEFAULT_MODEL, detected=None,
                             request: gr.Request = None, progress=gr.Progress()):  # fmt: skip
    """The "Detect the poses" button: preview (raw | smoothed), the UDP zip to download, a summary."""
    fps = float(fps or 15)
    try:
        source = pose_source(SOURCE_VIDEO, None, None, video, smooth, matting_model, None, None, 0, True, {})
        result = await run_cancellable(
            lambda cancel: run_detection(source, fps, float(seconds or 0), GradioProgress(progress), cancel), request
        )  # fmt: skip
    except ConrError as exc:
        raise gr.Error(public_message(exc), title="Cannot use this video") from None
    folder = OUTPUTS.folder(request.session_hash, "video-poses")
    archive = write_udp_zip(OUTPUTS.unique_path(folder, "poses", ".zip"), result.udp)
    preview = write_comparison_preview(OUTPUTS.unique_path(folder, "preview", ".mp4"), result.raw, list(result.udp), fps)
    detected = {**(detected or {}), f"{_path(video)}|{int(smooth or 1)}|{matting_model}": str(archive)}
    summary = (
        f"**{len(result.udp)} poses detected in {result.name} at {fps:g} fps** (flicker {flicker(result.raw):.3f} raw, "
        f"{flicker(list(result.udp)):.3f} smoothed). Left: as detected; right: smoothed."
    )
    return str(preview), str(archive), summary, detected


# ---------------------------------------------------------------- layout

ON_GPU = bool(os.environ.get("SPACES_ZERO_GPU")) or __import__("torch").cuda.is_available()
DEFAULT_FPS, DEFAULT_SECONDS = (30, 0) if ON_GPU else (10, 2)
CSS = """
#render-button {min-height: 3em; font-size: 1.1em}
#render-plan {min-height: 3.2em}
#sheet-gallery .grid-container {grid-template-columns: repeat(4, minmax(0, 1fr)) !important; padding-top: 2.6em !important}
#sheet-gallery .thumbnail-item {aspect-ratio: 3 / 4; height: auto}
#sheet-gallery .thumbnail-item img {object-fit: contain !important}
.conr-banner {border-left: 4px solid #f59e0b; padding-left: 1em}
#colour-picker .dialog-button {border: 1px solid #9ca3af; border-radius: 6px; min-height: 2.2em; min-width: 5em}
"""


def build_demo() -> gr.Blocks:
    """The page; builds components and wires events, with no side effects (no threads, no models)."""
    choices = dance_choices()
    first = choices[0][1] if choices else None
    with gr.Blocks(title="CoNR Dance", delete_cache=(1800, 7200)) as demo:
        gr.Markdown("# 💃 CoNR Dance\nUpload a few drawings of your character, pick a dance, get a video. Powered by "
                    "[CoNR](https://arxiv.org/abs/2207.05378) (Collaborative Neural Rendering using Anime Character Sheets).")
        banner = gr.Markdown(elem_classes="conr-banner")
        selected, detected = gr.State(None), gr.State({})
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                gr.Markdown("### 1. Your character")
                sheet = gr.Gallery(label=f"Character sheet: 1 to {LIMITS.max_images} drawings of one character (front, back, side...)",
                                   type="filepath", interactive=True, file_types=["image"], columns=4, height=220,
                                   object_fit="contain", allow_preview=False, elem_id="sheet-gallery")  # fmt: skip
                sheet_status = gr.Markdown("Drop PNG, JPEG or WebP drawings above. Backgrounds are removed for you.")
                remove_button = gr.Button("Remove selected drawing", size="sm")
                gr.Markdown("### 2. The dance")
                source = gr.Radio([SOURCE_DANCE, SOURCE_UPLOAD, SOURCE_VIDEO, SOURCE_MMD], value=SOURCE_DANCE, label="Dance source")
                with gr.Row(equal_height=False) as dance_group:
                    with gr.Column(scale=3, min_width=200):
                        dance = gr.Dropdown(choices, value=first, label="Dance", elem_id="dance-dropdown")
                        dance_about = gr.Markdown()
                    preview = gr.Video(label="Pose preview", autoplay=True, loop=True, height=200, interactive=False,
                                       scale=2, min_width=160)  # fmt: skip
                with gr.Group(visible=False) as upload_group:
                    udp_zip = gr.File(label="UDP sequence: a .zip of 16-bit .png, .npz (key 'i') or float .exr frames",
                                      file_types=[".zip"], type="filepath", elem_id="udp-zip")  # fmt: skip
                with gr.Group(visible=False) as video_group:
                    drive_video = gr.File(label=f"A video of one dancing anime character (MP4, WebM, GIF or a .zip of "
                                          f"frames; up to {LIMITS.max_video_seconds} s)", type="filepath",
                                          file_types=[".mp4", ".webm", ".gif", ".mov", ".mkv", ".zip"])  # fmt: skip
                    smooth = gr.Slider(1, 9, value=3, step=2, label="Steadiness: median over N frames (1 = off)")
                    detect_button = gr.Button("Detect the poses", size="sm")
                    video_preview = gr.Video(label="Detected poses: raw | smoothed", autoplay=True, loop=True,
                                             interactive=False, height=200)  # fmt: skip
                    video_status = gr.Markdown()
                    video_udp = gr.File(label="Detected poses as a UDP sequence (.zip)", interactive=False)
                with gr.Group(visible=False) as mmd_group:
                    with gr.Row():
                        mmd_model = gr.File(label="MMD model: .pmx/.pmd, or a .zip holding it (textures are not needed)",
                                            file_types=[".pmx", ".pmd", ".zip"], type="filepath")  # fmt: skip
                        mmd_motion = gr.File(label="MMD motion: .vmd", file_types=[".vmd", ".zip"], type="filepath")
                    with gr.Row():
                        mmd_start = gr.Number(0, minimum=0, label="Start at second (skip the intro)")
                        mmd_physics = gr.Checkbox(True, label="Hair and skirt physics (springs)")
                        mmd_camera = gr.File(label="Camera motion (.vmd, optional)", file_types=[".vmd"], type="filepath")
                with gr.Accordion("3. Options and music", open=False):
                    fps = gr.Slider(1, 60, value=DEFAULT_FPS, step=1, label="Frames per second", elem_id="fps-slider")
                    seconds = gr.Slider(0, 60, value=DEFAULT_SECONDS, step=0.5, label="Length in seconds (0 = the whole dance)",
                                        elem_id="seconds-slider")  # fmt: skip
                    background = gr.Radio(["Colour", "Checkerboard", "Green screen"], value="Colour", label="MP4 background",
                                          info="An MP4 has no transparency; the WebM and the PNG frames are transparent.")
                    colour = gr.ColorPicker("#ffffff", label="Background colour", elem_id="colour-picker")
                    size = gr.Dropdown(["Pose canvas", "256", "384", "512", "768", "1024"], value="Pose canvas",
                                       label="Output size (longest side, pixels)")  # fmt: skip
                    matting_model = gr.Dropdown([(f"{n}: {why}", n) for n, (_, why) in matting.MODELS.items()],
                                                value=matting.DEFAULT_MODEL, label="Background removal model")  # fmt: skip
                    force = gr.Checkbox(False, label="Remove the background even from pictures that already have transparency")
                    inbetween = gr.Checkbox(True, label="Faster long renders on a CPU: 1 frame in 3 through the network, "
                                            "the others in-betweened along the poses")  # fmt: skip
                    song = gr.File(label="A song (MP3, WAV, OGG or M4A): in the MP4 and WebM; a bundled dance follows its tempo",
                                   file_types=[".mp3", ".wav", ".ogg", ".m4a"], type="filepath", elem_id="song-file")  # fmt: skip
                    song_start = gr.Number(0, minimum=0, label="The song starts at second")
                with gr.Row():
                    render_button = gr.Button("Render the dance", variant="primary", elem_id="render-button", scale=4)
                    preview_button = gr.Button("Preview", elem_id="preview-button", scale=2, min_width=90)
                    cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel-button", scale=1, min_width=80)
                plan = gr.Markdown(elem_id="render-plan")
            with gr.Column(scale=6):
                gr.Markdown("### Your video")
                video = gr.Video(label="Dance (MP4)", autoplay=True, loop=True, interactive=False, elem_id="result-video")
                with gr.Row():
                    webm = gr.File(label="Transparent video (WebM, VP9 + alpha)", interactive=False)
                    frames_zip = gr.File(label="Frames (zip of RGBA PNGs)", interactive=False)
                status = gr.Markdown(elem_id="render-status")
        with gr.Row(visible=False):  # the simple public endpoint /dance
            api_drawings = gr.File(label="drawings", file_count="multiple", file_types=["image"], type="filepath")
            api_dance, api_fps, api_seconds = gr.Textbox(label="dance"), gr.Number(30, label="fps"), gr.Number(0, label="seconds")
            api_mp4, api_webm, api_zip = gr.File(label="mp4"), gr.File(label="webm"), gr.File(label="frames_zip")
            api_button, api_render = gr.Button(), gr.Button()

        light = dict(queue=False, api_visibility="private")  # never queued: a full queue must not block them
        render_inputs = [sheet, source, dance, udp_zip, fps, seconds, background, colour, size, matting_model, force,
                         drive_video, smooth, mmd_model, mmd_motion, mmd_start, mmd_physics, song, song_start, inbetween,
                         detected, mmd_camera]  # fmt: skip
        render_outputs = [video, webm, frames_zip, status]
        gpu = dict(concurrency_limit=LIMITS.concurrency, concurrency_id="gpu")
        demo.load(ENGINE.banner, None, banner, **light)
        demo.load(dance_preview, dance, [preview, dance_about], **light)
        demo.unload(cleanup_session)
        sheet.upload(add_drawings, [sheet, matting_model, force], [sheet, sheet_status], api_name="prepare_sheet", queue=False)
        sheet.select(selected_index, None, selected, **light)
        remove_button.click(remove_selected, [sheet, selected], [sheet, selected, sheet_status], **light)
        source.change(lambda s: tuple(gr.update(visible=s == k) for k in (SOURCE_DANCE, SOURCE_UPLOAD, SOURCE_VIDEO, SOURCE_MMD)),
                      source, [dance_group, upload_group, video_group, mmd_group], **light)  # fmt: skip
        dance.change(dance_preview, dance, [preview, dance_about], **light)
        background.change(lambda b: gr.update(visible=b == "Colour"), background, colour, **light)
        for control in (sheet, source, dance, fps, seconds):
            control.change(render_plan, [sheet, source, dance, fps, seconds], plan, **light)
        demo.load(render_plan, [sheet, source, dance, fps, seconds], plan, **light)
        detection = detect_button.click(detect_video_poses, [drive_video, fps, seconds, smooth, matting_model, detected],
                                        [video_preview, video_udp, video_status, detected], api_name="detect_poses", **gpu)  # fmt: skip
        # The page's Render validates first (errors painted on the wrong control); /render is the same job for API
        # clients, whose refusals arrive as AppError with the message.
        rendering = render_button.click(render, render_inputs, render_outputs, validator=validate_render,
                                        api_name="render_ui", api_visibility="private", show_progress_on=[plan, video], **gpu)  # fmt: skip
        api_render.click(render, render_inputs, render_outputs, api_name="render", **gpu)
        previewing = preview_button.click(quick_preview, render_inputs, render_outputs, api_name="quick_preview",
                                          show_progress_on=[plan, video], **gpu)  # fmt: skip
        cancel_button.click(None, None, None, cancels=[rendering, previewing, detection], **light)
        if EXAMPLE_SHEET and choices:
            examples = gr.Examples([[[str(p) for p in EXAMPLE_SHEET], name] for _, name in choices], [sheet, dance],
                                   label="Examples: our character with each dance (click one; it renders with the "
                                         "options above, by default "
                                         f"{DEFAULT_SECONDS or 'the whole'} s at {DEFAULT_FPS} fps)")  # fmt: skip
            examples.load_input_event.then(render, render_inputs, render_outputs, api_name="render_example", api_visibility="private",
                                           show_progress_on=[plan, video], **gpu)  # fmt: skip
        api_button.click(dance_api, [api_drawings, api_dance, api_fps, api_seconds], [api_mp4, api_webm, api_zip],
                         api_name="dance", **gpu)  # fmt: skip
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
    # rembg compiles numba code on its first import (about 30 s): do it before the first visitor.
    # Also downloads the default model (isnet-anime) once, with progress in the log.
    threading.Thread(target=matting.warm_up, name="rembg-warm-up", daemon=True).start()
    sweep = max(10.0, min(600.0, LIMITS.output_ttl_minutes * 15))
    threading.Thread(target=sweep_outputs_forever, args=(sweep,), name="conr-sweep", daemon=True).start()
    build_demo().launch(server_name=args.host, server_port=args.port, share=args.share, css=CSS,
                        max_file_size=f"{LIMITS.max_upload_mb}mb", theme=gr.themes.Soft(primary_hue="pink"),
                        allowed_paths=[str(ROOT / "examples")])  # fmt: skip


if __name__ == "__main__":
    main()
