"""Process-level settings: where conr keeps its files, rendering on CPUs, and a wall-clock per stage.

On a CPU the network needs every core for the whole of each forward pass;
whatever else runs (pasting, encoding) should take what is left, and the
memory allocator should not hand the network's buffers back to the kernel
between passes (see ``keep_freed_memory``).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_folder(*parts: str) -> Path:
    """Where conr keeps downloads and derived files: ``$CONR_CACHE_DIR``, else ``~/.cache/conr``, joined with ``parts``.

    Weights, the rembg models, rendered dances, the UDP calibration and the
    precision choice all live here; nothing is created by asking.
    """
    base = os.environ.get("CONR_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "conr").joinpath(*parts)


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned = False


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks of up to 256 MB for reuse instead of unmapping them (once per process).

    By default glibc serves blocks over 128 kB-32 MB with fresh ``mmap`` pages
    and unmaps them when freed, so every forward pass faults in (and zeroes)
    its activations anew: measured for 3 frames at 4 views on 2 cores, 2.4
    million page faults and 4.1 s of system time (3.04 s per frame) by
    default, 73 thousand and 0.2 s (2.13 s per frame) with this setting. The
    cost is that the process keeps the network's working set instead of
    returning it after each pass; single blocks over 256 MB (a huge decoded
    frame, say) still go back to the system when freed. Returns whether the
    setting was made (glibc on Linux only; elsewhere a no-op).
    """
    global _tuned
    if _tuned or not sys.platform.startswith("linux"):
        return _tuned
    try:
        libc = ctypes.CDLL("libc.so.6")
        _tuned = bool(libc.mallopt(_M_MMAP_THRESHOLD, 256 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 31))
    except (OSError, AttributeError):  # musl and others have no mallopt
        _tuned = False
    return _tuned


class StageClock:
    """Wall-clock seconds and call counts per named stage, added up from any thread.

    ``with clock.stage("forward"): ...``; a disabled clock costs nothing.
    Stages that run on worker threads overlap others: their sum is work, not
    time on the critical path.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.calls[name] = self.calls.get(name, 0) + 1

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {name: {"seconds": s, "calls": self.calls[name]} for name, s in self.seconds.items()}
