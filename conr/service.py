"""Serving renders to many visitors: the renderer loaded once, a form, jobs that can be cancelled.

Knows nothing of the web framework. ``app.py`` lays out controls named like
``RenderForm``'s fields and hands each click to ``JobRunner.run``; another
front end (a queue worker, a notebook) can do the same in a few lines.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

from .errors import Cancelled, ConrError, InputError, WeightsError, public_message
from .job import BundledDance, MmdDance, PoseSource, RenderJob, UdpArchive, VideoPoses, cutout_notes
from .limits import Limits
from .matting import DEFAULT_MODEL
from .outputs import OutputFolders

log = logging.getLogger(__name__)

SOURCE_DANCE, SOURCE_UPLOAD = "Bundled dance", "Upload UDP frames (.zip)"
SOURCE_VIDEO, SOURCE_MMD = "From a video", "Your own MMD dance (.pmx + .vmd)"
SOURCES = (SOURCE_DANCE, SOURCE_UPLOAD, SOURCE_VIDEO, SOURCE_MMD)
#: The MP4's background by its label; "Colour" takes the colour field.
BACKGROUNDS = {"Colour": None, "Checkerboard": "checkerboard", "Green screen": "green"}


def file_path(value) -> str | None:
    """An uploaded file's path, whether it arrives as a path, a ``{"path": ...}`` dict or a file object."""
    if isinstance(value, dict):
        value = value.get("path")
    return value if isinstance(value, str) else getattr(value, "name", None)


def gallery_paths(items) -> list[str]:
    """A gallery's pictures, whether they arrive as (path, caption) pairs, dicts or paths."""
    paths = []
    for item in items or []:
        item = item[0] if isinstance(item, (list, tuple)) else item
        if isinstance(item, dict):
            item = item.get("path") or (item.get("image") or {}).get("path")
        if item:
            paths.append(str(item))
    return paths


# ---------------------------------------------------------------- the form


