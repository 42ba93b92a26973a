"""Command line: the same pipeline as the app, for scripts.

    python -m conr render --sheet front.png back.png --poses dance/ --out dance.mp4
    python -m conr weights status

Errors a user can fix print one clear message and exit with status 2;
nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

from .cli_args import (
    device,
    existing_file,
    existing_path,
    fps,
    output_dir,
    output_file,
    pixels,
    positive_float,
    positive_int,
)
from .dances.cli import register_calibrate, register_dances
from .errors import ConrError, InputError
from .mmd.cli import register_udp_from_mmd
from .udp import MAX_SIDE, MIN_SIDE

#: Each entry adds one sub-command: ``register(subparsers)`` sets ``func`` on its parser.
Registrar = Callable[[argparse._SubParsersAction], None]


def check_device(name: str | None):
    """The torch device for ``--device``, refused here (before any weight is loaded) when it does not exist."""
    import torch

    from .pipeline import pick_device

    picked = pick_device(name)
    if picked.type == "cuda" and picked.index is not None and picked.index >= torch.cuda.device_count():
        raise InputError(
            f"--device {name}: there is no GPU number {picked.index}; PyTorch sees {torch.cuda.device_count()} "
            "(numbered from 0). Use --device cuda or cpu."
        )
    if picked.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {name}: this machine has no Apple GPU (MPS); use --device cpu.")
    return picked


# ---------------------------------------------------------------- render


def precision_arg(value: str) -> str:
    """``--dtype``: auto or a precision name (checked here, before any weight is loaded)."""
    if value == "auto":
        return value
    from .precision import parse_precision

    try:
        return parse_precision(value).name
    except ConrError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def write_timings(path: str, clock, entered: float, **info) -> None:
    """The stage table of this run as JSON (for ``python -m conr.bench --end-to-end``): wall-clock epoch at entry, stages."""
    import json

    record = {"entered_epoch": time.time() - (time.perf_counter() - entered), "stages": clock.as_dict(), **info}
    Path(path).write_text(json.dumps(record, indent=1))


def _outputs(args: argparse.Namespace):
    """``--out``, ``--webm`` and ``--frames-dir`` as the job's outputs, their folders checked before any slow work."""
    from .job import Outputs

    out = Path(args.out) if args.out else None
    if out is None and not args.frames_dir and not args.webm:
        raise ConrError("Nothing to write: give --out video.mp4, --webm video.webm or --frames-dir DIR.")
    if out is not None and out.suffix.lower() not in (".mp4", ".webm"):
        raise ConrError(f"--out {out.name}: use a .mp4 (H.264) or .webm (VP9 with transparency) file name.")
    mp4 = out if out is not None and out.suffix.lower() == ".mp4" else None
    webm = Path(args.webm) if args.webm else (out if out is not None and out.suffix.lower() == ".webm" else None)
    for path, flag in ((mp4, "--out"), (webm, "--webm" if args.webm else "--out")):
        if path is not None:
            output_file(path, flag)  # missing folders are made, unwritable ones refused
    if args.frames_dir:
        output_dir(args.frames_dir, "--frames-dir")
    if (args.audio_start or args.dance_bpm) and not args.audio:
        raise ConrError("--audio-start and --dance-bpm need a song: give --audio SONG.")
    if args.audio and not (mp4 or webm):
        raise ConrError("--audio needs a video to go into: give --out video.mp4 or --webm video.webm.")
    return Outputs(mp4=mp4, webm=webm, frames_dir=Path(args.frames_dir) if args.frames_dir else None)


