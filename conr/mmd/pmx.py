"""Reading PMX 2.0 / 2.1 models (MikuMikuDance's model format) from untrusted bytes.

We read what posing and UDP need: the header, vertices (position and skin
weights: BDEF1, BDEF2, BDEF4, SDEF, QDEF), triangles, textures (skipped),
materials (for double-sided and invisible ones), bones (parents, tails,
deform order, inherited rotation/translation, IK chains with angle limits)
and, after morphs and display frames (skipped), the rigid bodies (which
bones physics moves, and the body's collision shapes: ``conr.mmd.physics``).
Joints and soft bodies are not read. Everything after the bones is
optional: a model cut short or damaged there is read without physics (with
a warning), as it poses the same.

Simplifications, on purpose: SDEF vertices are skinned as BDEF2 (their C,
R0, R1 are read and ignored) and QDEF vertices as BDEF4.

Coordinates stay in the file's units and axes here; ``conr.mmd.axes`` maps
them to ours.
"""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .binary import SIGNED_INDEX, UNSIGNED_INDEX, BinaryReader, gather

log = logging.getLogger(__name__)

MAGIC = b"PMX "
ADVICE = "Open it in PMX Editor and save it again, or re-download the model."

#: Caps that keep a crafted file from costing unbounded memory or time.
MAX_VERTICES = 2_000_000
MAX_TRIANGLES = 4_000_000
MAX_TEXTURES = 4096
MAX_MATERIALS = 4096
MAX_BONES = 8192
MAX_IK_LINKS = 64
MAX_MORPHS = 65_536
MAX_MORPH_OFFSETS = 4_000_000
MAX_FRAMES = 65_536
MAX_FRAME_ITEMS = 65_536
MAX_RIGID_BODIES = 65_536
MAX_NAME_BYTES = 4096
MAX_COMMENT_BYTES = 1 << 20
#: Vertex coordinates beyond this (MMD units, 1 unit = 8 cm) are not a character.
MAX_COORDINATE = 1e5

WEIGHT_TYPES = ("BDEF1", "BDEF2", "BDEF4", "SDEF", "QDEF")

# Bone flags (PMX 2.0 / 2.1).
TAIL_IS_BONE = 0x0001
ROTATABLE = 0x0002
TRANSLATABLE = 0x0004
VISIBLE = 0x0008
ENABLED = 0x0010
IK = 0x0020
INHERIT_LOCAL = 0x0080
INHERIT_ROTATION = 0x0100
INHERIT_TRANSLATION = 0x0200
FIXED_AXIS = 0x0400
LOCAL_AXES = 0x0800
AFTER_PHYSICS = 0x1000
EXTERNAL_PARENT = 0x2000

# Material drawing flags.
DOUBLE_SIDED = 0x01


@dataclass(frozen=True)
class IkLink:
    """One bone of an IK chain; ``lower``/``upper`` are Euler limits in radians (x, y, z) when set."""

    bone: int
    lower: tuple[float, float, float] | None = None
    upper: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class IkChain:
    """An IK bone's chain: move ``links`` (nearest the target first) so ``target`` reaches the IK bone."""

    target: int
    loops: int
    unit_angle: float  # the most one link may turn per iteration, radians
    links: tuple[IkLink, ...]


@dataclass(frozen=True)
class PmxBone:
    name: str
    name_en: str
    position: tuple[float, float, float]  # bind-pose joint, file units
    parent: int  # -1 for a root
    layer: int  # deform order: lower layers are posed first
    flags: int
    inherit_parent: int = -1  # the bone whose rotation/translation this one adds in
    inherit_weight: float = 0.0
    ik: IkChain | None = None
    tail: int | tuple[float, float, float] | None = None  # where it points: a bone, an offset (file units), or unknown

    @property
    def translatable(self) -> bool:
        return bool(self.flags & TRANSLATABLE)

    @property
    def inherits_rotation(self) -> bool:
        return bool(self.flags & INHERIT_ROTATION) and self.inherit_parent >= 0

    @property
    def inherits_translation(self) -> bool:
        return bool(self.flags & INHERIT_TRANSLATION) and self.inherit_parent >= 0

    @property
    def after_physics(self) -> bool:
        return bool(self.flags & AFTER_PHYSICS)


