"""PMX and VMD readers and uploads: every field read back as written, and clear refusals of bad files."""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest
from mmd_writers import BoneKey, feature_motion_bytes, feature_spec, pmx_bytes, vmd_bytes

from conr.errors import InputError
from conr.mmd import files, pmx
from conr.mmd.files import load_model, load_motion
from conr.mmd.pmx import read_pmx
from conr.mmd.posing import MotionBinding, Rig
from conr.mmd.vmd import read_vmd


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-8"])
@pytest.mark.parametrize("version", [2.0, 2.1])
@pytest.mark.parametrize("index_size", [None, 2, 4])
def test_pmx_reads_back_what_was_written(encoding, version, index_size):
    sizes = (
        None
        if index_size is None
        else dict.fromkeys(["vertex", "texture", "material", "bone", "morph", "rigid"], index_size)
    )
    spec = feature_spec(encoding, version, sizes)
    model = read_pmx(pmx_bytes(spec), "feature.pmx")
    assert model.name == "機能テスト" and model.encoding == encoding and model.version == pytest.approx(version)
    assert np.array_equal(model.vertices, spec.vertices) and np.array_equal(model.triangles, spec.triangles)
    assert model.weight_types.tolist() == spec.weight_types.tolist()
    for v in range(len(spec.vertices)):  # same influences, whatever order the writer put them in
        written = {(int(i), round(float(w), 6)) for i, w in zip(spec.bone_ids[v], spec.weights[v]) if w > 0}
        read = {(int(i), round(float(w), 6)) for i, w in zip(model.bone_ids[v], model.weights[v]) if w > 0}
        assert read == written, f"vertex {v}"
    assert [b.name for b in model.bones] == [b.name for b in spec.bones]  # incl. kana, full-width and an emoji
    assert [b.name_en for b in model.bones] == [b.name_en for b in spec.bones]
    assert [b.parent for b in model.bones] == [b.parent for b in spec.bones]
    assert [b.layer for b in model.bones] == [b.layer for b in spec.bones]
    assert [b.flags for b in model.bones] == [b.flags for b in spec.bones]
    assert model.bones[2].position == (1.0, 10.0, 0.0)
    d_bone, twist = model.bones[6], model.bones[7]
    assert (
        d_bone.inherits_rotation
        and not d_bone.inherits_translation
        and (d_bone.inherit_parent, d_bone.inherit_weight) == (2, 1.0)
    )
    assert twist.inherits_rotation and twist.inherits_translation and twist.inherit_weight == pytest.approx(0.5)
    ik = model.bones[5].ik
    assert ik is not None and (ik.target, ik.loops, round(ik.unit_angle, 6)) == (4, 40, 2.0)
    assert [link.bone for link in ik.links] == [3, 2] and ik.links[1].lower is None
    assert ik.links[0].lower == pytest.approx((-np.pi, 0, 0)) and ik.links[0].upper == pytest.approx(
        (np.radians(-0.5), 0, 0)
    )
    assert [(m.name, m.index_count, m.double_sided, m.diffuse_alpha) for m in model.materials] == [
        ("肌", 6, True, 1.0),
        ("服", 3, False, 1.0),
        ("隠し", 3, False, 0.0),
    ]
    assert model.triangle_materials().tolist() == [0, 0, 1, 2]
    assert model.unread_bytes > 0  # display frames etc. are left unread


def test_pmx_character_export_is_our_character():
    from mmd_writers import character_spec

    from conr.dances.character import build_character

    character = build_character()
    model = read_pmx(pmx_bytes(character_spec(character, version=2.1)), "character.pmx")
    assert np.abs(model.vertices * 0.08 - character.vertices).max() < 1e-6
    assert set(np.unique(model.weight_types)) == {0, 1, 2, 3, 4}  # BDEF1, BDEF2, BDEF4, SDEF, QDEF all occur
    rig = Rig(model)
    assert len(rig.chains) == 2 and np.allclose(
        rig.heads[: len(character.skeleton)], character.skeleton.heads, atol=1e-6
    )


def _refused(data: bytes, *fragments: str, reader=read_pmx, name: str = "bad.pmx") -> str:
    with pytest.raises(InputError) as caught:
        reader(data, name)
    message = str(caught.value)
    assert f"'{name}'" in message, message  # always names the file
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_pmx_refusals_say_what_is_wrong():
    good = pmx_bytes(feature_spec())
    _refused(b"Pmd" + good[3:], "PMD", "PMX Editor")
    _refused(feature_motion_bytes(), "motion")
    _refused(good[:4] + struct.pack("<f", 3.0) + good[8:], "version 3")
    _refused(good[:9] + bytes([7]) + good[10:], "text encoding 7")
    _refused(good[:9] + bytes([0, 5]) + good[11:], "additional UV")
    _refused(good[:11] + bytes([3]) + good[12:], "vertex index size is 3")

    spec = feature_spec()
    spec.bone_ids = spec.bone_ids.copy()
    spec.bone_ids[5, 0] = len(spec.bones)  # weighted to a bone past the end
    _refused(pmx_bytes(spec), "vertex 5", "bone 9")

    spec = feature_spec()
    spec.triangles = spec.triangles.copy()
    spec.triangles[1, 2] = 99
    _refused(pmx_bytes(spec), "vertex 99")

    spec = feature_spec()
    spec.bones[1].parent = 6  # センター under 左足D, which is under センター
    _refused(pmx_bytes(spec), "own ancestor")

    spec = feature_spec()
    spec.weight_types = spec.weight_types.copy()
    spec.weight_types[2] = 9
    _refused(pmx_bytes(spec), "weight type 9")

    spec = feature_spec()
    spec.vertices = spec.vertices.copy()
    spec.vertices[3, 1] = np.nan
    _refused(pmx_bytes(spec), "not a finite number")


