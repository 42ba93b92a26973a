"""A whole job, the same for the app and the command line: drawings + a pose source -> video files.

    job = RenderJob(["front.png", "back.png"], BundledDance("wave"), fps=15, seconds=4)
    job.check(limits)                                  # cheap checks: options, counts, the pose source
    result = job.run(renderer, Outputs.in_folder(out), limits, progress=print_progress, cancel=event)

Pose sources are small objects with the same three calls: ``check`` (cheap,
before anything slow), ``open`` (the frames) and ``describe`` (a label for
people). Slow sources (a video to detect, an MMD motion to pose) are opened
after the drawings are cut out, so a bad drawing is reported first.

Progress everywhere is one protocol, ``progress(stage, done, total)``;
``cancel`` is a ``threading.Event`` (or a callable), checked between steps.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import InputError, check_cancelled
from .limits import Limits, check_fps
from .progress import STAGE_CUTOUTS, STAGE_RENDER, Progress, cancellable
from .udp import UdpSequence


def check_file_size(path, max_mb: int, what: str, advice: str = "") -> None:
    """Refuse an uploaded file over ``max_mb`` (the web server accepts up to the largest per-kind limit)."""
    try:
        size = Path(path).stat().st_size
    except (OSError, TypeError):
        return  # not a file (an array, a missing file: reported where it is read)
    if size > max_mb * 1024**2:
        raise InputError(
            f"The {what} '{Path(path).name}' is {size / 1024**2:.0f} MB, over this server's limit of {max_mb} MB."
            + (f" {advice}" if advice else "")
        )


# ---------------------------------------------------------------- pose sources


class PoseSource:
    """Where the poses come from. ``slow`` sources are opened after the drawings are cut out."""

    slow = False
    #: The tempo the poses are keyed at (bundled dances have one), so a song can retime them.
    bpm: float | None = None

    def check(self, fps: float, seconds: float, limits: Limits) -> None:
        """Cheap checks, before any slow work (files present, names known)."""

    def open(
        self,
        fps: float,
        seconds: float,
        limits: Limits,
        *,
        renderer=None,
        work_dir: Path | None = None,
        progress: Progress | None = None,
        cancel=None,
        retiming=None,
    ) -> UdpSequence:
        """The frames at ``fps``, at most ``seconds`` (0: all); ``retiming`` (``conr.audio``) fits them to a song."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class BundledDance(PoseSource):
    """One of our dances (``conr.dances``), resampled to the job's frame rate and length."""

    name: str

    def _info(self):
        from . import dances

        info = dances.dance_info(self.name)
        if info is None:
            dances.get_motion(self.name)  # raises InputError naming the dances there are
        return info

    @property
    def bpm(self) -> float | None:
        return getattr(self._info(), "bpm", None)

    def check(self, fps, seconds, limits):
        self._info()

    def open(self, fps, seconds, limits, *, retiming=None, **_):
        from . import dances

        info = self._info()
        if retiming is not None and retiming.retimed:  # looped on its beat grid, its first beat on the song's
            return retiming.apply(dances.dance_udp(self.name), info.fps, fps, seconds or None)
        return dances.dance_udp(self.name).retime(info.fps, fps, seconds or None)

    def describe(self) -> str:
        return f"the dance “{self._info().title}”"


@dataclass
class UdpArchive(PoseSource):
    """UDP frames from a folder, a .zip or files (``conr.udp.open_udp_sequence``); ``seconds`` keeps the first ones."""

    path: str | Path | Sequence[str | Path]
    #: The tempo the frames are keyed at, if known (the CLI's ``--dance-bpm``): a song retimes them.
    bpm: float | None = None

    def _paths(self) -> list[Path]:
        return [Path(p) for p in (self.path if isinstance(self.path, (list, tuple)) else [self.path])]

    def check(self, fps, seconds, limits):
        for path in self._paths():
            if path.suffix.lower() == ".zip":
                advice = "Send fewer frames, or 16-bit PNG frames (smaller than npz)."
                check_file_size(path, limits.max_zip_upload_mb, "UDP zip", advice)
        self.open(fps, seconds, limits)[0]  # opened, and one frame decoded: a broken sequence fails now

    def open(self, fps, seconds, limits, *, retiming=None, **_):
        from .udp import open_udp_sequence

        paths = self._paths()
        source = paths[0] if len(paths) == 1 else paths  # one folder or zip is opened as itself
        poses = open_udp_sequence(source, max_entries=limits.max_zip_entries, max_bytes=limits.max_zip_mb * 1024**2)
        poses = poses.head(int(round(seconds * fps))) if seconds else poses
        if retiming is not None and retiming.retimed:  # one loop keyed at ``bpm``, on the song's beat
            return retiming.apply(poses, fps, fps, seconds=len(poses) / fps)
        return poses

    def describe(self) -> str:
        return f"your UDP sequence {self._paths()[0].name}"


