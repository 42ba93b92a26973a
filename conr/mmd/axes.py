"""MMD's left-handed axes and units -> our model space (the one ``conr.dances`` uses).

MMD's world is left-handed: x towards the character's own left (the
viewer's right when it faces the default camera), y up, z towards the
character's back; models face -z. Our model space (``conr.dances``, and the
UDP convention that reads it as (x, z, y)) was deliberately chosen with the
same axes, so a point needs no axis flip, only a change of unit: MMD
modellers use 1 unit = 8 cm (a 1.6 m character is 20 units tall), ours are
metres.

Rotations need no change either. A VMD quaternion (x, y, z, w) is applied
by MMD (Direct3D, row vectors) as ``v' = v M(q)``, where ``M(q)`` is the
transpose of the usual column-vector matrix; so in coordinates the point
moves to ``R(q) v`` with the usual formula, which is what
``conr.render3d.quaternions.to_matrix`` computes from (w, x, y, z). One way to
see it: MMD knees bend with negative angles about x (their IK limits are
-180 to -0.5 degrees), and ``R_x(-a)`` takes a downward shin (0, -1, 0) to
(0, -cos a, sin a), i.e. the foot swings back, to +z.
"""

from __future__ import annotations

import numpy as np

#: Metres per MMD unit.
MMD_UNIT_METRES = 0.08


def to_model_points(points) -> np.ndarray:
    """MMD points or offsets (..., 3) in MMD units -> our model space (metres, same axes)."""
    return np.asarray(points, np.float64) * MMD_UNIT_METRES


def to_mmd_points(points) -> np.ndarray:
    """The inverse of ``to_model_points`` (used by writers and tests)."""
    return np.asarray(points, np.float64) / MMD_UNIT_METRES


def to_model_quaternion(xyzw) -> np.ndarray:
    """A VMD/PMX quaternion (x, y, z, w) -> ours (w, x, y, z), same rotation."""
    q = np.asarray(xyzw, np.float64)
    return q[..., [3, 0, 1, 2]]
