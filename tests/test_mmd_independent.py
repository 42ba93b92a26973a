"""Our PMX, PMD and VMD readers against a second, independent parser: mmd-parser (npm; three.js's MMDLoader uses it).

The other MMD tests read files made by tests/mmd_writers.py, written by the
readers' own authors: a misreading shared by both would pass them. Here node
runs mmd-parser (tests/node/parse_mmd.js prints what it read as JSON) on the
same files, and every field both parsers read is compared. The files are our
writers' models and motions, and hand-made ones (built below, byte by byte)
laid out as our writers never do: UTF-8 with unusual index sizes, four
additional UVs, morphs, display frames with morphs, joints, PMD without
English names, VMD names with junk after the NUL, unsorted and repeated keys,
MMD's real 64-byte interpolation layout.

Fields our readers do not read (normals, UVs, comments, morph offsets,
joints) are compared with what the hand-made files hold, and every model
must be parsed by mmd-parser to its last byte. mmd-parser cannot read VMD
light, self-shadow and IK keys, old-format VMD headers, PMX morphs of kinds
4-7, 9 and 10, or PMD files that end after the IK list: those are not
compared here (test_mmd_formats and test_mmd_pmd cover them). Three gaps of
the pinned mmd-parser 1.0.4 are patched by parse_mmd.js, which says why: it
refused every PMX 2.1, decoded UTF-8 text as UTF-16, and refused QDEF.

Neither side converts axes (parse_mmd.js passes leftToRight=false), so
positions, quaternions and Euler angles are compared as stored.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from mmd_writers import (
    BoneSpec,
    CameraKey,
    PmxSpec,
    character_spec,
    dance_keys,
    feature_motion_bytes,
    feature_pmd_spec,
    feature_spec,
    hair_spec,
    pmd_bytes,
    pmd_pair,
    pmx_bytes,
    vmd_bytes,
)

from conr.mmd import pmx
from conr.mmd.files import load_model, load_motion
from conr.mmd.pmd import KNEE_LOWER, KNEE_NAME, KNEE_UPPER

NODE_DIR = Path(__file__).parent / "node"
INSTALL = "npm ci --prefix tests/node"


def _missing() -> str | None:
    if shutil.which("node") is None:
        return f"node is not installed (apt-get install nodejs npm, then {INSTALL})"
    if not (NODE_DIR / "node_modules" / "mmd-parser" / "package.json").is_file():
        return f"mmd-parser is not installed: run {INSTALL}"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"independent MMD parser unavailable: {_missing()}")


def independent(path: Path) -> dict:
    """What mmd-parser reads from ``path``."""
    command = ["node", str(NODE_DIR / "parse_mmd.js"), str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"mmd-parser could not read {path.name}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def close(ours, theirs, what: str) -> None:
    """Equal to float32 precision (both sides read the same float32 bits, so in practice exactly)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6, err_msg=what)


def signed32(value: int) -> int:
    """mmd-parser reads some int32 fields as uint32."""
    return value - (1 << 32) if value >= 1 << 31 else value


# ---------------------------------------------------------------- comparing models


def read_to_the_end(theirs: dict, where: str) -> None:
    read, size = theirs["bytesRead"], theirs["size"]
    assert read == size, f"{where}: mmd-parser stopped at byte {read:,} of {size:,}"


