"""Posing a PMX model with a VMD motion: forward kinematics, inherited rotation/translation, IK, skinning.

Per frame, each bone's local transform is its bind offset from its parent
plus the motion's translation (translatable bones only), and the motion's
rotation; bones are evaluated in MMD's deform order (after-physics bones
last, then by deform layer, then by index). A bone that inherits
("付与") from another adds the source's rotation (scaled by the weight, as
a power of the quaternion) in front of its own, and the source's
translation times the weight; the source's values include its own
inheritance and IK, when it was evaluated before. An IK bone solves its
chain (``conr.mmd.ik``) as soon as it is evaluated, unless the motion
switched it off.

Not modelled: physics (hair and skirts follow their bones rigidly), morphs,
fixed axes and local axes (motions already respect them), "local"
inheritance (treated like the ordinary kind), external parents.

Skinning is the engine's linear blend skinning (``conr.render3d.skinning``); vertices bound to no bone
stay in their bind pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..render3d.quaternions import exp, log, multiply, to_matrix
from ..render3d.skinning import skin
from .axes import to_model_points
from .ik import Chain, Link, hinge_axis, prepare_chain, solve_chain
from .interpolation import TrackSet
from .pmx import PmxModel
from .vmd import IK_NAME_BYTES, NAME_BYTES, VmdMotion

#: Budget of bone updates by IK iterations per frame (all chains); loop counts are scaled down to fit it.
MAX_IK_WORK_PER_FRAME = 100_000
#: Real models have a handful of IK chains (legs, toes, sometimes hair or skirts).
MAX_IK_CHAINS = 512
#: Bones re-posed by all chains together (their paths and the bones hanging below them).
MAX_IK_REFRESHES = 200_000


def _power(q: np.ndarray, weight: float) -> np.ndarray:
    """Rotation ``q`` scaled by ``weight`` (any real: 0.5 = half way, -1 = the inverse)."""
    q = q if q[0] >= 0 else -q
    return exp(weight * log(q))


def below_marked(parents, marked) -> tuple[np.ndarray, np.ndarray]:
    """For each bone: whether a bone strictly above it is in ``marked``, and its depth (0 for roots).

    One walk per bone up to the first bone already known, so O(bones) even
    for a crafted file that chains thousands of bones (the hierarchy is
    acyclic: ``pmx.check_hierarchy``).
    """
    parents = [int(p) for p in parents]
    marked = set(marked)
    under = [None] * len(parents)
    depth = [0] * len(parents)
    for i in range(len(parents)):
        walk, j = [], i
        while j >= 0 and under[j] is None:
            walk.append(j)
            j = parents[j]
        for k in reversed(walk):  # from the top down
            p = parents[k]
            under[k] = p >= 0 and (under[p] or p in marked)
            depth[k] = depth[p] + 1 if p >= 0 else 0
    return np.array(under, bool), np.array(depth, np.int64)


def vmd_name(name: str, size: int = NAME_BYTES) -> bytes:
    """How a VMD file spells a bone name: Shift-JIS (cp932), cut to the field size."""
    return name.encode("cp932", errors="replace")[:size]


class Rig:
    """A model's bones prepared for posing: order, bind offsets, inheritance, IK chains, skin weights."""

    def __init__(self, model: PmxModel):
        bones = model.bones
        count = len(bones)
        self.names = [b.name for b in bones]
        self.heads = to_model_points(np.array([b.position for b in bones], np.float64).reshape(-1, 3))
        self.parents = np.array([b.parent for b in bones], np.int64)
        self.offsets = self.heads - np.where(self.parents[:, None] >= 0, self.heads[np.maximum(self.parents, 0)], 0.0)
        self.translatable = np.array([b.translatable for b in bones], bool)
        self.order = sorted(range(count), key=lambda i: (bones[i].after_physics, bones[i].layer, i))
        self.inherits = {
            i: (b.inherit_parent, b.inherit_weight, b.inherits_rotation, b.inherits_translation)
            for i, b in enumerate(bones)
            if b.inherits_rotation or b.inherits_translation
        }
        children: list[list[int]] = [[] for _ in range(count)]
        for i, p in enumerate(self.parents):
            if p >= 0:
                children[p].append(i)
        self.chains: dict[int, Chain] = {}
        wanted = sum(1 for b in bones if b.ik is not None and b.ik.loops)
        if wanted > MAX_IK_CHAINS:
            raise InputError(f"'{model.source}' has {wanted} IK chains; at most {MAX_IK_CHAINS} are supported.")
        for i, bone in enumerate(bones):
            if bone.ik is None or not bone.ik.loops:
                continue
            links = []
            for link in bone.ik.links:
                if link.lower is None:
                    links.append(Link(link.bone))
                else:
                    lower, upper = np.array(link.lower), np.array(link.upper)
                    links.append(Link(link.bone, hinge_axis(lower, upper), lower, upper))
            chain = prepare_chain(i, bone.ik.target, bone.ik.loops, bone.ik.unit_angle, links, self.parents, children)
            if chain is not None:
                self.chains[i] = chain
        refreshes = sum(len(c.after) + sum(len(p) for p in c.paths) for c in self.chains.values())
        if refreshes > MAX_IK_REFRESHES:  # every chain re-poses the bones below it: bound that work per frame
            raise InputError(
                f"'{model.source}' has IK chains over {refreshes:,} bones in all; at most {MAX_IK_REFRESHES:,} are supported."
            )
        work = sum(c.loops * sum(len(p) + 1 for p in c.paths) for c in self.chains.values())
        if work > MAX_IK_WORK_PER_FRAME:  # a crafted model could ask for millions of steps a frame
            scale = MAX_IK_WORK_PER_FRAME / work
            self.chains = {i: _with_loops(c, max(1, int(c.loops * scale))) for i, c in self.chains.items()}
        # Skinning: slot -1 (no bone) points at an extra identity matrix, so such weights do nothing.
        self.rest = to_model_points(model.vertices)
        self.bone_ids = np.where(model.bone_ids >= 0, model.bone_ids, count).astype(np.int64)
        self.weights = model.weights.copy()
        unbound = self.weights.sum(axis=1) < 0.5
        self.bone_ids[unbound, 0], self.weights[unbound, 0] = count, 1.0
        self.ik_names = {i: vmd_name(self.names[i], IK_NAME_BYTES) for i in self.chains}

    def __len__(self) -> int:
        return len(self.names)

    def pose(
        self, rotations: np.ndarray, translations: np.ndarray, ik_enabled: dict[int, bool] | None = None
    ) -> np.ndarray:
        """World transforms (B, 4, 4) from local motion rotations (B, 4) and translations (B, 3, metres)."""
        state = FrameState(self, rotations, translations)
        for i in self.order:
            if i in self.inherits:
                state.inherit(i, *self.inherits[i])
            state.refresh_one(i)
            chain = self.chains.get(i)
            if chain is not None and (ik_enabled is None or ik_enabled.get(i, True)):
                solve_chain(state, chain)
        return state.world

    def skinning_matrices(self, world: np.ndarray) -> np.ndarray:
        """(B + 1, 3, 4) bind -> posed maps; the last is the identity for unbound vertices."""
        matrices = np.empty((len(self) + 1, 3, 4))
        matrices[:-1, :, :3] = world[:, :3, :3]
        matrices[:-1, :, 3] = world[:, :3, 3] - np.einsum("bij,bj->bi", world[:, :3, :3], self.heads)
        matrices[-1] = np.eye(4)[:3]
        return matrices

    def skin_arrays(self, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rest, bone ids, weights) of all vertices or of ``subset``, for ``posed_vertices``."""
        rows = slice(None) if subset is None else subset
        return self.rest[rows], self.bone_ids[rows], self.weights[rows]

    def posed_vertices(
        self, world: np.ndarray, arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """Skinned vertex positions (V, 3) in metres, of ``arrays`` from ``skin_arrays`` (default: all vertices)."""
        rest, bone_ids, weights = arrays or self.skin_arrays()
        positions, _ = skin(rest, bone_ids, weights, self.skinning_matrices(world))
        return positions


def _with_loops(chain: Chain, loops: int) -> Chain:
    return Chain(chain.ik_bone, chain.target, loops, chain.unit_angle, chain.links, chain.paths, chain.after)


class FrameState:
    """One frame's pose being built: local rotations/translations, local and world matrices."""

    def __init__(self, rig: Rig, rotations: np.ndarray, translations: np.ndarray):
        count = len(rig)
        self.parent = rig.parents
        self.offsets = rig.offsets
        self.rotation = np.array(rotations, np.float64)
        self.translation = np.where(rig.translatable[:, None], translations, 0.0)
        self.local = np.zeros((count, 4, 4))
        self.local[:, :3, :3] = to_matrix(self.rotation) if count else np.zeros((0, 3, 3))
        self.local[:, :3, 3] = self.offsets + self.translation
        self.local[:, 3, 3] = 1.0
        # Bones whose parent is evaluated later start from the parent's bind frame.
        self.world = np.tile(np.eye(4), (count, 1, 1))
        self.world[:, :3, 3] = rig.heads

    def inherit(self, bone: int, source: int, weight: float, rotation: bool, translation: bool) -> None:
        if rotation:
            self.rotation[bone] = multiply(_power(self.rotation[source], weight), self.rotation[bone])
            self.local[bone, :3, :3] = to_matrix(self.rotation[bone])
        if translation:
            self.translation[bone] = self.translation[bone] + weight * self.translation[source]
            self.local[bone, :3, 3] = self.offsets[bone] + self.translation[bone]

    def set_rotation(self, bone: int, q: np.ndarray) -> None:
        self.rotation[bone] = q
        self.local[bone, :3, :3] = to_matrix(q)

    def refresh_one(self, bone: int) -> None:
        parent = self.parent[bone]
        self.world[bone] = self.world[parent] @ self.local[bone] if parent >= 0 else self.local[bone]

    def refresh(self, bones: np.ndarray) -> None:
        for bone in bones:
            self.refresh_one(int(bone))


