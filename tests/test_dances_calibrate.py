"""calibrate-udp: the affine fit round-trips a known map; the whole command runs on recipe weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conr.cli import main
from conr.dances import dance_udp
from conr.dances.character import build_character
from conr.dances.generator import dance_camera, udp_frame
from conr.dances.motions import MOTIONS
from conr.errors import InputError
from conr.render3d.calibrate import active_convention, fit_affine, load_calibration, paired_samples
from conr.render3d.convention import DEFAULT_CONVENTION
from conr.render3d.raster import NumpyRasterizer

KNOWN = np.array([[0.8, 0.05, -0.02, 0.1], [0.03, 0.7, 0.1, 0.12], [-0.04, 0.02, 0.9, 0.03]])


@pytest.fixture(scope="module")
def our_frames():
    motion = MOTIONS["step-and-clap"]
    c = build_character()
    return [
        udp_frame(c, motion.sample(t), dance_camera(motion), 128, rasterizer=NumpyRasterizer()) for t in (0.0, 1.3, 3.1)
    ]


def test_fit_recovers_a_known_affine_map(our_frames):
    """A synthetic 'detector' that applies KNOWN to our UDP: the fit gives KNOWN back."""
    theirs = []
    for frame in our_frames:
        mapped = frame.copy()
        mapped[:, :, :3] = frame[:, :, :3] @ KNOWN[:, :3].T + KNOWN[:, 3]
        theirs.append(mapped)
    x, y = paired_samples(our_frames, theirs)
    assert len(x) > 2000
    affine, residual = fit_affine(x, y)
    assert np.abs(affine - KNOWN).max() < 1e-6 and residual < 1e-6
    noisy = y + np.random.default_rng(0).normal(0, 0.01, y.shape)
    affine, residual = fit_affine(x, noisy)
    assert np.abs(affine - KNOWN).max() < 0.01 and abs(residual - 0.01) < 0.001
    # Applying the fitted map is the same as using the calibrated convention.
    convention = DEFAULT_CONVENTION.with_affine(affine)
    points = DEFAULT_CONVENTION.decode(x[:100])
    assert np.allclose(convention.encode(points), np.clip(x[:100] @ affine[:, :3].T + affine[:, 3], 0, 1), atol=1e-5)


def test_calibrate_udp_command_on_recipe_weights(recipe_weights_dir, tmp_path, monkeypatch, capsys):
    path = tmp_path / "calibration.json"
    monkeypatch.setenv("CONR_UDP_CALIBRATION", str(path))
    assert main(["calibrate-udp", "--weights", str(recipe_weights_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "RMS residual" in out and str(path) in out
    calibration = load_calibration(path)
    matrix = np.asarray(calibration.affine)
    assert matrix.shape == (3, 4) and np.isfinite(matrix).all()
    assert calibration.images == 8 and calibration.pixels > 10_000
    # Least squares can only improve on taking our convention as is (the identity is one candidate).
    assert 0 <= calibration.residual_rms <= calibration.identity_rms
    # Saved, it is applied to dances rendered afterwards.
    convention = active_convention()
    assert np.allclose(np.asarray(convention.affine), matrix)
    calibrated = dance_udp("idle-sway", size=64, fps=1, cache_dir=tmp_path / "cache")
    plain = dance_udp("idle-sway", size=64, fps=1, cache_dir=tmp_path / "cache", convention=DEFAULT_CONVENTION)
    on = plain[0][:, :, 3] > 0
    expected = np.clip(plain[0][on, :3] @ matrix[:, :3].T + matrix[:, 3], 0, 1)
    assert np.abs(calibrated[0][on, :3] - expected).max() < 1e-4
    monkeypatch.setenv("CONR_UDP_CALIBRATION", "off")
    assert active_convention() is DEFAULT_CONVENTION


def test_damaged_calibration_is_refused_with_the_file_named(tmp_path, monkeypatch):
    path = tmp_path / "bad-calibration.json"
    path.write_text(json.dumps({"affine": [[1, 0, 0]], "residual_rms": 0, "identity_rms": 0, "pixels": 1, "images": 1}))
    monkeypatch.setenv("CONR_UDP_CALIBRATION", str(path))
    with pytest.raises(InputError, match="bad-calibration.json"):
        active_convention()