def test_pmx_counts_past_the_end_fail_fast():
    good = pmx_bytes(feature_spec())
    model = read_pmx(good, "ok.pmx")
    assert len(model.vertices) == 8
    at = good.index(struct.pack("<i", 8), 17 + 4 * 4)  # the vertex count, after the header and four texts
    for count in (0x7FFFFFFF, 3_000_000, 1000):
        _refused(good[:at] + struct.pack("<i", count) + good[at + 4 :], "vertex count")
    _refused(good[:at] + struct.pack("<i", -5) + good[at + 4 :], "negative")


def test_pmx_every_truncation_is_refused_cleanly():
    good = pmx_bytes(
        feature_spec(index_sizes={"vertex": 2, "texture": 1, "material": 1, "bone": 2, "morph": 1, "rigid": 1})
    )
    end_of_bones = len(good) - read_pmx(good, "x.pmx").unread_bytes
    for cut in range(0, end_of_bones):
        with pytest.raises(InputError):
            read_pmx(good[:cut], "cut.pmx")
    read_pmx(good[:end_of_bones], "bones-only.pmx")  # what follows the bones is not needed


# ---------------------------------------------------------------- VMD


def test_vmd_reads_keys_curves_and_ik_switches():
    motion = read_vmd(feature_motion_bytes(), "feature.vmd")
    assert motion.model_name == "テストモデル" and motion.last_frame == 20 and motion.seconds == pytest.approx(21 / 30)
    assert motion.counts == {"bone": 7, "morph": 3, "camera": 2, "light": 0, "self-shadow": 0, "ik": 3}
    centre = motion.tracks["センター".encode("cp932")]
    assert centre.name == "センター" and centre.frames.tolist() == [0, 15]
    assert centre.positions[1] == pytest.approx([2.0, -1.0, -3.0])
    assert centre.rotations[1] == pytest.approx([np.cos(np.radians(15)), 0, np.sin(np.radians(15)), 0], abs=1e-7)
    assert centre.curves[1].tolist() == [[10, 80, 60, 120]] * 4  # per channel (x, y, z, rotation): x1, y1, x2, y2
    switch = motion.ik.state("左足ＩＫ".encode("cp932"), np.array([0, 11.5, 12, 15.9, 16, 400]))
    assert switch.tolist() == [True, True, False, False, True, True]
    assert motion.ik.state(b"unknown", np.array([3.0])).tolist() == [True]


def test_vmd_sorting_duplicates_zero_rotation_and_junk_after_names():
    keys = [
        BoneKey("頭", 20, (1, 0, 0)),
        BoneKey("頭", 5, (2, 0, 0)),
        BoneKey("頭", 20, (3, 0, 0)),
        BoneKey("首", 0, rotation=(0, 0, 0, 0)),
    ]
    data = bytearray(vmd_bytes(keys))
    first = 54  # the first key's name field: "頭\0" then junk some writers leave
    data[first + 3 : first + 15] = b"\xfd" * 12
    motion = read_vmd(bytes(data), "junk.vmd")
    head = motion.tracks["頭".encode("cp932")]
    assert head.frames.tolist() == [5, 20] and head.positions[:, 0].tolist() == [
        2.0,
        3.0,
    ]  # sorted; the later duplicate wins
    assert motion.tracks["首".encode("cp932")].rotations[0].tolist() == [
        1.0,
        0.0,
        0.0,
        0.0,
    ]  # "no rotation" written as zeros


def test_vmd_old_format_and_early_end_are_accepted():
    keys = [BoneKey("センター", 0), BoneKey("センター", 30, (0, 5, 0))]
    old = vmd_bytes(keys, model_name="old", old_format=True)
    motion = read_vmd(old, "old.vmd")
    assert motion.model_name == "old" and motion.tracks["センター".encode("cp932")].frames.tolist() == [0, 30]
    bones_only = vmd_bytes(keys)[: 30 + 20 + 4 + 2 * 111]
    assert read_vmd(bones_only, "short.vmd").last_frame == 30


