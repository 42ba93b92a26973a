"""The one progress protocol (conr/progress.py): progress(stage, done, total) and its adapters."""

from __future__ import annotations

import io
import threading

import pytest

from conr.errors import Cancelled
from conr.progress import STAGE_RENDER, ProgressText, TqdmProgress, cancellable


def test_progress_text_labels_each_stage_with_counts_and_an_eta(monkeypatch):
    shown, now = [], [100.0]
    monkeypatch.setattr("conr.progress.time.perf_counter", lambda: now[0])
    bar = ProgressText(lambda done, total, text: shown.append((done, total, text)))
    for done in range(3):  # 4 s per frame
        bar(STAGE_RENDER, done, 8)
        now[0] += 4.0
    assert shown[0] == (0, 8, "Rendering: 0 of 8")
    assert shown[1] == (1, 8, "Rendering: 1 of 8, about 28 s left")
    assert shown[2][2] == "Rendering: 2 of 8, about 24 s left"
    assert bar.done == {STAGE_RENDER: (2, 8)}


def test_cancellable_stops_the_work_at_the_next_report():
    seen, cancel = [], threading.Event()
    report = cancellable(lambda *step: seen.append(step), cancel)
    report(STAGE_RENDER, 1, 3)
    cancel.set()
    with pytest.raises(Cancelled):
        report(STAGE_RENDER, 2, 3)
    assert seen == [(STAGE_RENDER, 1, 3)]


def test_tqdm_progress_closes_a_stage_when_it_is_done(monkeypatch):
    import tqdm

    stream = io.StringIO()
    monkeypatch.setattr(tqdm, "tqdm", lambda **kw: tqdm.std.tqdm(file=stream, **kw))
    with TqdmProgress() as bars:
        bars("Removing backgrounds", 0, 2)
        bars("Removing backgrounds", 2, 2)
        assert bars.bars["Removing backgrounds"].disable, "closed once done"
        bars("Removing backgrounds", 2, 2)  # a late report of a finished stage changes nothing
        bars(STAGE_RENDER, 1, 4)
        assert not bars.bars[STAGE_RENDER].disable and bars.bars[STAGE_RENDER].n == 1
    assert "Removing backgrounds: 100%" in stream.getvalue()
