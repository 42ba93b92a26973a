"""What a rasterizer hands back: per-pixel coverage, depth, interpolated attributes and part id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GBuffer:
    """Row 0 is the top of the image; pixels off the body hold coverage False, depth 1, zeros."""

    coverage: np.ndarray  # (S, S) bool
    depth: np.ndarray  # (S, S) float32 window depth in [0, 1]
    attributes: np.ndarray  # (S, S, A) float32
    part: np.ndarray  # (S, S) uint8, 0 off the body

    @classmethod
    def empty(cls, size: int, channels: int) -> GBuffer:
        return cls(
            coverage=np.zeros((size, size), bool),
            depth=np.ones((size, size), np.float32),
            attributes=np.zeros((size, size, channels), np.float32),
            part=np.zeros((size, size), np.uint8),
        )
