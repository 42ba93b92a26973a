"""How close one frame is to another: PSNR and SSIM of RGBA uint8 frames (numpy + OpenCV only).

Used to judge approximations against a reference (in-betweens against
rendered frames). Frames are compared premultiplied, so the colour of a
fully transparent pixel never counts; ``mask`` restricts a measure to the
figure, where the full canvas would be inflated by empty background.
"""

from __future__ import annotations

import cv2
import numpy as np


def premultiplied(rgba: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Straight RGBA uint8 (H, W, 4) -> premultiplied float in [0, 255]."""
    frame = rgba.astype(dtype)
    frame[:, :, :3] *= frame[:, :, 3:4] / 255.0
    return frame


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of two straight RGBA uint8 frames (inf when identical)."""
    diff = (premultiplied(a) - premultiplied(b)) ** 2
    if mask is not None:
        diff = diff[mask]
    mse = float(diff.mean()) if diff.size else 0.0
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Structural similarity (Wang et al. 2004: 11-tap Gaussian, sigma 1.5) of two straight RGBA uint8 frames.

    Computed on the frames composited over white (what a video shows),
    averaged over the three channels and over ``mask`` (default: everywhere).
    """
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    x, y = (_over_white(f) for f in (a, b))
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    score = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    score = score.mean(axis=2)
    return float(score[mask].mean() if mask is not None else score.mean())


def _over_white(rgba: np.ndarray) -> np.ndarray:
    frame = premultiplied(rgba)
    return frame[:, :, :3] + (255.0 - frame[:, :, 3:4])


__all__ = ["psnr", "ssim", "premultiplied"]
