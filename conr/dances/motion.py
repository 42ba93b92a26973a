"""Dances as keyframes: a looping sequence of poses, interpolated with a quaternion spline, plus secondary motion.

A ``Motion`` holds keys at times within one loop; sampling wraps around, so
the last frame leads smoothly back into the first. Between keys every joint
follows Shoemake's squad spline (smooth through keys, shortest arcs; keys on
an even beat grid make it smooth in time too) and the hips offset a
periodic Hermite spline.

Feet are not interpolated as joint angles (that would slide planted feet):
keys name where each ankle is (position, turn, toe pitch), those targets are
interpolated with a spline that *holds* wherever two keys agree (a planted
foot stays exactly put, then lifts and lands with zero speed), and the legs
are solved to reach them at every sampled time.

Hair and skirt are spring chains (``springs``) driven by the keyed body:
simulated once per dance over warm-up loops, so the baked loop starts in
the steady state and repeats without a seam (``secondary``).

Keys are written by hand in ``conr.dances.motions``; ``pose_key`` lets them
say "left hand up and forward" or "feet planted here" and turns that into
joint rotations (aiming bones at directions, a two-bone leg solver).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from ..render3d import quaternions as quat
from .posing import Pose
from .secondary import bake_springs
from .skeleton import SKELETON, SPRING_CHAINS

Quaternion = tuple[float, float, float, float]
#: A foot target: ankle position (x, y, z), turn about the vertical and toe pitch (degrees; pitch > 0 lifts the toes).
FootTarget = tuple[float, float, float, float, float]


@dataclass(frozen=True)
class Key:
    """One keyframe: local joint rotations (unlisted joints rest), the hips offset, and ankle targets per side."""

    time: float
    rotations: dict[str, Quaternion]
    root: tuple[float, float, float] = (0.0, 0.0, 0.0)
    feet: dict[str, FootTarget] = field(default_factory=dict)


@dataclass(frozen=True)
class Motion:
    """A looping dance: keys at times in [0, seconds), sampled at any time (wrapping); ``bpm`` is its tempo."""

    name: str
    title: str
    description: str
    seconds: float
    keys: tuple[Key, ...]
    fps: int = 30
    bpm: float = 120.0
    springs: bool = True
    _spline: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        times = [k.time for k in self.keys]
        if len(self.keys) < 2 or times != sorted(times) or times[0] < 0 or times[-1] >= self.seconds:
            raise ValueError(f"{self.name}: key times must increase within [0, {self.seconds})")
        for key in self.keys:
            unknown = set(key.rotations) - set(SKELETON.names)
            if unknown:
                raise ValueError(f"{self.name}: unknown bones {sorted(unknown)}")
        sides = {tuple(sorted(k.feet)) for k in self.keys}
        if len(sides) > 1:
            raise ValueError(f"{self.name}: every key must place the same feet (or none)")

    @property
    def frame_count(self) -> int:
        return int(round(self.seconds * self.fps))

    def frame_times(self, fps: float | None = None) -> np.ndarray:
        """Times of one loop's frames at ``fps``: 0, 1/fps, ... (the loop's end is the next loop's frame 0)."""
        fps = fps or self.fps
        return np.arange(int(round(self.seconds * fps))) / fps

    def _prepare(self):
        if not self._spline:
            keys = np.stack(
                [[key.rotations.get(n, quat.IDENTITY) for n in SKELETON.names] for key in self.keys]
            )  # (K, B, 4)
            keys = np.stack([quat.same_hemisphere(keys[:, b]) for b in range(keys.shape[1])], axis=1)
            controls = np.stack([quat.squad_controls(keys[:, b]) for b in range(keys.shape[1])], axis=1)
            times = np.array([k.time for k in self.keys])
            self._spline.update(
                keys=keys,
                controls=controls,
                times=times,
                root=HoldSpline(times, np.array([k.root for k in self.keys], np.float64), self.seconds),
                feet={
                    side: HoldSpline(
                        times,
                        np.array([k.feet[side] for k in self.keys], np.float64),
                        self.seconds,
                        angle_columns=(3,),
                        ground=GROUND,
                    )
                    for side in self.keys[0].feet
                },
            )
        return self._spline

    def keyed(self, t: float) -> Pose:
        """The pose at time ``t`` from the keys alone (legs solved to the feet targets), without hair and skirt springs."""
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
        root = s["root"](t)
        if s["feet"]:
            rotations = solve_legs(rotations, root, {side: spline(t) for side, spline in s["feet"].items()})
        return Pose(rotations, root)

    def sample(self, t: float) -> Pose:
        """The pose at time ``t`` seconds (taken modulo the loop length), hair and skirt included."""
        pose = self.keyed(t)
        if not self.springs or not SPRING_CHAINS:
            return pose
        s = self._prepare()
        if "secondary" not in s:
            s["secondary"] = bake_springs(self.keyed, self.seconds, self.fps)
        bones, table = s["secondary"]
        frames = len(table)
        at = (float(t) % self.seconds) * self.fps
        f0 = int(np.floor(at)) % frames
        f1 = (f0 + 1) % frames
        pose.rotations[bones] = quat.slerp(table[f0], table[f1], at - np.floor(at))
        return pose

    @property
    def fingerprint(self) -> str:
        """Short hash of the keys and spring settings (a cache key part): edits to a dance invalidate its cached frames."""
        data = [
            self.seconds,
            self.springs,
            repr(SPRING_CHAINS) if self.springs else "",
            [
                [
                    k.time,
                    sorted((n, np.round(q, 6).tolist()) for n, q in k.rotations.items()),
                    k.root,
                    sorted((side, np.round(v, 6).tolist()) for side, v in k.feet.items()),
                ]
                for k in self.keys
            ],
        ]
        return hashlib.sha1(json.dumps(data).encode()).hexdigest()[:12]


