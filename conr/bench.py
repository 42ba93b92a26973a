"""Benchmark: how fast the renderer parses sheets and renders frames (prints a table).

    python -m conr.bench --views 4 --frames 8                 # one configuration
    python -m conr.bench --sweep --device cuda --dtype bfloat16
    python -m conr.bench --end-to-end 300                     # parse + render + MP4

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
from .pipeline import ConrRenderer, render_to_files

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "conr-reference" / "inputs"
EXAMPLE_SHEET = ROOT / "examples" / "sheet"


# ---------------------------------------------------------------- inputs


def synthetic_sheet(views: int, size: int = 384) -> list[np.ndarray]:
    """``views`` cut-out drawings: the fixture sheet where available, else blobs."""
    from PIL import Image

    files = sorted((FIXTURES / "sheet").glob("*.png"))
    images = [np.asarray(Image.open(f).convert("RGBA")) for f in files]
    if not images:
        yy, xx = np.mgrid[:size, :size]
        blob = (((yy - size / 2) / (size * 0.45)) ** 2 + ((xx - size / 2) / (size * 0.25)) ** 2 < 1).astype(np.uint8) * 255
        images = [np.dstack([np.full_like(blob, 200), np.full_like(blob, 120), np.full_like(blob, 90), blob])]
    return [np.ascontiguousarray(np.fliplr(images[i % len(images)]) if (i // len(images)) % 2 else images[i % len(images)]) for i in range(views)]


def synthetic_poses(frames: int) -> list[np.ndarray]:
    """``frames`` UDP frames: the fixture pose, shifted a little each frame."""
    path = FIXTURES / "poses" / "1.npz"
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


def time_render(renderer: ConrRenderer, poses: list[np.ndarray], batch: int, repeats: int = 1) -> float:
    """Seconds per frame (best of ``repeats``) for the network part of rendering."""
    sheet = renderer.sheet
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


def load_network(weights: str | None) -> tuple[CoNRNetwork, str]:
    if weights:
        renderer = ConrRenderer.from_pretrained(weights, device="cpu", progress=False)
        return renderer.network, f"weights from {weights}"
    return CoNRNetwork(), "randomly initialised weights (speed does not depend on values)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conr.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=None, help="frames per pass (default: the renderer's choice)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--sweep", action="store_true", help="views 1/2/4/8 x batch 1..32")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N", help="also time parse + render + MP4 for N frames")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the shader first")
    parser.add_argument("--plain-layout", action="store_true", help="NCHW convolutions instead of channels-last")
    parser.add_argument("--precisions", nargs="*", default=None, metavar="DTYPE",
                        help="compare precisions on the reference fixture: time and max abs difference from float32 "
                        "(default: the reduced precisions this device computes natively)")  # fmt: skip
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    network, source = load_network(args.weights)
    device = torch.device(args.device) if args.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    renderer = ConrRenderer(network, device=device, dtype=args.dtype, channels_last=not args.plain_layout)
    if args.compile:
        renderer.compile()
    if args.precisions is not None:
        return compare_precisions(renderer, args.precisions, source)
    dtype = renderer.dtype
    if device.type == "cuda":
        peak, machine = gpu_peak_gflops(dtype)
    else:
        peak, machine = cpu_peak_gflops()
    print(f"# CoNR benchmark: {machine}; torch {torch.__version__}; {device}; {str(dtype).replace('torch.', '')}; {source}")

    view_counts = [1, 2, 4, 8] if args.sweep else [args.views]
    sweep_batches = [1, 2, 4, 8, 16, 32] if device.type == "cuda" else [1, 2, 4]  # CPUs gain nothing beyond
    batches = sweep_batches if args.sweep else [args.batch or renderer.default_batch_size()]
    print("| views | batch | parse s | s/frame | frames/s | GFLOP/frame | GFLOP/s | % of peak | peak mem GB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for views in view_counts:
        parse_gflop, frame_gflop = count_flops(CoNRNetwork(), views, torch.device("cpu")) if views <= 8 else (float("nan"),) * 2
        sheet_images = synthetic_sheet(views)
        renderer.sheet = None
        renderer._sheets.clear()
        sync(device)
        start = time.perf_counter()
        renderer.parse_sheet(sheet_images)
        sync(device)
        parse_s = time.perf_counter() - start
        for batch in batches:
            frames = max(args.frames, batch) if not args.sweep else max(2 * batch, 4 if device.type == "cuda" else batch)
            poses = synthetic_poses(frames)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                time_render(renderer, poses[:batch], batch)  # warm-up: kernels, allocator
            try:
                per_frame = time_render(renderer, poses, batch, repeats=2 if device.type == "cuda" else 1)
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
    if args.end_to_end:
        end_to_end(renderer, args.views, args.end_to_end)
    return 0


def compare_precisions(renderer: ConrRenderer, dtypes: list[str], source: str) -> int:
    """The fixture (3 views, 2 frames) in each precision: seconds per frame and max abs difference from float32."""
    from .pipeline import reduced_precisions
    from .udp import read_udp

    sheet = renderer.parse_sheet(sorted((FIXTURES / "sheet").glob("*.png")))
    frames = [read_udp(p) for p in sorted((FIXTURES / "poses").glob("*.npz"))]
    results = renderer.compare_precisions(frames, sheet, dtypes or reduced_precisions(renderer.device))
    print(f"# precision on the reference fixture ({sheet.views} views, {len(frames)} frames, {source})")
    print("| precision | s/frame | max abs diff vs float32 |")
    print("|---|---:|---:|")
    for name, row in results.items():
        print(f"| {name} | {row['seconds_per_frame']:.3f} | {row['max_abs_diff']:.2e} |")
    return 0


def end_to_end(renderer: ConrRenderer, views: int, frames: int) -> None:
    """Upload-to-MP4 time: parse a fresh sheet, render ``frames`` frames of a bundled dance, encode H.264."""
    from . import dances

    examples = sorted(EXAMPLE_SHEET.glob("*.png"))
    images = [str(p) for p in examples][:views] if len(examples) >= views else synthetic_sheet(views)
    dance = dances.dance_udp("step-and-clap")  # rendered and cached before the clock starts
    poses = dance.select([i % len(dance) for i in range(frames)])
    renderer.sheet = None
    renderer._sheets.clear()
    with tempfile.TemporaryDirectory() as tmp:
        sync(renderer.device)
        start = time.perf_counter()
        sheet = renderer.parse_sheet(images)
        result = render_to_files(renderer, poses, sheet=sheet, mp4=os.path.join(tmp, "out.mp4"), fps=30)
        sync(renderer.device)
        seconds = time.perf_counter() - start
    print(f"end to end: {result.frames} frames ({result.frames / 30:.1f} s of 30 fps video), {sheet.views} views, "
          f"{result.width}x{result.height}, parse + render + MP4: {seconds:.2f} s ({result.frames / seconds:.2f} frames/s)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