@dataclass
class VideoPoses(PoseSource):
    """Poses detected in a video of a dancing character (``conr.video_pose``); needs the renderer's detector."""

    path: str | Path
    smooth: int = 3
    matting_model: str | None = None
    source_fps: float = 30.0
    slow = True
    #: The detection (raw and smoothed frames), kept after ``open`` for previews.
    detection: object = field(default=None, init=False, repr=False)

    def check(self, fps, seconds, limits):
        if not Path(self.path).exists():
            raise InputError(f"The video '{Path(self.path).name}' does not exist.")
        check_file_size(self.path, limits.max_file_mb, "video")

    def open(self, fps, seconds, limits, *, renderer=None, progress=None, cancel=None, **_):
        from .video_pose import pose_from_video

        if renderer is None:
            raise ValueError("VideoPoses.open needs the renderer (its UDP detector)")
        self.detection = pose_from_video(
            renderer,
            self.path,
            fps=fps,
            max_seconds=seconds or None,
            smooth=self.smooth,
            matting_model=self.matting_model,
            limits=limits,
            source_fps=self.source_fps,
            progress=cancellable(progress, cancel),
        )
        return self.detection.udp

    def describe(self) -> str:
        return f"the poses of {Path(self.path).name}"

    @staticmethod
    def gpu_seconds(fps: float, seconds: float, limits: Limits) -> int:
        """A budget for detecting on a shared GPU (ZeroGPU): matting and the detector, about 0.3 s per frame."""
        return int(min(300, 30 + 0.3 * (seconds or limits.max_video_seconds) * fps))


@dataclass
class MmdDance(PoseSource):
    """An MMD model (.pmx/.pmd or a zip) and motion (.vmd) posed into UDP frames (``conr.mmd``)."""

    model: str | Path
    motion: str | Path
    start: float = 0.0
    physics: bool = True
    camera: str | Path | None = None
    size: int = 512
    slow = True

    def check(self, fps, seconds, limits):
        for path, what in ((self.model, "MMD model"), (self.motion, "MMD motion"), (self.camera, "camera motion")):
            if path is None:
                continue
            if not Path(path).is_file():
                raise InputError(f"The {what} '{Path(path).name}' does not exist.")
            check_file_size(path, limits.max_file_mb, what)

    def open(self, fps, seconds, limits, *, work_dir=None, progress=None, cancel=None, **_):
        from .mmd import udp_from_mmd

        out = Path(work_dir) / f"mmd-{uuid.uuid4().hex[:8]}-udp.zip" if work_dir else None
        extra = {"camera": self.camera} if self.camera else {}
        return udp_from_mmd(
            self.model,
            self.motion,
            out=out,
            size=self.size,
            fps=fps,
            max_seconds=seconds or None,
            limits=limits,
            start=self.start,
            physics=self.physics,
            progress=cancellable(progress, cancel),
            **extra,
        )

    def describe(self) -> str:
        return f"your MMD dance {Path(self.motion).name} on {Path(self.model).name}"


# ---------------------------------------------------------------- the job


def cutout_notes(names: Sequence[str], cutouts: Sequence) -> list[str]:
    """What to tell the user about each cut-out: kept or removed background, a fallback model, odd-looking drawings."""
    notes = []
    for name, cut in zip(names, cutouts):
        notes.append(
            f"✂️ {name}: background removed ({cut.model})"
            if cut.removed_background
            else f"✅ {name}: kept its transparency"
        )
        notes += [f"ℹ️ {cut.note}"] if cut.note else []
        notes += [f"⚠️ {warning}" for warning in cut.warnings]
    return notes


@dataclass
class Outputs:
    """Which files a job writes (any subset)."""

    mp4: Path | None = None
    webm: Path | None = None
    frames_zip: Path | None = None
    frames_dir: Path | None = None

    @classmethod
    def in_folder(cls, folder: str | Path) -> Outputs:
        """The app's set: MP4, transparent WebM and a zip of PNG frames, with names people recognise."""
        folder = Path(folder)
        return cls(folder / "conr-dance.mp4", folder / "conr-dance-transparent.webm", folder / "conr-frames.zip")