#: The ankle's height in the rest pose: a foot target at this height is on the floor.
GROUND = float(SKELETON.heads[SKELETON.index["foot.L"], 1])
#: A foot moved further than this between two keys on the floor steps, lifting at least ``STEP_HEIGHT``.
STEP_MIN, STEP_HEIGHT = 0.01, 0.05


class HoldSpline:
    """A looping cubic Hermite spline through keyed values (K, C) that holds still wherever two neighbouring keys agree.

    Tangents are central differences in time (smooth for uneven key
    spacing), set to zero at a key equal to either neighbour: a planted
    foot stays put, then lifts and lands without a jolt. ``angle_columns``
    are degrees, unwrapped so a foot turning through 360 takes the short way.

    With ``ground`` (feet: column 1 is the ankle height) a key with the
    ankle at the ground has zero speed, and a foot that is on the ground at
    two keys but in different places *steps* between them: it eases across
    while lifting in an arc, so it never slides along the floor.
    """

    def __init__(
        self,
        times: np.ndarray,
        values: np.ndarray,
        period: float,
        angle_columns: tuple[int, ...] = (),
        ground: float | None = None,
    ):
        values = np.array(values, np.float64)
        for c in angle_columns:  # unwrap, and remember how far the loop winds
            steps = (np.diff(np.r_[values[:, c], values[0, c]]) + 180.0) % 360.0 - 180.0
            values[:, c] = values[0, c] + np.r_[0.0, np.cumsum(steps[:-1])]
        self.wind = np.zeros(values.shape[1])
        for c in angle_columns:
            self.wind[c] = values[-1, c] + ((values[0, c] - values[-1, c] + 180.0) % 360.0 - 180.0) - values[0, c]
        self.times, self.values, self.period = np.asarray(times, np.float64), values, float(period)
        count = len(values)
        ext_t = np.r_[self.times[-1] - period, self.times, self.times[0] + period]
        ext_v = np.vstack([values[-1] - self.wind, values, values[0] + self.wind])
        self.tangents = np.zeros_like(values)
        for k in range(count):
            prev, here, nxt = ext_v[k], ext_v[k + 1], ext_v[k + 2]
            if np.allclose(prev, here, atol=1e-9) or np.allclose(nxt, here, atol=1e-9):
                continue
            if ground is not None and here[1] <= ground + 1e-6:
                continue
            self.tangents[k] = (nxt - prev) / (ext_t[k + 2] - ext_t[k])
        self.ground = ground

    def __call__(self, t: float) -> np.ndarray:
        times, count = self.times, len(self.times)
        t = float(t) % self.period
        i = int(np.searchsorted(times, t, side="right") - 1) % count
        j = (i + 1) % count
        start = times[i] - (self.period if t < times[i] else 0.0)
        end = times[j] + (self.period if j <= i else 0.0) - (self.period if t < times[i] else 0.0)
        p0, p1 = self.values[i], self.values[j] + (self.wind if j <= i else 0.0)
        if np.allclose(p0, p1, atol=1e-9):
            return p0.copy()
        d = end - start
        h = (t - start) / d
        if self.ground is not None and max(p0[1], p1[1]) <= self.ground + 1e-6:
            distance = float(np.linalg.norm((p1 - p0)[[0, 2]]))
            ease = h**3 * (10 - 15 * h + 6 * h * h)
            out = p0 + (p1 - p0) * ease
            if distance > STEP_MIN:
                out[1] += max(STEP_HEIGHT, 0.35 * distance) * np.sin(np.pi * h)
            return out
        h2, h3 = h * h, h * h * h
        return (
            (2 * h3 - 3 * h2 + 1) * p0
            + (h3 - 2 * h2 + h) * d * self.tangents[i]
            + (-2 * h3 + 3 * h2) * p1
            + (h3 - h2) * d * self.tangents[j]
        )