@dataclass(frozen=True)
class PmxMaterial:
    name: str
    diffuse_alpha: float  # 0 means the material is hidden
    double_sided: bool
    index_count: int  # how many face indices (3 per triangle) it covers, in order


@dataclass(frozen=True)
class RigidBody:
    """A PMX rigid body: its bone, collision group and mask, shape and placement (file units, radians)."""

    name: str
    bone: int  # -1: none
    group: int  # 0..15
    mask: int  # bit k set: does not collide with group k
    shape: int  # 0 sphere, 1 box, 2 capsule
    size: tuple[float, float, float]  # sphere (radius), box (half extents), capsule (radius, height)
    position: tuple[float, float, float]  # bind-pose centre, file units
    rotation: tuple[float, float, float]  # Euler x, y, z (radians), applied z, then x, then y
    mode: int  # 0 follows its bone, 1 physics, 2 physics with the bone's position


@dataclass
class PmxModel:
    """A parsed model; geometry in file units (MMD: 1 unit = 8 cm), file axes."""

    name: str
    name_en: str
    version: float
    encoding: str
    vertices: np.ndarray  # (V, 3) float64
    weight_types: np.ndarray  # (V,) uint8, index into WEIGHT_TYPES
    bone_ids: np.ndarray  # (V, 4) int32, -1 = unused slot
    weights: np.ndarray  # (V, 4) float64, rows sum to 1 (or 0: a vertex bound to no bone stays put)
    triangles: np.ndarray  # (T, 3) int32
    materials: list[PmxMaterial]
    bones: list[PmxBone]
    source: str = ""
    unread_bytes: int = 0  # after the bones: morphs, frames, physics (the rigid bodies are read from there)
    bone_index: dict[str, int] = field(default_factory=dict)
    rigid_bodies: list[RigidBody] = field(default_factory=list)

    def __post_init__(self):
        if not self.bone_index:
            for i, bone in enumerate(self.bones):
                self.bone_index.setdefault(bone.name, i)

    def triangle_materials(self) -> np.ndarray | None:
        """(T,) material index per triangle, or None when the materials do not cover the faces exactly."""
        counts = np.array([m.index_count for m in self.materials], np.int64)
        if counts.sum() != 3 * len(self.triangles):
            return None
        return np.repeat(np.arange(len(self.materials)), counts // 3)


@dataclass(frozen=True)
class _Header:
    version: float
    encoding: str
    additional_uvs: int
    vertex_size: int
    texture_size: int
    material_size: int
    bone_size: int
    morph_size: int = 1
    rigid_size: int = 1


def read_pmx(data: bytes, name: str = "model.pmx") -> PmxModel:
    """Parse a PMX file; InputError (naming ``name``) for anything malformed or over the caps."""
    r = BinaryReader(data, name, "PMX model", ADVICE)
    header = _read_header(r)
    model_name = r.text(header.encoding, "model name", MAX_NAME_BYTES)
    model_name_en = r.text(header.encoding, "English model name", MAX_NAME_BYTES)
    r.text(header.encoding, "comment", MAX_COMMENT_BYTES)
    r.text(header.encoding, "English comment", MAX_COMMENT_BYTES)
    vertices, weight_types, bone_ids, weights = _read_vertices(r, header)
    triangles = _read_faces(r, header, len(vertices))
    texture_count = _skip_textures(r, header)
    materials = _read_materials(r, header, texture_count)
    bones = _read_bones(r, header)
    check_hierarchy(r, bones)
    bad = (bone_ids < -1) | (bone_ids >= len(bones))
    if bad.any():
        vertex, slot = np.argwhere(bad)[0]
        raise r.error(
            f"vertex {vertex} is weighted to bone {bone_ids[vertex, slot]}, but the model has {len(bones)} bones"
        )
    weights = np.where(bone_ids >= 0, weights, 0.0)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 1e-12)
    unread = r.remaining
    try:
        rigid_bodies = _read_rigid_bodies(r, header, len(bones), len(vertices), len(materials)) if unread else []
    except InputError as exc:
        log.warning("%s; posing it without physics", exc)
        rigid_bodies = []
    return PmxModel(
        name=model_name,
        name_en=model_name_en,
        version=header.version,
        encoding=header.encoding,
        vertices=vertices,
        weight_types=weight_types,
        bone_ids=bone_ids,
        weights=weights,
        triangles=triangles,
        materials=materials,
        bones=bones,
        source=name,
        unread_bytes=unread,
        rigid_bodies=rigid_bodies,
    )


