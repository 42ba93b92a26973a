"""Background removal with the real rembg u2netp model on a real drawing."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES
from PIL import Image

from conr import matting
from conr.errors import InputError


@pytest.fixture
def with_u2netp(rembg_dir, monkeypatch):
    monkeypatch.setenv("CONR_REMBG_DIR", str(rembg_dir))
    return rembg_dir


def drawing_on_white() -> tuple[np.ndarray, np.ndarray]:
    """The fixture character flattened onto white (an opaque 'scan'), and its true alpha."""
    rgba = np.asarray(Image.open(FIXTURES / "inputs" / "sheet" / "0.png").convert("RGBA"))
    alpha = rgba[:, :, 3:4] / 255.0
    rgb = (rgba[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), rgba[:, :, 3]


def test_u2netp_cuts_out_a_drawing(with_u2netp):
    opaque, truth = drawing_on_white()
    assert not matting.has_meaningful_alpha(opaque)
    result = matting.cut_out(opaque, model="u2netp")
    assert result.removed_background and result.model == "u2netp"
    predicted = result.rgba[:, :, 3] > 127
    actual = truth > 127
    iou = (predicted & actual).sum() / (predicted | actual).sum()
    assert iou > 0.9, iou
    assert np.array_equal(result.rgba[:, :, :3], opaque[:, :, :3])


def test_existing_transparency_is_kept_unless_forced(with_u2netp):
    rgba = np.asarray(Image.open(FIXTURES / "inputs" / "sheet" / "1.png").convert("RGBA"))
    kept = matting.cut_out(rgba, model="u2netp")
    assert not kept.removed_background and kept.rgba is rgba
    forced = matting.cut_out(rgba, model="u2netp", force=True)
    assert forced.removed_background


def test_no_model_at_all_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CONR_REMBG_DIR", str(tmp_path))
    monkeypatch.setenv("CONR_OFFLINE", "1")
    opaque, _ = drawing_on_white()
    with pytest.raises(InputError) as refused:
        matting.cut_out(opaque)
    message = str(refused.value)
    assert "isnet-anime could not be downloaded (CONR_OFFLINE is set)" in message
    assert "no other background-removal model is installed" in message
    assert "Upload drawings that already have a transparent background (PNG)" in message
    assert "isnet-anime.onnx" in message and "CONR_REMBG_DIR" in message
    assert str(tmp_path) not in message  # no server path on the page
    # a picture that already has transparency needs no model at all
    rgba = np.asarray(Image.open(FIXTURES / "inputs" / "sheet" / "2.png").convert("RGBA"))
    assert matting.cut_out(rgba).removed_background is False


def test_unavailable_model_falls_back_to_an_installed_one(with_u2netp, monkeypatch, tmp_path):
    monkeypatch.setenv("CONR_OFFLINE", "1")
    opaque, truth = drawing_on_white()
    result = matting.cut_out(opaque)  # isnet-anime, which is not in the folder
    assert result.removed_background and result.model == "u2netp"
    assert result.note == "isnet-anime could not be downloaded (CONR_OFFLINE is set); used u2netp"
    assert ((result.rgba[:, :, 3] > 127) == (truth > 127)).mean() > 0.95
    source = tmp_path / "scan.png"
    Image.fromarray(opaque[:, :, :3]).save(source)
    [sheet] = matting.cut_out_sheet([source], model="isnet-general-use")
    assert sheet.model == "u2netp" and sheet.note.startswith("isnet-general-use could not be downloaded")
    assert sheet.warnings == []
    # the chosen model when it is there: no note
    assert matting.cut_out(opaque, model="u2netp").note is None


def test_unreachable_download_falls_back(with_u2netp, monkeypatch):
    """Without the offline flag, an unreachable host is found by a quick probe and the work goes on."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("CONR_OFFLINE", raising=False)
    monkeypatch.setenv("CONR_REMBG_URL", f"http://127.0.0.1:{port}/models")
    monkeypatch.setattr(matting, "_failures", {})
    assert matting.ensure_model("isnet-anime") == "127.0.0.1 is unreachable"
    opaque, _ = drawing_on_white()
    result = matting.cut_out(opaque)
    assert result.model == "u2netp"
    assert result.note == "isnet-anime could not be downloaded (127.0.0.1 is unreachable); used u2netp"
    assert not list(with_u2netp.glob("*.part"))


def test_while_the_start_up_download_runs(with_u2netp, tmp_path, monkeypatch):
    """Another model is used meanwhile; with none installed, the download is waited for, not refused."""
    import shutil
    import threading

    monkeypatch.delenv("CONR_OFFLINE", raising=False)
    opaque, _ = drawing_on_white()
    with matting._downloads["isnet-anime"]:  # as the start-up thread holds it while downloading
        result = matting.cut_out(opaque)
    assert result.model == "u2netp" and result.note == "isnet-anime is still downloading; used u2netp"

    monkeypatch.setenv("CONR_REMBG_DIR", str(tmp_path))  # nothing installed
    outcome = []
    lock = matting._downloads["u2netp"]
    lock.acquire()
    waiting = threading.Thread(target=lambda: outcome.append(matting.cut_out(opaque, model="u2netp")))
    waiting.start()
    waiting.join(1.0)
    assert waiting.is_alive() and not outcome  # not refused: waiting for the file
    shutil.copy(with_u2netp / "u2netp.onnx", tmp_path / "u2netp.onnx")  # the download completes
    lock.release()
    waiting.join()
    assert outcome[0].model == "u2netp" and outcome[0].note is None