@dataclass
class RenderForm:
    """One render as a person (or an API client) asks for it: the page's values, in the page's order.

    Each field is one control and one parameter of the ``/render`` endpoint;
    ``job()`` turns them into a ``RenderJob`` and ``problems()`` says which
    field is wrong, so the page can show each message on its control.
    """

    items: list | None = None  # the character sheet: paths or gallery values
    source: str = SOURCE_DANCE
    dance: str | None = None
    udp_zip: str | None = None
    fps: float = 30
    seconds: float = 0
    background: str = "Colour"
    colour: str = "#ffffff"
    size: str = "Pose canvas"
    matting_model: str = DEFAULT_MODEL
    force: bool = False
    video: str | None = None
    smooth: int = 3
    mmd_model: str | None = None
    mmd_motion: str | None = None
    mmd_start: float = 0
    mmd_physics: bool = True
    song: str | None = None
    song_start: float = 0
    inbetween: bool = True
    detected: dict | None = None  # videos already detected in this session: detection_key -> UDP zip
    mmd_camera: str | None = None

    #: The field that shows a pose source's problems, and each ``RenderJob.problems`` key's field.
    SOURCE_FIELD = {SOURCE_DANCE: "dance", SOURCE_UPLOAD: "udp_zip", SOURCE_VIDEO: "video", SOURCE_MMD: "mmd_model"}
    PROBLEM_FIELD = {"fps": "fps", "seconds": "seconds", "drawings": "items", "song": "song"}

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def detection_key(self) -> str:
        return f"{file_path(self.video)}|{int(self.smooth or 1)}|{self.matting_model}"

    def pose_source(self) -> PoseSource:
        """The pose source chosen; a video already detected in this session is reused. InputError if files are missing."""
        if self.source == SOURCE_UPLOAD:
            if not file_path(self.udp_zip):
                raise InputError("Choose a .zip of UDP frames to upload (or pick a bundled dance).")
            return UdpArchive(file_path(self.udp_zip))
        if self.source == SOURCE_VIDEO:
            if not file_path(self.video):
                raise InputError(
                    "Upload a video of a dancing character (MP4, WebM or GIF), or pick another dance source."
                )
            cached = (self.detected or {}).get(self.detection_key())
            if cached and Path(cached).is_file():
                return UdpArchive(cached)
            return VideoPoses(file_path(self.video), smooth=int(self.smooth or 1), matting_model=self.matting_model)
        if self.source == SOURCE_MMD:
            if not (file_path(self.mmd_model) and file_path(self.mmd_motion)):
                raise InputError("Upload both the MMD model (.pmx/.pmd, or a .zip holding it) and the motion (.vmd).")
            return MmdDance(
                file_path(self.mmd_model),
                file_path(self.mmd_motion),
                start=float(self.mmd_start or 0),
                physics=bool(self.mmd_physics),
                camera=file_path(self.mmd_camera),
            )
        if not self.dance:
            raise InputError("Pick a dance.")
        return BundledDance(self.dance)

    def job(self, draft: bool = False) -> RenderJob:
        """The job this form asks for; raises InputError when the pose source's files are missing."""
        from .video import parse_background

        paths, song = gallery_paths(self.items), file_path(self.song)
        return RenderJob(
            paths,
            self.pose_source(),
            names=[Path(p).name for p in paths],
            fps=float(30 if self.fps is None else self.fps),  # an API client's 0 is refused, not replaced
            seconds=float(self.seconds or 0),
            background=parse_background(BACKGROUNDS.get(self.background) or self.colour or "#ffffff"),
            max_side=int(self.size) if str(self.size).isdigit() else None,
            matting_model=self.matting_model,
            force_matting=bool(self.force),
            song=song,
            song_name=Path(song).name if song else None,
            song_start=float(self.song_start or 0),
            inbetween=0 if self.inbetween else 1,
            draft=draft,
        )

    def problems(self, limits: Limits) -> dict[str, str]:
        """The cheap checks (``RenderJob.problems``), keyed by the field that is wrong."""
        source_field = self.SOURCE_FIELD.get(self.source, "source")
        try:
            found = self.job().problems(limits)
        except InputError as exc:  # the source's files are missing
            return {source_field: str(exc)}
        return {self.PROBLEM_FIELD.get(what, source_field): message for what, message in found.items()}

    def plan(self, limits: Limits, seconds_per_view_frame: float | None = None, where: str = "server") -> str:
        """What this render will do and about how long it takes, from the server's measured speed (Markdown)."""
        from .dances import dance_info

        views = min(len(gallery_paths(self.items)), limits.max_images)
        drawings = f"{views} drawing(s)" if views else "your drawings (none yet)"
        info = dance_info(self.dance)
        length = self.seconds or (info.seconds if self.source == SOURCE_DANCE and info else 0)
        if not length:
            return f"The whole sequence at {self.fps:g} fps from {drawings}."
        frames = min(limits.max_frames, round(length * self.fps))
        plan = f"**{frames} frames** at {self.fps:g} fps ({length:g} s) from {drawings}"
        if seconds_per_view_frame:
            total = frames * max(1, views) * seconds_per_view_frame
            plan += f", about {total:.0f} s" if total < 90 else f", about {total / 60:.0f} min"
            plan += f" on this {where}"
        return plan + "."


# ---------------------------------------------------------------- the engine, loaded once


class Engine:
    """The renderer, loaded in the background so a page can open at once; measures its speed for estimates."""

    def __init__(self, warm_up_drawing: Path | None = None, dtype: str | None = None) -> None:
        self.warm_up_drawing, self.dtype = warm_up_drawing, dtype or "auto"
        self.renderer, self.error = None, None
        self.seconds_per_view_frame: float | None = None
        self._ready = threading.Event()

    def start(self) -> Engine:
        threading.Thread(target=self._load, name="conr-load", daemon=True).start()
        return self

    def _load(self) -> None:
        try:
            from .dances import dance_udp, list_dances
            from .pipeline import ConrRenderer

            started = time.perf_counter()
            # "auto": the fastest precision whose frames stay within 40 dB PSNR of float32, measured once per
            # device, weights and torch version (a minute or two on a CPU), then read from the cache.
            renderer = ConrRenderer.from_pretrained(dtype=self.dtype)
            log.info("CoNR weights loaded in %.1f s on %s", time.perf_counter() - started, renderer.device)
            if renderer.precision_choice is not None:
                log.info("%s", renderer.precision_choice.describe())
            self.renderer = renderer
            if self.warm_up_drawing:  # warms the kernels and measures this server's speed for the estimates
                sheet = renderer.parse_sheet([str(self.warm_up_drawing)])
                frame = dance_udp(list_dances()[0].name)[0]
                started = time.perf_counter()
                renderer.render([frame], sheet=sheet)
                self.measured(1, 1, time.perf_counter() - started)
        except Exception as exc:  # the page says what to do; paths and PyTorch's words go to the log
            self.error = public_message(exc)
            log.warning("CoNR cannot render: %s", exc, exc_info=not isinstance(exc, ConrError))
        finally:
            self._ready.set()

    def measured(self, frames: int, views: int, seconds: float) -> None:
        """Fold a finished render into the speed estimate (a moving average)."""
        sample = seconds / max(1, frames * views)
        old = self.seconds_per_view_frame
        self.seconds_per_view_frame = sample if old is None else 0.7 * old + 0.3 * sample

    @property
    def where(self) -> str:
        return self.renderer.device.type.upper() if self.renderer is not None else "server"

    def get(self):
        """The renderer, once loaded; WeightsError saying what to do if it cannot be."""
        self._ready.wait()
        if self.renderer is None:
            raise WeightsError(self.error, user_message=self.error)
        return self.renderer

    def wait_error(self, timeout: float = 0.5) -> str | None:
        """Why this server cannot render, if it is known within ``timeout`` seconds."""
        self._ready.wait(timeout=timeout)
        return self.error


