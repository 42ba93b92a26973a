"""One progress protocol for every long loop, ``progress(stage, done, total)``, and its adapters.

A stage is a name people read ("Rendering"); ``done`` and ``total`` count
steps within it. Loops report after every step, so ``cancellable`` can stop
the work between steps. ``TqdmProgress`` draws bars in a terminal and
``ProgressText`` writes the label of a web page's bar, with an ETA.
"""

from __future__ import annotations

import time
from typing import Callable

from .errors import check_cancelled

#: ``progress(stage, done, total)``: a stage name people can read, and counts within it.
Progress = Callable[[str, int, int], None]

STAGE_CUTOUTS = "Removing backgrounds"
STAGE_DETECT = "Detecting poses"
STAGE_POSING = "Posing the MMD model"
STAGE_RENDER = "Rendering"


def no_progress(stage: str, done: int, total: int) -> None:
    """A ``Progress`` that reports nowhere."""


def cancellable(progress: Progress | None, cancel=None) -> Progress:
    """``progress`` that first stops the work once ``cancel`` is set (raises ``conr.errors.Cancelled``)."""
    progress = progress or no_progress

    def report(stage: str, done: int, total: int) -> None:
        check_cancelled(cancel)
        progress(stage, done, total)

    return report


class TqdmProgress:
    """A ``Progress`` for terminals: one tqdm bar per stage (use as a context manager to close them)."""

    def __init__(self, unit: str = "frame"):
        self.unit = unit
        self.bars: dict[str, object] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit=self.unit, dynamic_ncols=True)
        if bar.disable:  # closed: the stage is done
            return
        bar.total = total
        bar.update(done - bar.n)
        if total and done >= total:
            bar.close()  # its time and rate stop here, not when the whole job ends

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ProgressText:
    """A ``Progress`` for a bar with a label: ``show(done, total, "Rendering: 3 of 8, about 12 s left")``.

    Keeps where each stage stands (``done[stage]``), e.g. to log how far a cancelled render came.
    """

    def __init__(self, show: Callable[[int, int, str], None]):
        self.show = show
        self.started: dict[str, tuple[float, int]] = {}
        self.done: dict[str, tuple[int, int]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        begun, first = self.started.setdefault(stage, (time.perf_counter(), done))
        self.done[stage] = (done, total)
        eta = ""
        if first < done < total:
            left = (time.perf_counter() - begun) / (done - first) * (total - done)
            eta = f", about {left:.0f} s left" if left < 90 else f", about {left / 60:.0f} min left"
        self.show(done, total, f"{stage}: {done} of {total}{eta}")