def compare_pmx(path: Path) -> tuple:
    ours, theirs = load_model(path), independent(path)
    meta, where = theirs["metadata"], path.name
    read_to_the_end(theirs, where)
    assert (ours.name, ours.name_en) == (meta["modelName"], meta["englishModelName"])
    close(ours.version, meta["version"], f"{where}: version")
    assert ours.encoding == ("utf-16-le", "utf-8")[meta["encoding"]]

    vertices = theirs["vertices"]
    close(ours.vertices, [v["position"] for v in vertices], f"{where}: vertex positions")
    # mmd-parser reports SDEF as BDEF2 (its type 1) but keeps SDEF's C, R0, R1: that tells them apart.
    assert ours.weight_types.tolist() == [3 if "skinC" in v else v["type"] for v in vertices]
    ids, weights = np.full((len(vertices), 4), -1), np.zeros((len(vertices), 4))
    for i, v in enumerate(vertices):
        ids[i, : len(v["skinIndices"])], weights[i, : len(v["skinWeights"])] = v["skinIndices"], v["skinWeights"]
    assert np.array_equal(ours.bone_ids, ids), f"{where}: vertex bone indices"
    # Our reader keeps weights only on slots that name a bone and scales each row to sum 1 (PmxModel.weights);
    # mmd-parser gives the stored values, so the same is done to them here.
    weights = np.where(ids >= 0, np.clip(weights, 0.0, None), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    close(ours.weights, weights, f"{where}: vertex weights")
    assert ours.triangles.tolist() == [f["indices"] for f in theirs["faces"]]

    assert len(ours.materials) == len(theirs["materials"])
    for i, (a, b) in enumerate(zip(ours.materials, theirs["materials"])):
        double_sided = bool(b["flag"] & pmx.DOUBLE_SIDED)
        assert (a.name, a.double_sided, a.index_count) == (b["name"], double_sided, 3 * b["faceCount"]), i
        close(a.diffuse_alpha, b["diffuse"][3], f"{where}: alpha of material {i}")

    assert len(ours.bones) == len(theirs["bones"])
    for i, (a, b) in enumerate(zip(ours.bones, theirs["bones"])):
        what = f"{where}: bone {i} ({b['name']})"
        assert (a.name, a.name_en, a.parent) == (b["name"], b["englishName"], b["parentIndex"]), what
        assert (a.flags, a.layer) == (b["flag"], signed32(b["transformationClass"])), what
        close(a.position, b["position"], what)
        if b["flag"] & pmx.TAIL_IS_BONE:
            assert a.tail == (b["connectIndex"] if b["connectIndex"] >= 0 else None), what
        else:
            close(a.tail, b["offsetPosition"], what)
        grant = b.get("grant")
        inherit = (grant["parentIndex"], pytest.approx(grant["ratio"])) if grant else (-1, 0.0)
        assert (a.inherit_parent, a.inherit_weight) == inherit, what
        ik = b.get("ik")
        assert (a.ik is None) == (ik is None), what
        if ik:
            # mmd-parser calls the chain's end bone (our IK target) the effector.
            assert (a.ik.target, a.ik.loops) == (ik["effector"], max(0, signed32(ik["iteration"]))), what
            close(a.ik.unit_angle, ik["maxAngle"], what)
            assert [link.bone for link in a.ik.links] == [link["index"] for link in ik["links"]], what
            for link, raw in zip(a.ik.links, ik["links"]):
                if raw["angleLimitation"]:
                    # Our reader orders each axis's limits (some files list them swapped): so are the raw values.
                    limits = [raw["lowerLimitationAngle"], raw["upperLimitationAngle"]]
                    close(link.lower, np.min(limits, axis=0), what)
                    close(link.upper, np.max(limits, axis=0), what)
                else:
                    assert link.lower is None and link.upper is None, what

    compare_bodies(ours.rigid_bodies, theirs["rigidBodies"], where)
    return ours, theirs


def compare_pmd(path: Path) -> tuple:
    ours, theirs = load_model(path), independent(path)
    meta, where = theirs["metadata"], path.name
    read_to_the_end(theirs, where)
    assert ours.name == meta["modelName"]
    close(ours.version, meta["version"], f"{where}: version")

    vertices = theirs["vertices"]
    close(ours.vertices, [v["position"] for v in vertices], f"{where}: vertex positions")
    first = np.array([v["skinWeights"][0] for v in vertices])
    # PMD stores two bones and the first one's weight in percent; our reader leaves out (-1) a bone of weight 0.
    close(ours.weights[:, :2], np.stack([first, 1 - first], axis=1), f"{where}: vertex weights")
    assert not ours.weights[:, 2:].any()
    ids = np.array([v["skinIndices"] for v in vertices])
    assert np.array_equal(ours.bone_ids[:, :2], np.where(ours.weights[:, :2] > 0, ids, -1))
    assert ours.triangles.tolist() == [f["indices"] for f in theirs["faces"]]

    assert len(ours.materials) == len(theirs["materials"])
    for i, (a, b) in enumerate(zip(ours.materials, theirs["materials"])):
        # PMD materials have no name (ours: the texture, else "material i"); see-through ones are drawn from both sides.
        alpha, name = b["diffuse"][3], b["fileName"] or f"material {i}"
        assert (a.name, a.double_sided, a.index_count) == (name, alpha < 1, 3 * b["faceCount"]), i
        close(a.diffuse_alpha, alpha, f"{where}: alpha of material {i}")

    # PMD has no bone flags or inheritance fields: our reader derives them from the bone types (pmd.py says how).
    iks = {}
    for ik in theirs["iks"]:
        iks.setdefault(ik["target"], ik)  # mmd-parser's "target" is the IK bone; one listed twice keeps its first chain
    count = len(theirs["bones"])
    assert len(ours.bones) == count
    for i, (a, b) in enumerate(zip(ours.bones, theirs["bones"])):
        what = f"{where}: bone {i} ({b['name']})"
        kind, tail, field = b["type"], b["tailIndex"] & 0xFFFF, b["ikIndex"]
        assert (a.name, a.parent) == (b["name"], b["parentIndex"]), what  # parent 0xFFFF: -1 on both sides
        close(a.position, b["position"], what)
        assert a.tail == (tail if 0 < tail < count and tail != i else None), what
        assert bool(a.flags & pmx.TRANSLATABLE) == (kind in (1, 2)), what
        assert bool(a.flags & pmx.VISIBLE) == (kind != 7), what
        assert bool(a.flags & pmx.IK) == (i in iks), what
        if kind == 5 and field & 0xFFFF < count and field & 0xFFFF != i:
            assert (a.inherit_parent, a.inherit_weight) == (field & 0xFFFF, 1.0), what
        elif kind == 9 and 0 < tail < count and tail != i:
            assert (a.inherit_parent, a.inherit_weight) == (tail, pytest.approx(field / 100)), what  # signed percent
        else:
            assert (a.inherit_parent, a.inherit_weight) == (-1, 0.0), what
        if i in iks:
            ik = iks[i]
            assert (a.ik.target, a.ik.loops) == (ik["effector"], ik["iteration"]), what
            close(a.ik.unit_angle, 4 * ik["maxAngle"], what)  # PMD stores a quarter of the angle per iteration
            assert [link.bone for link in a.ik.links] == [link["index"] for link in ik["links"]], what
            for link in a.ik.links:  # PMD has no limits; MMD makes knees hinges, and so do we
                knee = KNEE_NAME in theirs["bones"][link.bone]["name"]
                assert (link.lower, link.upper) == ((KNEE_LOWER, KNEE_UPPER) if knee else (None, None)), what

    # PMD places a body relative to its bone (bone 0 when it has none); ours are absolute.
    origins = [theirs["bones"][max(b["boneIndex"], 0)]["position"] for b in theirs["rigidBodies"]]
    compare_bodies(ours.rigid_bodies, theirs["rigidBodies"], where, origins)
    return ours, theirs


def compare_bodies(ours: list, theirs: list, where: str, origins: list | None = None) -> None:
    """Rigid bodies; ``origins``: what each body's stored position is relative to (PMD), if anything."""
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        what = f"{where}: rigid body {i} ({b['name']})"
        assert (a.name, a.bone, a.group, a.mask) == (b["name"], b["boneIndex"], b["groupIndex"], b["groupTarget"]), what
        assert (a.shape, a.mode) == (b["shapeType"], b["type"]), what
        close(a.size, [b["width"], b["height"], b["depth"]], what)
        close(a.position, np.add(origins[i] if origins else 0.0, b["position"]), what)
        close(a.rotation, b["rotation"], what)


def compare_vmd(path: Path) -> tuple:
    ours, theirs = load_motion(path), independent(path)
    meta, where = theirs["metadata"], path.name
    assert ours.model_name == meta["name"]
    counts = (meta["motionCount"], meta["morphCount"], meta["cameraCount"])
    assert (ours.counts["bone"], ours.counts["morph"], ours.counts["camera"]) == counts

    # Our reader groups bone keys by name, sorted by frame, the last in the file winning on a repeated frame.
    keys: dict[str, dict[int, dict]] = {}
    for key in theirs["motions"]:
        keys.setdefault(key["boneName"], {})[key["frameNum"]] = key
    assert sorted(track.name for track in ours.tracks.values()) == sorted(keys)
    for track in ours.tracks.values():
        what = f"{where}: keys of {track.name}"
        raw = [keys[track.name][frame] for frame in sorted(keys[track.name])]
        assert track.frames.tolist() == [k["frameNum"] for k in raw], what
        close(track.positions, [k["position"] for k in raw], what)
        # VMD quaternions are (x, y, z, w); ours are (w, x, y, z), unit length, and identity for an all-zero one.
        q = np.array([k["rotation"] for k in raw])[:, [3, 0, 1, 2]]
        norm = np.linalg.norm(q, axis=1, keepdims=True)
        close(track.rotations, np.where(norm > 1e-8, q / np.maximum(norm, 1e-8), [1.0, 0.0, 0.0, 0.0]), what)
        # The first 16 interpolation bytes are x1, y1, x2, y2, each for the channels x, y, z, rotation; ours are
        # (channel, value), capped at 127 (MMD's grid).
        curves = np.array([k["interpolation"][:16] for k in raw]).reshape(-1, 4, 4).transpose(0, 2, 1)
        assert np.array_equal(track.curves, np.minimum(curves, 127)), what

    cameras: dict[int, dict] = {}
    for key in theirs["cameras"]:
        cameras[key["frameNum"]] = key  # the last key of a repeated frame wins
    assert (ours.camera is None) == (not cameras)
    if cameras:
        raw = [cameras[frame] for frame in sorted(cameras)]
        camera, what = ours.camera, f"{where}: camera keys"
        assert camera.frames.tolist() == sorted(cameras), what
        close(camera.distances, [k["distance"] for k in raw], what)
        close(camera.targets, [k["position"] for k in raw], what)
        close(camera.angles, [k["rotation"] for k in raw], what)
        # Camera curves are stored per channel as (x1, x2, y1, y2); ours are (x1, y1, x2, y2).
        curves = np.array([k["interpolation"] for k in raw]).reshape(-1, 6, 4)[:, :, [0, 2, 1, 3]]
        assert np.array_equal(camera.curves, np.minimum(curves, 127)), what
        assert camera.view_angles.tolist() == [k["fov"] for k in raw], what
        # The last byte is MMD's "perspective off" switch (mmd-parser names it after the switch): 1 = orthographic.
        assert camera.orthographic.tolist() == [k["perspective"] != 0 for k in raw], what
    return ours, theirs


def compare(tmp_path: Path, name: str, data: bytes) -> tuple:
    """Write ``data`` as ``name`` and compare what both parsers read from it: (ours, mmd-parser's)."""
    path = tmp_path / name
    path.write_bytes(data)
    return {".pmx": compare_pmx, ".pmd": compare_pmd, ".vmd": compare_vmd}[path.suffix](path)


# ---------------------------------------------------------------- files from our writers


def _character():
    from conr.dances.character import build_character

    return build_character()


def _hair_without_morphs():
    spec = hair_spec()
    spec.morphs = False  # its morphs include kinds 4-7, 9 and 10, which mmd-parser cannot read
    return spec


def _one_byte_vertex_indices():
    """200 vertices: one-byte vertex indices above 127, which PMX reads unsigned (bone indices are signed)."""
    n = 200
    vertices = np.stack([np.arange(n) % 20, np.arange(n) // 20, np.zeros(n)], axis=1).astype(np.float64)
    triangles = np.array([[i, i + 1, n - 1 - i] for i in range(n // 2)])
    ids, weights = np.full((n, 4), -1), np.zeros((n, 4))
    ids[:, :2], weights[:, :2] = [0, 1], [0.75, 0.25]
    return PmxSpec(
        vertices,
        triangles,
        [BoneSpec("センター", (0.0, 0.0, 0.0)), BoneSpec("上半身", (0.0, 5.0, 0.0), 0)],
        ids,
        weights,
    )


WIDE = {"vertex": 4, "texture": 2, "material": 4, "bone": 2, "morph": 2, "rigid": 4}
PMX_FILES = {
    "feature-2.0-utf16": lambda: feature_spec(version=2.0),  # BDEF1, BDEF2, BDEF4, SDEF
    "feature-2.1-utf16": lambda: feature_spec(version=2.1),  # and QDEF
    "feature-2.1-utf8-wide-indices": lambda: feature_spec("utf-8", 2.1, WIDE, additional_uvs=4),
    "feature-2.0-index-sizes-2-4": lambda: feature_spec("utf-16-le", 2.0, {"vertex": 2, "bone": 4}, additional_uvs=1),
    "character": lambda: character_spec(_character(), version=2.1),
    "hair-with-rigid-bodies": _hair_without_morphs,
    "one-byte-vertex-indices": _one_byte_vertex_indices,
}


@pytest.mark.parametrize("name", PMX_FILES)
def test_pmx_from_our_writer(name, tmp_path):
    spec = PMX_FILES[name]()
    _, theirs = compare(tmp_path, f"{name}.pmx", pmx_bytes(spec))
    # What our reader leaves unread is what the writer wrote.
    meta = theirs["metadata"]
    assert (meta["comment"], meta["additionalUvNum"]) == (spec.comment, spec.additional_uvs)
    assert theirs["textures"] == spec.textures
    close([v["normal"] for v in theirs["vertices"]], np.tile([0.0, 1.0, 0.0], (len(spec.vertices), 1)), "normals")
    assert len(theirs["rigidBodies"]) == len(spec.rigid_bodies)


PMD_FILES = {
    "feature": feature_pmd_spec,
    "character-as-pmd": lambda: pmd_pair(character_spec(_character()))[1],
    "hair-as-pmd": lambda: pmd_pair(hair_spec())[1],
}


@pytest.mark.parametrize("name", PMD_FILES)
def test_pmd_from_our_writer(name, tmp_path):
    spec = PMD_FILES[name]()
    _, theirs = compare(tmp_path, f"{name}.pmd", pmd_bytes(spec))
    assert theirs["metadata"]["comment"] == spec.comment


def test_vmd_from_our_writer(tmp_path):
    from conr.dances.motions import MOTIONS

    compare(tmp_path, "feature.vmd", feature_motion_bytes())

    keys, switches = dance_keys(MOTIONS["wave"], _character(), "consistent", seconds=1.0)
    cameras = [
        CameraKey(0),
        CameraKey(20, -30.5, (1.0, 12.0, -2.0), (0.1, -0.4, 0.02), 45, ((5, 10, 100, 120),) * 6),
        CameraKey(40, 0.0, (0.0, 9.0, 0.0), (0.0, 3.0, 0.0), 20, orthographic=True),
    ]
    _, theirs = compare(tmp_path, "wave.vmd", vmd_bytes(keys, switches, morph_keys=4, cameras=cameras))
    assert len(theirs["motions"]) == len(keys) and len(theirs["cameras"]) == len(cameras)


# ---------------------------------------------------------------- hand-made files, laid out as our writers never do

R, V, E, T = pmx.ROTATABLE, pmx.VISIBLE, pmx.ENABLED, pmx.TRANSLATABLE


def _sjis(value: str, size: int, junk: bytes = b"") -> bytes:
    """A fixed-size Shift-JIS field: the name, a NUL, then ``junk`` (real files often carry some) and NULs."""
    raw = value.encode("cp932") + b"\0" + junk
    assert len(raw) <= size
    return raw.ljust(size, b"\0")


def handmade_pmx() -> tuple[bytes, dict]:
    """A PMX 2.0 in UTF-8 with index sizes vertex 4, texture 1, material 4, bone 2, morph 4, rigid 2 (our writer picks
    1 for small models), four additional UVs, distinct normals, UVs and SDEF centres, a weight on an unused slot,
    every optional bone field, IK limits listed swapped, morphs of kinds 0-3 and 8, display frames holding bones and
    morphs, three rigid bodies and a joint. Returns the bytes and what they hold."""
    rng = np.random.default_rng(14)
    size = {"vertex": "i", "texture": "b", "material": "i", "bone": "h", "morph": "i", "rigid": "h"}

    def text(value: str) -> bytes:
        raw = value.encode("utf-8")
        return struct.pack("<i", len(raw)) + raw

    def index(kind: str, value: int) -> bytes:
        return struct.pack("<" + size[kind], value)

    def floats(*values) -> bytes:
        return struct.pack(f"<{len(values)}f", *values)

    x = {"name": "手作りモデル", "name_en": "handmade", "comment": "手作り\r\nby hand", "comment_en": "by hand"}
    out = bytearray(b"PMX " + floats(2.0) + bytes([8, 1, 4, 4, 1, 4, 2, 4, 2]))
    out += text(x["name"]) + text(x["name_en"]) + text(x["comment"]) + text(x["comment_en"])
    n = 6
    x["positions"], x["uvs"] = rng.uniform(-10, 10, (n, 3)), rng.uniform(0, 1, (n, 2))
    normals = rng.normal(size=(n, 3))
    x["normals"] = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    x["auvs"], x["edges"], x["sdef"] = rng.uniform(-1, 1, (n, 4, 4)), rng.uniform(0, 2, n), rng.uniform(-5, 5, 9)
    skins = [
        (0, [3], []),
        (1, [1, 2], [0.25]),
        (1, [0, -1], [1.0]),
        (2, [0, 1, 2, 3], [0.1, 0.2, 0.3, 0.4]),
        (3, [2, 3], [0.6]),
        (2, [4, 2, -1, -1], [0.5, 0.3, 0.7, 0.0]),
    ]
    out += struct.pack("<i", n)
    for v, (kind, bones, weights) in enumerate(skins):
        out += floats(*x["positions"][v], *x["normals"][v], *x["uvs"][v], *x["auvs"][v].ravel()) + bytes([kind])
        out += b"".join(index("bone", b) for b in bones) + floats(*weights)
        out += floats(*x["sdef"]) if kind == 3 else b""
        out += floats(x["edges"][v])
    x["faces"] = [[0, 1, 2], [2, 3, 4], [4, 5, 0], [1, 3, 5]]
    out += struct.pack("<i", 12) + b"".join(index("vertex", i) for face in x["faces"] for i in face)
    x["textures"] = ["tex/肌.png", "toon/トゥーン.bmp"]
    out += struct.pack("<i", 2) + b"".join(text(t) for t in x["textures"])
    # name, English name, diffuse, flags, texture, sphere, sphere mode, toon (kind, index), memo, face index count
    x["materials"] = [
        ("肌", "skin", (1, 0.9, 0.8, 1), 0x11, 0, -1, 0, (0, 1), "メモ", 6),
        ("透明", "", (1, 1, 1, 0), 0x00, -1, 1, 2, (1, 3), "", 3),
        ("影", "shadow", (0.2, 0.2, 0.2, 0.5), 0x06, -1, -1, 0, (1, 0), "", 3),
    ]
    out += struct.pack("<i", len(x["materials"]))
    for name, name_en, diffuse, flags, texture, sphere, mode, (toon_kind, toon), memo, count in x["materials"]:
        out += text(name) + text(name_en) + floats(*diffuse, 0.1, 0.2, 0.3, 12.0, 0.4, 0.5, 0.6) + bytes([flags])
        out += floats(0, 0, 0, 1, 0.7) + index("texture", texture) + index("texture", sphere) + bytes([mode, toon_kind])
        out += index("texture", toon) if toon_kind == 0 else bytes([toon])
        out += text(memo) + struct.pack("<i", count)
    # name, English name, position, parent, layer, flags, tail, inherit, IK (target, loops, angle, links)
    knee_limits = ((0.5, 0.2, 0.1), (-0.5, -0.2, -0.1))  # swapped: lower above upper
    fixed, inherit_local = pmx.FIXED_AXIS | pmx.LOCAL_AXES, pmx.INHERIT_ROTATION | pmx.INHERIT_LOCAL
    ik_bone = pmx.IK | pmx.AFTER_PHYSICS
    x["bones"] = [
        ("センター", "center", (0, 8, 0), -1, 0, R | T | V | E | pmx.TAIL_IS_BONE, 1, None, None),
        ("上半身", "upper body", (0, 10, 0), 0, 0, R | V | E | pmx.TAIL_IS_BONE, -1, None, None),
        ("左足", "leg_L", (1, 9, 0), 0, 1, R | V | E | fixed, (0, -4, 0), None, None),
        ("左ひざ", "knee_L", (1, 5, 0), 2, 1, R | V | E | inherit_local, (0, -4, 0), (1, -0.5), None),
        (
            "左足ＩＫ",
            "leg IK_L",
            (1, 1, 0),
            0,
            2,
            R | T | V | E | ik_bone | pmx.EXTERNAL_PARENT,
            (0, 0, 1),
            None,
            (3, 50, 1.0, [(2, knee_limits), (1, None)]),
        ),
        ("ねじり", "twist", (-2, 12, 0), 1, -1, R | V | E | pmx.INHERIT_TRANSLATION, (1, 0, 0), (0, 2.0), None),
    ]
    out += struct.pack("<i", len(x["bones"]))
    for name, name_en, position, parent, layer, flags, tail, inherit, ik in x["bones"]:
        out += text(name) + text(name_en) + floats(*position) + index("bone", parent) + struct.pack("<iH", layer, flags)
        out += index("bone", tail) if flags & pmx.TAIL_IS_BONE else floats(*tail)
        out += index("bone", inherit[0]) + floats(inherit[1]) if inherit else b""
        out += floats(0, 0, 1) if flags & pmx.FIXED_AXIS else b""
        out += floats(1, 0, 0, 0, 0, 1) if flags & pmx.LOCAL_AXES else b""
        out += struct.pack("<i", 3) if flags & pmx.EXTERNAL_PARENT else b""
        if ik:
            target, loops, angle, links = ik
            out += index("bone", target) + struct.pack("<if", loops, angle) + struct.pack("<i", len(links))
            for bone, limits in links:
                out += index("bone", bone) + (bytes([1]) + floats(*limits[0], *limits[1]) if limits else bytes([0]))
    element = {
        0: lambda i: index("morph", i) + floats(0.5),
        1: lambda i: index("vertex", i) + floats(0, 0.1, 0),
        2: lambda i: index("bone", i) + floats(1, 0, 0, 0, 0, 0, 1),
        3: lambda i: index("vertex", i) + floats(0.1, 0, 0, 0),
        8: lambda i: index("material", i) + bytes([1]) + floats(*range(28)),
    }
    x["morphs"] = [
        ("あ", "a", 3, 1, [0, 5]),
        ("グループ", "group", 4, 0, [0, 2]),
        ("ボーン", "bone", 4, 2, [4]),
        ("UV", "", 4, 3, [2, 3]),
        ("材質", "material", 4, 8, [0]),
    ]
    out += struct.pack("<i", len(x["morphs"]))
    for name, name_en, panel, kind, targets in x["morphs"]:
        out += text(name) + text(name_en) + bytes([panel, kind]) + struct.pack("<i", len(targets))
        out += b"".join(map(element[kind], targets))
    x["frames"] = [
        ("Root", "Root", 1, [(0, 0)]),
        ("表情", "Exp", 1, [(1, 0), (1, 1)]),
        ("足", "legs", 0, [(0, 2), (0, 3), (1, 2)]),
    ]
    out += struct.pack("<i", len(x["frames"]))
    for name, name_en, special, items in x["frames"]:
        out += text(name) + text(name_en) + bytes([special]) + struct.pack("<i", len(items))
        out += b"".join(bytes([is_morph]) + index("morph" if is_morph else "bone", i) for is_morph, i in items)
    # name, bone, group, mask, shape, size, mode
    x["bodies"] = [
        ("頭", 1, 3, 0xFFF7, 0, (1.5, 0, 0), 0),
        ("箱", -1, 0, 0, 1, (1, 2, 3), 1),
        ("カプセル", 3, 15, 0x8001, 2, (0.5, 3, 0), 2),
    ]
    x["placements"] = rng.uniform(-3, 3, (3, 6))
    out += struct.pack("<i", len(x["bodies"]))
    for (name, bone, group, mask, shape, extent, mode), placement in zip(x["bodies"], x["placements"]):
        out += text(name) + text(name + " en") + index("bone", bone) + struct.pack("<BHB", group, mask, shape)
        out += floats(*extent, *placement, 2.0, 0.3, 0.4, 0.1, 0.6) + bytes([mode])
    out += struct.pack("<i", 1) + text("関節") + text("joint") + bytes([0]) + index("rigid", 0) + index("rigid", 2)
    out += floats(*rng.uniform(-1, 1, 24))
    return bytes(out), x


def test_handmade_pmx(tmp_path):
    data, x = handmade_pmx()
    model, theirs = compare(tmp_path, "handmade.pmx", data)
    assert set(model.weight_types.tolist()) == {0, 1, 2, 3} and len(model.rigid_bodies) == 3
    assert model.bones[4].ik.links[0].lower is not None
    # The fields our reader leaves unread hold what was written (so the file is laid out as intended, and both
    # parsers were given the same, unusual layout).
    meta, vertices = theirs["metadata"], theirs["vertices"]
    assert (meta["comment"], meta["englishComment"], meta["additionalUvNum"]) == (x["comment"], x["comment_en"], 4)
    close([v["normal"] for v in vertices], x["normals"], "normals")
    close([v["uv"] for v in vertices], x["uvs"], "UVs")
    close([v["auvs"] for v in vertices], x["auvs"], "additional UVs")
    close([v["edgeRatio"] for v in vertices], x["edges"], "edge scales")
    close(vertices[4]["skinC"] + vertices[4]["skinR0"] + vertices[4]["skinR1"], x["sdef"], "SDEF C, R0, R1")
    assert theirs["textures"] == x["textures"]
    for b, (name, name_en, _, _, texture, sphere, mode, toon, memo, _) in zip(theirs["materials"], x["materials"]):
        assert (b["englishName"], b["textureIndex"], b["envTextureIndex"]) == (name_en, texture, sphere), name
        assert b["envFlag"] == mode, name
        assert (b["toonFlag"], b["toonIndex"], b["comment"]) == (*toon, memo), name
    morphs = [
        (m["name"], m["englishName"], m["panel"], m["type"], [e["index"] for e in m["elements"]])
        for m in theirs["morphs"]
    ]
    assert morphs == [tuple(m) for m in x["morphs"]]
    frames = [
        (f["name"], f["englishName"], f["type"], [(e["target"], e["index"]) for e in f["elements"]])
        for f in theirs["frames"]
    ]
    assert frames == [tuple(f) for f in x["frames"]]
    assert [(c["name"], c["rigidBodyIndex1"], c["rigidBodyIndex2"]) for c in theirs["constraints"]] == [("関節", 0, 2)]
    close([b["position"] + b["rotation"] for b in theirs["rigidBodies"]], x["placements"], "rigid body placements")


def handmade_pmd() -> tuple[bytes, dict]:
    """A PMD without English names, with a vertex wholly on its second bone, bones of kinds 0, 1, 2 and 4-9 (a negative
    co-rotation), a tail of 0xFFFF, two IK chains, three morphs, a body on no bone and a joint."""
    rng = np.random.default_rng(15)
    x = {"name": "手作りPMD", "comment": "手作りのPMD\nby hand"}
    out = bytearray(b"Pmd" + struct.pack("<f", 1.0) + _sjis(x["name"], 20, b"\xfd") + _sjis(x["comment"], 256))
    n = 5
    x["positions"], x["normals"] = rng.uniform(-10, 10, (n, 3)), rng.normal(size=(n, 3))
    x["uvs"] = rng.uniform(0, 1, (n, 2))
    x["ids"], x["percent"] = [(0, 1), (2, 3), (4, 0), (9, 10), (11, 11)], [100, 0, 37, 50, 100]
    out += struct.pack("<I", n)
    for v in range(n):
        out += struct.pack("<3f3f2f", *x["positions"][v], *x["normals"][v], *x["uvs"][v])
        out += struct.pack("<2HBB", *x["ids"][v], x["percent"][v], v % 2)
    x["faces"] = [[0, 1, 2], [2, 3, 4], [4, 0, 1], [1, 3, 4]]
    out += struct.pack("<I", 12) + struct.pack("<12H", *np.ravel(x["faces"]))
    x["materials"] = [(1.0, 6, "a.bmp"), (0.99, 3, "b.bmp*c.sph"), (0.0, 3, "")]
    out += struct.pack("<I", 3)
    for k, (alpha, count, texture) in enumerate(x["materials"]):
        out += struct.pack("<4ff3f3f", 0.9, 0.8, 0.7, alpha, 8.0, 0.1, 0.1, 0.1, 0.5, 0.4, 0.3)
        out += struct.pack("<BBI", k - 1 & 0xFF, k % 2, count)  # toon (255: none), edge, face index count
        out += _sjis(texture, 20)
    # name, parent, tail, kind, IK-parent field, position
    bones = [
        ("センター", -1, 1, 1, 0, (0, 8, 0)),
        ("左足", 0, 2, 4, 4, (1, 10, 0)),
        ("左ひざ", 1, 3, 4, 4, (1, 5, 0)),
        ("左足首", 2, 0, 6, 0, (1, 1, 0)),
        ("左足ＩＫ", -1, 3, 2, 0, (1, 1, 0)),
        ("右目", 0, 0, 5, 6, (-0.5, 15, -1)),
        ("両目", 0, 0, 0, 0, (0, 15, -1)),
        ("腕捩", 0, 6, 9, -40, (-2, 12, 0)),
        ("非表示", 0, 0, 7, 0, (0, 16, 0)),
        ("右足ＩＫ", -1, 0, 2, 0, (-1, 1, 0)),
        ("右足", 0, 11, 0, 0, (-1, 10, 0)),
        ("右ひざ", 10, -1, 8, 0, (-1, 5, 0)),
    ]
    out += struct.pack("<H", len(bones))
    for name, parent, tail, kind, field, position in bones:
        out += _sjis(name, 20) + struct.pack("<HHBH3f", parent & 0xFFFF, tail & 0xFFFF, kind, field & 0xFFFF, *position)
    iks = [(4, 3, 40, 0.5, (2, 1)), (9, 11, 15, 1.0, (10,))]
    out += struct.pack("<H", len(iks))
    for bone, target, loops, weight, links in iks:
        out += struct.pack("<HHBHf", bone, target, len(links), loops, weight) + struct.pack(f"<{len(links)}H", *links)
    morphs = [("base", 0, [0, 1, 2]), ("あ", 3, [0, 2]), ("い", 2, [1])]
    out += struct.pack("<H", len(morphs))
    for name, kind, vertices in morphs:
        out += _sjis(name, 20) + struct.pack("<IB", len(vertices), kind)
        out += b"".join(struct.pack("<I3f", v, 0.1, 0.2, 0.3) for v in vertices)
    out += bytes([2]) + struct.pack("<2H", 1, 2)  # morph display list
    out += bytes([2]) + _sjis("体", 50) + _sjis("足", 50)  # bone display frame names
    out += struct.pack("<I", 3) + struct.pack("<HBHBHB", 0, 1, 1, 2, 2, 2)  # bones shown in the frames
    out += bytes([0])  # no English names
    out += b"".join(_sjis(f"toon{i + 1:02d}.bmp", 100) for i in range(10))
    # name, bone, group, mask, shape, size, mode
    bodies = [
        ("頭", 6, 1, 0xFFFE, 0, (1.5, 0, 0), 0),
        ("なし", -1, 2, 0, 1, (1, 2, 3), 1),
        ("脚", 1, 15, 0x8000, 2, (0.5, 3, 0), 2),
    ]
    out += struct.pack("<I", len(bodies))
    for name, bone, group, mask, shape, extent, mode in bodies:
        out += _sjis(name, 20) + struct.pack("<HBHB", bone & 0xFFFF, group, mask, shape)
        out += struct.pack("<9f5fB", *extent, *rng.uniform(-3, 3, 6), 1, 0.5, 0.5, 0, 0.5, mode)
    out += struct.pack("<I", 1) + _sjis("関節", 20) + struct.pack("<II24f", 0, 2, *rng.uniform(-1, 1, 24))  # a joint
    return bytes(out), x


def test_handmade_pmd(tmp_path):
    data, x = handmade_pmd()
    model, theirs = compare(tmp_path, "handmade.pmd", data)
    assert model.bone_ids[1, 0] == -1 and len(model.rigid_bodies) == 3 and model.rigid_bodies[1].bone == -1
    assert sum(b.ik is not None for b in model.bones) == 2 and model.bones[7].inherit_weight == pytest.approx(-0.4)
    assert theirs["metadata"]["comment"] == x["comment"] and theirs["metadata"]["englishCompatibility"] == 0
    close([v["normal"] for v in theirs["vertices"]], x["normals"], "normals")
    close([v["uv"] for v in theirs["vertices"]], x["uvs"], "UVs")
    assert [v["edgeFlag"] for v in theirs["vertices"]] == [v % 2 for v in range(len(x["positions"]))]
    assert [m["name"] for m in theirs["morphs"]] == ["base", "あ", "い"] and len(theirs["constraints"]) == 1


def handmade_vmd() -> tuple[bytes, dict]:
    """Junk after the NULs of the signature, model and bone names; bone and camera keys out of order, some repeated
    (the last wins); a zero and an unnormalised quaternion; MMD's own 64-byte interpolation layout (four rows, each
    shifted by one); light, self-shadow and IK sections after the cameras."""
    rng = np.random.default_rng(16)
    out = bytearray(b"Vocaloid Motion Data 0002\0JKL\0" + _sjis("初音ミク", 20, b"\x83\x7e\xfd"))
    # name (junk after its NUL), frame, position, rotation (x, y, z, w)
    keys = [
        ("センター", 10, (1, 2, 3), (0, 0.2588190, 0, 0.9659258)),
        ("センター", 0, (0, 0, 0), (0, 0, 0, 1)),
        ("左足ＩＫ", 5, (0.5, 1.5, -2), (0, 0, 0, 1)),
        ("センター", 10, (4, 5, 6), (0.1, 0, 0, 0.995)),
        ("右腕", 3, (0, 0, 0), (0, 0, 0, 0)),
        ("右腕", 7, (0, 0, 0), (0, 0, 2, 2)),
        ("上半身", 1, (0, 0, 0), (0.3, 0.1, 0.2, 0.9)),
    ]
    out += struct.pack("<I", len(keys))
    for k, (name, frame, position, rotation) in enumerate(keys):
        curve = rng.integers(0, 128, 16).tolist()
        layout = curve + curve[1:] + [1] + curve[2:] + [1, 0] + curve[3:] + [1, 0, 0]
        out += _sjis(name, 15, b"\x81\x40\x01" if k == 6 else b"")
        out += struct.pack("<I3f4f", frame, *position, *rotation) + bytes(layout)
    morphs = [("まばたき", 0, 0.0), ("あ", 12, 0.75), ("まばたき", 6, 1.0)]
    out += struct.pack("<I", len(morphs))
    out += b"".join(_sjis(name, 15) + struct.pack("<If", f, w) for name, f, w in morphs)
    # frame, distance, view angle, orthographic
    cameras = [(30, -40.0, 45, 0), (0, -45.0, 30, 0), (30, -20.0, 60, 1), (15, 0.0, 1, 1)]
    out += struct.pack("<I", len(cameras))
    for frame, distance, fov, orthographic in cameras:
        out += struct.pack("<If6f", frame, distance, *rng.uniform(-2, 2, 6)) + bytes(rng.integers(0, 128, 24).tolist())
        out += struct.pack("<IB", fov, orthographic)
    out += struct.pack("<I", 1) + struct.pack("<I6f", 0, 0.6, 0.6, 0.6, -0.5, -1.0, 0.5)  # light
    out += struct.pack("<I", 1) + struct.pack("<IBf", 0, 1, 0.01)  # self-shadow
    out += (
        struct.pack("<I", 2) + struct.pack("<IBI", 0, 1, 1) + _sjis("左足ＩＫ", 20) + bytes([0])
    )  # IK off at frame 0 ...
    out += struct.pack("<IBI", 9, 1, 1) + _sjis("左足ＩＫ", 20) + bytes([1])  # ... on at 9
    return bytes(out), {"morphs": morphs, "keys": len(keys)}


def test_handmade_vmd(tmp_path):
    data, x = handmade_vmd()
    motion, theirs = compare(tmp_path, "handmade.vmd", data)
    assert len(motion.tracks["センター".encode("cp932")].frames) == 2 and len(motion.camera.frames) == 3
    assert motion.counts["ik"] == 2 and not motion.ik.state("左足ＩＫ".encode("cp932"), np.array([5.0]))[0]
    assert [(m["morphName"], m["frameNum"], m["weight"]) for m in theirs["morphs"]] == x["morphs"]
    assert theirs["bytesRead"] < theirs["size"]  # mmd-parser stops after the cameras
