"""Timing the MMD path on a large synthetic model (not a test; run by hand).

    PYTHONPATH=. python tests/bench_mmd.py [--vertices 1000000] [--bones 600] [--frames 60] [--size 512]

Builds a model with the test-only writer (a grid of boxes hanging from
chains of bones, every weight type, leg-like IK chains, the chains given to
physics), then times reading it, preparing the rig, posing, physics,
skinning and rendering UDP frames.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from mmd_writers import BoneKey, BoneSpec, PmxSpec, RigidBodySpec, pmx_bytes, vmd_bytes

from conr.mmd import pmx
from conr.mmd.physics import SETTLE_SECONDS
from conr.mmd.pmx import read_pmx
from conr.mmd.posing import Rig
from conr.mmd.to_udp import MmdScene, mmd_udp_frames
from conr.mmd.vmd import read_vmd


def synthetic_spec(vertex_count: int, bone_count: int, seed: int = 0) -> PmxSpec:
    rng = np.random.default_rng(seed)
    plain = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED
    bones = [BoneSpec("センター", (0.0, 10.0, 0.0), -1, plain | pmx.TRANSLATABLE)]
    chains = 8
    per_chain = (bone_count - 1 - 2 * 2) // chains
    for c in range(chains):
        angle = 2 * np.pi * c / chains
        for k in range(per_chain):
            parent = 0 if k == 0 else len(bones) - 1
            position = (np.cos(angle) * (1 + k), 10.0 - 0.5 * k, np.sin(angle) * (1 + k))
            bones.append(BoneSpec(f"鎖{c}_{k}", tuple(map(float, position)), parent, plain))
    for side, x in (("左", 1.0), ("右", -1.0)):
        thigh = len(bones)
        bones.append(BoneSpec(f"{side}足", (x, 10.0, 0.0), 0, plain))
        bones.append(BoneSpec(f"{side}ひざ", (x, 5.0, 0.0), thigh, plain))
        bones.append(BoneSpec(f"{side}足首", (x, 1.0, 0.0), thigh + 1, plain))
        knee = pmx.IkLink(thigh + 1, (-np.pi, 0, 0), (np.radians(-0.5), 0, 0))
        bones.append(
            BoneSpec(
                f"{side}足ＩＫ",
                (x, 1.0, 0.0),
                -1,
                plain | pmx.TRANSLATABLE | pmx.IK,
                ik=pmx.IkChain(thigh + 2, 40, 2.0, (knee, pmx.IkLink(thigh))),
            )
        )
    heads = np.array([b.position for b in bones])
    boxes = vertex_count // 8
    owners = rng.integers(0, len(bones), boxes)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float64) * 0.3
    vertices = (heads[owners][:, None, :] + corners[None] + rng.normal(0, 0.05, (boxes, 1, 3))).reshape(-1, 3)
    faces = np.array(
        [
            [0, 1, 3],
            [0, 3, 2],
            [4, 6, 7],
            [4, 7, 5],
            [0, 4, 5],
            [0, 5, 1],
            [2, 3, 7],
            [2, 7, 6],
            [0, 2, 6],
            [0, 6, 4],
            [1, 5, 7],
            [1, 7, 3],
        ]
    )
    triangles = (np.arange(boxes)[:, None, None] * 8 + faces[None]).reshape(-1, 3)
    ids = np.full((len(vertices), 4), -1)
    weights = np.zeros((len(vertices), 4))
    ids[:, 0] = np.repeat(owners, 8)
    second = np.maximum(0, np.repeat(owners, 8) - 1)
    kinds = rng.integers(0, 4, len(vertices))  # BDEF1, BDEF2, BDEF4, SDEF
    weights[:, 0] = np.where(kinds == 0, 1.0, 0.6)
    ids[kinds > 0, 1], weights[kinds > 0, 1] = second[kinds > 0], 0.4
    four = kinds == 2
    ids[four, 1:] = second[four, None]
    weights[four] = [0.4, 0.3, 0.2, 0.1]
    # Physics: every chain bone but the first of each chain; a body capsule on the centre.
    bodies = [RigidBodySpec("体", 0, 0, 2, (0.5, 6.0, 0.0), (0.0, 7.0, 0.0), group=1)]
    bodies += [
        RigidBodySpec(b.name, i, 1, 0, (0.2, 0.0, 0.0), b.position, group=2, mask=4)
        for i, b in enumerate(bones)
        if b.name.startswith("鎖") and not b.name.endswith("_0")
    ]
    return PmxSpec(vertices, triangles, bones, ids, weights, kinds, name="bench", rigid_bodies=bodies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vertices", type=int, default=1_000_000)
    parser.add_argument("--bones", type=int, default=600)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    started = time.perf_counter()
    spec = synthetic_spec(args.vertices, args.bones)
    data = pmx_bytes(spec)
    print(
        f"wrote a {len(data) / 1e6:.1f} MB PMX ({len(spec.vertices):,} vertices, {len(spec.triangles):,} triangles, "
        f"{len(spec.bones)} bones) in {time.perf_counter() - started:.1f} s"
    )
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        model = read_pmx(data, "bench.pmx")
        timings.append(time.perf_counter() - started)
    print(
        f"read_pmx: {min(timings):.3f} s best of 3 ({len(data) / 1e6 / min(timings):.0f} MB/s, {len(model.vertices) / min(timings) / 1e6:.1f} M vertices/s)"
    )

    rng = np.random.default_rng(1)
    keys = []
    for frame in range(0, args.frames, 5):
        for bone in spec.bones[::3]:
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            half = rng.uniform(0, 0.3)
            keys.append(BoneKey(bone.name, frame, tuple(rng.normal(0, 0.5, 3)), (np.cos(half), *(np.sin(half) * axis))))
    motion_bytes = vmd_bytes(keys)
    started = time.perf_counter()
    motion = read_vmd(motion_bytes, "bench.vmd")
    print(f"read_vmd: {len(keys):,} bone keys in {time.perf_counter() - started:.3f} s")

    started = time.perf_counter()
    rig = Rig(model)
    scene = MmdScene(model, motion)
    print(
        f"rig and scene: {time.perf_counter() - started:.2f} s ({len(rig.chains)} IK chains, {scene.binding.matched} tracks matched)"
    )
    frames = np.arange(args.frames, dtype=np.float64)
    started = time.perf_counter()
    worlds = list(scene.worlds(frames))
    posing = (time.perf_counter() - started) / len(frames)
    started = time.perf_counter()
    for world in worlds[:10]:
        scene.positions(world)
    skinning = (time.perf_counter() - started) / 10
    started = time.perf_counter()
    list(MmdScene(model, motion, physics=False).worlds(frames))
    physics = posing - (time.perf_counter() - started) / len(frames)
    print(
        f"per frame: sampling + FK + IK {(posing - physics) * 1e3:.1f} ms, physics ({scene.physics.bone_count} bones in "
        f"{scene.physics.chain_count} chains, with the first frame's {SETTLE_SECONDS:g} s settle) {physics * 1e3:.1f} ms, skinning {skinning * 1e3:.1f} ms"
    )
    started = time.perf_counter()
    count = sum(1 for _ in mmd_udp_frames(scene, frames[: min(30, args.frames)] / 30, args.size, framing="follow"))
    print(
        f"UDP at {args.size} px (framing, posing, skinning, rasterizing): {(time.perf_counter() - started) / count * 1e3:.0f} ms/frame"
    )


if __name__ == "__main__":
    main()
