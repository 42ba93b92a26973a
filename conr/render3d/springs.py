"""Secondary motion: damped spring chains (hair, skirt, physics bones) driven by the body, in plain numpy.

A *chain* is a run of joints ``points[0..N]`` in the rest pose. ``points[0]``
is fixed to an *anchor* (the bone the chain hangs from: the head for a twin
tail, the hips for a skirt panel, a PMX bone for an MMD physics chain); the
other N joints are particles. Each step (Verlet integration, several
substeps per frame), every particle is

- pulled towards where its bone's rest direction points, relative to its
  parent bone as it is now (an angular spring, ``stiffness``),
- pulled down by ``gravity``, slowed by ``damping`` (velocity loss per second),
- put back at its bone's length from its parent joint, and
- pushed out of a few body capsules (segments with a radius).

Bone rotations are then read off the particles: each bone turns by the
shortest arc from its rest direction (carried by its parent) to where it
points. Rest frames are assumed to have no rest rotation (true of our
skeleton and of PMX bones), so a world rotation per bone is all a skinning
step needs.

Anchors are given per frame as (4, 4) matrices mapping rest positions to
posed ones (``posed = A[:3, :3] @ rest + A[:3, 3]``, i.e. skinning
matrices). For a looping dance, ``simulate(..., loop=True)`` runs warm-up
loops first, so the recorded loop starts in the steady state, and removes
the small remaining mismatch at the seam by spreading it over the loop.

    chains = [SpringChain(points=np.array([[0, 1.5, 0.1], [0, 1.3, 0.12], [0, 1.1, 0.13]]), anchor=0)]
    result = simulate(chains, anchors, fps=30, capsules=caps, radii=r, loop=True)
    result.rotations  # (F, C, N, 3, 3) world rotations of each chain's bones
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpringSettings:
    """How a chain moves. Units: model units and seconds (our character: metres, 1.6 m tall).

    The defaults swing about once a second and settle within about two
    seconds after the body stops (damping ratio about 0.6).
    """

    stiffness: float = 40.0  # 1/s^2: pull towards the rest direction
    damping: float = 7.5  # 1/s: velocity lost per second
    gravity: tuple[float, float, float] = (0.0, -9.8, 0.0)
    radius: float = 0.01  # particles keep this far outside the capsules
    substeps: int = 4  # per frame


@dataclass(frozen=True)
class SpringChain:
    """Rest joint positions (N + 1, 3), the anchor index it hangs from, and its settings."""

    points: np.ndarray
    anchor: int
    settings: SpringSettings = SpringSettings()

    def __post_init__(self):
        points = np.asarray(self.points, np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) < 2:
            raise ValueError("a spring chain needs at least two rest points, shape (N + 1, 3)")
        if np.any(np.linalg.norm(np.diff(points, axis=0), axis=1) < 1e-9):
            raise ValueError("a spring chain's rest points must be distinct")
        object.__setattr__(self, "points", points)


#: Settings for hair (long, light, swinging) and for skirts, ribbons and the like (stiffer, settling fast), in metres:
#: our character's twin tails and skirt, and the physics chains of imported MMD models.
HAIR_SPRINGS = SpringSettings(stiffness=45.0, damping=4.5, gravity=(0.0, -9.8, 0.0), radius=0.035, substeps=2)
SKIRT_SPRINGS = SpringSettings(stiffness=160.0, damping=13.0, gravity=(0.0, -3.0, 0.0), radius=0.02, substeps=2)


@dataclass
class SpringResult:
    """Per frame: particle positions (F, C, N, 3) and bone world rotations (F, C, N, 3, 3); N is padded to the longest chain."""

    positions: np.ndarray
    rotations: np.ndarray
    lengths: np.ndarray  # (C,) bones per chain; rows past a chain's length repeat its last bone


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` for (..., 3) arrays, without its axis shuffling (this runs thousands of times per dance)."""
    return np.stack(
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
        -1,
    )