@dataclass
class MotionSamples:
    """A motion sampled for a rig at some frames."""

    rotations: np.ndarray  # (F, B, 4)
    translations: np.ndarray  # (F, B, 3) metres
    ik_enabled: list[dict[int, bool]]  # per frame, per IK bone


class MotionBinding:
    """A VMD motion matched to a rig's bones by name (Shift-JIS bytes, as VMD stores them)."""

    def __init__(self, rig: Rig, motion: VmdMotion):
        self.rig = rig
        self.motion = motion
        self.tracks = {}
        seen = set()
        for i, name in enumerate(rig.names):
            key = vmd_name(name)
            if key in motion.tracks and key not in seen:  # two bones cut to the same 15 bytes: the first gets the track
                self.tracks[i] = motion.tracks[key]
                seen.add(key)
        self.track_set = TrackSet(list(self.tracks.values()))

    @property
    def matched(self) -> int:
        """How many of the motion's tracks drive a bone of the model."""
        return len(self.tracks)

    def sample(self, frames: np.ndarray) -> MotionSamples:
        frames = np.asarray(frames, np.float64).reshape(-1)
        count = len(self.rig)
        rotations = np.zeros((len(frames), count, 4))
        rotations[..., 0] = 1.0
        translations = np.zeros((len(frames), count, 3))
        bones = list(self.tracks)
        positions, quaternions = self.track_set.sample(frames)
        rotations[:, bones] = quaternions.transpose(1, 0, 2)
        translations[:, bones] = to_model_points(positions).transpose(1, 0, 2)
        switches = {i: self.motion.ik.state(name, frames) for i, name in self.rig.ik_names.items()}
        enabled = [{i: bool(state[f]) for i, state in switches.items()} for f in range(len(frames))]
        return MotionSamples(rotations, translations, enabled)