def test_a_damaged_model_file_falls_back(with_u2netp, tmp_path, monkeypatch):
    monkeypatch.setenv("CONR_OFFLINE", "1")
    monkeypatch.setenv("CONR_REMBG_DIR", str(tmp_path))
    (tmp_path / "u2netp.onnx").symlink_to(with_u2netp / "u2netp.onnx")
    (tmp_path / "isnet-anime.onnx").write_bytes(b"not an onnx model" * 100)
    opaque, _ = drawing_on_white()
    result = matting.cut_out(opaque)
    assert result.model == "u2netp"
    assert result.note.startswith("isnet-anime could not be loaded (") and result.note.endswith("; used u2netp")


@pytest.fixture
def mirror(with_u2netp, tmp_path):
    """A local HTTP server holding the real u2netp.onnx and a damaged u2net.onnx; counts its requests."""
    import functools
    import http.server
    import shutil
    import threading

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(with_u2netp / "u2netp.onnx", served / "u2netp.onnx")
    (served / "u2net.onnx").write_bytes(b"\0" * 300_000)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", requests
    server.shutdown()
    server.server_close()


def test_ensure_model_downloads_with_progress_and_checks_the_file(mirror, tmp_path, monkeypatch):
    import hashlib

    url, requests = mirror
    target = tmp_path / "models"
    monkeypatch.delenv("CONR_OFFLINE", raising=False)
    monkeypatch.setenv("CONR_REMBG_DIR", str(target))
    monkeypatch.setenv("CONR_REMBG_URL", url)
    monkeypatch.setattr(matting, "_failures", {})
    lines = []
    assert matting.ensure_model("u2netp", progress=lines.append) is None
    assert hashlib.md5((target / "u2netp.onnx").read_bytes()).hexdigest() == matting.CHECKSUMS["u2netp"]
    assert lines[0] == f"Downloading background-removal model u2netp from {url}u2netp.onnx"
    assert "u2netp.onnx: 5 of 5 MB (100%)" in lines and lines[-1] == "Background-removal model u2netp ready (5 MB)"
    assert matting.ensure_model("u2netp") is None and len(requests) == 1  # there now: no second request

    reason = matting.ensure_model("u2net", progress=lines.append)
    assert reason.startswith("the downloaded file is damaged (MD5 ")
    assert matting.installed_models() == ["u2netp"] and not list(target.glob("*.part"))
    assert matting.ensure_model("u2net") == reason and len(requests) == 2  # remembered, not fetched again

    # the start-up helper: downloads the chosen model, or says what will be used instead
    monkeypatch.setattr(matting, "_failures", {})
    assert matting.warm_up("u2net", progress=lines.append).startswith(
        "u2net could not be downloaded (the downloaded file is damaged"
    )
    assert matting.warm_up("u2net").endswith("; will use u2netp until it is there")


def test_videos_without_any_model_are_refused_speaking_of_frames(tmp_path, monkeypatch):
    from conr.video import write_video
    from conr.video_pose import pose_from_video

    monkeypatch.setenv("CONR_REMBG_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("CONR_OFFLINE", "1")
    opaque, _ = drawing_on_white()
    video = write_video(tmp_path / "dance.mp4", [opaque[:, :, :3]] * 4, 10)
    with pytest.raises(InputError) as refused:
        pose_from_video(None, video, fps=10)  # refused at the cut-outs, before any detection
    message = str(refused.value)
    assert message.startswith("The video frames need their background removed, but the model isnet-anime")
    assert "a zip of PNG frames with transparent backgrounds" in message and "drawings" not in message


def test_videos_fall_back_too_and_say_so(tiny_renderer, with_u2netp, tmp_path, monkeypatch):
    from conr.video import write_video
    from conr.video_pose import pose_from_video

    monkeypatch.setenv("CONR_OFFLINE", "1")
    opaque, _ = drawing_on_white()
    canvas = np.full((520, 400, 3), 255, np.uint8)
    canvas[20:500, 40:360] = opaque[:, :, :3]
    video = write_video(tmp_path / "dance.mp4", [canvas] * 3, 10)
    result = pose_from_video(tiny_renderer, video, fps=10, smooth=1)
    assert result.matting_note == "isnet-anime could not be downloaded (CONR_OFFLINE is set); used u2netp"
    assert all(frame[..., 3].any() for frame in result.raw)


def test_sheet_limits_and_checks(with_u2netp, tmp_path):
    with pytest.raises(InputError, match=r"9 pictures is too many"):
        matting.cut_out_sheet([np.zeros((8, 8, 4), np.uint8)] * 9, max_images=8)
    empty = np.zeros((64, 64, 4), np.uint8)
    with pytest.raises(InputError, match=r"'blank.png' is empty"):
        matting.cut_out_sheet([empty], ["blank.png"])
    nearly_opaque = np.full((400, 400, 4), 255, np.uint8)
    nearly_opaque[:, :8, 3] = 0  # a 2% transparent strip: a "cut-out" with nothing cut
    with pytest.raises(InputError, match=r"'strip.png' is almost entirely opaque"):
        matting.cut_out_sheet([nearly_opaque], ["strip.png"])


def test_cli_cutout(with_u2netp, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    opaque, truth = drawing_on_white()
    source = tmp_path / "scan.jpg"
    Image.fromarray(opaque[:, :, :3]).save(source, quality=95)
    result = subprocess.run(
        [sys.executable, "-m", "conr", "cutout", str(source), "--out-dir", str(tmp_path / "out"), "--model", "u2netp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "CONR_REMBG_DIR": str(with_u2netp)},
    )
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "scan.png"))
    assert out.shape == (*truth.shape, 4)
    assert ((out[:, :, 3] > 127) == (truth > 127)).mean() > 0.95