@dataclass
class JobResult:
    """What a finished job made, and what to tell the user about it."""

    render: object  # conr.pipeline.RenderResult
    label: str
    views: int
    seconds: float
    device: str
    notes: list[str] = field(default_factory=list)
    #: Frames the network rendered (fewer than ``render.frames`` when frames were in-betweened).
    network_frames: int | None = None

    def summary(self) -> str:
        r = self.render
        return (
            f"{r.frames} frames ({r.frames / r.fps:.1f} s at {r.fps:g} fps), {r.width}×{r.height}, {self.views} view(s), "
            f"{self.label}, in {self.seconds:.1f} s on {self.device.upper()}"
        )


@dataclass
class RenderJob:
    """Drawings of a character + a pose source + options: one render, cheapest checks first.

    ``drawings`` are paths, PIL images or RGBA arrays; ``names`` what
    messages call them (default: file names). ``seconds`` 0 means the whole
    sequence; ``background`` None makes the MP4 white (it has no alpha).
    """

    drawings: Sequence
    source: PoseSource
    names: Sequence[str] | None = None
    fps: float = 30.0
    seconds: float = 0.0
    background: tuple[int, int, int] | None = (255, 255, 255)
    max_side: int | None = None
    matting_model: str | None = None
    force_matting: bool = False
    #: A song (MP3, WAV, OGG, M4A) muxed into the videos from ``song_start`` s; a bundled dance follows its tempo.
    song: str | Path | None = None
    song_name: str | None = None
    song_start: float = 0.0
    #: Render every k-th frame and warp the rest along the UDP (``conr.inbetween``); 0 = automatic
    #: (on for long CPU renders), 1 = every frame through the network.
    inbetween: int = 1
    #: The quick preview: the two most different drawings, k = 3 (or ``inbetween``), frames marked DRAFT.
    draft: bool = False
    #: Render only the first frames of the sequence (the CLI's ``--max-frames``).
    max_frames: int | None = None

    def gpu_seconds(self) -> int:
        """A budget for a shared GPU (ZeroGPU): about 0.05 s per frame, with detection or posing 0.35 s."""
        return int(min(300, 30 + (0.35 if self.source.slow else 0.05) * (self.seconds or 20) * self.fps))

    def drawing_names(self) -> list[str]:
        from .sheet import describe

        return list(self.names) if self.names is not None else [describe(d, i) for i, d in enumerate(self.drawings)]

    def problems(self, limits: Limits) -> dict[str, str]:
        """Every problem that costs nothing to find, by what it is about: ``fps``, ``seconds``, ``drawings``,
        ``source`` or ``song`` (so a page can show each on its control), in the order ``check`` reports them."""
        found: dict[str, str] = {}

        def look(what: str, test) -> None:
            if what not in found:
                try:
                    test()
                except InputError as exc:
                    found[what] = str(exc)

        def fps() -> None:
            check_fps(self.fps)

        def seconds() -> None:
            if self.seconds < 0:
                raise InputError(f"The length must be 0 (the whole dance) or more seconds, not {self.seconds:g}.")
            if self.seconds and self.seconds * self.fps > limits.max_frames:
                raise InputError(
                    f"{self.seconds:g} s at {self.fps:g} fps is {round(self.seconds * self.fps)} frames, over this "
                    f"server's limit of {limits.max_frames}. Render at most {limits.max_frames / self.fps:.0f} s at "
                    "this frame rate, or lower it."
                )

        def drawings() -> None:
            if not self.drawings:
                raise InputError("Add at least one drawing of your character (PNG, JPEG or WebP).")
            if len(self.drawings) > limits.max_images:
                raise InputError(
                    f"{len(self.drawings)} pictures is too many: a character sheet takes at most {limits.max_images}. "
                    "Keep the most different views (front, back, side, three-quarter)."
                )
            for drawing in self.drawings:
                if isinstance(drawing, (str, Path)):
                    check_file_size(drawing, limits.max_file_mb, "picture")

        look("fps", fps)
        if "fps" not in found:  # the length in frames needs a valid rate
            look("seconds", seconds)
        look("drawings", drawings)
        look("source", lambda: self.source.check(self.fps, self.seconds, limits))
        if self.song:
            look("song", lambda: self.open_song(limits))
        return found

    def check(self, limits: Limits) -> None:
        """What costs nothing to check: options, the number of drawings, the length, the pose source, the song."""
        found = self.problems(limits)
        if found:
            raise InputError(next(iter(found.values())))

    def open_song(self, limits: Limits | None = None):
        """The song, checked (format by content, size, length, start): ``(song, start)``."""
        from .audio import check_start, open_song

        limits = limits or Limits()
        song = open_song(self.song, name=self.song_name, max_mb=limits.max_file_mb, max_seconds=limits.max_song_seconds)
        return song, check_start(song, self.song_start)

    def frame_source(self, renderer, frames: int):
        """The renderer itself, or an in-betweening one over it (a draft, or a long render on a CPU)."""
        from .inbetween import InbetweenRenderer, auto_k, draft_renderer

        if self.draft:
            return draft_renderer(renderer, k=self.inbetween) if self.inbetween > 1 else draft_renderer(renderer)
        k = auto_k(renderer.device, frames) if self.inbetween == 0 else self.inbetween
        return InbetweenRenderer(renderer, k=k) if k > 1 else renderer

    def _frame_limit(self, poses: UdpSequence, limits: Limits) -> UdpSequence:
        poses = poses.head(self.max_frames) if self.max_frames else poses
        if len(poses) > limits.max_frames:
            raise InputError(
                f"That is {len(poses)} frames, over this server's limit of {limits.max_frames}. Render fewer seconds "
                f"(at {self.fps:g} fps, at most {limits.max_frames / self.fps:.0f} s) or lower the frame rate."
            )
        poses[0]  # one frame decoded now: a broken sequence fails before any rendering
        return poses

    def run(
        self,
        renderer,
        outputs: Outputs,
        limits: Limits | None = None,
        progress: Progress | None = None,
        cancel=None,
        work_dir: Path | None = None,
        clock=None,
    ) -> JobResult:
        """Check, cut out, pose, render and write ``outputs``; on failure or cancel nothing is left of them.

        ``clock`` (``conr.runtime.StageClock``) adds up the time of each stage of the render.
        """
        from . import matting
        from .pipeline import render_to_files
        from .runtime import StageClock

        limits, clock = limits or Limits(), clock or StageClock(enabled=False)
        progress = cancellable(progress, cancel)
        started = time.perf_counter()
        self.check(limits)
        retiming = song = None
        if self.song:
            from .audio import match_tempo, song_tempo

            song, song_start = self.open_song(limits)
            retiming = match_tempo(song_tempo(song, song_start, self.seconds or None), self.source.bpm)
        opened = dict(renderer=renderer, work_dir=work_dir, progress=progress, cancel=cancel, retiming=retiming)
        poses = None if self.source.slow else self.source.open(self.fps, self.seconds, limits, **opened)
        if poses is not None:
            poses = self._frame_limit(poses, limits)
        names = self.drawing_names()
        cutouts = []
        for index, (drawing, name) in enumerate(zip(self.drawings, names)):
            progress(STAGE_CUTOUTS, index, len(names))  # stops here once cancelled
            with clock.stage("read + cut out drawings"):
                cutouts += matting.cut_out_sheet(
                    [drawing],
                    [name],
                    model=self.matting_model or matting.DEFAULT_MODEL,
                    force=self.force_matting,
                    max_images=limits.max_images,
                    max_pixels=limits.max_pixels,
                )
        progress(STAGE_CUTOUTS, len(names), len(names))
        if poses is None:
            poses = self._frame_limit(self.source.open(self.fps, self.seconds, limits, **opened), limits)
        check_cancelled(cancel)
        with clock.stage("parse sheet"):
            sheet = renderer.parse_sheet([c.rgba for c in cutouts], names)
        frames_from = self.frame_source(renderer, len(poses))
        progress(STAGE_RENDER, 0, len(poses))
        render = render_to_files(
            frames_from,
            poses,
            sheet=sheet,
            fps=self.fps,
            background=self.background,
            mp4=outputs.mp4,
            webm=outputs.webm,
            frames_dir=outputs.frames_dir,
            frames_zip=outputs.frames_zip,
            max_side=self.max_side,
            progress=progress,
            cancel=cancel,
            clock=clock,
        )
        notes = cutout_notes(names, cutouts)
        if frames_from is not renderer:
            kind = "draft: 2 drawings, " if self.draft else ""
            notes.append(
                f"⏩ {kind}1 frame in {frames_from.k} through the network, the others in-betweened along the poses"
            )
        if song is not None:
            from .video import add_audio

            check_cancelled(cancel)
            with clock.stage("add the song"):
                add_audio([outputs.mp4, outputs.webm], song, song_start, render.frames / self.fps)
            notes.append(f"🎵 {retiming.message}" if retiming.message else "🎵 with your song")
        views = frames_from.sheet_for(sheet).views if hasattr(frames_from, "sheet_for") else sheet.views  # a draft: 2
        plan = getattr(frames_from, "plan", None)
        return JobResult(
            render,
            self.source.describe(),
            views,
            time.perf_counter() - started,
            renderer.device.type,
            notes,
            len(plan.keys) if plan is not None else render.frames,
        )
