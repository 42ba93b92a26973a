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

from .errors import ConrError

#: Each entry adds one sub-command: ``register(subparsers)`` sets ``func`` on its parser.
Registrar = Callable[[argparse._SubParsersAction], None]


def _progress_bar(total: int, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True)

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    return bar, update


# ---------------------------------------------------------------- render


def _cmd_render(args: argparse.Namespace) -> int:
    from .pipeline import ConrRenderer, render_to_files
    from .udp import open_udp_sequence
    from .video import parse_background

    background = parse_background(args.background)
    out = Path(args.out) if args.out else None
    if out is None and not args.frames_dir and not args.webm:
        raise ConrError("Nothing to write: give --out video.mp4, --webm video.webm or --frames-dir DIR.")
    mp4 = webm = None
    if out is not None:
        if out.suffix.lower() == ".webm":
            webm = out
        elif out.suffix.lower() == ".mp4":
            mp4 = out
        else:
            raise ConrError(f"--out {out.name}: use a .mp4 (H.264) or .webm (VP9 with transparency) file name.")
    if args.webm:
        webm = Path(args.webm)
    if mp4 is not None and background is None:
        print("note: MP4 cannot be transparent; it shows the figure over white. "
              "Use --webm out.webm or --frames-dir for transparency.", file=sys.stderr)  # fmt: skip

    poses = open_udp_sequence(args.poses if len(args.poses) > 1 else args.poses[0])
    if args.max_frames:
        poses = poses.head(args.max_frames)
    started = time.perf_counter()
    renderer = ConrRenderer.from_pretrained(args.weights, device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    loaded = time.perf_counter()
    print(f"weights: {renderer.weights.sources[next(iter(renderer.weights.sources))]}; device: {renderer.device}", file=sys.stderr)
    sheet = renderer.parse_sheet(args.sheet)
    bar, update = _progress_bar(len(poses), "rendering")
    try:
        result = render_to_files(
            renderer, poses, sheet=sheet, fps=args.fps, background=background,
            mp4=mp4, webm=webm, frames_dir=args.frames_dir, max_side=args.size, progress=update,
        )  # fmt: skip
    finally:
        bar.close()
    seconds = time.perf_counter() - loaded
    print(
        f"rendered {result.frames} frames of {result.width}x{result.height} from {sheet.views} views "
        f"in {seconds:.1f} s ({seconds / max(result.frames, 1):.2f} s/frame; loading took {loaded - started:.1f} s)",
        file=sys.stderr,
    )
    for path in (result.mp4, result.webm, result.frames_dir):
        if path:
            print(path)
    return 0


def register_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a character sheet into a UDP pose sequence")
    p.add_argument("--sheet", nargs="+", required=True, metavar="IMAGE", help="drawings of the character, transparent background")
    p.add_argument("--poses", nargs="+", required=True, metavar="SRC", help="folder, .zip or files of UDP frames (.npz, .exr, 16-bit .png)")
    p.add_argument("--out", metavar="VIDEO", help="output video: .mp4 (H.264) or .webm (VP9 + alpha)")
    p.add_argument("--webm", metavar="VIDEO", help="also write a transparent WebM")
    p.add_argument("--frames-dir", metavar="DIR", help="also write RGBA PNG frames 00000.png, 00001.png, ...")
    p.add_argument("--weights", metavar="DIR", help="folder with the four .pth files (default: CONR_WEIGHTS_DIR, then download)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--background", default="white", help="white, black, transparent or #RRGGBB (default white)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--dtype", default=None, help="float32 (default), bfloat16 or float16")
    p.add_argument("--batch-size", type=int, default=None, help="frames per forward pass (default: from free memory)")
    p.add_argument("--size", type=int, default=None, help="longest output side in pixels (default: the pose canvas)")
    p.add_argument("--max-frames", type=int, default=None, help="render only the first N frames")
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
        print(f"{weights.file_name(part):26s} {path.stat().st_size:>13,} bytes  {state}\n    from {resolved.sources[part]}\n    at   {path}")
    return 1 if failures else 0


def register_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="find, check, download or mirror the CoNR weights")
    p.add_argument("action", choices=["status", "download", "push"], help="status: where each file comes from (no download)")
    p.add_argument("--weights", metavar="DIR", help="a local folder with the four files")
    p.add_argument("--repo", help="push: your Hugging Face repository OWNER/NAME")
    p.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=_cmd_weights)


from .dances.cli import register_calibrate, register_dances  # noqa: E402

COMMANDS: list[Registrar] = [register_render, register_weights, register_dances, register_calibrate]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m conr", description="CoNR: turn a character sheet into a dancing video.")
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
