"""The server's side without a web framework (conr/service.py): the form, its problems by field, the plan,
jobs that stop when cancelled."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from conr.errors import Cancelled
from conr.job import BundledDance, UdpArchive, VideoPoses
from conr.limits import Limits
from conr.service import SOURCE_DANCE, SOURCE_UPLOAD, SOURCE_VIDEO, JobRunner, RenderForm, gallery_paths
from conr.video import CHECKERBOARD

ROOT = Path(__file__).resolve().parents[1]
DRAWING = str(ROOT / "examples" / "sheet" / "front.png")


def test_gallery_values_of_every_shape_become_paths():
    items = [("a.png", "caption"), {"path": "b.png"}, {"image": {"path": "c.png"}}, "d.png", None]
    assert gallery_paths(items) == ["a.png", "b.png", "c.png", "d.png"]
    assert gallery_paths(None) == []


def test_the_form_becomes_the_job_the_page_asks_for():
    form = RenderForm([(DRAWING, "front.png")], SOURCE_DANCE, "wave", fps=12, seconds=2, background="Checkerboard")
    form.size, form.inbetween = "512", False
    job = form.job()
    assert job.drawings == [DRAWING] and job.names == ["front.png"] and job.source == BundledDance("wave")
    assert (job.fps, job.seconds, job.max_side, job.inbetween, job.draft) == (12.0, 2.0, 512, 1, False)
    assert job.background == CHECKERBOARD
    assert RenderForm([DRAWING], dance="wave", size="Pose canvas").job(draft=True).max_side is None
    assert RenderForm([DRAWING], dance="wave", background="Colour", colour="#102030").job().background == (16, 32, 48)


def test_each_problem_is_reported_on_the_field_that_is_wrong():
    limits = Limits(max_frames=100)
    assert RenderForm([DRAWING], dance="wave", fps=0).problems(limits) == {
        "fps": "Frames per second must be between 1 and 60, not 0."
    }
    found = RenderForm([], dance="wave", fps=30, seconds=10).problems(limits)
    assert set(found) == {"seconds", "items"} and "limit of 100" in found["seconds"]
    assert set(RenderForm([DRAWING], dance="no-such-dance").problems(limits)) == {"dance"}
    upload = RenderForm([DRAWING], SOURCE_UPLOAD).problems(limits)
    assert upload == {"udp_zip": "Choose a .zip of UDP frames to upload (or pick a bundled dance)."}
    assert set(RenderForm([DRAWING], SOURCE_VIDEO).problems(limits)) == {"video"}
    assert RenderForm([DRAWING], dance="wave", fps=10, seconds=2).problems(limits) == {}


def test_a_video_detected_in_this_session_is_reused(tmp_path):
    clip, poses = tmp_path / "clip.mp4", tmp_path / "poses.zip"
    clip.write_bytes(b"video")
    form = RenderForm([DRAWING], SOURCE_VIDEO, video=str(clip), smooth=3, matting_model="u2netp")
    assert isinstance(form.pose_source(), VideoPoses)
    form.detected = {form.detection_key(): str(poses)}
    assert isinstance(form.pose_source(), VideoPoses), "the archive is gone: detect again"
    poses.write_bytes(b"zip")
    assert form.pose_source() == UdpArchive(str(poses))
    form.smooth = 5
    assert isinstance(form.pose_source(), VideoPoses), "other settings: detect again"


def test_the_plan_says_frames_drawings_and_time_from_the_measured_speed():
    limits = Limits()
    form = RenderForm([DRAWING, DRAWING], SOURCE_DANCE, "wave", fps=10, seconds=2)
    assert form.plan(limits) == "**20 frames** at 10 fps (2 s) from 2 drawing(s)."
    assert form.plan(limits, 1.5, "CPU") == "**20 frames** at 10 fps (2 s) from 2 drawing(s), about 60 s on this CPU."
    assert form.plan(limits, 5.0, "CPU").endswith("about 3 min on this CPU.")
    assert (
        RenderForm([], SOURCE_UPLOAD, fps=10).plan(limits)
        == "The whole sequence at 10 fps from your drawings (none yet)."
    )


def test_a_cancelled_job_stops_and_the_next_waits_for_it():
    runner, order = JobRunner(workers=1), []
    started = threading.Event()

    def slow(cancel):
        started.set()
        for _ in range(200):
            if cancel.wait(0.01):
                order.append("stopped")
                raise Cancelled("The render was cancelled.")
        order.append("finished")

    def quick(cancel):
        order.append("next")
        return 42

    async def scenario():
        first = asyncio.ensure_future(runner.run(slow, "visitor"))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await runner.run(quick, "visitor")

    assert asyncio.run(scenario()) == 42
    assert order == ["stopped", "next"]


def test_a_lost_client_or_a_closed_tab_cancels_its_job():
    runner = JobRunner(workers=1)

    def until_cancelled(cancel):
        if not cancel.wait(5):
            return "ran to the end"
        raise Cancelled("The render was cancelled.")

    with pytest.raises(Cancelled):
        asyncio.run(runner.run(until_cancelled, "gone", alive=lambda: False))

    async def closed_tab():
        job = asyncio.ensure_future(runner.run(until_cancelled, "tab"))
        await asyncio.sleep(0.2)
        runner.cancel_session("tab")
        return await job

    with pytest.raises(Cancelled):
        asyncio.run(closed_tab())