def _read_header(r: BinaryReader) -> _Header:
    magic = r.raw(4, "file signature")
    if magic != MAGIC:
        if magic[:3] == b"Pmd":
            raise r.error("it is a PMD model (the older format); open it in PMX Editor and save it as .pmx")
        if magic[:4] == b"Voca":
            raise r.error("it is a VMD motion, not a model; give it as the motion")
        raise r.error("it does not start with the PMX signature")
    version = r.f32("version")
    if not 1.99 <= version <= 2.11:
        raise r.error(f"it is PMX version {version:g}; versions 2.0 and 2.1 are supported")
    count = r.u8("header size")
    if count < 8:
        raise r.error(f"the header lists {count} settings; PMX needs 8")
    settings = r.raw(count, "header settings")
    encoding_id, uvs, vertex_size, texture_size, material_size, bone_size, morph_size, rigid_size = settings[:8]
    if encoding_id not in (0, 1):
        raise r.error(f"text encoding {encoding_id} is unknown (0 = UTF-16, 1 = UTF-8)")
    if uvs > 4:
        raise r.error(f"it declares {uvs} additional UV sets; PMX allows 0 to 4")
    for label, size in (
        ("vertex", vertex_size),
        ("texture", texture_size),
        ("material", material_size),
        ("bone", bone_size),
        ("morph", morph_size),
        ("rigid body", rigid_size),
    ):
        if size not in (1, 2, 4):
            raise r.error(f"the {label} index size is {size}; PMX allows 1, 2 or 4 bytes")
    return _Header(
        float(version),
        "utf-16-le" if encoding_id == 0 else "utf-8",
        uvs,
        vertex_size,
        texture_size,
        material_size,
        bone_size,
        morph_size,
        rigid_size,
    )