def _arc_matrices(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) shortest rotations taking unit vectors ``a`` to unit vectors ``b`` (Rodrigues)."""
    v = _cross(a, b)
    c = np.einsum("...i,...i->...", a, b)
    k = np.zeros(a.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    scale = 1.0 / np.maximum(1.0 + c, 1e-9)
    eye = np.broadcast_to(np.eye(3), k.shape)
    out = eye + k + (k @ k) * scale[..., None, None]
    # Opposite vectors: a half turn about any axis perpendicular to a.
    flipped = c < -1 + 1e-9
    if np.any(flipped):
        axis = np.cross(a[flipped], [1.0, 0.0, 0.0])
        weak = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[weak] = np.cross(a[flipped][weak], [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        out[flipped] = 2 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v))[..., None], 1e-12)


class SpringSolver:
    """Steps a set of chains together (vectorised across chains; chains shorter than the longest are padded)."""

    def __init__(self, chains: list[SpringChain]):
        if not chains:
            raise ValueError("no spring chains to simulate")
        self.chains = chains
        self.count = len(chains)
        self.bones = max(len(c.points) - 1 for c in chains)
        self.lengths = np.array([len(c.points) - 1 for c in chains])
        n, c = self.bones, self.count
        self.roots = np.array([ch.points[0] for ch in chains])  # (C, 3)
        self.valid = np.arange(n)[None, :] < self.lengths[:, None]  # (C, N)
        directions = np.zeros((c, n, 3))
        bone_lengths = np.ones((c, n))
        for i, ch in enumerate(chains):
            d = np.diff(ch.points, axis=0)
            m = len(d)
            directions[i, :m] = _unit(d)
            bone_lengths[i, :m] = np.linalg.norm(d, axis=1)
            directions[i, m:] = directions[i, m - 1]
            bone_lengths[i, m:] = 1e-6  # padding: a vanishing bone that trails the last joint
        self.rest_directions, self.bone_lengths = directions, bone_lengths
        self.anchor_ids = np.array([ch.anchor for ch in chains])
        self.stiffness = np.array([ch.settings.stiffness for ch in chains])[:, None, None]
        self.damping = np.array([ch.settings.damping for ch in chains])[:, None, None]
        self.gravity = np.array([ch.settings.gravity for ch in chains], np.float64)[:, None, :]
        self.radius = np.array([ch.settings.radius for ch in chains])
        self.substeps = max(ch.settings.substeps for ch in chains)
        self.positions = self.previous = None

    # ---------------------------------------------------------------- state

    def _chain_anchors(self, anchors: np.ndarray) -> np.ndarray:
        anchors = np.asarray(anchors, np.float64)
        if anchors.ndim != 3 or anchors.shape[1:] != (4, 4):
            raise ValueError("anchors must be (A, 4, 4) matrices")
        if self.anchor_ids.max() >= len(anchors):
            raise ValueError(
                f"a chain hangs from anchor {self.anchor_ids.max()} but only {len(anchors)} anchors are given"
            )
        return anchors[self.anchor_ids]

    def rest_positions(self, anchors: np.ndarray) -> np.ndarray:
        """The chains' particles (C, N, 3) as the anchors carry their rest pose."""
        a = self._chain_anchors(anchors)
        offsets = np.cumsum(self.rest_directions * self.bone_lengths[..., None], axis=1)
        return np.einsum("cij,cnj->cni", a[:, :3, :3], self.roots[:, None, :] + offsets) + a[:, None, :3, 3]

    def reset(self, anchors: np.ndarray) -> None:
        """Start at rest, still, where ``anchors`` put the chains."""
        self.positions = self.rest_positions(anchors)
        self.previous = self.positions.copy()

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.positions.copy(), self.previous.copy()

    def set_state(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.positions, self.previous = state[0].copy(), state[1].copy()

    # ---------------------------------------------------------------- stepping

    def step(self, anchors_from, anchors_to, dt: float, capsules_from=None, capsules_to=None, radii=None) -> None:
        """Advance ``dt`` seconds while the anchors (and capsules (K, 2, 3)) move linearly from one pose to the next."""
        if self.positions is None:
            self.reset(anchors_from)
        a0, a1 = self._chain_anchors(anchors_from), self._chain_anchors(anchors_to)
        caps = None
        if capsules_from is not None and len(capsules_from):
            caps = (
                np.asarray(capsules_from, np.float64),
                np.asarray(capsules_to if capsules_to is not None else capsules_from, np.float64),
                np.asarray(radii, np.float64),
            )
        h = dt / self.substeps
        for s in range(1, self.substeps + 1):
            w = s / self.substeps
            anchor = (1 - w) * a0 + w * a1
            capsule = None if caps is None else ((1 - w) * caps[0] + w * caps[1], caps[2])
            self._substep(anchor, capsule, h)

    def _substep(self, anchor: np.ndarray, capsules, h: float) -> None:
        rotation = anchor[:, :3, :3]
        # Lerped anchors are not quite rotations; re-orthonormalise (polar part via SVD, cheap at this size).
        u, _, vt = np.linalg.svd(rotation)
        parent = u @ vt
        head = np.einsum("cij,cj->ci", anchor[:, :3, :3], self.roots) + anchor[:, :3, 3]
        velocity_keep = np.maximum(1.0 - self.damping[:, :, 0] * h, 0.0)  # (C, 1)
        new = np.empty_like(self.positions)
        for i in range(self.bones):
            rest_dir = np.einsum("cij,cj->ci", parent, self.rest_directions[:, i])
            length = self.bone_lengths[:, i, None]
            target = head + rest_dir * length
            x, xp = self.positions[:, i], self.previous[:, i]
            acceleration = self.stiffness[:, 0] * (target - x) + self.gravity[:, 0]
            moved = x + (x - xp) * velocity_keep + acceleration * h * h
            moved = head + _unit(moved - head) * length
            if capsules is not None:
                moved = self._collide(moved, capsules)
                moved = head + _unit(moved - head) * length
            direction = _unit(moved - head)
            parent = _arc_matrices(rest_dir, direction) @ parent
            new[:, i] = moved
            head = moved
        self.previous, self.positions = self.positions, new

    def _collide(self, points: np.ndarray, capsules) -> np.ndarray:
        ends, radii = capsules  # (K, 2, 3), (K,)
        a, b = ends[:, 0], ends[:, 1]
        axis = b - a
        t = np.einsum("ckj,kj->ck", points[:, None, :] - a[None], axis) / np.maximum(
            np.einsum("kj,kj->k", axis, axis), 1e-12
        )
        closest = a[None] + np.clip(t, 0.0, 1.0)[..., None] * axis[None]  # (C, K, 3)
        offset = points[:, None, :] - closest
        distance = np.sqrt(np.einsum("...i,...i->...", offset, offset))
        reach = radii[None, :] + self.radius[:, None]
        inside = distance < reach
        if not inside.any():
            return points
        push = np.where(inside[..., None], _unit(offset) * (reach - distance)[..., None], 0.0)
        return points + push.sum(axis=1)

    # ---------------------------------------------------------------- rotations

    def rotations(self, positions: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """World rotations (C, N, 3, 3) of the chain bones whose joints are at ``positions`` (C, N, 3)."""
        anchor = self._chain_anchors(anchors)
        u, _, vt = np.linalg.svd(anchor[:, :3, :3])
        parent = u @ vt
        head = np.einsum("cij,cj->ci", anchor[:, :3, :3], self.roots) + anchor[:, :3, 3]
        out = np.empty((self.count, self.bones, 3, 3))
        for i in range(self.bones):
            rest_dir = np.einsum("cij,cj->ci", parent, self.rest_directions[:, i])
            parent = _arc_matrices(rest_dir, _unit(positions[:, i] - head)) @ parent
            out[:, i] = parent
            head = positions[:, i]
        return out


def local_rotations(world: np.ndarray, anchor_rotations: np.ndarray) -> np.ndarray:
    """Bone rotations relative to their parent (..., C, N, 3, 3), the first bone's parent being the anchor (..., C, 3, 3)."""
    parents = np.concatenate([anchor_rotations[..., None, :, :], world[..., :-1, :, :]], axis=-3)
    return np.swapaxes(parents, -1, -2) @ world


def simulate(
    chains: list[SpringChain],
    anchors: np.ndarray,
    fps: float,
    capsules: np.ndarray | None = None,
    radii: np.ndarray | None = None,
    loop: bool = False,
    warmup_loops: int = 3,
    settle_seconds: float = 2.0,
) -> SpringResult:
    """Simulate chains over a clip whose anchors are (F, A, 4, 4) per frame (and capsules (F, K, 2, 3) with radii (K,)).

    ``loop=False``: the chains first settle for ``settle_seconds`` with the
    body held in frame 0's pose, then follow the clip. ``loop=True``: the
    clip is a loop (frame F would be frame 0 again); ``warmup_loops`` loops
    are simulated and thrown away, then one is recorded, and what is left
    of the difference between its end and its start is spread linearly over
    it, so frame F - 1 leads into frame 0 without a jump.
    """
    anchors = np.asarray(anchors, np.float64)
    frames = len(anchors)
    if frames < 1:
        raise ValueError("no frames to simulate")
    if capsules is not None:
        capsules = np.asarray(capsules, np.float64)
        if len(capsules) != frames:
            raise ValueError("capsules must be given for every frame, like the anchors")
    cap = (lambda f: None) if capsules is None else (lambda f: capsules[f % frames])  # noqa: E731
    solver = SpringSolver(chains)
    solver.reset(anchors[0])
    dt = 1.0 / fps
    if not loop:
        for _ in range(int(round(settle_seconds * fps))):
            solver.step(anchors[0], anchors[0], dt, cap(0), cap(0), radii)
    else:
        for _ in range(max(warmup_loops, 0)):
            for f in range(frames):
                solver.step(anchors[f], anchors[(f + 1) % frames], dt, cap(f), cap(f + 1), radii)
    positions = np.empty((frames + 1,) + solver.positions.shape)
    positions[0] = solver.positions
    last = frames if loop else frames - 1
    for f in range(last):
        solver.step(anchors[f], anchors[(f + 1) % frames], dt, cap(f), cap(f + 1), radii)
        positions[f + 1] = solver.positions
    positions = positions[:frames] if not loop else positions
    if loop:
        seam = positions[frames] - positions[0]
        positions = positions[:frames] - (np.arange(frames) / frames)[:, None, None, None] * seam
    rotations = np.stack([solver.rotations(positions[f], anchors[f]) for f in range(frames)])
    return SpringResult(positions, rotations, solver.lengths)
