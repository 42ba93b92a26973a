"""Dances as keyframes: a looping sequence of poses, interpolated with a quaternion spline.

A ``Motion`` holds keys at times within one loop; sampling wraps around, so
the last frame leads smoothly back into the first. Between keys every joint
follows Shoemake's squad spline (smooth through keys, shortest arcs) and the
hips offset a periodic Catmull-Rom spline.

Keys are written by hand in ``conr.dances.motions``; ``pose_key`` lets them
say "left hand up and forward" or "feet planted here" and turns that into
joint rotations (aiming bones at directions, a two-bone leg solver).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from . import quaternions as quat
from .posing import Pose
from .skeleton import Skeleton

SKELETON = Skeleton()
Quaternion = tuple[float, float, float, float]


@dataclass(frozen=True)
class Key:
    """One keyframe: local joint rotations (unlisted joints rest) and the hips offset."""

    time: float
    rotations: dict[str, Quaternion]
    root: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Motion:
    """A looping dance: keys at times in [0, seconds), sampled at any time (wrapping)."""

    name: str
    title: str
    description: str
    seconds: float
    keys: tuple[Key, ...]
    fps: int = 30
    _spline: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        times = [k.time for k in self.keys]
        if len(self.keys) < 2 or times != sorted(times) or times[0] < 0 or times[-1] >= self.seconds:
            raise ValueError(f"{self.name}: key times must increase within [0, {self.seconds})")
        for key in self.keys:
            unknown = set(key.rotations) - set(SKELETON.names)
            if unknown:
                raise ValueError(f"{self.name}: unknown bones {sorted(unknown)}")

    @property
    def frame_count(self) -> int:
        return int(round(self.seconds * self.fps))

    def frame_times(self, fps: float | None = None) -> np.ndarray:
        """Times of one loop's frames at ``fps``: 0, 1/fps, ... (the loop's end is the next loop's frame 0)."""
        fps = fps or self.fps
        return np.arange(int(round(self.seconds * fps))) / fps

    def _prepare(self):
        if not self._spline:
            keys = np.stack([[key.rotations.get(n, quat.IDENTITY) for n in SKELETON.names] for key in self.keys])  # (K, B, 4)
            keys = np.stack([quat.same_hemisphere(keys[:, b]) for b in range(keys.shape[1])], axis=1)
            controls = np.stack([quat.squad_controls(keys[:, b]) for b in range(keys.shape[1])], axis=1)
            self._spline.update(
                keys=keys,
                controls=controls,
                times=np.array([k.time for k in self.keys]),
                roots=np.array([k.root for k in self.keys], np.float64),
            )
        return self._spline

    def sample(self, t: float) -> Pose:
        """The pose at time ``t`` seconds (taken modulo the loop length)."""
        s = self._prepare()
        times, count = s["times"], len(self.keys)
        t = float(t) % self.seconds
        i = int(np.searchsorted(times, t, side="right") - 1) % count
        j = (i + 1) % count
        start, end = times[i], times[j] + (self.seconds if j <= i else 0.0)
        if t < start:
            t += self.seconds
        h = (t - start) / (end - start)
        rotations = quat.squad(s["keys"][i], s["keys"][j], s["controls"][i], s["controls"][j], h)
        # Periodic Catmull-Rom (uniform parameter per segment) for the hips offset.
        roots = s["roots"]
        p0, p1, p2, p3 = roots[(i - 1) % count], roots[i], roots[j], roots[(j + 1) % count]
        root = 0.5 * (2 * p1 + (p2 - p0) * h + (2 * p0 - 5 * p1 + 4 * p2 - p3) * h**2 + (3 * p1 - p0 - 3 * p2 + p3) * h**3)
        return Pose(rotations, root)

    @property
    def fingerprint(self) -> str:
        """Short hash of the keys (a cache key part): edits to a dance invalidate its cached frames."""
        data = [self.seconds, [[k.time, sorted((n, np.round(q, 6).tolist()) for n, q in k.rotations.items()), k.root] for k in self.keys]]
        return hashlib.sha1(json.dumps(data).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- authoring helpers


def euler(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> Quaternion:
    """Rotation in degrees about x (left), then y (up), then z (back), model axes."""
    return tuple(quat.from_euler((x, y, z)).tolist())  # type: ignore[return-value]


def arc(a, b) -> np.ndarray:
    """The shortest rotation taking direction ``a`` to direction ``b``."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a)
    b = np.asarray(b, np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    if np.linalg.norm(axis) < 1e-9:
        return quat.IDENTITY.copy()
    return quat.axis_angle(axis, np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def _rest_direction(bone: str) -> np.ndarray:
    i = SKELETON.index[bone]
    d = SKELETON.tails[i] - SKELETON.heads[i]
    return d / np.linalg.norm(d)


def _rotate(q, v) -> np.ndarray:
    return quat.to_matrix(q) @ np.asarray(v, np.float64)


def mirror_direction(d) -> tuple[float, float, float]:
    """The same direction for the other side of the body (x flipped)."""
    return (-d[0], d[1], d[2])


def _leg_solve(hip: np.ndarray, ankle: np.ndarray, thigh: float, shin: float, forward) -> tuple[np.ndarray, np.ndarray]:
    """World directions of thigh and shin reaching from ``hip`` to ``ankle``, the knee bending towards ``forward``."""
    reach = ankle - hip
    distance = np.linalg.norm(reach)
    distance = min(distance, (thigh + shin) * 0.9999)
    down = reach / np.linalg.norm(reach)
    side = np.asarray(forward, np.float64) - (np.asarray(forward, np.float64) @ down) * down
    side /= np.linalg.norm(side)
    # Law of cosines: angle at the hip between the hip-ankle line and the thigh.
    cos_hip = (thigh**2 + distance**2 - shin**2) / (2 * thigh * distance)
    angle = np.arccos(np.clip(cos_hip, -1.0, 1.0))
    knee = hip + thigh * (np.cos(angle) * down + np.sin(angle) * side)
    end = hip + down * distance
    return (knee - hip) / thigh, (end - knee) / np.linalg.norm(end - knee)


def pose_key(
    time: float,
    root=(0.0, 0.0, 0.0),
    arms: dict[str, tuple] | None = None,
    hands: dict[str, tuple] | None = None,
    feet: dict[str, tuple] | None = None,
    **bones,
) -> Key:
    """Build a key from intentions rather than raw joint angles.

    Args:
        time: seconds into the loop.
        root: hips offset from the rest position (model units; 1.6 = height).
        **bones: joints as Euler degrees (x, y, z), e.g. ``head=(0, 10, 0)``,
            ``hand_L=(...)`` (a trailing ``_L``/``_R`` means ``.L``/``.R``).
            Set first: arms, hands and feet below are solved given them.
        arms: per side ("L"/"R"), (upper arm direction, forearm direction),
            world directions in model axes.
        hands: per side, the wrist position (model units) to reach, the elbow
            bending outwards and down.
        feet: per side, the ankle position to keep the foot at, flat on the
            ground; the knee bends forwards.
    """
    rotations: dict[str, np.ndarray] = {}
    for name, angles in bones.items():
        bone = name[:-2] + "." + name[-1] if name.endswith(("_L", "_R")) else name
        rotations[bone] = quat.from_euler(angles)

    def frames() -> np.ndarray:
        table = np.stack([rotations.get(n, quat.IDENTITY) for n in SKELETON.names])
        return SKELETON.world_transforms(table, root)

    def world_rotation(bone: str) -> np.ndarray:
        q = quat.IDENTITY.copy()
        chain, i = [], SKELETON.index[bone]
        while i >= 0:
            chain.append(SKELETON.names[i])
            i = SKELETON.parents[i]
        for name in reversed(chain):
            q = quat.multiply(q, rotations.get(name, quat.IDENTITY))
        return q

    def aim(bone: str, direction) -> None:
        parent = SKELETON.names[SKELETON.parents[SKELETON.index[bone]]]
        local_target = _rotate(quat.conjugate(world_rotation(parent)), direction)
        rotations[bone] = arc(_rest_direction(bone), local_target)

    def bone_length(bone: str) -> float:
        i = SKELETON.index[bone]
        return float(np.linalg.norm(SKELETON.tails[i] - SKELETON.heads[i]))

    for side, (upper, fore) in (arms or {}).items():
        aim(f"upper_arm.{side}", upper)
        aim(f"forearm.{side}", fore)

    for side, wrist in (hands or {}).items():
        shoulder = frames()[SKELETON.index[f"upper_arm.{side}"], :3, 3]
        sign = 1.0 if side == "L" else -1.0
        upper, fore = _leg_solve(shoulder, np.asarray(wrist, np.float64), bone_length(f"upper_arm.{side}"),
                                 bone_length(f"forearm.{side}"), (sign, -0.6, 0.4))  # fmt: skip
        aim(f"upper_arm.{side}", upper)
        aim(f"forearm.{side}", fore)

    for side, ankle in (feet or {}).items():
        hip = frames()[SKELETON.index[f"thigh.{side}"], :3, 3]
        facing = _rotate(world_rotation("hips"), (0.0, 0.0, -1.0))
        thigh_dir, shin_dir = _leg_solve(hip, np.asarray(ankle, np.float64), bone_length(f"thigh.{side}"),
                                         bone_length(f"shin.{side}"), facing)  # fmt: skip
        aim(f"thigh.{side}", thigh_dir)
        aim(f"shin.{side}", shin_dir)
        # Keep the foot flat: its world rotation is only the hips' turn about the vertical.
        yaw = np.degrees(np.arctan2(-facing[0], -facing[2]))
        rotations[f"foot.{side}"] = quat.multiply(quat.conjugate(world_rotation(f"shin.{side}")), quat.axis_angle((0, 1, 0), yaw))

    return Key(float(time), {n: tuple(np.round(q, 9).tolist()) for n, q in rotations.items()}, tuple(float(v) for v in root))


def ankle_rest(side: str) -> tuple[float, float, float]:
    """Where the ankle is in the rest pose: feet planted there stand still."""
    return tuple(SKELETON.heads[SKELETON.index[f"foot.{side}"]].tolist())  # type: ignore[return-value]
