"""Unit quaternions for joint rotations: construction, products, Euler angles, slerp and a looping spline.

The one convention, for our dances and imported MMD models alike:

- order (w, x, y, z), scalar first (VMD/PMX store (x, y, z, w):
  ``conr.mmd.axes.to_model_quaternion`` reorders them on reading);
- active rotations of column vectors in model axes (x = the character's
  left, y = up, z = towards its back), right-hand rule: ``to_matrix(q) @ v``;
- ``multiply(a, b)`` rotates by b first, then by a; a child bone's world
  rotation is ``multiply(parent_world, local)``;
- Euler angles are (x, y, z) applied x first, then y, then z:
  R = Rz Ry Rx;
- every angle is in radians. Dances are authored in degrees; only the
  authoring helpers of ``conr.dances.motion`` (``turn``, ``euler``) convert.

Dances are keyframed as rotations; interpolating them as quaternions (not
Euler angles) takes the shortest path between keys and never gimbal-locks.
All functions work on arrays of shape (..., 4).
"""

from __future__ import annotations

import math

import numpy as np

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def axis_angle(axis, radians: float) -> np.ndarray:
    """Rotation by ``radians`` about ``axis`` (right-hand rule in model axes; normalised here)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    half = radians / 2
    return np.concatenate([[np.cos(half)], np.sin(half) * axis])


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b: rotate by b first, then by a."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def from_euler(radians) -> np.ndarray:
    """Rotation about x, then y, then z (model axes) by angles (x, y, z) in radians: R = Rz Ry Rx."""
    rx, ry, rz = (float(a) for a in radians)
    qx = axis_angle((1, 0, 0), rx)
    qy = axis_angle((0, 1, 0), ry)
    qz = axis_angle((0, 0, 1), rz)
    return multiply(qz, multiply(qy, qx))


def to_euler(q: np.ndarray) -> np.ndarray:
    """Angles (x, y, z) in radians with R(q) = Rz Ry Rx: the inverse of ``from_euler`` (y in [-pi/2, pi/2])."""
    m = to_matrix(q)
    y = math.asin(max(-1.0, min(1.0, -m[2, 0])))
    return np.array([math.atan2(m[2, 1], m[2, 2]), y, math.atan2(m[1, 0], m[0, 0])])


def conjugate(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def normalize(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 3, 3) rotation matrices."""
    w, x, y, z = np.moveaxis(normalize(q), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def from_matrix(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions with w >= 0 (Shepperd's method, stable for any angle)."""
    m = np.asarray(m, np.float64)
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Four candidate forms; each row uses the one with the largest diagonal term (no division by a small number).
    candidates = np.stack(
        [
            np.stack(
                [1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
            ),
            np.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1 + 2 * m[..., 0, 0] - trace,
                    m[..., 0, 1] + m[..., 1, 0],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 0, 1] + m[..., 1, 0],
                    1 + 2 * m[..., 1, 1] - trace,
                    m[..., 1, 2] + m[..., 2, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 1, 2] + m[..., 2, 1],
                    1 + 2 * m[..., 2, 2] - trace,
                ],
                -1,
            ),
        ],
        -2,
    )
    pick = np.argmax(np.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1), axis=-1)
    q = np.take_along_axis(candidates, pick[..., None, None], axis=-2)[..., 0, :]
    q = normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def log(q: np.ndarray) -> np.ndarray:
    """Unit quaternion -> rotation vector / 2 (the pure-quaternion logarithm), (..., 3)."""
    q = normalize(q)
    w = np.clip(q[..., 0], -1.0, 1.0)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = np.arctan2(s, w[..., None])
    scale = np.where(s > 1e-12, angle / np.maximum(s, 1e-12), 1.0)
    return v * scale


def exp(v: np.ndarray) -> np.ndarray:
    """Inverse of ``log``: (..., 3) -> unit quaternion."""
    v = np.asarray(v, np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    scale = np.where(angle > 1e-12, np.sin(angle) / np.maximum(angle, 1e-12), 1.0)
    return np.concatenate([np.cos(angle), v * scale], axis=-1)


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical linear interpolation along the shorter arc; ``t`` broadcasts."""
    a, b = normalize(a), normalize(b)
    t = np.asarray(t, np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot)
    angle = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(angle)
    near = sin < 1e-9
    wa = np.where(near, 1.0 - t, np.sin((1.0 - t) * angle) / np.where(near, 1.0, sin))
    wb = np.where(near, t, np.sin(t * angle) / np.where(near, 1.0, sin))
    return normalize(wa * a + wb * b)


def same_hemisphere(keys: np.ndarray) -> np.ndarray:
    """Flip signs so each key is on the same side as the previous one (q and -q are one rotation)."""
    keys = np.array(keys, np.float64)
    for i in range(1, len(keys)):
        if np.dot(keys[i - 1], keys[i]) < 0:
            keys[i] = -keys[i]
    return keys


def squad_controls(keys: np.ndarray, loop: bool = True) -> np.ndarray:
    """Inner control quaternions of Shoemake's squad spline through ``keys`` (K, 4).

    With ``loop`` the neighbours wrap around, so the curve is smooth through
    the first/last key and a dance repeats without a jolt.
    """
    keys = normalize(keys)
    count = len(keys)
    controls = np.empty_like(keys)
    for i in range(count):
        q = keys[i]
        prev = keys[(i - 1) % count] if (loop or i > 0) else q
        nxt = keys[(i + 1) % count] if (loop or i < count - 1) else q
        prev = prev if np.dot(prev, q) >= 0 else -prev
        nxt = nxt if np.dot(nxt, q) >= 0 else -nxt
        inv = conjugate(q)
        tangent = -(log(multiply(inv, nxt)) + log(multiply(inv, prev))) / 4.0
        controls[i] = multiply(q, exp(tangent))
    return controls


def squad(q0, q1, s0, s1, t) -> np.ndarray:
    """One squad segment from q0 to q1 with controls s0, s1 at parameter t in [0, 1]."""
    t = np.asarray(t, np.float64)
    return slerp(slerp(q0, q1, t), slerp(s0, s1, t), 2.0 * t * (1.0 - t))
