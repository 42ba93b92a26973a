"""Secondary motion for MMD models: the bones PMX hands to physics, moved by damped spring chains.

PMX marks physics-driven bones with rigid bodies in mode 1 (physics) or 2
(physics, bone keeps its place): hair, skirts, ribbons. We do not run a
rigid-body engine; each run of such bones becomes a damped spring chain
(``conr.render3d.springs``) hanging from the first bone above it that is not
physics-driven (its *anchor*), pulled back towards the bone's rest
direction, dragged by gravity, kept out of the body by a few capsules made
from the body's own rigid bodies (mode 0, on bones physics does not move).
Chains on the head swing like the bundled dances' twin tails, the others
(skirts, ribbons) like their skirt (the same settings, ``conr.render3d.springs``).
Branches (a chain hanging from a simulated bone) are simulated after the
chain they hang from, level by level, in the same frame. Motion keys on
physics-driven bones are ignored, as MMD does.

Not modelled: joints (their limits and springs), masses, per-body damping
and friction; collisions between physics bodies. PMD rigid bodies are read
into the same structure and simulated alike. A capsule that encloses a chain's moving
rest joints (its root may sit inside, as hair roots sit in the head), or
whose group every physics body ignores, is left out, so a chain never
starts inside the body.

The simulation steps through the frames it is given, at most a 30th of a
second at a time, starting from the first frame's pose after letting the
chains settle there for ``SETTLE_SECONDS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..render3d.springs import HAIR_SPRINGS, SKIRT_SPRINGS, SpringChain, SpringSettings, SpringSolver
from .axes import to_model_points
from .pmx import PmxModel
from .posing import below_marked

log = logging.getLogger(__name__)

#: MMD's standard name of the head bone: chains hanging from it (or below it) are hair.
HEAD = "頭"
#: Physics modes of PMX rigid bodies that move their bone.
SIMULATED_MODES = (1, 2)
#: The chains settle this long (seconds) in the first frame's pose before the first frame is recorded.
SETTLE_SECONDS = 4.0
#: Step of the settling (seconds): coarser than the frames' (stable for the dances' spring settings), half the work.
SETTLE_STEP = 1.0 / 15.0
#: Longest step of the simulation (seconds); larger gaps between frames are walked in such steps ...
MAX_STEP = 1.0 / 30.0
#: ... up to this many; beyond it the chains start afresh (settled), as after a cut.
MAX_STEPS_PER_FRAME = 300
#: At most this many body capsules (the largest).
MAX_CAPSULES = 64
#: Real chains have a few to a few dozen bones, models a few hundred physics bones; a crafted file gets no more
#: (bones past these follow their parent rigidly), so a frame's work stays bounded.
MAX_CHAIN_BONES = 64
MAX_SIMULATED_BONES = 2048
#: A capsule closer than this (metres) to a chain's rest joint is left out.
CLEARANCE = 0.01


def _euler_yxz(rotation) -> np.ndarray:
    """R = Ry Rx Rz (MMD applies z, then x, then y), standard right-hand formulas."""
    x, y, z = rotation
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return ry @ rx @ rz


def _capsule(body) -> tuple[np.ndarray, float]:
    """(2, 3) end points (metres, bind pose) and radius of a rigid body's shape as a capsule."""
    centre = to_model_points(body.position)
    size = to_model_points(np.abs(body.size))
    rotation = _euler_yxz(body.rotation)
    if body.shape == 0:  # sphere
        return np.stack([centre, centre]), float(size[0])
    if body.shape == 2:  # capsule along its own y
        half = rotation[:, 1] * size[1] / 2
        return np.stack([centre - half, centre + half]), float(size[0])
    long = int(np.argmax(size))  # box: a capsule along its longest axis, as thick as its next-largest half extent
    radius = float(np.sort(size)[1])
    half = rotation[:, long] * max(float(size[long]) - radius, 0.0)
    return np.stack([centre - half, centre + half]), radius


def _settings(points: np.ndarray, on_head: bool, has_head: bool) -> SpringSettings:
    """The hair springs for chains on the head (hair), the skirt springs for the others (skirts, ribbons).

    A model without the standard head bone: chains whose rest direction is
    within 30 degrees of straight down are taken for hair.
    """
    if not has_head:
        direction = points[-1] - points[0]
        on_head = direction[1] < -np.cos(np.radians(30)) * np.linalg.norm(direction)
    return HAIR_SPRINGS if on_head else SKIRT_SPRINGS


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    axis = b - a
    t = np.clip((points - a) @ axis / max(float(axis @ axis), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * axis), axis=1)