def _cmd_render(args: argparse.Namespace) -> int:
    """The same ``RenderJob`` the app runs, with the renderer placed as the flags say and bars in the terminal."""
    from .job import RenderJob
    from .limits import Limits
    from .pipeline import ConrRenderer
    from .progress import TqdmProgress
    from .runtime import StageClock
    from .sheet import load_image, prepare_sheet
    from .video import parse_background

    entered, clock = time.perf_counter(), StageClock()
    outputs, background, device = _outputs(args), parse_background(args.background), check_device(args.device)
    if outputs.mp4 is not None and background is None:
        print(
            "note: MP4 cannot be transparent; it shows the figure over white. "
            "Use --webm out.webm or --frames-dir for transparency.",
            file=sys.stderr,
        )
    job = RenderJob(
        args.sheet,
        _pose_source(args),
        fps=args.fps,
        background=background,
        max_side=args.size,
        song=args.audio,
        song_start=args.audio_start,
        inbetween=args.inbetween or 1,
        draft=args.draft,
        max_frames=args.max_frames,
    )
    # Check the inputs before spending seconds on loading 720 MB of weights (drawings must be cut out already).
    prepare_sheet([load_image(path) for path in args.sheet], job.drawing_names())
    limits = Limits(max_frames=10**6, max_zip_entries=10**6, max_video_seconds=3600)
    job.check(limits)
    clock.add("read + check inputs", time.perf_counter() - entered)
    started = time.perf_counter()
    with clock.stage("load weights"):
        renderer = ConrRenderer.from_pretrained(args.weights, device="cpu", batch_size=args.batch_size)
    with clock.stage("choose precision" if args.dtype == "auto" else "place on device"):
        renderer.to(device, dtype=args.dtype)
    if args.compile:
        renderer.compile()
    loaded = time.perf_counter()
    source = renderer.weights.sources[next(iter(renderer.weights.sources))]
    print(f"weights: {source}; device: {renderer.device}", file=sys.stderr)
    if renderer.precision_choice is not None:
        print(renderer.precision_choice.describe(), file=sys.stderr)
    with TqdmProgress() as bars:
        result = job.run(renderer, outputs, limits, progress=bars, clock=clock)
    _report(args, result)
    seconds, frames = time.perf_counter() - loaded, result.render.frames
    if args.timings:
        precision = renderer.precision.name
        write_timings(args.timings, clock, entered, frames=frames, views=len(args.sheet), precision=precision)
    print(
        f"rendered {frames} frames of {result.render.width}x{result.render.height} from {result.views} views "
        f"in {seconds:.1f} s ({seconds / max(frames, 1):.2f} s/frame; loading took {loaded - started:.1f} s)",
        file=sys.stderr,
    )
    for path in (result.render.mp4, result.render.webm, result.render.frames_dir):
        if path:
            print(path)
    return 0


def _report(args: argparse.Namespace, result) -> None:
    """The job's notes for a terminal: in-betweening and the draft in numbers, the song's retiming."""
    frames = result.render.frames
    if result.network_frames is not None and result.network_frames < frames:
        print(
            f"in-betweening: the network rendered {result.network_frames} of {frames} frames (one in k, the last, "
            "and those with too many unseen pixels); the others were warped from them",
            file=sys.stderr,
        )
    if args.draft:
        print(
            f"DRAFT: {result.views} of {len(args.sheet)} drawings, every frame marked DRAFT in its top-left corner; "
            "render without --draft for the final video",
            file=sys.stderr,
        )
    for note in result.notes:
        if note.startswith("🎵"):
            print(f"note: {note.removeprefix('🎵').strip()}", file=sys.stderr)


def _pose_source(args: argparse.Namespace):
    """The pose source of ``render`` (the job layer's, as the app uses): --poses, --dance, --video or --mmd."""
    from .job import BundledDance, MmdDance, UdpArchive, VideoPoses

    if args.dance:
        return BundledDance(args.dance)
    if args.video:
        return VideoPoses(args.video, smooth=args.smooth)
    if args.mmd:
        return MmdDance(args.mmd[0], args.mmd[1], start=args.mmd_start, physics=not args.no_physics)
    return UdpArchive(args.poses, bpm=args.dance_bpm)


