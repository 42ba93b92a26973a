"""Encoders under failure: the real ffmpeg, a full disk (/dev/full), a folder that disappears.

A failed output must raise OutputError with ffmpeg's own reason, leave no
ffmpeg process behind and no partial file of any kind.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from conr.errors import ConrError, OutputError
from conr.video import MP4, WEBM_ALPHA, FrameSink, VideoWriter, probe_video

FULL = Path("/dev/full")
pytestmark = pytest.mark.skipif(not FULL.is_char_device(), reason="needs /dev/full")


def frames(count: int, size: int = 64, seed: int = 0):
    """Noisy RGBA frames: they compress badly, so encoders and zips write bytes early."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield rng.integers(0, 256, (size, size, 4), dtype=np.uint8)


def reaped(writer: VideoWriter) -> bool:
    """The ffmpeg process has exited and been waited for (no zombie, no survivor)."""
    return writer._proc.returncode is not None and not Path(f"/proc/{writer._proc.pid}").exists()


def test_disk_full_reports_ffmpegs_reason_once():
    writer = VideoWriter(FULL, 64, 64, 30, MP4)
    with pytest.raises(OutputError) as info:
        with writer:
            for rgba in frames(300):
                writer.write(rgba[:, :, :3].copy())
    message = str(info.value)
    assert isinstance(info.value, ConrError)
    assert "Could not write full" in message and "No space left on device" in message
    assert "Free some disk space" in message
    assert "seek of closed file" not in message and "0x" not in message
    assert reaped(writer)
    writer.abort()  # again: harmless
    assert FULL.is_char_device(), "never delete a device"


def test_failing_writer_kills_the_other_and_removes_every_partial_output(tmp_path):
    """The MP4 fails at its header (disk full) while the WebM encoder still runs: it is killed, all files go."""
    frames_dir = tmp_path / "frames"
    sink = FrameSink(
        64, 64, 30, mp4=FULL, webm=tmp_path / "a.webm", frames_dir=frames_dir, frames_zip=tmp_path / "f.zip"
    )
    written = 0
    with pytest.raises(OutputError, match="No space left on device"):
        with sink:
            for rgba in frames(300):
                sink.write(rgba)
                written += 1
    assert written > 0, "some frames (and PNGs) were written before the failure"
    assert reaped(sink.mp4) and reaped(sink.webm)
    assert sink.webm._proc.returncode == -signal.SIGKILL, "the WebM encoder was killed, not left to finish"
    assert sorted(os.listdir(tmp_path)) == [], "no mp4, webm, zip or PNG folder remains"
    assert FULL.is_char_device()


def test_failure_at_close_removes_the_finished_outputs_too(tmp_path):
    """The WebM fails only when ffmpeg writes its trailer: the complete MP4 and the PNGs are deleted as well."""
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    (frames_dir / "mine.txt").write_text("not the sink's")
    sink = FrameSink(
        64, 64, 30, mp4=tmp_path / "a.mp4", webm=FULL, frames_dir=frames_dir, frames_zip=tmp_path / "f.zip"
    )
    with pytest.raises(OutputError, match=r"Could not write full \(.*No space left on device"):
        with sink:
            for rgba in frames(3):
                sink.write(rgba)
    assert reaped(sink.mp4) and reaped(sink.webm)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["frames", "mine.txt"], "only what was there before remains"


def test_png_zip_on_full_disk_is_an_output_error(tmp_path):
    sink = FrameSink(128, 128, 30, frames_dir=tmp_path / "frames", frames_zip=FULL)
    with pytest.raises(OutputError, match=r"Could not write full \(No space left on device\)"):
        with sink:
            for rgba in frames(50, size=128):
                sink.write(rgba)
    assert not (tmp_path / "frames").exists()
    assert FULL.is_char_device()


def test_folder_removed_while_writing(tmp_path):
    """The output folder disappears mid-render (a cleanup, an unmounted disk): a clear error, no process left."""
    folder = tmp_path / "job"
    writer = VideoWriter(folder / "dance.mp4", 64, 64, 30, MP4)
    with pytest.raises(OutputError) as info:
        with writer:
            for index, rgba in enumerate(frames(10)):
                writer.write(rgba[:, :, :3].copy())
                if index == 4:
                    shutil.rmtree(folder)
    assert "dance.mp4" in str(info.value) and "choose another folder" in str(info.value)
    assert str(tmp_path) not in str(info.value), "the message names the file, not the server's folders"
    assert reaped(writer)
    assert not folder.exists()


def test_successful_sink_still_writes_everything(tmp_path):
    with FrameSink(64, 64, 30, mp4=tmp_path / "a.mp4", webm=tmp_path / "a.webm", frames_dir=tmp_path / "f") as sink:
        for rgba in frames(4):
            sink.write(rgba)
    assert probe_video(tmp_path / "a.mp4").frames == 4
    info = probe_video(tmp_path / "a.webm")
    assert info.frames == 4 and info.alpha
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [f"{i:05d}.png" for i in range(4)]
    assert reaped(sink.mp4) and reaped(sink.webm)


def test_webm_format_is_named_for_any_file_name(tmp_path):
    """ffmpeg is told the container, so a name without a suffix still gets the right format."""
    path = tmp_path / "0011"
    with VideoWriter(path, 64, 64, 30, WEBM_ALPHA) as writer:
        for rgba in frames(2):
            writer.write(rgba)
    assert probe_video(path).codec == "vp9"