def solve_legs(rotations: np.ndarray, root, feet: dict[str, np.ndarray]) -> np.ndarray:
    """Rotations (B, 4) with thighs, shins and feet set so each ankle reaches its target (x, y, z, turn, toe pitch)."""
    rotations = np.array(rotations, np.float64)
    hips = SKELETON.index["hips"]
    hips_rotation = quat.to_matrix(rotations[hips])
    hips_at = SKELETON.heads[hips] + np.asarray(root, np.float64)
    facing = hips_rotation @ np.array([0.0, 0.0, -1.0])
    for side, target in feet.items():
        thigh, shin, foot = (SKELETON.index[f"{b}.{side}"] for b in ("thigh", "shin", "foot"))
        hip = hips_at + hips_rotation @ (SKELETON.heads[thigh] - SKELETON.heads[hips])
        ankle = np.asarray(target[:3], np.float64)
        heading = turn((0.0, 1.0, 0.0), target[3])
        knee_towards = facing  # knees point where the hips face, as MMD's leg IK bends them
        thigh_dir, shin_dir = _leg_solve(hip, ankle, _length(thigh), _length(shin), knee_towards)
        # The knee is a hinge: thigh and shin share their x axis, square to the leg's plane (as in MMD's leg IK).
        down = ankle - hip
        down /= np.linalg.norm(down)
        towards = knee_towards - (knee_towards @ down) * down
        hinge = np.cross(down, towards / np.linalg.norm(towards))
        thigh_world = quat.from_matrix(_frame(hinge, -thigh_dir))
        shin_world = quat.from_matrix(_frame(hinge, -shin_dir))
        rotations[thigh] = quat.multiply(quat.conjugate(rotations[hips]), thigh_world)
        rotations[shin] = quat.multiply(quat.conjugate(thigh_world), shin_world)
        foot_world = quat.multiply(heading, turn((1.0, 0.0, 0.0), target[4]))
        rotations[foot] = quat.multiply(quat.conjugate(shin_world), foot_world)
    return rotations


