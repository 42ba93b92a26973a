"""Test-only writers of PMX 2.0/2.1 and PMD models and VMD motions, and exports of our own character and dances.

Every MMD file the tests read is made here from our own data: no model or
motion from elsewhere is ever committed. The layouts follow the public
descriptions of the formats; the writers are deliberately independent of
the readers (struct packing, not the readers' code), so a round trip
checks both.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from conr.dances.character import Character
from conr.dances.motion import Motion
from conr.mmd import pmx
from conr.mmd.axes import to_mmd_points

LINEAR_CURVE = (20, 20, 107, 107)  # MMD's default: control points on the diagonal


# ---------------------------------------------------------------- PMX


@dataclass
class BoneSpec:
    name: str
    position: tuple[float, float, float]  # MMD units
    parent: int = -1
    flags: int = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED
    layer: int = 0
    tail: object = (0.0, 1.0, 0.0)  # an offset, or a bone index (with TAIL_IS_BONE)
    inherit: tuple[int, float] | None = None  # (source bone, weight); set INHERIT_* in flags
    ik: pmx.IkChain | None = None  # set IK in flags
    name_en: str = ""
    fixed_axis: tuple[float, float, float] | None = None
    local_axes: tuple[float, ...] | None = None
    external_parent: int | None = None


@dataclass
class MaterialSpec:
    name: str
    index_count: int
    alpha: float = 1.0
    double_sided: bool = False
    shared_toon: bool = True


@dataclass
class RigidBodySpec:
    name: str
    bone: int
    mode: int = 0  # 0 follows its bone, 1 physics, 2 physics with the bone's position
    shape: int = 2  # 0 sphere, 1 box, 2 capsule
    size: tuple[float, float, float] = (1.0, 2.0, 0.0)
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)  # MMD units
    rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    group: int = 0
    mask: int = 0


@dataclass
class PmxSpec:
    vertices: np.ndarray  # (V, 3) MMD units
    triangles: np.ndarray  # (T, 3)
    bones: list[BoneSpec]
    bone_ids: np.ndarray  # (V, 4), -1 unused
    weights: np.ndarray  # (V, 4)
    weight_types: np.ndarray | None = None  # (V,) 0..4; default: by the number of influences
    materials: list[MaterialSpec] | None = None
    textures: list[str] = field(default_factory=list)
    encoding: str = "utf-16-le"
    version: float = 2.0
    additional_uvs: int = 0
    name: str = "テストモデル"
    comment: str = "made by the CoNR Space tests"
    index_sizes: dict | None = None  # override: vertex, texture, material, bone, morph, rigid
    rigid_bodies: list[RigidBodySpec] = field(default_factory=list)
    morphs: bool = False  # write one morph of each kind before the display frames


def _size_for(count: int, unsigned: bool = False) -> int:
    if unsigned:
        return 1 if count <= 255 else 2 if count <= 65535 else 4
    return 1 if count <= 127 else 2 if count <= 32767 else 4


def _index(value: int, size: int, unsigned: bool = False) -> bytes:
    code = {1: "b", 2: "h", 4: "i"}[size]
    if unsigned and size < 4:
        code = code.upper()
    return struct.pack("<" + code, value)


def pmx_bytes(spec: PmxSpec) -> bytes:
    """Serialise ``spec`` as a PMX file."""
    encoding = spec.encoding

    def text(value: str) -> bytes:
        data = value.encode(encoding)
        return struct.pack("<i", len(data)) + data

    materials = spec.materials or [MaterialSpec("material", 3 * len(spec.triangles))]
    sizes = {
        "vertex": _size_for(len(spec.vertices), unsigned=True),
        "texture": _size_for(len(spec.textures)),
        "material": _size_for(len(materials)),
        "bone": _size_for(len(spec.bones)),
        "morph": 1,
        "rigid": 1,
    }
    sizes.update(spec.index_sizes or {})
    b = sizes["bone"]
    out = bytearray(b"PMX " + struct.pack("<f", spec.version))
    out += bytes(
        [
            8,
            0 if encoding == "utf-16-le" else 1,
            spec.additional_uvs,
            sizes["vertex"],
            sizes["texture"],
            sizes["material"],
            b,
            sizes["morph"],
            sizes["rigid"],
        ]
    )
    out += text(spec.name) + text("test model") + text(spec.comment) + text(spec.comment)

    types = spec.weight_types
    if types is None:
        influences = (spec.weights > 0).sum(axis=1)
        types = np.where(influences <= 1, 0, np.where(influences == 2, 1, 2))
    out += struct.pack("<i", len(spec.vertices))
    for v, (position, kind) in enumerate(zip(spec.vertices, types)):
        out += struct.pack("<3f", *position) + struct.pack("<3f", 0.0, 1.0, 0.0) + struct.pack("<2f", 0.5, 0.5)
        out += struct.pack("<4f", 0, 0, 0, 0) * spec.additional_uvs
        order = np.argsort(-spec.weights[v], kind="stable")
        ids, ws = spec.bone_ids[v][order], spec.weights[v][order]
        out += bytes([int(kind)])
        if kind == 0:
            out += _index(int(ids[0]), b)
        elif kind in (1, 3):
            total = ws[0] + ws[1]
            out += (
                _index(int(ids[0]), b) + _index(int(ids[1]) if ws[1] > 0 else -1, b) + struct.pack("<f", ws[0] / total)
            )
            if kind == 3:  # SDEF: C, R0, R1 (ignored by our reader)
                out += struct.pack("<9f", *position, *position, *position)
        else:
            out += b"".join(_index(int(i) if w > 0 else -1, b) for i, w in zip(ids, ws)) + struct.pack("<4f", *ws)
        out += struct.pack("<f", 1.0)  # edge scale

    indices = np.asarray(spec.triangles).reshape(-1)
    out += struct.pack("<i", len(indices))
    code = {1: "B", 2: "H", 4: "i"}[sizes["vertex"]]
    out += struct.pack(f"<{len(indices)}{code}", *indices.tolist())

    out += struct.pack("<i", len(spec.textures)) + b"".join(text(t) for t in spec.textures)
    out += struct.pack("<i", len(materials))
    for m in materials:
        out += text(m.name) + text(m.name)
        out += struct.pack("<4f", 0.8, 0.8, 0.8, m.alpha) + struct.pack("<3f", 0, 0, 0) + struct.pack("<f", 5.0)
        out += struct.pack("<3f", 0.4, 0.4, 0.4) + bytes([pmx.DOUBLE_SIDED if m.double_sided else 0])
        out += struct.pack("<4f", 0, 0, 0, 1) + struct.pack("<f", 1.0)
        out += _index(0 if spec.textures else -1, sizes["texture"]) + _index(-1, sizes["texture"]) + bytes([0])
        out += bytes([1, 0]) if m.shared_toon else bytes([0]) + _index(-1, sizes["texture"])
        out += text("") + struct.pack("<i", m.index_count)

    out += struct.pack("<i", len(spec.bones))
    for bone in spec.bones:
        out += text(bone.name) + text(bone.name_en) + struct.pack("<3f", *bone.position) + _index(bone.parent, b)
        flags = bone.flags
        out += struct.pack("<i", bone.layer) + struct.pack("<H", flags)
        out += _index(int(bone.tail), b) if flags & pmx.TAIL_IS_BONE else struct.pack("<3f", *bone.tail)
        if flags & (pmx.INHERIT_ROTATION | pmx.INHERIT_TRANSLATION):
            source, weight = bone.inherit or (-1, 0.0)
            out += _index(source, b) + struct.pack("<f", weight)
        if flags & pmx.FIXED_AXIS:
            out += struct.pack("<3f", *(bone.fixed_axis or (1.0, 0.0, 0.0)))
        if flags & pmx.LOCAL_AXES:
            out += struct.pack("<6f", *(bone.local_axes or (1, 0, 0, 0, 0, 1)))
        if flags & pmx.EXTERNAL_PARENT:
            out += struct.pack("<i", bone.external_parent or 0)
        if flags & pmx.IK:
            ik = bone.ik
            out += _index(ik.target, b) + struct.pack("<i", ik.loops) + struct.pack("<f", ik.unit_angle)
            out += struct.pack("<i", len(ik.links))
            for link in ik.links:
                out += _index(link.bone, b)
                if link.lower is None:
                    out += bytes([0])
                else:
                    out += bytes([1]) + struct.pack("<3f", *link.lower) + struct.pack("<3f", *link.upper)
    # Morphs (none, or one of each kind), display frames (MMD needs one), rigid bodies, joints (none).
    v, m, r = sizes["vertex"], sizes["morph"], sizes["rigid"]
    morph_offsets = {
        0: _index(0, m) + struct.pack("<f", 0.5),
        1: _index(0, v, True) + struct.pack("<3f", 0, 0.1, 0),
        2: _index(0, b) + struct.pack("<7f", 0, 0, 0, 0, 0, 0, 1),
        8: _index(0, sizes["material"]) + bytes(113),
        9: _index(0, m) + struct.pack("<f", 1.0),
        10: _index(0, r) + bytes(25),
        **{k: _index(0, v, True) + struct.pack("<4f", 0, 0, 0, 0) for k in range(3, 8)},
    }
    kinds = sorted(morph_offsets) if spec.morphs else []
    out += struct.pack("<i", len(kinds))
    for kind in kinds:
        out += text(f"morph {kind}") + text("") + bytes([4, kind]) + struct.pack("<i", 2) + morph_offsets[kind] * 2
    out += (
        struct.pack("<i", 1)
        + text("Root")
        + text("Root")
        + bytes([1])
        + struct.pack("<i", 1)
        + bytes([0])
        + _index(0, b)
    )
    out += struct.pack("<i", len(spec.rigid_bodies))
    for body in spec.rigid_bodies:
        out += (
            text(body.name) + text("") + _index(body.bone, b) + struct.pack("<BHB", body.group, body.mask, body.shape)
        )
        out += struct.pack("<9f", *body.size, *body.position, *body.rotation) + struct.pack(
            "<5f", 1.0, 0.5, 0.5, 0.0, 0.5
        )
        out += bytes([body.mode])
    out += struct.pack("<i", 0)
    return bytes(out)


# ---------------------------------------------------------------- PMD


@dataclass
class PmdBoneSpec:
    name: str
    position: tuple[float, float, float]  # MMD units
    parent: int = -1
    kind: int = 0  # 0 rotate, 1 rotate and move, 2 IK, 4 under IK, 5 under rotation, 6 IK target, 7 hidden, 8 twist, 9 co-rotation
    tail: int = 0  # 0: none
    ik_parent: int = 0  # the IK bone (kind 4), the source (kind 5) or a percentage (kind 9, signed)


@dataclass
class PmdIkSpec:
    bone: int
    target: int
    loops: int
    weight: float  # PMD's "control weight": a quarter of the angle per iteration
    links: tuple[int, ...]  # nearest the target first


@dataclass
class PmdSpec:
    vertices: np.ndarray  # (V, 3) MMD units
    triangles: np.ndarray  # (T, 3)
    bones: list[PmdBoneSpec]
    bone_ids: np.ndarray  # (V, 2)
    percent: np.ndarray  # (V,) weight of the first bone, 0..100
    materials: list[tuple[float, int, str]]  # (alpha, face index count, texture)
    iks: list[PmdIkSpec] = field(default_factory=list)
    name: str = "テストモデル"
    comment: str = "made by the CoNR Space tests"
    extensions: bool = (
        True  # morphs, display lists, English names, toon textures, rigid bodies and joints after the IK list
    )
    rigid_bodies: list | None = (
        None  # RigidBodySpec, placed absolutely (written relative to their bone); None: one sphere on bone 0
    )


def pmd_bytes(spec: PmdSpec) -> bytes:
    """Serialise ``spec`` as a PMD file."""
    out = bytearray(b"Pmd" + struct.pack("<f", 1.0) + _name(spec.name, 20) + _name(spec.comment, 256))
    out += struct.pack("<I", len(spec.vertices))
    for position, ids, percent in zip(spec.vertices, spec.bone_ids, spec.percent):
        out += struct.pack(
            "<3f3f2f2HBB", *position, 0.0, 0.0, -1.0, 0.5, 0.5, int(ids[0]), int(ids[1]), int(percent), 0
        )
    indices = np.asarray(spec.triangles).reshape(-1)
    out += struct.pack("<I", len(indices)) + struct.pack(f"<{len(indices)}H", *indices.tolist())
    out += struct.pack("<I", len(spec.materials))
    for alpha, count, texture in spec.materials:
        out += struct.pack("<4ff3f3fBBI", 0.8, 0.8, 0.8, alpha, 5.0, 0, 0, 0, 0.4, 0.4, 0.4, 255, 1, count) + _name(
            texture, 20
        )
    out += struct.pack("<H", len(spec.bones))
    for bone in spec.bones:
        parent = 0xFFFF if bone.parent < 0 else bone.parent
        out += _name(bone.name, 20) + struct.pack(
            "<HHBH3f", parent, bone.tail, bone.kind, bone.ik_parent & 0xFFFF, *bone.position
        )
    out += struct.pack("<H", len(spec.iks))
    for ik in spec.iks:
        out += struct.pack("<HHBHf", ik.bone, ik.target, len(ik.links), ik.loops, ik.weight) + struct.pack(
            f"<{len(ik.links)}H", *ik.links
        )
    if not spec.extensions:
        return bytes(out)
    out += struct.pack("<H", 2)  # morphs: the base, and one moving its first vertex
    out += _name("base", 20) + struct.pack("<IB", 1, 0) + struct.pack("<I3f", 0, *spec.vertices[0])
    out += _name("あ", 20) + struct.pack("<IB", 1, 3) + struct.pack("<I3f", 0, 0.0, 0.1, 0.0)
    out += bytes([1]) + struct.pack("<H", 1)  # morph display list
    out += bytes([1]) + _name("体", 50)  # bone display frame names
    out += struct.pack("<I", 1) + struct.pack("<HB", 0, 1)  # bones shown in frame 1
    out += bytes([1]) + _name("test model", 20) + _name("made by the tests", 256)  # English names
    out += b"".join(_name(f"bone {i}", 20) for i in range(len(spec.bones))) + _name("a", 20) + _name("Body", 50)
    out += b"".join(_name(f"toon{i + 1:02d}.bmp", 100) for i in range(10))
    bodies = (
        spec.rigid_bodies
        if spec.rigid_bodies is not None
        else [RigidBodySpec("頭", 0, 0, 0, (1, 1, 1), spec.bones[0].position, mask=0xFFFF)]
    )
    out += struct.pack("<I", len(bodies))
    for body in bodies:
        origin = np.array(spec.bones[body.bone if body.bone >= 0 else 0].position)
        out += _name(body.name, 20) + struct.pack("<HBHB", body.bone & 0xFFFF, body.group, body.mask, body.shape)
        out += struct.pack(
            "<3f3f3f5fB",
            *body.size,
            *(np.array(body.position) - origin),
            *body.rotation,
            1,
            0.5,
            0.5,
            0,
            0.5,
            body.mode,
        )
    out += struct.pack("<I", 0)  # joints
    return bytes(out)


def pmd_pair(spec: PmxSpec) -> tuple[PmxSpec, PmdSpec]:
    """``spec`` cut to what PMD can say (two bones a vertex, weights in whole percent), as PMX and as PMD.

    Bones keep their names, places and parents; translatable bones become
    PMD kind 1, IK bones kind 2 with their chains in the IK list (limits are
    PMD's by-name knees, so give knees MMD's knee limits in ``spec``).
    """
    order = np.argsort(-spec.weights, axis=1, kind="stable")[:, :2]
    ids = np.take_along_axis(spec.bone_ids, order, axis=1)
    top = np.take_along_axis(spec.weights, order, axis=1)
    top = np.where(ids >= 0, top, 0.0)
    percent = np.rint(100 * top[:, 0] / np.maximum(top.sum(axis=1), 1e-12)).astype(int)
    ids = np.where(ids >= 0, ids, 0)
    pmx_ids = np.full((len(ids), 4), -1)
    pmx_weights = np.zeros((len(ids), 4))
    pmx_ids[:, :2] = ids
    pmx_weights[:, 0], pmx_weights[:, 1] = percent / 100, 1 - percent / 100
    pmx_ids[:, 1] = np.where(pmx_weights[:, 1] > 0, pmx_ids[:, 1], -1)
    bones, iks = [], []
    for i, bone in enumerate(spec.bones):
        kind = 2 if bone.flags & pmx.IK else 1 if bone.flags & pmx.TRANSLATABLE else 0
        tail = int(bone.tail) if bone.flags & pmx.TAIL_IS_BONE else 0
        bones.append(PmdBoneSpec(bone.name, bone.position, bone.parent, kind, tail))
        if bone.flags & pmx.IK:
            iks.append(
                PmdIkSpec(
                    i, bone.ik.target, bone.ik.loops, bone.ik.unit_angle / 4, tuple(link.bone for link in bone.ik.links)
                )
            )
    # PMD draws a material from both sides exactly when it is see-through: double-sided ones get alpha 0.99.
    alphas = [
        min(m.alpha, 0.99) if m.double_sided else m.alpha
        for m in spec.materials or [MaterialSpec("material", 3 * len(spec.triangles))]
    ]
    counts = [m.index_count for m in spec.materials or [MaterialSpec("material", 3 * len(spec.triangles))]]
    materials = [(alpha, count, "") for alpha, count in zip(alphas, counts)]
    pmx_materials = [
        MaterialSpec(f"material {k}", count, alpha, alpha < 1) for k, (alpha, count) in enumerate(zip(alphas, counts))
    ]
    as_pmx = PmxSpec(
        spec.vertices,
        spec.triangles,
        spec.bones,
        pmx_ids,
        pmx_weights,
        np.where(pmx_ids[:, 1] >= 0, 1, 0),
        pmx_materials,
        spec.textures,
        name=spec.name,
    )
    return as_pmx, PmdSpec(
        spec.vertices, spec.triangles, bones, ids, percent, materials, iks, spec.name, rigid_bodies=spec.rigid_bodies
    )


def feature_pmd_spec() -> PmdSpec:
    """A small PMD using every bone kind, a knee IK chain, shown, see-through and hidden materials."""
    bones = [
        PmdBoneSpec("センター", (0.0, 8.0, 0.0), -1, 1, tail=1),
        PmdBoneSpec("左足", (1.0, 10.0, 0.0), 0, 4, tail=2, ik_parent=4),
        PmdBoneSpec("左ひざ", (1.0, 5.0, 0.0), 1, 4, tail=3, ik_parent=4),
        PmdBoneSpec("左足首", (1.0, 1.0, 0.0), 2, 0),
        PmdBoneSpec("左足ＩＫ", (1.0, 1.0, 0.0), -1, 2, tail=5),
        PmdBoneSpec("左足ＩＫ先", (1.0, 0.0, -1.0), 4, 6),
        PmdBoneSpec("両目", (0.0, 15.0, -1.0), 0, 0),
        PmdBoneSpec("左目", (0.5, 15.0, -1.0), 0, 5, ik_parent=6),
        PmdBoneSpec("右腕", (-2.0, 13.0, 0.0), 0, 0, tail=9),
        PmdBoneSpec("右腕捩", (-3.0, 12.0, 0.0), 8, 8, tail=10),
        PmdBoneSpec("右ひじ", (-4.0, 11.0, 0.0), 9, 0),
        PmdBoneSpec("右腕捩1", (-2.5, 12.5, 0.0), 8, 9, tail=9, ik_parent=-25),
        PmdBoneSpec("非表示", (0.0, 16.0, 0.0), 0, 7),
    ]
    iks = [PmdIkSpec(4, 3, 40, 0.5, (2, 1))]
    vertices = np.array(
        [
            [0, 8, 0],
            [2, 8, 0],
            [1, 10, 0],
            [1, 5, -0.5],
            [1, 1, 0.5],
            [0.5, 15, -1],
            [-4, 11, 0],
            [-2.5, 12.5, 0.25],
            [0, 16, 0],
        ],
        np.float64,
    )
    ids = np.array([[0, 0], [0, 1], [1, 2], [2, 1], [3, 2], [7, 0], [10, 9], [11, 8], [12, 0]])
    percent = np.array([100, 70, 50, 60, 100, 100, 80, 100, 0])
    triangles = np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7], [0, 7, 8]])
    materials = [(1.0, 3, "肌.bmp"), (0.5, 6, "服.png*sph.sph"), (0.0, 3, "")]
    return PmdSpec(vertices, triangles, bones, ids, percent, materials, iks, name="機能テストPMD")


# ---------------------------------------------------------------- VMD


@dataclass
class BoneKey:
    name: str
    frame: int
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)  # MMD units
    rotation: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # (w, x, y, z)
    curves: tuple[tuple[int, int, int, int], ...] = (LINEAR_CURVE,) * 4  # x, y, z, rotation: (x1, y1, x2, y2)


@dataclass
class CameraKey:
    frame: int
    distance: float = -45.0  # MMD units; negative: in front of the target, looking at it
    target: tuple[float, float, float] = (0.0, 10.0, 0.0)  # MMD units
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0)  # radians (x, y, z)
    view_angle: int = 30  # degrees
    curves: tuple[tuple[int, int, int, int], ...] = (
        LINEAR_CURVE,
    ) * 6  # x, y, z, rotation, distance, view angle: (x1, y1, x2, y2)
    orthographic: bool = False


def camera_key_bytes(key: CameraKey) -> bytes:
    """One 61-byte camera key; each curve is stored as (x1, x2, y1, y2)."""
    curves = bytes(v for x1, y1, x2, y2 in key.curves for v in (x1, x2, y1, y2))
    return (
        struct.pack("<If3f3f", key.frame, key.distance, *key.target, *key.angles)
        + curves
        + struct.pack("<IB", key.view_angle, int(key.orthographic))
    )


def _name(value: str, size: int) -> bytes:
    raw = value.encode("cp932")[:size]
    return raw + b"\0" * (size - len(raw))


def vmd_bytes(
    keys: list[BoneKey],
    ik_switches: list[tuple[int, list[tuple[str, bool]]]] | None = None,
    model_name: str = "テストモデル",
    morph_keys: int = 0,
    camera_keys: int = 0,
    old_format: bool = False,
    cameras: list[CameraKey] | None = None,
) -> bytes:
    """Serialise bone keys (and IK switches, filler morph keys, and ``cameras`` or that many default camera keys) as a VMD file."""
    if old_format:
        out = bytearray(b"Vocaloid Motion Data file".ljust(30, b"\0") + _name(model_name, 10))
    else:
        out = bytearray(b"Vocaloid Motion Data 0002".ljust(30, b"\0") + _name(model_name, 20))
    out += struct.pack("<I", len(keys))
    for key in keys:
        w, x, y, z = key.rotation
        out += (
            _name(key.name, 15)
            + struct.pack("<I", key.frame)
            + struct.pack("<3f", *key.position)
            + struct.pack("<4f", x, y, z, w)
        )
        row = bytes([key.curves[c][p] for p in range(4) for c in range(4)])  # x1 of x, y, z, r; then y1; x2; y2
        out += row * 4
    out += struct.pack("<I", morph_keys) + b"".join(
        _name("まばたき", 15) + struct.pack("<If", i, 0.5) for i in range(morph_keys)
    )
    cameras = cameras if cameras is not None else [CameraKey(i) for i in range(camera_keys)]
    out += struct.pack("<I", len(cameras)) + b"".join(camera_key_bytes(key) for key in cameras)
    out += struct.pack("<I", 0) + struct.pack("<I", 0)  # light, self shadow
    switches = ik_switches or []
    out += struct.pack("<I", len(switches))
    for frame, entries in switches:
        out += struct.pack("<IBI", frame, 1, len(entries))
        for name, enabled in entries:
            out += _name(name, 20) + bytes([int(enabled)])
    return bytes(out)


# ---------------------------------------------------------------- our character and dances as MMD files

#: Our bone names -> the standard Japanese MMD names (as a real model would have them).
JAPANESE = {"hips": "下半身", "spine": "上半身", "chest": "上半身2", "neck": "首", "head": "頭"}
for _side, _jp in (("L", "左"), ("R", "右")):
    JAPANESE.update(
        {
            f"shoulder.{_side}": f"{_jp}肩",
            f"upper_arm.{_side}": f"{_jp}腕",
            f"forearm.{_side}": f"{_jp}ひじ",
            f"hand.{_side}": f"{_jp}手首",
            f"thigh.{_side}": f"{_jp}足",
            f"shin.{_side}": f"{_jp}ひざ",
            f"foot.{_side}": f"{_jp}足首",
            f"thumb.{_side}": f"{_jp}親指１",
        }
    )
    JAPANESE.update({f"tail{_k}.{_side}": f"{_jp}髪{_k}" for _k in range(1, 10)})


def mmd_name(name: str) -> str:
    """The standard MMD name of our bone (skirt bones and any other keep their own, short, ASCII names)."""
    return JAPANESE.get(name, name)


IK_BONES = {"L": "左足ＩＫ", "R": "右足ＩＫ"}
KNEE_LIMITS = ((-np.pi, 0.0, 0.0), (np.radians(-0.5), 0.0, 0.0))


def character_spec(
    character: Character,
    encoding: str = "utf-16-le",
    version: float = 2.0,
    ik: bool = True,
    unusual_weights: bool = True,
) -> PmxSpec:
    """Our character as a PMX model: same vertices (in MMD units), triangles, skin weights and bones.

    With ``ik``, two leg IK bones (ankle targets, knee hinges with MMD's
    limits, then the thigh) are added after the skeleton. With
    ``unusual_weights`` every 5th two-bone vertex is written as SDEF (and
    every 7th four-bone vertex as QDEF in PMX 2.1), which the reader skins
    like BDEF2 / BDEF4, so the geometry is unchanged.
    """
    skeleton = character.skeleton
    bones = []
    for i, name in enumerate(skeleton.names):
        parent = int(skeleton.parents[i])
        flags = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED | (pmx.TRANSLATABLE if parent < 0 else 0)
        tail = tuple(to_mmd_points(skeleton.tails[i] - skeleton.heads[i]).tolist())
        bones.append(
            BoneSpec(
                mmd_name(name), tuple(to_mmd_points(skeleton.heads[i]).tolist()), parent, flags, tail=tail, name_en=name
            )
        )
    if ik:
        for side in ("L", "R"):
            foot, shin, thigh = (skeleton.index[f"{b}.{side}"] for b in ("foot", "shin", "thigh"))
            chain = pmx.IkChain(foot, 40, 2.0, (pmx.IkLink(shin, *KNEE_LIMITS), pmx.IkLink(thigh)))
            flags = pmx.ROTATABLE | pmx.TRANSLATABLE | pmx.VISIBLE | pmx.ENABLED | pmx.IK
            bones.append(
                BoneSpec(
                    IK_BONES[side],
                    tuple(to_mmd_points(skeleton.heads[foot]).tolist()),
                    -1,
                    flags,
                    ik=chain,
                    name_en=f"leg IK.{side}",
                )
            )
    weights = np.where(character.weights > 1e-7, character.weights, 0.0)
    influences = (weights > 0).sum(axis=1)
    types = np.where(influences <= 1, 0, np.where(influences == 2, 1, 2))
    if unusual_weights:
        two = np.flatnonzero(types == 1)
        types[two[::5]] = 3
        if version >= 2.1:
            four = np.flatnonzero(types == 2)
            types[four[::7]] = 4
    ranges = character.part_ranges
    materials = [
        MaterialSpec(part, 3 * (end - start), double_sided=part == "skirt") for part, (start, end) in ranges.items()
    ]
    return PmxSpec(
        to_mmd_points(character.vertices),
        character.triangles,
        bones,
        character.bone_ids,
        weights,
        types,
        materials,
        ["tex/body.png"],
        encoding,
        version,
        name="CoNR テストキャラ",
    )


def dance_keys(
    motion: Motion, character: Character, ik: str = "consistent", seconds: float | None = None
) -> tuple[list[BoneKey], list]:
    """Bake one loop of ``motion`` into VMD keys at every MMD frame (30 per second).

    ``ik`` says what the leg IK bones do:
    "consistent": keyed at the ankles the dance puts them (every bone keyed too),
    "drive": keyed at those ankles, with no thigh or knee keys, so IK alone bends the legs,
    "off": keyed nowhere useful, and switched off by an IK key at frame 0.
    """
    skeleton = character.skeleton
    frames = int(round((seconds or motion.seconds) * 30))
    keys = []
    for frame in range(frames):
        pose = motion.sample(frame / 30)
        world = skeleton.world_transforms(pose.rotations, pose.root_offset)
        for i, name in enumerate(skeleton.names):
            if ik == "drive" and name.split(".")[0] in ("thigh", "shin"):
                continue
            position = tuple(to_mmd_points(pose.root_offset).tolist()) if skeleton.parents[i] < 0 else (0.0, 0.0, 0.0)
            keys.append(BoneKey(mmd_name(name), frame, position, tuple(pose.rotations[i].tolist())))
        for side in ("L", "R"):
            foot = skeleton.index[f"foot.{side}"]
            offset = world[foot, :3, 3] - skeleton.heads[foot] if ik != "off" else np.array([0.0, 0.5, -0.3])
            keys.append(BoneKey(IK_BONES[side], frame, tuple(to_mmd_points(offset).tolist())))
    switches = [(0, [(IK_BONES["L"], False), (IK_BONES["R"], False)])] if ik == "off" else []
    return keys, switches


# ---------------------------------------------------------------- a small model and motion using every feature


def feature_spec(
    encoding: str = "utf-16-le", version: float = 2.1, index_sizes: dict | None = None, additional_uvs: int = 2
) -> PmxSpec:
    """A small model with every weight type, bone flag, IK limits, materials of both toon kinds, textures."""
    plain = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED
    movable = plain | pmx.TRANSLATABLE
    knee = pmx.IkLink(3, (-np.pi, 0.0, 0.0), (np.radians(-0.5), 0.0, 0.0))
    bones = [
        BoneSpec("全ての親", (0.0, 0.0, 0.0), -1, movable | pmx.TAIL_IS_BONE, tail=1, name_en="root"),
        BoneSpec("センター", (0.0, 8.0, 0.0), 0, movable | pmx.TAIL_IS_BONE, tail=2, name_en="center"),
        BoneSpec("左足", (1.0, 10.0, 0.0), 1, plain, name_en="leg_L"),
        BoneSpec("左ひざ", (1.0, 5.0, 0.0), 2, plain | pmx.FIXED_AXIS, fixed_axis=(1.0, 0.0, 0.0), name_en="knee_L"),
        BoneSpec("左足首", (1.0, 1.0, 0.0), 3, plain | pmx.LOCAL_AXES, name_en="ankle_L"),
        BoneSpec(
            "左足ＩＫ",
            (1.0, 1.0, 0.0),
            0,
            movable | pmx.IK,
            ik=pmx.IkChain(4, 40, 2.0, (knee, pmx.IkLink(2))),
            name_en="leg IK_L",
        ),
        BoneSpec(
            "左足D", (1.0, 10.0, 0.0), 1, plain | pmx.INHERIT_ROTATION, layer=1, inherit=(2, 1.0), name_en="leg D_L"
        ),
        BoneSpec(
            "右腕捩🎀",
            (-3.0, 14.0, 0.0),
            1,
            plain | pmx.INHERIT_ROTATION | pmx.INHERIT_TRANSLATION | pmx.EXTERNAL_PARENT,
            inherit=(1, 0.5),
            external_parent=7,
            name_en="arm twist_R",
        ),
        BoneSpec("物理", (0.0, 15.0, 1.0), 1, plain | pmx.AFTER_PHYSICS, layer=-2, name_en="physics"),
    ]
    vertices = np.array(
        [[0, 0, 0], [2, 0, 0], [0, 2, 0], [1, 10, 0], [1, 5, -0.5], [1, 1, 0.5], [-3, 14, 0], [0, 15, 1]], np.float64
    )
    ids = np.array(
        [
            [2, -1, -1, -1],
            [2, 3, -1, -1],
            [3, 4, 2, 6],
            [2, 3, -1, -1],
            [3, 4, 2, 1],
            [4, -1, -1, -1],
            [7, 1, -1, -1],
            [8, -1, -1, -1],
        ]
    )
    weights = np.array(
        [
            [1, 0, 0, 0],
            [0.7, 0.3, 0, 0],
            [0.4, 0.3, 0.2, 0.1],
            [0.5, 0.5, 0, 0],
            [0.25, 0.25, 0.25, 0.25],
            [1, 0, 0, 0],
            [0.9, 0.1, 0, 0],
            [1, 0, 0, 0],
        ],
        np.float64,
    )
    types = np.array([0, 1, 2, 3, 4 if version >= 2.1 else 2, 0, 1, 0])
    triangles = np.array([[0, 1, 2], [3, 4, 5], [5, 6, 7], [0, 2, 7]])
    materials = [
        MaterialSpec("肌", 6, double_sided=True),
        MaterialSpec("服", 3, shared_toon=False),
        MaterialSpec("隠し", 3, alpha=0.0),
    ]
    return PmxSpec(
        vertices,
        triangles,
        bones,
        ids,
        weights,
        types,
        materials,
        ["tex/肌.png", "toon.bmp"],
        encoding,
        version,
        additional_uvs,
        name="機能テスト",
        index_sizes=index_sizes,
    )


def feature_motion_bytes() -> bytes:
    """A short motion for ``feature_spec``: keys with curves, IK on and off, filler morph and camera keys."""
    turn = lambda deg, axis=(0, 1, 0): tuple(
        np.r_[np.cos(np.radians(deg) / 2), np.sin(np.radians(deg) / 2) * np.asarray(axis)].tolist()
    )  # noqa: E731
    keys = [
        BoneKey("センター", 0, (0.0, 0.0, 0.0)),
        BoneKey("センター", 15, (2.0, -1.0, -3.0), turn(30), curves=((10, 80, 60, 120),) * 4),
        BoneKey("左足ＩＫ", 0, (0.0, 0.0, 0.0)),
        BoneKey("左足ＩＫ", 10, (0.0, 3.0, -2.0)),
        BoneKey("左足ＩＫ", 20, (1.0, 1.0, 1.0)),
        BoneKey("右腕捩🎀".encode("cp932", errors="replace").decode("cp932"), 5, rotation=turn(45, (1, 0, 0))),
        BoneKey("左ひざ", 0, rotation=turn(-20, (1, 0, 0))),
    ]
    return vmd_bytes(
        keys,
        ik_switches=[(0, [("左足ＩＫ", True)]), (12, [("左足ＩＫ", False)]), (16, [("左足ＩＫ", True)])],
        morph_keys=3,
        camera_keys=2,
    )


# ---------------------------------------------------------------- physics

_MOVABLE = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED | pmx.TRANSLATABLE


def hair_spec(bodies: bool = True) -> PmxSpec:
    """A body, a head, a four-bone lock of hair hanging behind it, a ribbon branching off the second hair bone, a bow on the tip."""
    places = [
        ("センター", (0, 8, 0), -1),
        ("頭", (0, 16, 0), 0),
        ("髪1", (0, 17, 1.5), 1),
        ("髪2", (0, 14, 2), 2),
        ("髪3", (0, 11, 2.5), 3),
        ("髪4", (0, 8, 3), 4),
        ("リボン", (1, 14, 2), 3),
        ("リボン先", (2, 13, 2), 6),
        ("飾り", (0, 7, 3), 5),
    ]
    bones = [
        BoneSpec(name, position, parent, _MOVABLE if parent < 0 else _MOVABLE & ~pmx.TRANSLATABLE)
        for name, position, parent in places
    ]
    bones[5].tail = (0.0, -3.0, 0.5)
    bones[7].tail = (1.0, -1.0, 0.0)
    vertices = np.array(
        [[x + dx, y + dy, z] for _, (x, y, z), _ in places for dx, dy in ((0, 0), (0.5, 0), (0, 0.5))], np.float64
    )
    ids = np.full((len(vertices), 4), -1)
    ids[:, 0] = np.repeat(np.arange(len(places)), 3)
    weights = np.zeros((len(vertices), 4))
    weights[:, 0] = 1.0
    spec = PmxSpec(
        vertices,
        np.arange(len(vertices)).reshape(-1, 3),
        bones,
        ids,
        weights,
        morphs=True,
        materials=[MaterialSpec("all", len(vertices), double_sided=True)],
    )
    if bodies:
        spec.rigid_bodies = [
            RigidBodySpec("頭", 1, 0, 0, (2.0, 0, 0), (0, 16, 0), group=1),
            RigidBodySpec("体", 0, 0, 2, (1.2, 8.0, 0), (0, 10, 0), group=1),
            RigidBodySpec(
                "腕", 0, 0, 1, (6.0, 0.5, 0.6), (0, 13, -1), (0.0, 0.0, 0.3), group=1
            ),  # a box: held far from the hair
            RigidBodySpec(
                "中", 0, 0, 0, (3.0, 0, 0), (0, 13, 1.5), group=1
            ),  # encloses the hair's rest joints: left out
        ] + [
            RigidBodySpec(name, i, 1 if i < 5 else 2, 2, (0.3, 1.0, 0), group=2, mask=1 << 2)
            for i, (name, _, _) in enumerate(places)
            if name in ("髪1", "髪2", "髪3", "髪4", "リボン", "リボン先")
        ]
    return spec
