"""Benchmark: how fast the renderer parses sheets and renders frames (prints a table).

    python -m conr.bench --views 4 --frames 8                 # one configuration
    python -m conr.bench --sweep --device cuda --dtype bfloat16
    python -m conr.bench --end-to-end 8 --weights DIR          # the whole CLI: stage table, overhead, precision
    python -m conr.bench --precisions                           # candidates against float32: speed, PSNR
    python -m conr.bench --inbetween                            # in-betweening against toon ground truth

Uses the weights found by ``conr.weights`` (``--weights DIR``), else a
randomly initialised network: speed does not depend on the weights' values.
Numbers are measured, never asserted; see README for the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .network import CoNRNetwork
from .pipeline import ConrRenderer
from .precision import REFERENCE_DIR

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SHEET = ROOT / "examples" / "sheet"


# ---------------------------------------------------------------- inputs


def synthetic_sheet(views: int, size: int = 384) -> list[np.ndarray]:
    """``views`` cut-out drawings: the reference sheet where available, else blobs."""
    from PIL import Image

    files = sorted((REFERENCE_DIR / "sheet").glob("*.png"))
    images = [np.asarray(Image.open(f).convert("RGBA")) for f in files]
    if not images:
        yy, xx = np.mgrid[:size, :size]
        blob = (((yy - size / 2) / (size * 0.45)) ** 2 + ((xx - size / 2) / (size * 0.25)) ** 2 < 1).astype(
            np.uint8
        ) * 255
        images = [np.dstack([np.full_like(blob, 200), np.full_like(blob, 120), np.full_like(blob, 90), blob])]
    return [
        np.ascontiguousarray(np.fliplr(images[i % len(images)]) if (i // len(images)) % 2 else images[i % len(images)])
        for i in range(views)
    ]


def synthetic_poses(frames: int) -> list[np.ndarray]:
    """``frames`` UDP frames: the reference pose, shifted a little each frame."""
    path = REFERENCE_DIR / "poses" / "1.npz"
    with np.load(path, allow_pickle=False) as data:
        base = data["i"].astype(np.float32)
    return [np.roll(base, shift=(i % 9) - 4, axis=1) for i in range(frames)]


# ---------------------------------------------------------------- measuring


def count_flops(network: CoNRNetwork, views: int, device: torch.device) -> tuple[float, float]:
    """(GFLOP to parse ``views`` views, GFLOP per rendered frame), counted by PyTorch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    renderer = ConrRenderer(network, device=device)
    with FlopCounterMode(display=False) as counter:
        sheet = renderer.parse_sheet(synthetic_sheet(views))
    parse = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        renderer.render(synthetic_poses(1), sheet, batch_size=1)
    return parse / 1e9, counter.get_total_flops() / 1e9


