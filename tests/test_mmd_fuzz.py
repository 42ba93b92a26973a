"""Fuzzing the MMD readers and posing with hypothesis: crafted files fail fast with InputError, or pose cleanly.

Bounded for CI: a fixed number of examples per test (derandomised, so every
run tries the same inputs), a per-example deadline that would catch a hang
or a runaway loop, and no example database written to disk. For a longer,
randomised hunt: ``CONR_FUZZ_EXAMPLES=5000 python -m pytest tests/test_mmd_fuzz.py``.
"""

from __future__ import annotations

import math
import os
import struct
from datetime import timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mmd_writers import (
    BoneKey,
    BoneSpec,
    PmxSpec,
    feature_motion_bytes,
    feature_pmd_spec,
    feature_spec,
    hair_spec,
    pmd_bytes,
    pmd_pair,
    pmx_bytes,
    vmd_bytes,
)

from conr.errors import InputError
from conr.mmd import pmx
from conr.mmd.camera import camera_views
from conr.mmd.pmd import read_pmd
from conr.mmd.pmx import read_pmx
from conr.mmd.posing import MotionBinding, Rig
from conr.mmd.to_udp import MmdScene, check_binding, mmd_udp_frames
from conr.mmd.vmd import read_vmd

#: Examples per byte-mutation test; the rig and full-conversion tests run a half and a tenth of it.
EXAMPLES = int(os.environ.get("CONR_FUZZ_EXAMPLES") or 0) or 400
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=3),  # generous for slow CI machines; a hang or quadratic blow-up still trips it
    derandomize="CONR_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PMX_SEEDS = [
    pmx_bytes(feature_spec("utf-16-le", 2.1)),
    pmx_bytes(feature_spec("utf-8", 2.0, additional_uvs=0)),
    pmx_bytes(
        feature_spec("utf-16-le", 2.0, dict.fromkeys(["vertex", "texture", "material", "bone", "morph", "rigid"], 4))
    ),
    pmx_bytes(hair_spec()),  # morphs of every kind, display frames, rigid bodies: physics
]
VMD_SEED = feature_motion_bytes()
PMD_SEEDS = [pmd_bytes(feature_pmd_spec())]
_bare = feature_pmd_spec()
_bare.extensions = False
PMD_SEEDS.append(pmd_bytes(_bare))
PMD_SEEDS.append(pmd_bytes(pmd_pair(hair_spec())[1]))  # rigid bodies: physics
#: Values that make counts, lengths and indices interesting.
BOUNDARIES = [
    0,
    1,
    2,
    3,
    4,
    8,
    127,
    128,
    255,
    256,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0xFFFFFFFE,
]

_position = st.integers(0, 1 << 20)
operation = st.one_of(
    st.tuples(st.just("flip"), _position, st.integers(0, 255)),
    st.tuples(st.just("flip"), _position, st.integers(0, 255)),
    st.tuples(st.just("int32"), _position, st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 0xFFFFFFFF))),
    st.tuples(st.just("int32"), _position, st.sampled_from(BOUNDARIES)),
    st.tuples(
        st.just("float"), _position, st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -0.0, 1e-30, 2.0, -1.0])
    ),
    st.tuples(st.just("insert"), _position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), _position, st.integers(1, 32)),
    st.tuples(st.just("truncate"), _position, st.just(0)),
)
#: Mutations land after the signature (a wrong signature is tested by hand), anywhere else in the file.
SKIP_SIGNATURE = 8


def mutate(data: bytes, operations) -> bytes:
    out = bytearray(data)
    for kind, position, value in operations:
        at = SKIP_SIGNATURE + position % max(len(out) - SKIP_SIGNATURE, 1)
        if kind == "flip" and at < len(out):
            out[at] = value
        elif kind == "int32":
            out[at : at + 4] = struct.pack("<I", value)
        elif kind == "float":
            out[at : at + 4] = struct.pack("<f", value)
        elif kind == "insert":
            out[at:at] = value
        elif kind == "delete":
            del out[at : at + value]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


def _pose_everything(model, motion_bytes: bytes) -> None:
    """A model that parsed must pose without errors and give finite positions."""
    rig = Rig(model)
    motion = read_vmd(motion_bytes, "fuzz.vmd")
    binding = MotionBinding(rig, motion)
    samples = binding.sample(np.array([0.0, 7.5, 14.0, 30.0]))
    for k in range(len(samples.rotations)):
        world = rig.pose(samples.rotations[k], samples.translations[k], samples.ik_enabled[k])
        assert np.isfinite(world).all()
        assert np.isfinite(rig.posed_vertices(world)).all()
    if model.rigid_bodies:  # spring chains through the same frames
        for world in MmdScene(model, motion).worlds(np.array([0.0, 7.5, 14.0, 30.0])):
            assert np.isfinite(world).all()


@FUZZ
@given(st.integers(0, len(PMX_SEEDS) - 1), st.lists(operation, min_size=1, max_size=6))
def test_mutated_pmx_is_refused_or_poses(seed, operations):
    data = mutate(PMX_SEEDS[seed], operations)
    try:
        model = read_pmx(data, "fuzz.pmx")
    except InputError as exc:
        assert "'fuzz.pmx'" in str(exc)
        return
    assert np.isfinite(model.vertices).all() and model.triangles.min(initial=0) >= 0
    assert model.triangles.max(initial=-1) < len(model.vertices)
    assert model.bone_ids.max(initial=-1) < len(model.bones)
    _pose_everything(model, VMD_SEED)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(st.integers(0, len(PMD_SEEDS) - 1), st.lists(operation, min_size=1, max_size=6))