@dataclass
class ChainBones:
    """One spring chain's bones: ``bones[i]`` follows segment i; ``copy`` (if any) turns with the last segment."""

    bones: list[int]
    copy: int | None
    anchor: int  # the bone it hangs from


class PhysicsRig:
    """What to simulate for a model: chains of physics bones by level, body capsules, bones that follow."""

    def __init__(self, model: PmxModel, heads: np.ndarray, parents: np.ndarray):
        self.heads, self.parents = heads, parents
        head = model.bone_index.get(HEAD)
        on_head = below_marked(parents, {head})[0] if head is not None else np.zeros(len(parents), bool)
        if head is not None:
            on_head[head] = True
        simulated = {b.bone for b in model.rigid_bodies if b.mode in SIMULATED_MODES and 0 <= b.bone < len(model.bones)}
        children: dict[int, list[int]] = {}
        for i, p in enumerate(parents):
            children.setdefault(int(p), []).append(i)
        # Chains: a run of simulated bones, each continuing to its first simulated child; other children start new chains.
        starts = sorted(b for b in simulated if parents[b] >= 0 and int(parents[b]) not in simulated)
        self.levels: list[list[ChainBones]] = []
        level_of: dict[int, int] = {}
        frontier, seen = [(b, int(parents[b]), 0) for b in starts], set()
        while frontier:
            bone, anchor, level = frontier.pop(0)
            if bone in seen:
                continue
            run = [bone]
            seen.add(bone)
            while len(run) < MAX_CHAIN_BONES:
                following = [c for c in children.get(run[-1], []) if c in simulated and c not in seen]
                if not following:
                    break
                for other in following[1:]:
                    frontier.append((other, run[-1], level + 1))
                run.append(following[0])
                seen.add(following[0])
            if len(run) == MAX_CHAIN_BONES:  # a longer run goes on as a chain hanging from this one
                frontier += [
                    (c, run[-1], level + 1) for c in children.get(run[-1], []) if c in simulated and c not in seen
                ]
            chain = self._chain(model, run, anchor)
            if chain is None:
                continue
            if len(level_of) + len(run) > MAX_SIMULATED_BONES:
                log.warning(
                    "%s: over %d physics bones; the others follow their parents rigidly",
                    model.source,
                    MAX_SIMULATED_BONES,
                )
                break
            while len(self.levels) <= level:
                self.levels.append([])
            bones, points = chain
            settings = _settings(points, bool(on_head[anchor]), head is not None)
            self.levels[level].append(
                (bones, SpringChain(points, len(self.levels[level]), settings))
            )  # anchors are given per chain
            for b in bones.bones + ([bones.copy] if bones.copy is not None else []):
                level_of[b] = level
        self.levels = [level for level in self.levels if level]
        self.simulated = set(level_of)
        # Other bones below simulated ones keep their place relative to their parent.
        under, depth = below_marked(parents, self.simulated)
        below = under & ~np.isin(np.arange(len(parents)), list(self.simulated))
        self.followers = sorted(np.flatnonzero(below).tolist(), key=lambda i: depth[i])
        self.capsules, self.radii, self.capsule_bones = self._capsules(model)

    def _chain(self, model, run: list[int], anchor: int) -> tuple[ChainBones, np.ndarray] | None:
        """The bones of a run and its rest joints (heads, then the last bone's tail when it has one)."""
        points = [self.heads[b] for b in run]
        tail = model.bones[run[-1]].tail
        end = None
        if isinstance(tail, int) and 0 <= tail < len(self.heads):
            end = self.heads[tail]
        elif isinstance(tail, tuple):
            end = self.heads[run[-1]] + to_model_points(tail)
        copy = None
        if end is not None and np.linalg.norm(end - points[-1]) > 1e-6:
            points.append(end)
        elif len(run) > 1:
            copy = run[-1]
            run = run[:-1]
        else:
            return None  # one bone and nowhere it points: it follows its parent rigidly
        points = np.array(points)
        if np.any(np.linalg.norm(np.diff(points, axis=0), axis=1) < 1e-6):
            return None
        return ChainBones(run, copy, anchor), points

    def _capsules(self, model):
        groups_hit = 0
        for body in model.rigid_bodies:
            if body.mode in SIMULATED_MODES:
                groups_hit |= ~body.mask & 0xFFFF
        rest_joints = [
            c[1].points[1:] for level in self.levels for c in level
        ]  # a chain's root is fixed: it may sit inside
        joints = np.concatenate(rest_joints) if rest_joints else np.zeros((0, 3))
        found = []
        for body in model.rigid_bodies:
            if body.mode != 0 or not 0 <= body.bone < len(self.heads) or body.bone in self.simulated:
                continue
            if not groups_hit >> body.group & 1:
                continue
            ends, radius = _capsule(body)
            if radius <= 0 or (len(joints) and _segment_distance(joints, ends[0], ends[1]).min() < radius + CLEARANCE):
                continue
            found.append((radius, ends, body.bone))
        found = sorted(found, key=lambda f: -f[0])[:MAX_CAPSULES]
        return (
            np.array([f[1] for f in found]).reshape(-1, 2, 3),
            np.array([f[0] for f in found]),
            np.array([f[2] for f in found], np.int64),
        )

    def __bool__(self) -> bool:
        return bool(self.levels)

    @property
    def bone_count(self) -> int:
        return len(self.simulated)

    @property
    def chain_count(self) -> int:
        return sum(len(level) for level in self.levels)

    def run(self) -> PhysicsRun:
        return PhysicsRun(self)