def _read_vertices(r: BinaryReader, h: _Header):
    """Vertex records differ in size by weight type: one pass finds each record, numpy then reads fields."""
    b = h.bone_size
    fixed = 32 + 16 * h.additional_uvs  # position, normal, uv, additional uvs
    payload = (b, 2 * b + 4, 4 * b + 16, 2 * b + 4 + 36, 4 * b + 16)
    count = r.count("vertex count", MAX_VERTICES, fixed + 1 + b + 4)
    data, pos, end = r.data, r.pos, len(r.data)
    offsets = array("q", bytes(8 * count))
    kinds = bytearray(count)
    for i in range(count):
        at = pos + fixed
        if at >= end:
            raise r.error(f"vertex {i} of {count:,} runs past the end of the file (truncated or damaged)")
        kind = data[at]
        if kind > 4:
            raise r.error(f"vertex {i} has weight type {kind}; PMX knows 0 to 4 (BDEF1, BDEF2, BDEF4, SDEF, QDEF)")
        offsets[i] = pos
        kinds[i] = kind
        pos = at + 1 + payload[kind] + 4
    if pos > end:
        raise r.error("the last vertex runs past the end of the file (truncated or damaged)")
    r.pos = pos

    buffer = np.frombuffer(data, np.uint8)
    starts = np.frombuffer(offsets, np.int64) if count else np.zeros(0, np.int64)
    types = np.frombuffer(bytes(kinds), np.uint8).copy()
    positions = gather(buffer, starts, 12).view("<f4").reshape(-1, 3).astype(np.float64)
    if not np.isfinite(positions).all() or (np.abs(positions) > MAX_COORDINATE).any():
        raise r.error("a vertex position is not a finite number of sensible size")
    bone_ids = np.full((count, 4), -1, np.int32)
    weights = np.zeros((count, 4), np.float64)
    weight_start = starts + fixed + 1
    for kind in range(5):
        rows = np.flatnonzero(types == kind)
        if not rows.size:
            continue
        at = weight_start[rows]
        slots = 1 if kind == 0 else 2 if kind in (1, 3) else 4
        bone_ids[rows, :slots] = gather(buffer, at, slots * b).view(SIGNED_INDEX[b]).reshape(-1, slots)
        if kind == 0:
            weights[rows, 0] = 1.0
        elif slots == 2:
            first = gather(buffer, at + 2 * b, 4).view("<f4").reshape(-1).astype(np.float64)
            if not np.isfinite(first).all():
                raise r.error("a vertex weight is not a finite number")
            first = np.clip(first, 0.0, 1.0)
            weights[rows, 0], weights[rows, 1] = first, 1.0 - first
        else:
            four = gather(buffer, at + 4 * b, 16).view("<f4").reshape(-1, 4).astype(np.float64)
            if not np.isfinite(four).all():
                raise r.error("a vertex weight is not a finite number")
            weights[rows] = np.clip(four, 0.0, None)
    return positions, types, bone_ids, weights


def _read_faces(r: BinaryReader, h: _Header, vertex_count: int) -> np.ndarray:
    count = r.count("face index count", 3 * MAX_TRIANGLES, h.vertex_size)
    if count % 3:
        raise r.error(f"the face index count {count:,} is not a multiple of 3")
    dtype = UNSIGNED_INDEX[h.vertex_size]
    indices = np.frombuffer(r.raw(count * h.vertex_size, "face indices"), dtype).astype(np.int64)
    bad = (indices < 0) | (indices >= vertex_count)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise r.error(f"face index {at} points at vertex {indices[at]}, but the model has {vertex_count:,} vertices")
    return indices.reshape(-1, 3).astype(np.int32)


def _skip_textures(r: BinaryReader, h: _Header) -> int:
    count = r.count("texture count", MAX_TEXTURES, 4)
    for i in range(count):
        r.text(h.encoding, f"texture path {i}", MAX_NAME_BYTES)
    return count


def _read_materials(r: BinaryReader, h: _Header, texture_count: int) -> list[PmxMaterial]:
    t = h.texture_size
    smallest = 4 + 4 + 16 + 12 + 4 + 12 + 1 + 16 + 4 + 2 * t + 2 + 1 + 4 + 4
    count = r.count("material count", MAX_MATERIALS, smallest)
    materials = []
    for i in range(count):
        name = r.text(h.encoding, f"name of material {i}", MAX_NAME_BYTES)
        r.text(h.encoding, f"English name of material {i}", MAX_NAME_BYTES)
        diffuse = r.floats(4, f"colour of material {i}", finite=False)
        r.skip(12 + 4 + 12, f"specular and ambient colour of material {i}")
        flags = r.u8(f"flags of material {i}")
        r.skip(16 + 4, f"edge of material {i}")
        r.index(t, f"texture of material {i}", texture_count)
        r.index(t, f"sphere texture of material {i}", texture_count)
        r.u8(f"sphere mode of material {i}")
        shared_toon = r.u8(f"toon kind of material {i}")
        if shared_toon == 0:
            r.index(t, f"toon texture of material {i}", texture_count)
        elif shared_toon == 1:
            r.u8(f"shared toon of material {i}")
        else:
            raise r.error(f"material {i} has toon kind {shared_toon}; PMX knows 0 and 1")
        r.text(h.encoding, f"memo of material {i}", MAX_COMMENT_BYTES)
        index_count = r.i32(f"face count of material {i}")
        if index_count < 0 or index_count % 3:
            raise r.error(f"material {i} covers {index_count} face indices, which is not a whole number of triangles")
        alpha = float(diffuse[3]) if np.isfinite(diffuse[3]) else 1.0
        materials.append(PmxMaterial(name, alpha, bool(flags & DOUBLE_SIDED), index_count))
    return materials