# ---------------------------------------------------------------- running jobs: cancel, disconnect


class JobRunner:
    """Jobs on a fixed pool of ``workers`` threads, each with a cancel signal.

    A fixed pool means a job queued behind a cancelled one starts only once
    that one has stopped, and the allocator's memory stays with the same few
    threads (new threads each keep an arena: +395 MB over 30 jobs).
    """

    def __init__(self, workers: int = 1) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conr-job")
        self._signals: dict[str | None, set[threading.Event]] = {}
        self._lock = threading.Lock()

    def cancel_session(self, session: str | None) -> None:
        """Stop every job of ``session`` (its tab closed)."""
        with self._lock:
            for signal in self._signals.pop(session, ()):
                signal.set()

    async def run(self, work: Callable, session: str | None = None, alive: Callable[[], bool] = lambda: True):
        """``work(cancel)`` on the pool; an asyncio cancel or ``alive()`` turning false sets ``cancel``.

        The caller's cancel is answered at once; the thread stops within one
        batch, and the pool keeps the next job waiting until then.
        """
        cancel = threading.Event()
        with self._lock:
            self._signals.setdefault(session, set()).add(cancel)
        future = asyncio.get_running_loop().run_in_executor(self.pool, contextvars.copy_context().run, work, cancel)
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(future), timeout=0.5)
                except (asyncio.TimeoutError, TimeoutError):
                    if not alive():
                        log.info("client gone: cancelling its job")
                        cancel.set()
        except asyncio.CancelledError:
            cancel.set()
            future.add_done_callback(lambda done: done.exception())  # its Cancelled is expected: never "unretrieved"
            raise
        finally:
            with self._lock:
                self._signals.get(session, set()).discard(cancel)


# ---------------------------------------------------------------- the service


