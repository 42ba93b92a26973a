"""Benchmark: ``python -m conr.dances.bench`` prints each dance's pose variety and foot-skate, then how fast dances render.

Quality (``conr.dances.metrics``): pose variety (mean pairwise 1 - IoU of
24 evenly spaced silhouettes; targets: each >= 0.45, median >= 0.60) and
foot-skate (cm per frame at 1.6 m; target < 1) per bundled dance.

Speed (skip with ``--skip-speed``), at 512x512: the character build, 300 frames (10 s at 30 fps of
step-and-clap, wrapping around its loop) rendered with moderngl and with the
numpy fallback (posing, skinning, rasterizing, encoding in the convention),
and the disk cache (first call renders and writes it, second only opens it,
then reading every frame). Targets on a 2-core CPU: under 10 s with
moderngl, under 60 s with numpy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ..render3d.raster import get_rasterizer
from .catalog import dance_udp, get_motion, list_dances
from .character import build_character
from .generator import dance_camera, dance_frames
from .metrics import motion_foot_skate, motion_pose_variety


def _time_frames(motion, backend: str, frames: int, size: int) -> tuple[float, str]:
    rasterizer = get_rasterizer(backend)
    times = np.arange(frames) / 30.0
    started = time.perf_counter()
    count = sum(1 for _ in dance_frames(motion, size, rasterizer=rasterizer, times=times))
    assert count == frames
    return time.perf_counter() - started, getattr(rasterizer, "renderer", backend)


VARIETY_TARGET, MEDIAN_VARIETY_TARGET, SKATE_TARGET = 0.45, 0.60, 1.0


def quality_rows(size: int = 192) -> list[dict]:
    """Pose variety and foot-skate of every bundled dance (24 frames rendered each, numpy-free if OpenGL works)."""
    rows = []
    for info in list_dances():
        motion = get_motion(info.name)
        rows.append(
            {
                "name": info.name,
                "title": info.title,
                "seconds": info.seconds,
                "bpm": getattr(motion, "bpm", None),
                "variety": motion_pose_variety(motion, size),
                "skate": motion_foot_skate(motion),
            }
        )
    return rows


def print_quality(rows: list[dict]) -> bool:
    """Print the quality table; True when every target is met."""
    print(f"{'dance':22s} {'s':>5s} {'bpm':>5s} {'variety':>8s} {'skate cm/f':>10s}")
    for r in rows:
        bpm = f"{r['bpm']:.0f}" if r["bpm"] else "-"
        print(f"{r['name']:22s} {r['seconds']:5.1f} {bpm:>5s} {r['variety']:8.3f} {r['skate']:10.3f}")
    varieties = np.array([r["variety"] for r in rows])
    ok = bool(
        len(rows) >= 8
        and varieties.min() >= VARIETY_TARGET
        and np.median(varieties) >= MEDIAN_VARIETY_TARGET
        and max(r["skate"] for r in rows) < SKATE_TARGET
    )
    print(
        f"{len(rows)} dances; pose variety min {varieties.min():.3f}, median {np.median(varieties):.3f} "
        f"(targets: >= 8 dances, each >= {VARIETY_TARGET}, median >= {MEDIAN_VARIETY_TARGET}, foot-skate < {SKATE_TARGET}): "
        f"{'met' if ok else 'NOT met'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conr.dances.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--dance", default="step-and-clap")
    parser.add_argument("--skip-numpy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true", help="only the pose variety and foot-skate table")
    args = parser.parse_args(argv)

    print_quality(quality_rows())
    if args.skip_speed:
        return 0

    started = time.perf_counter()
    character = build_character()
    print(
        f"character: {len(character.triangles)} triangles, {len(character.vertices)} vertices, "
        f"{len(character.skeleton)} bones, built in {time.perf_counter() - started:.2f} s"
    )
    motion = get_motion(args.dance)
    started = time.perf_counter()
    dance_camera(motion)
    print(f"framing {args.dance}: {time.perf_counter() - started:.2f} s (once per dance and process)")

    backends = ["moderngl"] + ([] if args.skip_numpy else ["numpy"])
    for backend in backends:
        try:
            seconds, renderer = _time_frames(motion, backend, args.frames, args.size)
        except RuntimeError as exc:
            print(f"{backend}: unavailable ({exc})")
            continue
        target = 10.0 if backend == "moderngl" else 60.0
        print(
            f"{backend:8s} ({renderer}): {args.frames} frames at {args.size}px in {seconds:.2f} s "
            f"({args.frames / seconds:.1f} frames/s; target < {target:.0f} s)"
        )

    with tempfile.TemporaryDirectory() as cache_dir:
        started = time.perf_counter()
        frames = dance_udp(args.dance, size=args.size, cache_dir=cache_dir)
        first = time.perf_counter() - started
        started = time.perf_counter()
        frames = dance_udp(args.dance, size=args.size, cache_dir=cache_dir)
        second = time.perf_counter() - started
        started = time.perf_counter()
        for frame in frames:
            pass
        read = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in Path(cache_dir).glob("*.zip")) / 1e6
    print(
        f"dance_udp({args.dance!r}) {len(frames)} frames: first call (render + cache) {first:.2f} s, "
        f"second call {second * 1000:.0f} ms, reading every frame {read:.2f} s; cache {size_mb:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