def _read_bones(r: BinaryReader, h: _Header) -> list[PmxBone]:
    b = h.bone_size
    count = r.count("bone count", MAX_BONES, 4 + 4 + 12 + b + 4 + 2 + b)
    bones = []
    for i in range(count):
        what = f"bone {i}"
        name = r.text(h.encoding, f"name of {what}", MAX_NAME_BYTES)
        name_en = r.text(h.encoding, f"English name of {what}", MAX_NAME_BYTES)
        position = r.floats(3, f"position of {what} ({name})")
        if (np.abs(position) > MAX_COORDINATE).any():
            raise r.error(f"{what} ({name}) is placed absurdly far from the origin")
        parent = r.index(b, f"parent of {what} ({name})", count)
        layer = r.i32(f"deform layer of {what}")
        flags = r.u16(f"flags of {what}")
        if flags & TAIL_IS_BONE:
            tail = r.index(b, f"tail bone of {what}", count)
            tail = None if tail < 0 else tail
        else:
            offset = r.floats(3, f"tail of {what}", finite=False)
            tail = (
                tuple(offset.tolist())
                if np.isfinite(offset).all() and (np.abs(offset) <= MAX_COORDINATE).all()
                else None
            )
        inherit_parent, inherit_weight = -1, 0.0
        if flags & (INHERIT_ROTATION | INHERIT_TRANSLATION):
            inherit_parent = r.index(b, f"inherit parent of {what} ({name})", count)
            inherit_weight = r.floats(1, f"inherit weight of {what} ({name})")[0]
        if flags & FIXED_AXIS:
            r.skip(12, f"fixed axis of {what}")
        if flags & LOCAL_AXES:
            r.skip(24, f"local axes of {what}")
        if flags & EXTERNAL_PARENT:
            r.skip(4, f"external parent of {what}")
        ik = _read_ik(r, b, count, what, name) if flags & IK else None
        bones.append(
            PmxBone(
                name,
                name_en,
                tuple(position.tolist()),
                parent,
                layer,
                flags,
                inherit_parent,
                float(inherit_weight),
                ik,
                tail,
            )
        )
    return bones


def _read_ik(r: BinaryReader, b: int, bone_count: int, what: str, name: str) -> IkChain:
    target = r.index(b, f"IK target of {what} ({name})", bone_count, allow_none=False)
    loops = r.i32(f"IK loop count of {what}")
    unit = r.floats(1, f"IK angle limit of {what} ({name})")[0]
    link_count = r.count(f"IK link count of {what} ({name})", MAX_IK_LINKS, b + 1)
    links = []
    for k in range(link_count):
        bone = r.index(b, f"IK link {k} of {what} ({name})", bone_count, allow_none=False)
        if r.u8(f"limit switch of IK link {k} of {what}"):
            lower = r.floats(3, f"lower limit of IK link {k} of {what} ({name})")
            upper = r.floats(3, f"upper limit of IK link {k} of {what} ({name})")
            low, high = np.minimum(lower, upper), np.maximum(lower, upper)  # some files list them swapped
            links.append(IkLink(bone, tuple(low.tolist()), tuple(high.tolist())))
        else:
            links.append(IkLink(bone))
    return IkChain(target, max(0, loops), float(unit), tuple(links))