def cpu_peak_gflops() -> tuple[float, str]:
    """A rough float32 peak: cores x clock x FLOP/cycle (AVX-512: 64, AVX2: 32, else 16)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return float("nan"), platform.processor() or "unknown CPU"
    flags = re.search(r"^flags\s*:(.*)$", info, re.M)
    flags_set = set(flags.group(1).split()) if flags else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)]
    name = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    per_cycle = 64 if "avx512f" in flags_set else 32 if "avx2" in flags_set else 16
    cores = torch.get_num_threads()
    ghz = (max(mhz) if mhz else 2000.0) / 1000
    return cores * ghz * per_cycle, f"{name.group(1).strip() if name else 'CPU'}, {cores} threads"


def gpu_peak_gflops(dtype: torch.dtype) -> tuple[float, str]:
    """Dense peak by GPU name (H100/H200 SXM figures); NaN for unknown GPUs."""
    name = torch.cuda.get_device_name()
    table = {"H100": (67e3, 989e3), "H200": (67e3, 989e3), "A100": (19.5e3, 312e3), "L4": (30e3, 121e3)}
    for key, (fp32, half) in table.items():
        if key in name:
            return (fp32 if dtype == torch.float32 else half), name
    return float("nan"), name


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_render(renderer: ConrRenderer, sheet, poses: list[np.ndarray], batch: int, repeats: int = 1) -> float:
    """Seconds per frame (best of ``repeats``) for the network part of rendering."""
    best = float("inf")
    for _ in range(repeats):
        sync(renderer.device)
        start = time.perf_counter()
        for i in range(0, len(poses), batch):
            list(renderer.render_iter(poses[i : i + batch], sheet, batch_size=batch))
        sync(renderer.device)
        best = min(best, (time.perf_counter() - start) / len(poses))
    return best


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    except ImportError:  # pragma: no cover
        return float("nan")


# ---------------------------------------------------------------- main


def load_renderer(
    weights: str | None, device: torch.device, dtype: str, channels_last: bool
) -> tuple[ConrRenderer, str]:
    if weights:
        renderer = ConrRenderer.from_pretrained(weights, device="cpu", progress=False, channels_last=channels_last)
        return renderer.to(device, dtype), f"weights from {weights}"
    renderer = ConrRenderer(CoNRNetwork(), device=device, dtype=dtype, channels_last=channels_last)
    return renderer, "randomly initialised weights (speed does not depend on values)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conr.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=None, help="frames per pass (default: the renderer's choice)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="precision (default float32; --end-to-end: the CLI's auto)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--sweep", action="store_true", help="views 1/2/4/8 x batch 1..32")
    parser.add_argument(
        "--end-to-end",
        type=int,
        default=0,
        metavar="N",
        help="time the whole CLI (python -m conr render) for N frames: stage table and overhead",
    )
    parser.add_argument("--dance", default="step-and-clap", help="bundled dance for --end-to-end")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the shader first")
    parser.add_argument("--plain-layout", action="store_true", help="NCHW convolutions instead of channels-last")
    parser.add_argument(
        "--inbetween",
        nargs="?",
        type=float,
        const=4.0,
        default=None,
        metavar="SECONDS",
        help="the in-betweening oracle (conr.inbetween): PSNR/SSIM against toon ground truth for k = 2, 3, 4 "
        "over the first SECONDS (default 4; 0: one loop) of every bundled dance",
    )
    parser.add_argument(
        "--precisions",
        nargs="*",
        default=None,
        metavar="DTYPE",
        help="compare precisions with float32 on the reference input: speed, PSNR, mean and p99.9 "
        "difference (default: the reduced precisions this device computes natively)",
    )
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.end_to_end:
        return end_to_end(args)
    if args.inbetween is not None:
        from .inbetween import print_oracle

        print_oracle(seconds=args.inbetween or None, machine=cpu_peak_gflops()[1])
        return 0
    device = torch.device(args.device) if args.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    renderer, source = load_renderer(args.weights, device, args.dtype or "float32", not args.plain_layout)
    if args.compile:
        renderer.compile()
    if args.precisions is not None:
        return compare_precisions(renderer, args.precisions, source)
    dtype = renderer.dtype
    if device.type == "cuda":
        peak, machine = gpu_peak_gflops(dtype)
    else:
        peak, machine = cpu_peak_gflops()
    print(
        f"# CoNR benchmark: {machine}; torch {torch.__version__}; {device}; {str(dtype).replace('torch.', '')}; {source}"
    )

    view_counts = [1, 2, 4, 8] if args.sweep else [args.views]
    sweep_batches = [1, 2, 4, 8, 16, 32] if device.type == "cuda" else [1, 2, 4]  # CPUs gain nothing beyond
    batches = sweep_batches if args.sweep else [args.batch or renderer.default_batch_size()]
    print("| views | batch | parse s | s/frame | frames/s | GFLOP/frame | GFLOP/s | % of peak | peak mem GB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for views in view_counts:
        parse_gflop, frame_gflop = (
            count_flops(CoNRNetwork(), views, torch.device("cpu")) if views <= 8 else (float("nan"),) * 2
        )
        sheet_images = synthetic_sheet(views)
        renderer._sheets.clear()  # time a fresh parse
        sync(device)
        start = time.perf_counter()
        sheet = renderer.parse_sheet(sheet_images)
        sync(device)
        parse_s = time.perf_counter() - start
        for batch in batches:
            frames = (
                max(args.frames, batch) if not args.sweep else max(2 * batch, 4 if device.type == "cuda" else batch)
            )
            poses = synthetic_poses(frames)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                time_render(renderer, sheet, poses[:batch], batch)  # warm-up: kernels, allocator
            try:
                per_frame = time_render(renderer, sheet, poses, batch, repeats=2 if device.type == "cuda" else 1)
            except torch.OutOfMemoryError:
                print(f"| {views} | {batch} | out of memory |")
                torch.cuda.empty_cache()
                break
            gflops = frame_gflop / per_frame
            print(
                f"| {views} | {batch} | {parse_s:.2f} | {per_frame:.3f} | {1 / per_frame:.2f} | {frame_gflop:.0f} | "
                f"{gflops:.0f} | {100 * gflops / peak:.0f}% | {peak_memory_gb(device):.1f} |",
                flush=True,
            )
    return 0


def compare_precisions(renderer: ConrRenderer, candidates: list[str], source: str) -> int:
    """Each candidate against float32 on the reference input (``conr.precision``): speed, PSNR, mean and p99.9 difference."""
    from .precision import MAX_P999_LEVELS, MIN_PSNR_DB, choose_precision, native_precisions

    choice = choose_precision(renderer, candidates or native_precisions(renderer.device), use_cache=False)
    print(
        f"# precision on the reference input ({source}); chosen: the fastest with PSNR >= {MIN_PSNR_DB:g} dB "
        f"and p99.9 <= {MAX_P999_LEVELS:g} levels"
    )
    print("| precision | s/frame | PSNR dB | mean abs (levels) | p99.9 abs (levels) | chosen |")
    print("|---|---:|---:|---:|---:|---|")
    for m in choice.measurements or []:
        q = m.quality
        print(
            f"| {m.name} | {m.seconds_per_frame:.3f} | {q.psnr_db:.1f} | {q.mean_abs:.3f} | {q.p999_abs:.1f} | "
            f"{'yes' if m.name == choice.precision else ''} |"
        )
    if not choice.measurements:
        print(choice.describe())
    return 0


def end_to_end(args: argparse.Namespace) -> int:
    """The whole CLI in a fresh process (``python -m conr render``): wall clock per stage and the overhead over the forward passes.

    Renders ``--end-to-end N`` frames of a bundled dance from the example
    sheet (``--views`` drawings) into an MP4, with the weights of
    ``--weights`` and the CLI's default precision (``--dtype`` to force one).
    """
    import json
    import subprocess

    from . import dances
    from .udp import write_udp_zip

    if not args.weights:
        print(
            "--end-to-end needs --weights DIR (the CLI loads real files; recipe weights do: "
            'python -c \'import sys; sys.path.insert(0, "tests"); from recipe_weights import write_recipe_weights; '
            'write_recipe_weights(".cache/recipe-weights")\')',
            file=sys.stderr,
        )
        return 2
    examples = sorted(EXAMPLE_SHEET.glob("*.png"))[: args.views]
    dance = dances.dance_udp(args.dance)
    frames = args.end_to_end
    with tempfile.TemporaryDirectory() as tmp:
        poses = write_udp_zip(os.path.join(tmp, "dance.zip"), [dance[i % len(dance)] for i in range(frames)])
        timings = os.path.join(tmp, "timings.json")
        cmd = [
            sys.executable,
            "-m",
            "conr",
            "render",
            "--sheet",
            *map(str, examples),
            "--poses",
            str(poses),
            "--out",
            os.path.join(tmp, "out.mp4"),
            "--weights",
            args.weights,
            "--timings",
            timings,
            "--dtype",
            args.dtype or "auto",
        ]
        if args.device:
            cmd += ["--device", args.device]
        started = time.perf_counter()
        epoch = time.time()
        run = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return run.returncode
        record = json.loads(Path(timings).read_text())
    stages = {"start-up (interpreter + imports)": {"seconds": record["entered_epoch"] - epoch, "calls": 1}}
    stages.update(record["stages"])
    frames = record["frames"]
    forward = stages.get("forward", {}).get("seconds", float("nan"))
    print(
        f"# whole CLI render: {frames} frames of {args.dance}, {record['views']} views, MP4; {cpu_peak_gflops()[1]}; "
        f"torch {torch.__version__}; precision {record['precision']}"
    )
    print("| stage | s | s/frame | % of wall |")
    print("|---|---:|---:|---:|")
    for name, row in stages.items():
        print(f"| {name} | {row['seconds']:.2f} | {row['seconds'] / frames:.3f} | {100 * row['seconds'] / wall:.0f}% |")
    print(f"| **whole process** | **{wall:.2f}** | **{wall / frames:.3f}** | 100% |")
    network = forward + stages.get("parse sheet", {}).get("seconds", 0.0)
    print(
        f"whole process {wall / frames:.2f} s/frame against {forward / frames:.2f} s/frame of forward passes: "
        f"overhead {100 * (wall - forward) / forward:.0f}% ({wall - forward:.1f} s); counting the sheet parse "
        f"(the parser network) as network time: {100 * (wall - network) / network:.0f}% ({wall - network:.1f} s "
        "of start-up, loading and pipeline)"
    )
    for line in run.stderr.splitlines():
        if line.startswith("precision:"):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
