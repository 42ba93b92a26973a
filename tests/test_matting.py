"""Background removal with the real rembg u2netp model on a real drawing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES
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


def test_missing_model_offline_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CONR_REMBG_DIR", str(tmp_path))
    monkeypatch.setenv("CONR_OFFLINE", "1")
    matting._sessions.clear()
    opaque, _ = drawing_on_white()
    with pytest.raises(InputError, match=r"'isnet-anime' is not downloaded here and the network is unreachable"):
        matting.cut_out(opaque)
    # a picture that already has transparency needs no model at all
    rgba = np.asarray(Image.open(FIXTURES / "inputs" / "sheet" / "2.png").convert("RGBA"))
    assert matting.cut_out(rgba).removed_background is False


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
        cwd=ROOT, capture_output=True, text=True, env={**__import__("os").environ, "CONR_REMBG_DIR": str(with_u2netp)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "scan.png"))
    assert out.shape == (*truth.shape, 4)
    assert ((out[:, :, 3] > 127) == (truth > 127)).mean() > 0.95
