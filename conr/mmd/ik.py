"""CCD inverse kinematics for MMD IK chains, with angle limits.

MMD dances move the feet with IK bones: each chain (typically knee, then
thigh) is turned so its target bone (the ankle) reaches the IK bone. We use
cyclic coordinate descent: for each link from the target's end upwards,
turn the link so the target points at the goal, a step at most the chain's
unit angle; repeat up to the chain's loop count, stopping once the target
is within ``TOLERANCE`` or an iteration no longer brings it closer.

Links whose limits allow turning about one axis only (knees: x, -180 to
-0.5 degrees) are hinges and are solved exactly rather than stepped:

- a hinge with a link above it (the knee below the thigh) takes the angle
  that puts the target at the goal's distance from that link's joint, so
  the link above can then swing the target onto the goal. Plain CCD stalls
  on a straight knee (turning it cannot bring a target that is straight
  ahead of the joint any closer), which this avoids;
- a hinge at the top of a chain takes the angle that points the target
  at the goal.

Other limited links are clamped as Euler angles (R = Rz Ry Rx, radians: ``conr.render3d.quaternions``).
A hinge's rotation is replaced by its twist about the axis (any swing the
motion gave it is dropped), as the limits demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..render3d.quaternions import axis_angle, from_euler, multiply, to_euler, to_matrix

#: Targets closer than this to the goal (metres) are done.
TOLERANCE = 1e-5
#: An iteration bringing the target less than this much closer (metres) ends the solve: it will not get there.
STALL = 1e-7
#: A limit range narrower than this (radians) counts as "this axis may not turn".
FIXED_AXIS_RANGE = 1e-6


class ChainState(Protocol):
    """What the solver needs of a pose being built (``conr.mmd.posing.FrameState``)."""

    world: np.ndarray  # (B, 4, 4)
    rotation: np.ndarray  # (B, 4) local rotations (w, x, y, z)
    parent: np.ndarray

    def set_rotation(self, bone: int, q: np.ndarray) -> None: ...

    def refresh(self, bones: np.ndarray) -> None: ...


@dataclass(frozen=True)
class Link:
    bone: int
    hinge: int | None = None  # 0, 1, 2: the one axis a hinge turns about
    lower: np.ndarray | None = None  # Euler limits (x, y, z), radians
    upper: np.ndarray | None = None


@dataclass(frozen=True)
class Chain:
    """A prepared IK chain: only links that move the target, and the bones to refresh."""

    ik_bone: int
    target: int
    loops: int
    unit_angle: float
    links: tuple[Link, ...]
    paths: tuple[np.ndarray, ...]  # per link: the bones from it down to the target, parents first
    after: np.ndarray  # other descendants of the top link, parents first, refreshed once solved


def hinge_axis(lower, upper) -> int | None:
    """The single axis the limits let turn, or None when they allow more (or fewer) than one."""
    lower, upper = np.asarray(lower, np.float64), np.asarray(upper, np.float64)
    free = np.abs(upper - lower) > FIXED_AXIS_RANGE
    fixed_at_zero = ~free & (np.abs(lower) < FIXED_AXIS_RANGE) & (np.abs(upper) < FIXED_AXIS_RANGE)
    if free.sum() == 1 and fixed_at_zero.sum() == 2:
        return int(np.flatnonzero(free)[0])
    return None


def twist_angle(q: np.ndarray, axis: np.ndarray) -> float:
    """The angle (radians, in (-pi, pi]) of the part of rotation ``q`` about ``axis``."""
    angle = 2.0 * math.atan2(float(np.dot(q[1:], axis)), float(q[0]))
    return _wrap(angle)


def _wrap(angle: float) -> float:
    return math.atan2(math.sin(angle), math.cos(angle))


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else None


def clamp_angle(angle: float, lower: float, upper: float) -> float:
    """``angle`` if within [lower, upper], else the bound nearest to it around the circle."""
    if lower <= angle <= upper:
        return angle
    for wrapped in (angle - 2 * math.pi, angle + 2 * math.pi):
        if lower <= wrapped <= upper:
            return wrapped
    gap = lambda bound: abs(_wrap(angle - bound))  # noqa: E731
    return lower if gap(lower) <= gap(upper) else upper


def hinge_align(
    own: np.ndarray, goal: np.ndarray, axis: np.ndarray, lower: float, upper: float, current: float
) -> float:
    """Hinge angle pointing ``own`` (the target in the link's unrotated frame) at ``goal`` (parent frame)."""
    p = _unit(own - np.dot(own, axis) * axis)
    g = _unit(goal - np.dot(goal, axis) * axis)
    if p is None or g is None:
        return clamp_angle(current, lower, upper)
    best = math.atan2(float(np.dot(axis, np.cross(p, g))), float(np.dot(p, g)))
    return clamp_angle(best, lower, upper)


def hinge_reach(
    own: np.ndarray, upper_joint: np.ndarray, axis: np.ndarray, reach: float, lower: float, upper: float, current: float
) -> float:
    """Hinge angle putting the target at distance ``reach`` from ``upper_joint`` (both relative to the hinge).

    The squared distance is C - 2 (A cos a + B sin a) along the circle the
    target sweeps; solve it for ``reach``, keep solutions within the limits
    (and the limits themselves), and take the best, the nearest on ties.
    """
    au, av = float(np.dot(axis, upper_joint)), float(np.dot(axis, own))
    a = float(np.dot(upper_joint, own)) - au * av
    b = float(np.dot(upper_joint, np.cross(axis, own)))
    c = float(np.dot(upper_joint, upper_joint) + np.dot(own, own)) - 2.0 * au * av
    radius = math.hypot(a, b)
    if radius < 1e-12:
        return clamp_angle(current, lower, upper)
    phase = math.atan2(b, a)
    spread = math.acos(max(-1.0, min(1.0, (c - reach * reach) / (2.0 * radius))))
    candidates = [clamp_angle(_wrap(phase + spread), lower, upper), clamp_angle(_wrap(phase - spread), lower, upper)]
    error = lambda angle: abs(c - 2.0 * radius * math.cos(angle - phase) - reach * reach)  # noqa: E731
    return min(candidates, key=lambda angle: (round(error(angle), 12), abs(_wrap(angle - current))))


def solve_chain(state: ChainState, chain: Chain) -> int:
    """Move ``chain``'s links in ``state`` so its target reaches the IK bone; returns the iterations used."""
    goal = state.world[chain.ik_bone, :3, 3].copy()
    unit_angle = chain.unit_angle if chain.unit_angle > 0 and math.isfinite(chain.unit_angle) else math.pi
    iterations, previous = 0, math.inf
    for iterations in range(1, chain.loops + 1):
        distance = float(np.linalg.norm(state.world[chain.target, :3, 3] - goal))
        if distance < TOLERANCE or previous - distance < STALL:  # there, or as close as it gets (out of reach)
            iterations -= 1
            break
        previous = distance
        for k, link in enumerate(chain.links):
            effector = state.world[chain.target, :3, 3]
            if np.linalg.norm(effector - goal) < TOLERANCE:
                break
            joint = state.world[link.bone, :3, 3]
            parent = state.parent[link.bone]
            basis = state.world[parent, :3, :3] if parent >= 0 else np.eye(3)
            to_effector = basis.T @ (effector - joint)
            to_goal = basis.T @ (goal - joint)
            q = state.rotation[link.bone]
            if link.hinge is not None:
                axis = np.eye(3)[link.hinge]
                low, high = float(link.lower[link.hinge]), float(link.upper[link.hinge])
                own = to_matrix(q).T @ to_effector
                current = twist_angle(q, axis)
                if k + 1 < len(chain.links):
                    upper_joint = basis.T @ (state.world[chain.links[k + 1].bone, :3, 3] - joint)
                    reach = float(np.linalg.norm(goal - state.world[chain.links[k + 1].bone, :3, 3]))
                    angle = hinge_reach(own, upper_joint, axis, reach, low, high, current)
                else:
                    angle = hinge_align(own, to_goal, axis, low, high, current)
                new = axis_angle(axis, angle)
            else:
                e, g = _unit(to_effector), _unit(to_goal)
                if e is None or g is None:
                    continue
                angle = math.acos(max(-1.0, min(1.0, float(np.dot(e, g)))))
                if angle < 1e-9:
                    continue
                turn = _unit(np.cross(e, g))
                if turn is None:  # pointing straight away: any perpendicular axis will do
                    turn = _unit(np.cross(e, np.eye(3)[int(np.argmin(np.abs(e)))]))
                new = multiply(axis_angle(turn, min(angle, unit_angle)), q)
                if link.lower is not None:
                    new = from_euler(np.clip(to_euler(new), link.lower, link.upper))
            state.set_rotation(link.bone, new)
            state.refresh(chain.paths[k])
    state.refresh(chain.after)
    return iterations


def prepare_chain(
    ik_bone: int, target: int, loops: int, unit_angle: float, links, parents: np.ndarray, children: list[list[int]]
) -> Chain | None:
    """Keep the links that are ancestors of ``target`` (others cannot move it); None if none are."""
    ancestors, j, guard = [], int(target), 0
    while j >= 0 and guard <= len(
        parents
    ):  # the hierarchy is acyclic (checked on reading); the guard is belt and braces
        ancestors.append(j)
        j, guard = int(parents[j]), guard + 1
    depth = {bone: len(ancestors) - 1 - i for i, bone in enumerate(ancestors)}  # 0 at the root
    kept = [link for link in links if link.bone in depth and link.bone != target]
    if not kept:
        return None
    top = min(kept, key=lambda link: depth[link.bone]).bone
    path = np.array(ancestors[: ancestors.index(top) + 1][::-1], np.int64)  # top link ... target
    paths = tuple(path[int(np.flatnonzero(path == link.bone)[0]) :] for link in kept)
    on_path = set(path.tolist())
    after, frontier = [], [top]
    while frontier:  # breadth first: parents before children
        frontier = [c for bone in frontier for c in children[bone]]
        after.extend(c for c in frontier if c not in on_path)
    return Chain(ik_bone, int(target), int(loops), float(unit_angle), tuple(kept), paths, np.array(after, np.int64))
