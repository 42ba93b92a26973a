"""Calibration: fit our UDP convention to the one the released UDP detector (udpparsernet) speaks.

The paper does not pin UDP's axes or scale, so our convention is a well
argued guess. The released weights include a detector that predicts UDP
from a drawing; shown our own toon-shaded character, its prediction on the
character's pixels should be an affine function of ours if the guess is
right up to scale and offset. We fit that 3x4 affine map by least squares,
report the residual, and save it; ``active_convention()`` then applies it to
every dance rendered afterwards, ours and imported ones. The drawings come
from the caller (``conr.dances.views.calibration_images``: our character).

The saved file is JSON: ``{"affine": 3x4, "residual_rms": ..., ...}`` at
``$CONR_UDP_CALIBRATION`` (``off`` disables it), else
``$CONR_CACHE_DIR/udp-calibration.json``, else
``~/.cache/conr/udp-calibration.json``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..crop import SquareCrop
from ..errors import InputError
from ..runtime import cache_folder
from .convention import DEFAULT_CONVENTION, UdpConvention

log = logging.getLogger(__name__)

#: The detector works on 256x256 square crops.
DETECTOR_SIZE = 256
#: Our occupancy is shrunk by this many pixels (at 256) before fitting: edges are where drawings and guesses blur.
ERODE_PIXELS = 2


@dataclass
class Calibration:
    affine: list[list[float]]  # 3x4: detector UDP ~ affine @ [ours, 1]
    residual_rms: float  # after the fit, UDP units
    identity_rms: float  # before it (our convention taken as is)
    pixels: int
    images: int


def calibration_path() -> Path | None:
    """Where the calibration is kept; None when ``CONR_UDP_CALIBRATION=off``."""
    explicit = os.environ.get("CONR_UDP_CALIBRATION")
    if explicit:
        return None if explicit.lower() in ("off", "none", "0") else Path(explicit)
    return cache_folder("udp-calibration.json")


def fit_affine(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares 3x4 ``A`` with theirs ~ A @ [ours, 1]; returns A and the RMS residual (per channel)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if len(ours) < 4 or ours.shape != theirs.shape:
        raise ValueError("need matching (N, 3) samples, N >= 4")
    design = np.c_[ours, np.ones(len(ours))]
    solution, *_ = np.linalg.lstsq(design, theirs, rcond=None)
    residual = design @ solution - theirs
    return solution.T, float(np.sqrt(np.mean(residual**2)))


def save_calibration(calibration: Calibration, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(calibration), indent=1))
    return path


def load_calibration(path: Path) -> Calibration:
    """Read a saved calibration; InputError naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
        calibration = Calibration(**data)
        matrix = np.asarray(calibration.affine, np.float64)
        if matrix.shape != (3, 4) or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix[:, :3])) < 1e-9:
            raise ValueError("the affine map is not an invertible 3x4 matrix")
        return calibration
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(
            f"The UDP calibration file '{path}' is not usable ({exc}). Run `python -m conr calibrate-udp` again or delete it."
        ) from None


def active_convention() -> UdpConvention:
    """The default convention, followed by the saved calibration if there is one."""
    path = calibration_path()
    if path is None or not path.is_file():
        return DEFAULT_CONVENTION
    calibration = load_calibration(path)
    log.info("applying the UDP calibration in %s (residual %.4f)", path, calibration.residual_rms)
    return DEFAULT_CONVENTION.with_affine(np.asarray(calibration.affine))


def in_detector_crop(drawing: np.ndarray, udp: np.ndarray) -> np.ndarray:
    """Our UDP frame cut to the detector's view of ``drawing`` (the same square crop, 256 px, nearest)."""
    crop = SquareCrop.around(drawing[:, :, 3])
    if crop is None:
        raise ValueError("empty drawing")
    return crop.cut(udp, DETECTOR_SIZE, nearest=True)


def paired_samples(ours: list[np.ndarray], theirs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels on the body (our occupancy, eroded) from both, as (N, 3) arrays."""
    kernel = np.ones((2 * ERODE_PIXELS + 1,) * 2, np.uint8)
    a, b = [], []
    for our, their in zip(ours, theirs):
        inside = cv2.erode((our[:, :, 3] > 0.5).astype(np.uint8), kernel).astype(bool)
        a.append(our[inside, :3])
        b.append(their[inside, :3])
    return np.concatenate(a), np.concatenate(b)


def calibrate(renderer, pairs: list[tuple[np.ndarray, np.ndarray]]) -> Calibration:
    """Detect, fit: ``pairs`` are (RGBA drawing, our UDP frame of it); ``renderer`` a ``conr.pipeline.ConrRenderer``."""
    drawings = [drawing for drawing, _ in pairs]
    ours = [in_detector_crop(drawing, udp) for drawing, udp in pairs]
    theirs = renderer.detect_udp(drawings)
    x, y = paired_samples(ours, theirs)
    affine, residual = fit_affine(x, y)
    identity = float(np.sqrt(np.mean((x - y) ** 2)))
    return Calibration(affine.tolist(), residual, identity, int(len(x)), len(pairs))