class Service:
    """What a server keeps between requests, and one call per thing a visitor does.

    Owns the limits, the output folders (one per visitor, named by a keyed
    hash of the front end's session id), the engine and the job runner.
    ``session`` below is that front end's id for the visitor.
    """

    def __init__(self, limits: Limits, outputs: OutputFolders, examples: Path | None = None, dtype: str | None = None):
        self.limits, self.outputs, self.examples = limits, outputs, examples
        sheet = sorted((examples / "sheet").glob("*.png")) if examples else []
        self.example_sheet = [str(p) for p in sheet]
        self.engine = Engine(sheet[0] if sheet else None, dtype=dtype)
        self.runner = JobRunner(workers=limits.concurrency)

    @classmethod
    def from_env(cls, examples: Path | None = None) -> Service:
        """Limits, output root (``CONR_OUTPUT_DIR``) and precision (``CONR_DTYPE``) from the environment."""
        limits = Limits.from_env()
        root = os.environ.get("CONR_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "conr-space"
        folders = OutputFolders(root, ttl_seconds=limits.output_ttl_minutes * 60, max_bytes=limits.output_max_mb << 20)
        return cls(limits, folders, examples, dtype=os.environ.get("CONR_DTYPE"))

    def start(self) -> Service:
        """The slow parts in the background, so a page can open at once: weights, rembg, sweeping old outputs."""
        from .matting import warm_up

        self.engine.start()
        # rembg compiles numba code on its first import (about 30 s) and downloads its default model once.
        threading.Thread(target=warm_up, name="rembg-warm-up", daemon=True).start()
        self.outputs.sweep_every(max(10.0, min(600.0, self.limits.output_ttl_minutes * 15)))
        return self

    def add_drawings(self, session: str | None, paths: list[str], matting_model: str, force: bool):
        """Cut out every new drawing: the (path, name) pairs kept and a status in Markdown.

        Pictures already in the session's sheet folder are earlier cut-outs
        and are kept as they are; a refused picture is named in the status
        and the others stay.
        """
        from PIL import Image

        from .matting import cut_out_sheet

        folder, limit = self.outputs.folder(session, "sheet"), self.limits.max_images
        notes, kept, problems = [], [], []
        if len(paths) > limit:
            notes.append(f"⚠️ Only the first {limit} pictures were kept; {len(paths) - limit} left out.")
            paths = paths[:limit]
        for path in paths:
            name = Path(path).name
            if Path(path).parent.parent == folder:  # already one of our cut-outs
                kept.append((path, name))
                continue
            try:
                cut = cut_out_sheet([path], [name], model=matting_model, force=force, max_pixels=self.limits.max_pixels)
            except InputError as exc:
                problems.append(str(exc))
                continue
            target = self.outputs.unique_path(folder, name, ".png")
            Image.fromarray(cut[0].rgba).save(target)
            kept.append((str(target), name))
            notes += cutout_notes([name], cut)
        if problems:
            log.info("refused drawings: %s", " | ".join(problems))
        return kept, "\n\n".join([f"**{len(kept)} drawing(s) ready.**", *notes, *(f"❌ {p}" for p in problems)])

    def dance_preview(self, name: str) -> tuple[str | None, str]:
        """The dance's UDP colours as a looping MP4 (bundled, else made once) and its description."""
        from . import dances

        info = dances.dance_info(name)
        if info is None:
            return None, ""
        video = self.examples / "dances" / f"{name}.mp4" if self.examples else None
        if video is None or not video.is_file():
            video = self.outputs.root / "previews" / f"{name}.mp4"
            if not video.is_file():
                video.parent.mkdir(parents=True, exist_ok=True)
                dances.dance_preview(name, video)
        return str(video), f"*{info.description}*"

    def plan(self, form: RenderForm) -> str:
        """What the form's render will do and about how long it takes on this server."""
        return form.plan(self.limits, self.engine.seconds_per_view_frame, self.engine.where)

    def render(self, job: RenderJob, session: str | None, progress, cancel):
        """One render into a fresh session folder (deleted with its partial files if it fails or is cancelled)."""
        from .job import Outputs
        from .progress import STAGE_RENDER

        try:
            with self.outputs.job(session) as folder:
                out, work_dir = Outputs.in_folder(folder), self.outputs.folder(session, "poses")
                result = job.run(
                    self.engine.get(), out, self.limits, progress=progress, cancel=cancel, work_dir=work_dir
                )
        except Cancelled:
            done = getattr(progress, "done", {}).get(STAGE_RENDER, (0, 0))
            log.info("render cancelled after %d of %d frames; its files are deleted", *done)
            raise
        self.engine.measured(result.network_frames, result.views, result.seconds)
        log.info("rendered %s", result.summary())
        return result

    def detect(self, source: VideoPoses, fps: float, seconds: float, progress, cancel):
        """The poses of a driving video (kept on ``source.detection``)."""
        source.open(fps, seconds, self.limits, renderer=self.engine.get(), progress=progress, cancel=cancel)
        return source.detection

    def save_detection(self, session: str | None, detection, fps: float) -> tuple[str, str, str]:
        """A video's detected poses as files: the raw | smoothed preview, the UDP zip, and a summary."""
        from .udp import write_udp_zip
        from .video_pose import flicker, write_comparison_preview

        folder, unique = self.outputs.folder(session, "video-poses"), self.outputs.unique_path
        archive = write_udp_zip(unique(folder, "poses", ".zip"), detection.udp)
        preview = write_comparison_preview(unique(folder, "preview", ".mp4"), detection.raw, list(detection.udp), fps)
        summary = (
            f"**{len(detection.udp)} poses detected in {detection.name} at {fps:g} fps** (flicker "
            f"{flicker(detection.raw):.3f} raw, {flicker(list(detection.udp)):.3f} smoothed). "
            "Left: as detected; right: smoothed."
        )
        return str(preview), str(archive), summary

    def end_session(self, session: str | None) -> None:
        """The visitor left: stop their jobs and delete their folders (only ever inside the output root)."""
        self.runner.cancel_session(session)
        self.outputs.remove_session(session)