def _skinning(world: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """(B, 4, 4) maps from bind-pose points to posed ones (bind frames carry no rotation)."""
    out = world.copy()
    out[:, :3, 3] = world[:, :3, 3] - np.einsum("bij,bj->bi", world[:, :3, :3], heads)
    return out


class PhysicsRun:
    """One pass through a dance: feed each frame's bone transforms in order, get them back with physics applied."""

    def __init__(self, rig: PhysicsRig):
        self.rig = rig
        self.solvers = [SpringSolver([c for _, c in level]) for level in rig.levels]
        self.time: float | None = None
        self.last: list[
            tuple[np.ndarray, np.ndarray | None]
        ] = []  # per level: anchors (C, 4, 4) and capsules at the last time

    def _anchors(self, world: np.ndarray, level: int) -> np.ndarray:
        bones = [chain.anchor for chain, _ in self.rig.levels[level]]
        return _skinning(world[bones], self.rig.heads[bones])

    def _capsules(self, world: np.ndarray) -> np.ndarray | None:
        if not len(self.rig.radii):
            return None
        skin = _skinning(world[self.rig.capsule_bones], self.rig.heads[self.rig.capsule_bones])
        return np.einsum("kij,kej->kei", skin[:, :3, :3], self.rig.capsules) + skin[:, None, :3, 3]

    def step(self, world: np.ndarray, time: float) -> np.ndarray:
        """This frame's world transforms (B, 4, 4) with the physics bones (and bones below them) moved; ``time`` in seconds."""
        world = np.array(world, np.float64)
        animated = world.copy()
        capsules = self._capsules(world)
        gap = None if self.time is None else time - self.time
        fresh = gap is None or gap <= 0 or gap > MAX_STEPS_PER_FRAME * MAX_STEP
        for level, solver in enumerate(self.solvers):
            anchors = self._anchors(world, level)
            if fresh:
                solver.reset(anchors)
                for _ in range(int(round(SETTLE_SECONDS / SETTLE_STEP))):
                    solver.step(anchors, anchors, SETTLE_STEP, capsules, capsules, self.rig.radii)
            else:
                before, caps_before = self.last[level]
                steps = max(1, int(np.ceil(gap / MAX_STEP - 1e-9)))
                for k in range(steps):
                    w0, w1 = k / steps, (k + 1) / steps
                    a0, a1 = (1 - w0) * before + w0 * anchors, (1 - w1) * before + w1 * anchors
                    c0 = c1 = None
                    if capsules is not None:
                        c0, c1 = (1 - w0) * caps_before + w0 * capsules, (1 - w1) * caps_before + w1 * capsules
                    solver.step(a0, a1, gap / steps, c0, c1, self.rig.radii)
            if len(self.last) <= level:
                self.last.append((anchors, capsules))
            else:
                self.last[level] = (anchors, capsules)
            self._apply(world, level, solver, anchors)
        for bone in self.rig.followers:  # keep their place relative to their parent as animated
            parent = int(self.rig.parents[bone])
            world[bone] = world[parent] @ np.linalg.solve(animated[parent], animated[bone])
        self.time = time
        return world

    def _apply(self, world: np.ndarray, level: int, solver: SpringSolver, anchors: np.ndarray) -> None:
        rotations = solver.rotations(solver.positions, anchors)  # (C, N, 3, 3)
        for c, (chain, spring) in enumerate(self.rig.levels[level]):
            root = anchors[c, :3, :3] @ spring.points[0] + anchors[c, :3, 3]
            heads = [root] + [solver.positions[c, i] for i in range(len(chain.bones) - 1)]
            for i, bone in enumerate(chain.bones):
                world[bone, :3, :3] = rotations[c, i]
                world[bone, :3, 3] = heads[i]
            if chain.copy is not None:
                last = len(chain.bones) - 1
                world[chain.copy, :3, :3] = rotations[c, last]
                world[chain.copy, :3, 3] = solver.positions[c, last]