def register_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render", help="render a character sheet dancing: UDP frames, a bundled dance, a video or an MMD motion"
    )
    p.add_argument(
        "--sheet",
        nargs="+",
        required=True,
        type=existing_file,
        metavar="IMAGE",
        help="drawings of the character, transparent background",
    )
    poses = p.add_mutually_exclusive_group(required=True)
    poses.add_argument(
        "--poses",
        nargs="+",
        type=existing_path,
        metavar="SRC",
        help="folder, .zip or files of UDP frames (.npz, .exr, 16-bit .png)",
    )
    poses.add_argument("--dance", metavar="NAME", help="a bundled dance (see 'python -m conr dances list')")
    poses.add_argument(
        "--video", type=existing_path, metavar="CLIP", help="poses detected in a video of a dancing character"
    )
    poses.add_argument(
        "--mmd",
        nargs=2,
        type=existing_file,
        metavar=("MODEL", "MOTION"),
        help="an MMD model (.pmx/.pmd/.zip) and motion (.vmd)",
    )
    p.add_argument(
        "--smooth", type=positive_int, default=3, help="with --video: temporal median window in frames (default 3)"
    )
    p.add_argument(
        "--mmd-start", type=float, default=0.0, metavar="SECONDS", help="with --mmd: skip the motion's first seconds"
    )
    p.add_argument("--no-physics", action="store_true", help="with --mmd: no hair and skirt springs")
    p.add_argument("--out", metavar="VIDEO", help="output video: .mp4 (H.264) or .webm (VP9 + alpha)")
    p.add_argument("--webm", metavar="VIDEO", help="also write a transparent WebM")
    p.add_argument("--frames-dir", metavar="DIR", help="also write RGBA PNG frames 00000.png, 00001.png, ...")
    p.add_argument(
        "--weights", metavar="DIR", help="folder with the four .pth files (default: CONR_WEIGHTS_DIR, then download)"
    )
    p.add_argument("--fps", type=fps, default=30.0, help="frames per second of the video, 1 to 60 (default 30)")
    p.add_argument("--background", default="white", help="white, black, transparent or #RRGGBB (default white)")
    p.add_argument("--device", type=device, default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument(
        "--dtype",
        default="auto",
        type=precision_arg,
        help="auto (default: the fastest precision that keeps PSNR >= 40 dB against float32, measured once "
        "per device and weights, then cached), float32, bfloat16, bfloat16-shader, float16 or float16-shader",
    )
    p.add_argument("--timings", metavar="JSON", help=argparse.SUPPRESS)  # per-stage wall clock, for conr.bench
    p.add_argument(
        "--batch-size", type=positive_int, default=None, help="frames per forward pass (default: from free memory)"
    )
    p.add_argument(
        "--size",
        type=pixels(MIN_SIDE, MAX_SIDE),
        default=None,
        help=f"longest output side in pixels, {MIN_SIDE} to {MAX_SIDE} (default: the pose canvas)",
    )
    p.add_argument("--max-frames", type=positive_int, default=None, help="render only the first N frames")
    p.add_argument("--compile", action="store_true", help="torch.compile the shader (pays off on GPUs for long dances)")
    p.add_argument(
        "--inbetween",
        type=positive_int,
        default=None,
        metavar="K",
        help="render every K-th frame with the network and warp the frames between along the UDP "
        "(frames with too many unseen pixels are rendered too); 1 = off (default), 3 = about 3x faster",
    )
    p.add_argument(
        "--draft",
        action="store_true",
        help="quick preview: the 2 most different drawings, --inbetween 3 unless given, frames marked DRAFT",
    )
    p.add_argument(
        "--audio",
        type=existing_file,
        metavar="SONG",
        help="a song (MP3, WAV, OGG, M4A) for the videos: AAC in the MP4, Opus in the WebM, cut or padded to their length",
    )
    p.add_argument(
        "--audio-start", type=float, default=0.0, metavar="SECONDS", help="start this far into the song (default 0)"
    )
    p.add_argument(
        "--dance-bpm",
        type=positive_float,
        default=None,
        metavar="BPM",
        help="the poses are one loop of a dance at this tempo (see 'dances list'): retime them to the song's",
    )
    p.set_defaults(func=_cmd_render)


# ---------------------------------------------------------------- weights


def _cmd_weights(args: argparse.Namespace) -> int:
    from . import weights

    if args.action == "push":
        if not args.repo:
            raise ConrError("weights push needs --repo OWNER/NAME")
        url = weights.push_to_hub(args.repo, args.weights, repo_type=args.repo_type, private=args.private)
        print(f"uploaded to {url}; use it with CONR_WEIGHTS_REPO={args.repo} CONR_WEIGHTS_REPO_TYPE={args.repo_type}")
        return 0
    resolved = weights.resolve_weights(args.weights, allow_download=args.action == "download")
    from .network import CoNRNetwork

    network = CoNRNetwork()
    failures = 0
    for part in weights.PARTS:
        path = resolved.paths[part]
        try:
            weights.load_part(getattr(network, part), part, path)
            state = "ok"
        except ConrError as exc:
            state, failures = f"BROKEN: {exc}", failures + 1
        print(
            f"{weights.file_name(part):26s} {path.stat().st_size:>13,} bytes  {state}\n    from {resolved.sources[part]}\n    at   {path}"
        )
        print(f"    sha256 {weights.file_sha256(path)}")
    return 1 if failures else 0


def register_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="find, check, download or mirror the CoNR weights")
    p.add_argument(
        "action", choices=["status", "download", "push"], help="status: where each file comes from (no download)"
    )
    p.add_argument("--weights", metavar="DIR", help="a local folder with the four files")
    p.add_argument("--repo", help="push: your Hugging Face repository OWNER/NAME")
    p.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=_cmd_weights)


