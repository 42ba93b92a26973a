"""``python -m conr udp-from-mmd MODEL.zip MOTION.vmd --out udp.zip``."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from ..cli_args import fps, output_dir, output_file, pixels, positive_float
from ..errors import InputError
from ..render3d.frames import MAX_SIZE, MIN_SIZE


def _cmd_udp_from_mmd(args: argparse.Namespace) -> int:
    from ..limits import Limits
    from ..progress import TqdmProgress
    from ..udp import write_udp_preview_video
    from . import load_model, load_motion, udp_from_mmd
    from .to_udp import MmdScene

    out = Path(args.out)
    if out.suffix.lower() != ".zip":
        raise InputError(f"--out {out.name}: the UDP frames go into a .zip; use a name ending in .zip.")
    if args.preview and Path(args.preview).suffix.lower() != ".mp4":
        raise InputError(f"--preview {Path(args.preview).name}: the preview is an MP4; use a name ending in .mp4.")
    output_file(out, "--out")
    if args.preview:
        output_file(args.preview, "--preview")
    if args.exr_dir:
        output_dir(args.exr_dir, "--exr-dir")
    started = time.perf_counter()
    model = load_model(args.model, args.pmx)
    motion = load_motion(args.motion)
    scene = MmdScene(model, motion, physics=not args.no_physics)
    print(
        f"model {model.name!r}: {len(model.vertices):,} vertices, {len(model.triangles):,} triangles, "
        f"{len(model.bones)} bones, {len(scene.rig.chains)} IK chains (read in {time.perf_counter() - started:.2f} s)\n"
        f"motion {motion.source!r}: {motion.seconds:.1f} s, {len(motion.tracks)} bone tracks, {scene.binding.matched} match the model\n"
        + (
            f"physics: {scene.physics.bone_count} bones in {scene.physics.chain_count} spring chains, {len(scene.physics.radii)} body capsules"
            if scene.physics is not None
            else "physics: none" + (" (--no-physics)" if args.no_physics else "")
        ),
        file=sys.stderr,
    )
    with TqdmProgress() as bars:
        frames = udp_from_mmd(
            model,
            motion,
            out=out,
            size=args.size,
            fps=args.fps,
            start=args.start,
            max_seconds=args.max_seconds,
            limits=Limits(max_frames=math.ceil(args.limit_seconds * args.fps)),
            fmt=args.format,
            framing=args.framing,
            camera=args.camera,
            physics=not args.no_physics,
            progress=bars,
            exr_dir=args.exr_dir,
        )
    if args.preview:
        write_udp_preview_video(args.preview, frames, args.fps, size=min(args.size, 512))
        print(args.preview)
    print(
        f"{len(frames)} frames of {args.size}x{args.size} UDP ({args.format}) in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    print(out)
    return 0


def register_udp_from_mmd(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "udp-from-mmd", help="turn an MMD model (.pmx/.pmd/.zip) and dance motion (.vmd) into UDP frames"
    )
    p.add_argument("model", metavar="MODEL", help=".pmx or .pmd model, or a .zip holding it (textures are ignored)")
    p.add_argument("motion", metavar="MOTION", help=".vmd dance motion (or a .zip holding one)")
    p.add_argument("--out", required=True, metavar="UDP.zip", help="zip of frames 00000.<format>, ...")
    p.add_argument(
        "--size",
        type=pixels(MIN_SIZE, MAX_SIZE),
        default=512,
        help=f"frame side in pixels, {MIN_SIZE} to {MAX_SIZE} (default 512)",
    )
    p.add_argument("--fps", type=fps, default=30.0, help="frames per second (default 30, MMD's own rate)")
    p.add_argument(
        "--start",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="skip the motion's first SECONDS (an intro; default 0)",
    )
    p.add_argument("--max-seconds", type=positive_float, default=None, help="convert only N seconds (from --start)")
    p.add_argument(
        "--limit-seconds",
        type=positive_float,
        default=300.0,
        help="refuse longer motions unless --max-seconds (default 300)",
    )
    p.add_argument(
        "--format",
        default="png",
        choices=["npz", "exr", "png"],
        help="frame format in the zip: 16-bit png (default, exact to 1/65535, smallest), npz or exr",
    )
    p.add_argument(
        "--framing",
        default="follow",
        choices=["follow", "fixed", "camera"],
        help="camera follows the character (default), stays put, or is the motion's own MMD camera",
    )
    p.add_argument(
        "--camera", default=None, metavar="CAMERA.vmd", help="frame the dance as this MMD camera motion does"
    )
    p.add_argument(
        "--no-physics", action="store_true", help="hair and skirts follow their bones rigidly (default: spring chains)"
    )
    p.add_argument("--pmx", default=None, metavar="NAME", help="which .pmx/.pmd of a zip holding several")
    p.add_argument(
        "--exr-dir", default=None, metavar="DIR", help="also write every frame as a float EXR (for the original tools)"
    )
    p.add_argument("--preview", default=None, metavar="VIDEO.mp4", help="also write the UDP colour preview as an MP4")
    p.set_defaults(func=_cmd_udp_from_mmd)