def test_mutated_pmd_is_refused_or_poses(seed, operations):
    data = mutate(PMD_SEEDS[seed], operations)
    try:
        model = read_pmd(data, "fuzz.pmd")
    except InputError as exc:
        assert str(exc).startswith("'fuzz.pmd' is not a usable PMD model")
        return
    assert np.isfinite(model.vertices).all() and model.triangles.min(initial=0) >= 0
    assert model.triangles.max(initial=-1) < len(model.vertices)
    assert model.bone_ids.max(initial=-1) < len(model.bones) and np.allclose(model.weights.sum(axis=1), 1.0)
    _pose_everything(model, VMD_SEED)


@FUZZ
@given(st.lists(operation, min_size=1, max_size=6))
def test_mutated_vmd_is_refused_or_poses(operations):
    data = mutate(VMD_SEED, operations)
    try:
        motion = read_vmd(data, "fuzz.vmd")
    except InputError as exc:
        assert "'fuzz.vmd'" in str(exc)
        return
    for track in motion.tracks.values():
        assert np.all(np.diff(track.frames) > 0) and np.isfinite(track.positions).all()
        assert np.allclose(np.linalg.norm(track.rotations, axis=1), 1.0) and track.curves.max(initial=0) <= 127
    if motion.camera is not None:
        for view in camera_views(motion.camera, np.array([0.0, 0.5, 1.5, 30.0])):
            assert np.isfinite(view.rotation).all() and np.isfinite(view.eye).all() and 1 <= view.fov_degrees <= 179
    _pose_everything(read_pmx(PMX_SEEDS[0], "feature.pmx"), data)


# ---------------------------------------------------------------- random rigs: hierarchies, inheritance, IK


@st.composite
def random_rigs(draw):
    count = draw(st.integers(1, 10))
    bones = []
    for i in range(count):
        parent = draw(st.integers(-1, i - 1))  # parents first, so the hierarchy is valid
        flags = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED | draw(st.sampled_from([0, pmx.TRANSLATABLE]))
        position = tuple(draw(st.lists(st.floats(-20, 20), min_size=3, max_size=3)))
        spec = BoneSpec(f"骨{i}", position, parent, flags, layer=draw(st.integers(-1, 2)))
        if draw(st.booleans()):
            spec.flags |= draw(
                st.sampled_from(
                    [pmx.INHERIT_ROTATION, pmx.INHERIT_TRANSLATION, pmx.INHERIT_ROTATION | pmx.INHERIT_TRANSLATION]
                )
            )
            spec.inherit = (draw(st.integers(0, count - 1)), draw(st.floats(-2, 2)))  # cycles of inheritance allowed
        if draw(st.integers(0, 3)) == 0:
            links = []
            for _ in range(draw(st.integers(1, 4))):
                bone = draw(st.integers(0, count - 1))
                if draw(st.booleans()):
                    lower = draw(st.lists(st.floats(-4, 4), min_size=3, max_size=3))
                    upper = draw(st.lists(st.floats(-4, 4), min_size=3, max_size=3))
                    links.append(pmx.IkLink(bone, tuple(lower), tuple(upper)))
                else:
                    links.append(pmx.IkLink(bone))
            spec.flags |= pmx.IK
            spec.ik = pmx.IkChain(
                draw(st.integers(0, count - 1)), draw(st.integers(0, 300)), draw(st.floats(-1, 5)), tuple(links)
            )
        bones.append(spec)
    keys = []
    for _ in range(draw(st.integers(0, 12))):
        q = np.array(draw(st.lists(st.floats(-1, 1), min_size=4, max_size=4)))
        keys.append(
            BoneKey(
                f"骨{draw(st.integers(0, count - 1))}",
                draw(st.integers(0, 40)),
                tuple(draw(st.lists(st.floats(-30, 30), min_size=3, max_size=3))),
                tuple(q.tolist()),
                tuple(tuple(draw(st.lists(st.integers(0, 127), min_size=4, max_size=4))) for _ in range(4)),
            )
        )
    return bones, keys


@settings(FUZZ, max_examples=EXAMPLES // 2)
@given(random_rigs())
def test_random_rigs_pose_finitely(rig_and_keys):
    bones, keys = rig_and_keys
    vertices = np.array([b.position for b in bones] + [[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float64)
    ids = np.full((len(vertices), 4), -1)
    ids[: len(bones), 0] = np.arange(len(bones))
    weights = np.zeros((len(vertices), 4))
    weights[: len(bones), 0] = 1.0
    spec = PmxSpec(vertices, np.array([[len(bones), len(bones) + 1, len(bones) + 2]]), bones, ids, weights)
    _pose_everything(read_pmx(pmx_bytes(spec), "random.pmx"), vmd_bytes(keys))


# ---------------------------------------------------------------- the whole conversion, small


@settings(FUZZ, max_examples=max(1, EXAMPLES // 10))
@given(st.lists(operation, min_size=1, max_size=4))
def test_mutated_model_converts_or_is_refused(operations):
    """The full path (scene, framing, rendering) on mutated models: frames in range, or an InputError."""
    data = mutate(PMX_SEEDS[1], operations)
    try:
        scene = MmdScene(read_pmx(data, "fuzz.pmx"), read_vmd(VMD_SEED, "fuzz.vmd"))
        check_binding(scene)
        frames = list(mmd_udp_frames(scene, np.array([0.0, 0.25, 0.5]), size=64))
    except InputError:
        return
    for frame in frames:
        assert frame.shape == (64, 64, 4) and np.isfinite(frame).all() and frame.min() >= 0 and frame.max() <= 1