def _frame(x_axis: np.ndarray, y_axis: np.ndarray) -> np.ndarray:
    """The rotation taking model x to ``x_axis`` and y to ``y_axis`` (made square to it)."""
    y = y_axis - (y_axis @ x_axis) * x_axis
    y /= np.linalg.norm(y)
    return np.stack([x_axis, y, np.cross(x_axis, y)], axis=1)


def _length(i: int) -> float:
    return float(np.linalg.norm(SKELETON.tails[i] - SKELETON.heads[i]))


def _rest_direction_i(i: int) -> np.ndarray:
    d = SKELETON.tails[i] - SKELETON.heads[i]
    return d / np.linalg.norm(d)


# ---------------------------------------------------------------- authoring helpers
# Dances are written by hand in degrees (bone Euler angles, foot turns and pitches, body turns); the engine takes
# radians (``conr.render3d.quaternions``). ``turn`` and ``euler`` are the only places a degree becomes a radian.


def turn(axis, degrees: float) -> np.ndarray:
    """Rotation by ``degrees`` about ``axis`` (right-hand rule, model axes), for angles authored in degrees."""
    return quat.axis_angle(axis, np.radians(float(degrees)))


def euler(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    """Rotation in degrees about x (left), then y (up), then z (back), model axes: R = Rz Ry Rx."""
    return quat.from_euler(np.radians((float(x), float(y), float(z))))


def arc(a, b) -> np.ndarray:
    """The shortest rotation taking direction ``a`` to direction ``b``."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a)
    b = np.asarray(b, np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    if np.linalg.norm(axis) < 1e-9:
        return quat.IDENTITY.copy()
    return quat.axis_angle(axis, np.arccos(np.clip(a @ b, -1.0, 1.0)))


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
        feet: per side, the ankle position (x, y, z), optionally followed by
            the foot's turn about the vertical (degrees; default: where the
            hips face) and toe pitch (degrees, > 0 lifts the toes). The legs
            are solved to these targets at every sampled time, so a foot
            keyed at the same place in two keys stays planted between them.
    """
    rotations: dict[str, np.ndarray] = {}
    for name, angles in bones.items():
        bone = name[:-2] + "." + name[-1] if name.endswith(("_L", "_R")) else name
        rotations[bone] = euler(*angles)

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
        upper, fore = _leg_solve(
            shoulder,
            np.asarray(wrist, np.float64),
            bone_length(f"upper_arm.{side}"),
            bone_length(f"forearm.{side}"),
            (sign, -0.6, 0.4),
        )
        aim(f"upper_arm.{side}", upper)
        aim(f"forearm.{side}", fore)

    targets = {}
    for side, target in (feet or {}).items():
        facing = _rotate(world_rotation("hips"), (0.0, 0.0, -1.0))
        heading = float(np.degrees(np.arctan2(-facing[0], -facing[2])))
        target = tuple(float(v) for v in target)
        targets[side] = target + (heading, 0.0)[len(target) - 3 :] if len(target) < 5 else target
    if targets:
        table = np.stack([rotations.get(n, quat.IDENTITY) for n in SKELETON.names])
        solved = solve_legs(table, root, targets)
        for side in targets:
            for bone in ("thigh", "shin", "foot"):
                rotations[f"{bone}.{side}"] = solved[SKELETON.index[f"{bone}.{side}"]]

    return Key(
        float(time),
        {n: tuple(np.round(q, 9).tolist()) for n, q in rotations.items()},
        tuple(float(v) for v in root),
        {side: tuple(round(v, 9) for v in target) for side, target in targets.items()},
    )


def ankle_rest(side: str) -> tuple[float, float, float]:
    """Where the ankle is in the rest pose: feet planted there stand still."""
    return tuple(SKELETON.heads[SKELETON.index[f"foot.{side}"]].tolist())  # type: ignore[return-value]
