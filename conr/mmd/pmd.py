"""Reading PMD models (MikuMikuDance's older model format, still used by many classic models) from untrusted bytes.

A PMD is mapped onto the same ``PmxModel`` the PMX reader produces, so
posing, framing and UDP need no second path. What we read: the header,
vertices (position; two bones and a weight in percent), triangles,
materials (face counts; alpha 0 hides, alpha below 1 draws both sides, as
MMD does for PMD), bones and the IK list; then, past the morphs, display
lists, English names and toon textures (skipped), the rigid bodies, for
physics (``conr.mmd.physics``; PMD places them relative to their bone).
Everything after the IK list is optional: old files end there, and a file
damaged there is read without physics (with a warning).

PMD has no deform layers, flags or IK limits; MMD fills them in by rule,
and so do we:

- bone type 1 (rotate and move) and 2 (IK) are translatable;
- type 5 ("under rotation") takes the rotation of the bone in its IK-parent
  field (inherit weight 1); type 9 ("co-rotation") adds the rotation of its
  tail bone times (IK-parent field) / 100;
- MMD poses every bone first and then solves the IK list in order: each IK
  bone gets deform layer 1 + its place in the list (and bones below an IK
  bone at least its layer, so they follow it);
- an IK link named ...ひざ (knee) is a hinge about x, -180 to -0.5 degrees,
  and the IK's "control weight" is a quarter of the per-iteration angle.

Coordinates stay in the file's units and axes, as with PMX.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import InputError
from .binary import BinaryReader
from .pmx import (
    ENABLED,
    IK,
    INHERIT_ROTATION,
    MAX_BONES,
    MAX_COORDINATE,
    MAX_IK_LINKS,
    MAX_MATERIALS,
    MAX_MORPH_OFFSETS,
    MAX_RIGID_BODIES,
    MAX_TRIANGLES,
    MAX_VERTICES,
    ROTATABLE,
    TRANSLATABLE,
    VISIBLE,
    IkChain,
    IkLink,
    PmxBone,
    PmxMaterial,
    PmxModel,
    RigidBody,
    check_hierarchy,
)

log = logging.getLogger(__name__)

MAGIC = b"Pmd"
ADVICE = "Open it in PMX Editor and save it as .pmx, or re-download the model."

VERTEX = np.dtype(
    [
        ("position", "<f4", (3,)),
        ("normal", "<f4", (3,)),
        ("uv", "<f4", (2,)),
        ("bones", "<u2", (2,)),
        ("weight", "u1"),
        ("edge", "u1"),
    ]
)
MATERIAL_BYTES = 70
BONE = np.dtype(
    [
        ("name", "S20"),
        ("parent", "<u2"),
        ("tail", "<u2"),
        ("type", "u1"),
        ("ik_parent", "<u2"),
        ("position", "<f4", (3,)),
    ]
)
IK_HEADER_BYTES = 11
MORPH_VERTEX_BYTES = 16
RIGID_BODY = np.dtype(
    [
        ("name", "S20"),
        ("bone", "<u2"),
        ("group", "u1"),
        ("mask", "<u2"),
        ("shape", "u1"),
        ("values", "<f4", (9,)),
        ("physics", "<f4", (5,)),
        ("mode", "u1"),
    ]
)
TOON_BYTES = 10 * 100
NO_BONE = 0xFFFF
MAX_IK_CHAINS = 4096

# Bone types.
ROTATE_AND_MOVE = 1
IK_BONE = 2
UNDER_ROTATION = 5
HIDDEN = 7
CO_ROTATION = 9

#: MMD's fixed limits for PMD knees (bones named ...ひざ in IK chains): a hinge about x.
KNEE_NAME = "ひざ"
KNEE_LOWER = (-np.pi, 0.0, 0.0)
KNEE_UPPER = (float(np.radians(-0.5)), 0.0, 0.0)
#: PMD stores the per-iteration IK angle divided by this.
IK_ANGLE_SCALE = 4.0


def read_pmd(data: bytes, name: str = "model.pmd") -> PmxModel:
    """Parse a PMD file into a ``PmxModel``; InputError (naming ``name``) for anything malformed or over the caps."""
    r = BinaryReader(data, name, "PMD model", ADVICE)
    if r.raw(3, "file signature") != MAGIC:
        raise r.error("it does not start with the PMD signature 'Pmd'")
    version = r.f32("version")
    if not np.isfinite(version):
        raise r.error("its version is not a number")
    model_name, _ = r.fixed_text(20, "model name")
    r.skip(256, "comment")
    vertices, bone_ids, weights = _read_vertices(r)
    triangles = _read_faces(r, len(vertices))
    materials = _read_materials(r)
    bones, records = _read_bones(r)
    check_hierarchy(r, bones)
    chains = _read_ik(r, bones)
    bones = _with_rules(bones, records, chains)
    bad = (bone_ids >= len(bones)) & (weights > 0)
    if bad.any():
        vertex, slot = np.argwhere(bad)[0]
        raise r.error(
            f"vertex {vertex} is weighted to bone {bone_ids[vertex, slot]}, but the model has {len(bones)} bones"
        )
    bone_ids = np.where(weights > 0, bone_ids, -1).astype(np.int32)
    unread = r.remaining
    try:
        rigid_bodies = _read_rigid_bodies(r, bones)
    except InputError as exc:
        log.warning("%s; posing it without physics", exc)
        rigid_bodies = []
    return PmxModel(
        name=model_name,
        name_en="",
        version=float(version),
        encoding="cp932",
        vertices=vertices,
        weight_types=np.where(weights[:, 1] > 0, 1, 0).astype(np.uint8),  # BDEF2, or BDEF1 when one bone has it all
        bone_ids=bone_ids,
        weights=weights,
        triangles=triangles,
        materials=materials,
        bones=bones,
        source=name,
        unread_bytes=unread,
        rigid_bodies=rigid_bodies,
    )


def _text(field) -> str:
    """A fixed-length, NUL-padded Shift-JIS name field."""
    return bytes(field).split(b"\0", 1)[0].decode("cp932", errors="replace")


def _sensible(values) -> np.ndarray | None:
    """The values as float64, or None when one is not finite (signalling NaNs too) or beyond ``MAX_COORDINATE``."""
    with np.errstate(invalid="ignore"):
        values = np.asarray(values).astype(np.float64)
    return values if np.isfinite(values).all() and not (np.abs(values) > MAX_COORDINATE).any() else None


def _read_vertices(r: BinaryReader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = r.count("vertex count", MAX_VERTICES, VERTEX.itemsize, signed=False)
    records = np.frombuffer(r.raw(count * VERTEX.itemsize, "vertices"), VERTEX, count)
    positions = _sensible(records["position"])
    if positions is None:
        raise r.error("a vertex position is not a finite number of sensible size")
    positions = positions.reshape(-1, 3)
    percent = records["weight"].astype(np.float64)
    if (percent > 100).any():
        at = int(np.flatnonzero(percent > 100)[0])
        raise r.error(f"vertex {at} gives its first bone a weight of {int(percent[at])}%; PMD allows 0 to 100")
    bone_ids = np.full((count, 4), -1, np.int64)
    bone_ids[:, :2] = records["bones"]
    weights = np.zeros((count, 4))
    weights[:, 0], weights[:, 1] = percent / 100.0, 1.0 - percent / 100.0
    return positions, bone_ids, weights


def _read_faces(r: BinaryReader, vertex_count: int) -> np.ndarray:
    count = r.count("face index count", 3 * MAX_TRIANGLES, 2, signed=False)
    if count % 3:
        raise r.error(f"the face index count {count:,} is not a multiple of 3")
    indices = np.frombuffer(r.raw(2 * count, "face indices"), "<u2").astype(np.int64)
    if (indices >= vertex_count).any():
        at = int(np.flatnonzero(indices >= vertex_count)[0])
        raise r.error(f"face index {at} points at vertex {indices[at]}, but the model has {vertex_count:,} vertices")
    return indices.reshape(-1, 3).astype(np.int32)


def _read_materials(r: BinaryReader) -> list[PmxMaterial]:
    count = r.count("material count", MAX_MATERIALS, MATERIAL_BYTES, signed=False)
    materials = []
    for i in range(count):
        diffuse = r.floats(4, f"colour of material {i}", finite=False)
        r.skip(4 + 12 + 12 + 1 + 1, f"specular and ambient colour of material {i}")
        index_count = r.u32(f"face count of material {i}")
        texture, _ = r.fixed_text(20, f"texture of material {i}")
        if index_count % 3:
            raise r.error(f"material {i} covers {index_count} face indices, which is not a whole number of triangles")
        alpha = float(diffuse[3]) if np.isfinite(diffuse[3]) else 1.0
        materials.append(PmxMaterial(texture or f"material {i}", alpha, alpha < 1.0, index_count))
    return materials


def _read_bones(r: BinaryReader) -> tuple[list[PmxBone], np.ndarray]:
    """Bones without their rules (those need the IK list), and the raw records with the type fields."""
    count = r.u16("bone count")
    if count > MAX_BONES:
        raise r.error(f"the bone count is {count:,}, over the limit of {MAX_BONES:,}")
    r.need(count * BONE.itemsize, f"list of {count} bones")
    records = np.frombuffer(r.raw(count * BONE.itemsize, "bones"), BONE, count)
    bones = []
    for i, record in enumerate(records):
        name = _text(record["name"])
        position = _sensible(record["position"])
        if position is None:
            raise r.error(f"bone {i} ({name}) is not placed at a finite, sensible position")
        parent = int(record["parent"])
        if parent == NO_BONE:
            parent = -1
        elif parent >= count:
            raise r.error(f"the parent of bone {i} ({name}) is {parent}, but only 0 to {count - 1} exist")
        kind = int(record["type"])
        flags = (
            ROTATABLE
            | ENABLED
            | (0 if kind == HIDDEN else VISIBLE)
            | (TRANSLATABLE if kind in (ROTATE_AND_MOVE, IK_BONE) else 0)
        )
        tail = int(record["tail"])
        bones.append(
            PmxBone(
                name,
                "",
                tuple(position.tolist()),
                parent,
                0,
                flags,
                tail=tail if 0 < tail < count and tail != i else None,
            )
        )
    return bones, records


def _read_ik(r: BinaryReader, bones: list[PmxBone]) -> dict[int, IkChain]:
    """The IK list, in order: {IK bone: chain} (a bone listed twice keeps its first chain)."""
    count = r.u16("IK count")
    if count > MAX_IK_CHAINS:
        raise r.error(f"the IK count is {count:,}, over the limit of {MAX_IK_CHAINS:,}")
    r.need(count * IK_HEADER_BYTES, f"list of {count} IK chains")
    chains: dict[int, IkChain] = {}
    for k in range(count):
        what = f"IK {k}"
        bone = _bone_index(r, f"bone of {what}", len(bones))
        target = _bone_index(r, f"target of {what}", len(bones))
        link_count = r.u8(f"link count of {what}")
        loops = r.u16(f"loop count of {what}")
        weight = r.floats(1, f"control weight of {what}")[0]
        if link_count > MAX_IK_LINKS:
            raise r.error(f"{what} has {link_count} links, over the limit of {MAX_IK_LINKS}")
        links = []
        for j in range(link_count):
            link = _bone_index(r, f"link {j} of {what}", len(bones))
            if KNEE_NAME in bones[link].name:
                links.append(IkLink(link, KNEE_LOWER, KNEE_UPPER))
            else:
                links.append(IkLink(link))
        chains.setdefault(bone, IkChain(target, loops, float(weight) * IK_ANGLE_SCALE, tuple(links)))
    return chains


def _bone_index(r: BinaryReader, what: str, count: int) -> int:
    value = r.u16(what)
    if value >= count:
        raise r.error(f"the {what} is {value}, but only 0 to {count - 1} exist")
    return value


def _with_rules(bones: list[PmxBone], records: np.ndarray, chains: dict[int, IkChain]) -> list[PmxBone]:
    """Inheritance from the bone types, IK chains, and the deform layers that put IK after everything else."""
    order = {bone: k for k, bone in enumerate(chains)}  # dicts keep the IK list's order
    own = [1 + order[i] if i in order else 0 for i in range(len(bones))]
    layers: list[int | None] = [None] * len(bones)
    for i in range(len(bones)):  # a bone evaluates no earlier than its parent (the hierarchy is acyclic)
        walk, j = [], i
        while j >= 0 and layers[j] is None:
            walk.append(j)
            j = bones[j].parent
        above = layers[j] if j >= 0 else 0
        for k in reversed(walk):
            above = max(above, own[k])
            layers[k] = above
    out = []
    for i, bone in enumerate(bones):
        kind, field, tail = int(records[i]["type"]), int(records[i]["ik_parent"]), int(records[i]["tail"])
        flags, source, weight = bone.flags, -1, 0.0
        if kind == UNDER_ROTATION and field < len(bones) and field != i:
            flags, source, weight = flags | INHERIT_ROTATION, field, 1.0
        elif kind == CO_ROTATION and 0 < tail < len(bones) and tail != i:
            coefficient = field - 0x10000 if field >= 0x8000 else field  # a signed percentage
            flags, source, weight = flags | INHERIT_ROTATION, tail, coefficient / 100.0
        chain = chains.get(i)
        if chain is not None:
            flags |= IK
        out.append(
            PmxBone(
                bone.name,
                bone.name_en,
                bone.position,
                bone.parent,
                int(layers[i]),
                flags,
                source,
                weight,
                chain,
                bone.tail,
            )
        )
    return out


def _read_rigid_bodies(r: BinaryReader, bones: list[PmxBone]) -> list[RigidBody]:
    """Skip the optional sections after the IK list up to the rigid bodies, and read those (absolute placement)."""
    if r.remaining < 2:
        return []
    morphs = r.u16("morph count")
    for i in range(morphs):
        r.skip(20, f"name of morph {i}")
        count = r.count(f"vertex count of morph {i}", MAX_MORPH_OFFSETS, MORPH_VERTEX_BYTES, signed=False)
        r.u8(f"kind of morph {i}")
        r.skip(count * MORPH_VERTEX_BYTES, f"vertices of morph {i}")
    r.skip(2 * r.u8("morph display count"), "morph display list")
    frames = r.u8("bone display frame count")
    r.skip(50 * frames, "bone display frame names")
    r.skip(3 * r.count("bone display count", 1 << 20, 3, signed=False), "bone display list")
    if r.remaining and r.u8("English names flag"):
        r.skip(20 + 256 + 20 * len(bones) + 20 * max(morphs - 1, 0) + 50 * frames, "English names")
    if r.remaining < TOON_BYTES + 4:
        return []
    r.skip(TOON_BYTES, "toon texture names")
    count = r.count("rigid body count", MAX_RIGID_BODIES, RIGID_BODY.itemsize, signed=False)
    records = np.frombuffer(r.raw(count * RIGID_BODY.itemsize, "rigid bodies"), RIGID_BODY, count)
    bodies = []
    for i, record in enumerate(records):
        name = _text(record["name"])
        values = _sensible(record["values"])
        if values is None:
            raise r.error(f"rigid body {i} ({name}) is not of a finite, sensible size and place")
        bone = int(record["bone"])
        bone = -1 if bone == NO_BONE else bone
        if bone >= len(bones):
            raise r.error(f"the bone of rigid body {i} ({name}) is {bone}, but only 0 to {len(bones) - 1} exist")
        shape, mode, group = int(record["shape"]), int(record["mode"]), int(record["group"])
        if shape > 2 or mode > 2 or group > 15:
            raise r.error(
                f"rigid body {i} ({name}) has shape {shape}, mode {mode} and group {group}; PMD knows 0-2, 0-2 and 0-15"
            )
        origin = np.array(bones[bone if bone >= 0 else 0].position) if bones else np.zeros(3)
        v = values.tolist()
        bodies.append(
            RigidBody(
                name,
                bone,
                group,
                int(record["mask"]),
                shape,
                tuple(v[0:3]),
                tuple((origin + values[3:6]).tolist()),
                tuple(v[6:9]),
                mode,
            )
        )
    return bodies
