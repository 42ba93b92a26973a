"""``python -m conr dances list|render|preview|examples`` and ``python -m conr calibrate-udp``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..cli_args import device
from ..errors import ConrError, InputError


def _cmd_list(args: argparse.Namespace) -> int:
    from .catalog import list_dances

    for info in list_dances():
        print(f"{info.name:20s} {info.seconds:4.1f} s {info.bpm:4.0f} bpm  {info.title}: {info.description}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from ..udp import write_udp, write_udp_zip
    from .catalog import dance_udp

    started = time.perf_counter()
    frames = dance_udp(args.name, size=args.size, fps=args.fps, cache_dir=args.cache_dir)
    out = Path(args.out)
    if out.suffix.lower() == ".zip":
        write_udp_zip(out, frames, args.format)
    else:
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder; give a folder or a .zip name.")
        out.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames):
            write_udp(out / f"{index:05d}.{args.format}", frame, args.format)
    print(
        f"{len(frames)} frames of {args.size}x{args.size} UDP ({args.format}) in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    print(out)
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from .catalog import dance_preview

    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise InputError(f"--out {out.name}: the preview is an MP4; use a name ending in .mp4.")
    print(dance_preview(args.name, out, size=args.size))
    return 0


def _cmd_examples(args: argparse.Namespace) -> int:
    from .examples import regenerate_examples

    for path in regenerate_examples(Path(args.out)):
        print(path)
    return 0


def register_dances(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dances", help="the bundled dances: list, render to UDP, preview, regenerate examples")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="names, lengths and descriptions")
    listing.set_defaults(func=_cmd_list)
    render = actions.add_parser("render", help="one loop of a dance as UDP frames (cached)")
    render.add_argument("name")
    render.add_argument("--out", required=True, metavar="DIR", help="folder for 00000.<format> ..., or a .zip")
    render.add_argument("--size", type=int, default=512)
    render.add_argument("--fps", type=float, default=30.0)
    render.add_argument(
        "--format",
        choices=["npz", "exr", "png"],
        default="png",
        help="16-bit png (default: exact to 1/65535, smallest), npz or exr",
    )
    render.add_argument("--cache-dir", default=None, help="default: $CONR_CACHE_DIR/dances or ~/.cache/conr/dances")
    render.set_defaults(func=_cmd_render)
    preview = actions.add_parser("preview", help="the dance's UDP colour preview as an MP4")
    preview.add_argument("name")
    preview.add_argument("--out", required=True, metavar="VIDEO")
    preview.add_argument("--size", type=int, default=256)
    preview.set_defaults(func=_cmd_preview)
    examples = actions.add_parser("examples", help="regenerate the example sheet and dance previews")
    examples.add_argument("--out", default="examples", metavar="DIR")
    examples.set_defaults(func=_cmd_examples)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..pipeline import ConrRenderer
    from ..render3d.calibrate import calibrate, calibration_path, save_calibration
    from .views import calibration_images

    renderer = ConrRenderer.from_pretrained(args.weights, device=args.device, dtype="float32")
    result = calibrate(renderer, calibration_images())
    np.set_printoptions(precision=4, suppress=True)
    print(f"fitted on {result.pixels} body pixels of {result.images} drawings of our character")
    print(
        f"affine map, our UDP -> the detector's (rows: channels 0, 1, 2; last column: offset):\n{np.asarray(result.affine)}"
    )
    print(f"RMS residual: {result.residual_rms:.4f} after the fit, {result.identity_rms:.4f} with our convention as is")
    if args.dry_run:
        return 0
    path = Path(args.out) if args.out else calibration_path()
    if path is None:
        raise ConrError("CONR_UDP_CALIBRATION=off: give --out FILE to save the calibration somewhere.")
    save_calibration(result, path)
    print(f"saved to {path}; dances rendered from now on use it (set CONR_UDP_CALIBRATION=off to ignore it)")
    return 0


def register_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate-udp", help="fit our dances' UDP convention to the released UDP detector")
    p.add_argument(
        "--weights", metavar="DIR", help="folder with the four .pth files (default: CONR_WEIGHTS_DIR, then download)"
    )
    p.add_argument("--device", type=device, default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument(
        "--out", metavar="FILE", help="where to save it (default: $CONR_UDP_CALIBRATION or the cache folder)"
    )
    p.add_argument("--dry-run", action="store_true", help="report the fit without saving it")
    p.set_defaults(func=_cmd_calibrate)
