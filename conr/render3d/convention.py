"""The UDP convention: how a rest-pose (canonical A-pose) surface point becomes a UDP colour.

CoNR's paper defines a UDP pixel as the rest-pose world coordinates of the
visible surface point, with the character standing at the world's centre.
It fixes neither the axes nor the scale, so this module fixes them once, and
every producer and consumer of our UDP goes through ``UdpConvention``:

- channel 0: left-right, increasing towards the character's own left
  (model x);
- channel 1: depth, 0 at the front, increasing towards the back (model z);
- channel 2: height, 0 at the feet, about 1 at the top of the head (model y);
- each channel min-max normalised over the canonical-pose mesh
  (``CANONICAL_BOX``), i.e. MMD world axes read as (x, z, y);
- optionally followed by an affine correction (3x4) fitted against the
  released UDP detector by ``python -m conr calibrate-udp`` (see
  ``conr.render3d.calibrate``), clipped to [0, 1].

The canonical box is written out as numbers (the test suite checks that it
is the mesh's bounding box), so changing the mesh cannot silently shift the
convention.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

#: UDP channel i is model axis AXES[i] (0 = x, 1 = y, 2 = z), each increasing as the model axis does.
AXES = (0, 2, 1)
#: Bounding box of the canonical-pose mesh in model units (x, y, z): min and max.
CANONICAL_BOX_MIN = (-0.637204, 0.000341, -0.2331)
CANONICAL_BOX_MAX = (0.637204, 1.61536, 0.2331)


@dataclass(frozen=True)
class UdpConvention:
    """Rest-pose model coordinates <-> UDP channel values, and back."""

    box_min: tuple[float, float, float] = CANONICAL_BOX_MIN
    box_max: tuple[float, float, float] = CANONICAL_BOX_MAX
    axes: tuple[int, int, int] = AXES
    #: Optional 3x4 affine applied after normalisation (rows: output channels), from calibration.
    affine: tuple[tuple[float, ...], ...] | None = field(default=None)
    name: str = "mmd-xzy-minmax"

    def _scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.asarray(self.box_min, np.float64)[list(self.axes)]
        high = np.asarray(self.box_max, np.float64)[list(self.axes)]
        return 1.0 / (high - low), -low / (high - low)

    def normalise(self, points: np.ndarray) -> np.ndarray:
        """Model points (..., 3) -> uncalibrated UDP values (..., 3); the mesh box maps to [0, 1]^3."""
        scale, offset = self._scale_offset()
        return np.asarray(points, np.float64)[..., list(self.axes)] * scale + offset

    def encode(self, points: np.ndarray) -> np.ndarray:
        """Model rest points (..., 3) -> UDP XYZ (..., 3) float32 in [0, 1], calibration included."""
        values = self.normalise(points)
        if self.affine is not None:
            matrix = np.asarray(self.affine, np.float64)
            values = values @ matrix[:, :3].T + matrix[:, 3]
        return np.clip(values, 0.0, 1.0).astype(np.float32)

    def decode(self, values: np.ndarray) -> np.ndarray:
        """UDP XYZ (..., 3) -> model rest points; the inverse of ``encode`` (away from clipping)."""
        values = np.asarray(values, np.float64)
        if self.affine is not None:
            matrix = np.asarray(self.affine, np.float64)
            values = (values - matrix[:, 3]) @ np.linalg.inv(matrix[:, :3]).T
        scale, offset = self._scale_offset()
        normalised = (values - offset) / scale
        points = np.empty_like(normalised)
        points[..., list(self.axes)] = normalised
        return points

    def with_affine(self, matrix: np.ndarray | None) -> UdpConvention:
        """The same convention followed by ``matrix`` (3x4), or without calibration for None."""
        affine = (
            None if matrix is None else tuple(tuple(float(v) for v in row) for row in np.asarray(matrix, np.float64))
        )
        if affine is not None and (len(affine) != 3 or any(len(row) != 4 for row in affine)):
            raise ValueError("a UDP calibration is a 3x4 matrix")
        return UdpConvention(self.box_min, self.box_max, self.axes, affine, self.name)

    @property
    def fingerprint(self) -> str:
        """Short hash of everything that changes UDP values (a cache key part)."""
        text = json.dumps([self.name, self.box_min, self.box_max, self.axes, self.affine], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


#: The convention every dance, example and test uses unless a calibration is applied.
DEFAULT_CONVENTION = UdpConvention()