def _read_rigid_bodies(
    r: BinaryReader, h: _Header, bone_count: int, vertex_count: int, material_count: int
) -> list[RigidBody]:
    """Skip the morphs and display frames, then read the rigid bodies (joints and soft bodies are left unread)."""
    sizes = {
        0: h.morph_size + 4,
        1: h.vertex_size + 12,
        2: h.bone_size + 28,
        8: h.material_size + 113,
        9: h.morph_size + 4,
        10: h.rigid_size + 25,
        **{k: h.vertex_size + 16 for k in range(3, 8)},
    }
    count = r.count("morph count", MAX_MORPHS, 4 + 4 + 1 + 1 + 4)
    for i in range(count):
        r.text(h.encoding, f"name of morph {i}", MAX_NAME_BYTES)
        r.text(h.encoding, f"English name of morph {i}", MAX_NAME_BYTES)
        r.u8(f"panel of morph {i}")
        kind = r.u8(f"kind of morph {i}")
        if kind not in sizes:
            raise r.error(f"morph {i} is of kind {kind}; PMX knows 0 to 10")
        offsets = r.count(f"offset count of morph {i}", MAX_MORPH_OFFSETS, sizes[kind])
        r.skip(offsets * sizes[kind], f"offsets of morph {i}")
    count = r.count("display frame count", MAX_FRAMES, 4 + 4 + 1 + 4)
    for i in range(count):
        r.text(h.encoding, f"name of display frame {i}", MAX_NAME_BYTES)
        r.text(h.encoding, f"English name of display frame {i}", MAX_NAME_BYTES)
        r.u8(f"kind of display frame {i}")
        items = r.count(f"item count of display frame {i}", MAX_FRAME_ITEMS, 1 + min(h.bone_size, h.morph_size))
        for k in range(items):
            is_morph = r.u8(f"item {k} of display frame {i}")
            r.skip(h.morph_size if is_morph else h.bone_size, f"item {k} of display frame {i}")
    b = h.bone_size
    count = r.count("rigid body count", MAX_RIGID_BODIES, 4 + 4 + b + 1 + 2 + 1 + 36 + 20 + 1)
    bodies = []
    for i in range(count):
        what = f"rigid body {i}"
        name = r.text(h.encoding, f"name of {what}", MAX_NAME_BYTES)
        r.text(h.encoding, f"English name of {what}", MAX_NAME_BYTES)
        bone = r.index(b, f"bone of {what} ({name})", bone_count)
        group, mask, shape = r.u8(f"group of {what}"), r.u16(f"collision mask of {what}"), r.u8(f"shape of {what}")
        values = r.floats(9, f"size and placement of {what} ({name})")
        if (np.abs(values) > MAX_COORDINATE).any():
            raise r.error(f"{what} ({name}) is absurdly large or far from the origin")
        r.skip(20, f"mass, damping, restitution and friction of {what}")
        mode = r.u8(f"mode of {what}")
        if shape > 2 or mode > 2 or group > 15:
            raise r.error(
                f"{what} ({name}) has shape {shape}, mode {mode} and group {group}; PMX knows 0-2, 0-2 and 0-15"
            )
        v = values.tolist()
        bodies.append(RigidBody(name, bone, group, mask, shape, tuple(v[0:3]), tuple(v[3:6]), tuple(v[6:9]), mode))
    return bodies


def check_hierarchy(r: BinaryReader, bones: list[PmxBone]) -> None:
    """Refuse parent cycles (a bone its own ancestor); each bone is visited once."""
    state = [0] * len(bones)  # 0 unseen, 1 on the current walk, 2 known to reach a root
    for start in range(len(bones)):
        walk, j = [], start
        while j != -1 and state[j] == 0:
            state[j] = 1
            walk.append(j)
            j = bones[j].parent
        if j != -1 and state[j] == 1:
            raise r.error(f"bone {j} ({bones[j].name}) is its own ancestor (a parent cycle)")
        for k in walk:
            state[k] = 2