def test_vmd_refusals():
    good = feature_motion_bytes()
    _refused(b"Vocaloid Motion Data 9999".ljust(30, b"\0") + good[30:], "signature", reader=read_vmd, name="x.vmd")
    _refused(pmx_bytes(feature_spec()), "model", reader=read_vmd, name="x.vmd")
    _refused(good[:50] + struct.pack("<I", 0xFFFFFFFF) + good[54:], "bone key count", reader=read_vmd, name="x.vmd")
    nan = bytearray(good)
    nan[54 + 19 : 54 + 23] = struct.pack("<f", float("inf"))
    _refused(bytes(nan), "not a finite number", reader=read_vmd, name="x.vmd")
    bones_end = 54 + 7 * 111
    for cut in range(0, len(good)):
        if cut < bones_end:  # the bone keys are cut short: refused
            with pytest.raises(InputError):
                read_vmd(good[:cut], "cut.vmd")
            continue
        try:  # later sections are optional as a whole (old files end early) but not when cut inside
            motion = read_vmd(good[:cut], "cut.vmd")
        except InputError as exc:
            assert "truncated" in str(exc) or "more bytes" in str(exc)
        else:
            assert motion.counts["bone"] == 7


def test_bone_names_match_as_vmd_spells_them():
    """VMD keeps 15 bytes of Shift-JIS: long names are cut, characters outside it become '?'."""
    spec = feature_spec()
    spec.bones[3].name = "左ひざ_とても長いボーン名"  # 26 bytes in Shift-JIS
    model = read_pmx(pmx_bytes(spec), "long.pmx")
    keys = [BoneKey("左ひざ_とても長いボーン名", 0), BoneKey("右腕捩?", 0), BoneKey("存在しない", 0)]
    binding = MotionBinding(Rig(model), read_vmd(vmd_bytes(keys), "long.vmd"))
    assert sorted(binding.tracks) == [3, 7]


# ---------------------------------------------------------------- uploads


class _ShiftJisName(zipfile.ZipInfo):
    """An entry named in Shift-JIS without the UTF-8 flag, as Japanese Windows archivers write them."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("cp932"), self.flag_bits


def _zip(path, entries: dict, utf8_names: bool = True):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name) if utf8_names else _ShiftJisName(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def test_model_zip_with_textures_and_shift_jis_names(tmp_path):
    model_bytes = pmx_bytes(feature_spec())
    path = _zip(
        tmp_path / "model.zip",
        {"モデル/機能.pmx": model_bytes, "モデル/tex/肌.png": b"\x89PNG", "readme.txt": b"hi"},
        utf8_names=False,
    )
    with zipfile.ZipFile(path) as archive:
        assert (
            not archive.infolist()[0].flag_bits & 0x800 and archive.namelist()[0] != "モデル/機能.pmx"
        )  # really legacy-named
    model = load_model(path)
    assert model.source == "モデル/機能.pmx" and len(model.bones) == 9
    (tmp_path / "plain.pmx").write_bytes(model_bytes)
    assert load_model(tmp_path / "plain.pmx").source == "plain.pmx"
    (tmp_path / "dance.vmd").write_bytes(feature_motion_bytes())
    assert load_motion(tmp_path / "dance.vmd").counts["bone"] == 7
    assert (
        load_motion(_zip(tmp_path / "motion.zip", {"dance/踊り.vmd": feature_motion_bytes()})).source
        == "dance/踊り.vmd"
    )


def test_model_zip_refusals(tmp_path):
    model_bytes = pmx_bytes(feature_spec())
    two = _zip(
        tmp_path / "two.zip", {"a/first.pmx": model_bytes, "b/second.pmx": model_bytes, "__MACOSX/a/._first.pmx": b"x"}
    )
    with pytest.raises(InputError, match="holds 2 .pmx or .pmd files: 'a/first.pmx', 'b/second.pmx'.*--pmx"):
        load_model(two)
    assert load_model(two, member="second.pmx").source == "b/second.pmx"
    with pytest.raises(InputError, match="no .pmx or .pmd file called 'third.pmx'"):
        load_model(two, member="third.pmx")
    with pytest.raises(InputError, match="'old.pmd' is not a usable PMD model"):
        load_model(_zip(tmp_path / "old.zip", {"old.pmd": b"Pmd"}))
    with pytest.raises(InputError, match="holds no .pmx or .pmd file"):
        load_model(_zip(tmp_path / "textures.zip", {"tex/a.png": b"\x89PNG"}))
    with pytest.raises(InputError, match="zip bomb"):
        load_model(_zip(tmp_path / "bomb.zip", {"bomb.pmx": model_bytes + bytes(5_000_000)}))
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.pmx")
    (tmp_path / "noise.pmx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(
        InputError, match="'noise.pmx' is not a usable PMX model: it does not start with the PMX signature"
    ):
        load_model(tmp_path / "noise.pmx")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError, match="not a readable .zip"):
        load_model(tmp_path / "broken.zip")


def test_size_caps(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_MODEL_BYTES", 1000)
    (tmp_path / "big.pmx").write_bytes(pmx_bytes(feature_spec()))
    with pytest.raises(InputError, match="at most"):
        load_model(tmp_path / "big.pmx")
    with pytest.raises(InputError, match="at most"):
        load_model(_zip(tmp_path / "big.zip", {"big.pmx": pmx_bytes(feature_spec())}))
    monkeypatch.setattr(pmx, "MAX_BONES", 5)
    with pytest.raises(InputError, match="bone count is 9, over the limit of 5"):
        read_pmx(pmx_bytes(feature_spec()), "many-bones.pmx")
