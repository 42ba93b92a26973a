"""Benchmark: ``python -m conr.dances.bench`` prints how long a 300-frame dance takes to become UDP.

Measures, at 512x512: the character build, 300 frames (10 s at 30 fps of
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


def _time_frames(motion, backend: str, frames: int, size: int) -> tuple[float, str]:
    from .generator import dance_frames
    from .raster import get_rasterizer

    rasterizer = get_rasterizer(backend)
    times = np.arange(frames) / 30.0
    started = time.perf_counter()
    count = sum(1 for _ in dance_frames(motion, size, rasterizer=rasterizer, times=times))
    assert count == frames
    return time.perf_counter() - started, getattr(rasterizer, "renderer", backend)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conr.dances.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--dance", default="step-and-clap")
    parser.add_argument("--skip-numpy", action="store_true")
    args = parser.parse_args(argv)

    from . import dance_udp, get_motion
    from .character import build_character
    from .generator import dance_camera

    started = time.perf_counter()
    character = build_character()
    print(f"character: {len(character.triangles)} triangles, {len(character.vertices)} vertices, "
          f"{len(character.skeleton)} bones, built in {time.perf_counter() - started:.2f} s")  # fmt: skip
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
        print(f"{backend:8s} ({renderer}): {args.frames} frames at {args.size}px in {seconds:.2f} s "
              f"({args.frames / seconds:.1f} frames/s; target < {target:.0f} s)")  # fmt: skip

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
    print(f"dance_udp({args.dance!r}) {len(frames)} frames: first call (render + cache) {first:.2f} s, "
          f"second call {second * 1000:.0f} ms, reading every frame {read:.2f} s; cache {size_mb:.1f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