# ---------------------------------------------------------------- cutout


def _cmd_cutout(args: argparse.Namespace) -> int:
    from PIL import Image

    from .matting import cut_out
    from .sheet import load_image

    out_dir = output_dir(args.out_dir, "--out-dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    for source in args.images:
        name = Path(source).name
        result = cut_out(load_image(source), model=args.model, force=args.force, name=name)
        target = out_dir / f"{Path(source).stem}.png"
        Image.fromarray(result.rgba).save(target)
        how = f"background removed with {result.model}" if result.removed_background else "kept its own transparency"
        print(f"{target}  ({how})")
    return 0


def register_cutout(sub: argparse._SubParsersAction) -> None:
    from .matting import DEFAULT_MODEL, MODELS

    p = sub.add_parser("cutout", help="remove the background of drawings (rembg), writing transparent PNGs")
    p.add_argument("images", nargs="+", type=existing_file, metavar="IMAGE")
    p.add_argument("--out-dir", required=True, metavar="DIR")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS))
    p.add_argument("--force", action="store_true", help="also cut out pictures that already have transparency")
    p.set_defaults(func=_cmd_cutout)


# ---------------------------------------------------------------- pose from video


def _cmd_pose_from_video(args: argparse.Namespace) -> int:
    from .limits import Limits
    from .pipeline import ConrRenderer
    from .progress import TqdmProgress
    from .udp import write_udp_zip
    from .video_pose import flicker, pose_from_video, read_video

    limits = Limits(max_video_seconds=args.limit_seconds)
    device = check_device(args.device)
    output_file(args.out, "--out")
    read_video(
        args.video, args.fps, args.max_seconds, limits, args.source_fps
    )  # refuse bad clips before loading weights
    renderer = ConrRenderer.from_pretrained(args.weights, device=device)
    with TqdmProgress() as progress:
        result = pose_from_video(
            renderer,
            args.video,
            fps=args.fps,
            max_seconds=args.max_seconds,
            smooth=args.smooth,
            matting_model=args.model,
            limits=limits,
            source_fps=args.source_fps,
            progress=progress,
        )
    write_udp_zip(args.out, result.udp, fmt=args.format)
    print(
        f"{len(result.udp)} UDP frames at {result.fps:g} fps from {result.name}; flicker {flicker(result.raw):.4f} raw, "
        f"{flicker(list(result.udp)):.4f} after smoothing (window {args.smooth})",
        file=sys.stderr,
    )
    print(args.out)
    return 0


def register_pose_from_video(sub: argparse._SubParsersAction) -> None:
    from .matting import DEFAULT_MODEL, MODELS

    p = sub.add_parser("pose-from-video", help="detect a UDP pose sequence from a video of a dancing character")
    p.add_argument("video", type=existing_path, metavar="IN", help="MP4/WebM/GIF, or a folder/.zip of images")
    p.add_argument("--out", required=True, metavar="UDP.zip")
    p.add_argument("--fps", type=fps, default=15.0, help="frames per second to sample, 1 to 60 (default 15)")
    p.add_argument("--max-seconds", type=positive_float, default=None, help="use only the first N seconds")
    p.add_argument(
        "--limit-seconds",
        type=positive_float,
        default=60.0,
        help="refuse longer clips unless --max-seconds (default 60)",
    )
    p.add_argument(
        "--source-fps", type=positive_float, default=30.0, help="frame rate of an image folder/zip (default 30)"
    )
    p.add_argument(
        "--smooth", type=positive_int, default=3, help="temporal median window in frames, 1 = off (default 3)"
    )
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS), help="background removal model")
    p.add_argument(
        "--format",
        default="png",
        choices=["npz", "exr", "png"],
        help="UDP frame format in the zip (default 16-bit png)",
    )
    p.add_argument("--weights", metavar="DIR")
    p.add_argument("--device", type=device, default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.set_defaults(func=_cmd_pose_from_video)


COMMANDS: list[Registrar] = [
    register_render,
    register_weights,
    register_cutout,
    register_dances,
    register_calibrate,
    register_pose_from_video,
    register_udp_from_mmd,
]


class Parser(argparse.ArgumentParser):
    """Bad flags get one line, like every other error: 'error: ...' and where to read the usage (exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m conr", description="CoNR: turn a character sheet into a dancing video.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
