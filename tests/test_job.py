"""The job layer's refusals, in-process (``conr.job``): each bad input gets its own message, before any rendering.

What the app does with them is tested once, through the launched app: test_app.py sends a cheap-check refusal
and a cut-out refusal to prove a ``ConrError`` reaches the API client as ``gr.Error`` with its message.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from conr.errors import InputError
from conr.job import BundledDance, MmdDance, Outputs, RenderJob, UdpArchive, VideoPoses
from conr.limits import Limits
from conr.udp import encode_udp

EXAMPLE_SHEET = sorted((ROOT / "examples" / "sheet").glob("*.png"))
#: The limits test_app.py's server runs with (CONR_MAX_FRAMES=8, CONR_MAX_PIXELS=4000000).
LIMITS = Limits(max_frames=8, max_pixels=4_000_000)


class NoRenderer:
    """Stands for the renderer: using it fails the test, since a refusal must come before any rendering."""

    def __getattr__(self, name):
        raise AssertionError(f"the job used the renderer ({name}) before refusing")


def bad_zip(tmp_path: Path, kind: str) -> Path:
    """A UDP zip with one entry that climbs out of the folder, a zip bomb, or a frame of the wrong shape."""
    archive = tmp_path / f"{kind}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        if kind == "traversal":
            z.writestr("../../evil/0.npz", encode_udp(np.zeros((32, 32, 4), np.float32), "npz"))
        elif kind == "bomb":
            z.writestr("0.npz", b"\0" * 50_000_000)
        elif kind == "wrong":
            buffer = io.BytesIO()
            np.savez(buffer, i=np.zeros((32, 32, 3), np.float32))
            z.writestr("0.npz", buffer.getvalue())
    return archive


def bad_drawing(tmp_path: Path, case: str) -> list[Path]:
    if case == "unreadable":
        (tmp_path / "notes.png").write_text("not a picture")
        return [tmp_path / "notes.png"]
    if case == "too_large":
        Image.new("RGBA", (2100, 2100)).save(tmp_path / "huge.png")
        return [tmp_path / "huge.png"]
    if case == "empty_cutout":
        Image.new("RGBA", (200, 200)).save(tmp_path / "blank.png")
        return [tmp_path / "blank.png"]
    if case == "no_transparency":
        strip = np.full((400, 400, 4), 255, np.uint8)
        strip[:, :8, 3] = 0
        Image.fromarray(strip).save(tmp_path / "strip.png")
        return [tmp_path / "strip.png"]
    if case == "too_many":
        return (EXAMPLE_SHEET * 3)[:9]
    if case == "no_sheet":
        return []
    return EXAMPLE_SHEET[:1]


def refused(job: RenderJob, tmp_path: Path) -> str:
    """The message ``job.run`` refuses with; nothing rendered, no output left."""
    outputs = Outputs.in_folder(tmp_path / "out")
    with pytest.raises(InputError) as error:
        job.run(NoRenderer(), outputs, LIMITS, work_dir=tmp_path)
    assert not any(p.exists() for p in (outputs.mp4, outputs.webm, outputs.frames_zip))
    return str(error.value)


@pytest.mark.parametrize(
    "case, field, message",
    [
        ("unreadable", None, r"'notes.png' is not an image"),
        ("too_many", "drawings", r"9 pictures is too many"),
        ("too_large", None, r"'huge.png' is 2100x2100 .* over the limit"),
        ("empty_cutout", None, r"'blank.png' is empty"),
        ("no_transparency", None, r"'strip.png' is almost entirely opaque"),
        ("zip_traversal", "source", r"unsafe path '../../evil/0.npz'"),
        ("zip_bomb", "source", r"zip bomb"),
        ("zip_wrong_frames", "source", r"UDP frame '0.npz' has 3 channels"),
        ("too_long", None, r"That is 240 frames, over this server's limit of 8"),
        ("no_sheet", "drawings", r"Add at least one drawing"),
    ],
)
def test_bad_inputs_get_specific_messages(tmp_path, case, field, message):
    """Each refusal names the file and what is wrong; the cheap ones come from ``problems`` under their field."""
    source = BundledDance("idle-sway")
    if case.startswith("zip_"):
        source = UdpArchive(bad_zip(tmp_path, case[4:].replace("_frames", "")))
    fps, seconds = (30, 0) if case == "too_long" else (2, 1)  # the whole dance: too long only once opened
    job = RenderJob(bad_drawing(tmp_path, case), source, fps=fps, seconds=seconds)
    found = job.problems(LIMITS)
    if field is None:
        assert found == {}, "found when the job runs, not by the cheap checks"
    else:
        assert list(found) == [field] and re.search(message, found[field]), found
    assert re.search(message, refused(job, tmp_path))


def test_cheap_checks_come_before_the_cut_outs(tmp_path):
    """The pose source and the length are checked before any drawing is opened and cut out (the slow step)."""
    drawing = tmp_path / "notes.png"  # not a picture: reading the drawings first would report this instead
    drawing.write_text("not a picture")
    not_a_zip = tmp_path / "moves.zip"
    not_a_zip.write_text("no zip")
    job = RenderJob([drawing], UdpArchive(not_a_zip), fps=2, seconds=1)
    assert list(job.problems(LIMITS)) == ["source"]
    assert re.search(r"'moves.zip' is not a readable .zip", refused(job, tmp_path))
    job = RenderJob([drawing], VideoPoses(not_a_zip), fps=30, seconds=20)
    assert re.search(r"over this server's limit of 8", refused(job, tmp_path))
    job = RenderJob([drawing], BundledDance("idle-sway"), fps=2, seconds=1)
    assert re.search(r"'notes.png' is not an image", refused(job, tmp_path)), "and then the drawings are checked"


def test_a_file_that_is_not_a_video(tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    source = VideoPoses(notes, matting_model="u2netp")
    source.check(4, 0, LIMITS)  # it exists and is small: only opening it tells
    with pytest.raises(InputError, match=r"'notes.mp4' is not a video file"):
        source.open(4, 0, LIMITS, renderer=NoRenderer())


def test_mmd_start_past_the_end_and_a_broken_motion(tmp_path):
    """The MMD dance is opened after the cut-outs (it is slow); its refusals name the motion."""
    from mmd_writers import character_spec, dance_keys, pmx_bytes, vmd_bytes

    from conr.dances.character import build_character
    from conr.dances.motions import MOTIONS

    character = build_character()
    model = tmp_path / "our-character.zip"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("model/character.pmx", pmx_bytes(character_spec(character, version=2.1)))
    keys, switches = dance_keys(MOTIONS["wave"], character, "consistent")
    motion = tmp_path / "wave.vmd"
    motion.write_bytes(vmd_bytes(keys, switches))
    late = RenderJob(EXAMPLE_SHEET[:1], MmdDance(model, motion, start=999), fps=2, seconds=1)
    assert late.problems(LIMITS) == {}
    assert re.search(r"The start 999 s is past the end of 'wave.vmd'", refused(late, tmp_path))
    broken = tmp_path / "broken.vmd"
    broken.write_bytes(b"Vocaloid Motion Data 0002" + b"\0" * 10)
    job = RenderJob(EXAMPLE_SHEET[:1], MmdDance(model, broken), fps=2, seconds=1)
    assert re.search(r"'broken.vmd' is not a usable VMD motion", refused(job, tmp_path))


def test_udp_zip_upload_limit_is_its_own(tmp_path):
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("0.npz", os.urandom(3 * 1024**2))
    limits = Limits.from_env({"CONR_MAX_ZIP_UPLOAD_MB": "2", "CONR_MAX_FILE_MB": "1"})
    assert limits.max_upload_mb == 2
    with pytest.raises(
        InputError, match=r"The UDP zip 'big.zip' is 3 MB, over this server's limit of 2 MB\. Send fewer frames"
    ):
        UdpArchive(big).check(30, 0, limits)
    with pytest.raises(InputError, match=r"CONR_MAX_FRAMES='-5'"):
        Limits.from_env({"CONR_MAX_FRAMES": "-5"})


def test_every_limit_has_a_variable_and_the_readme_names_it():
    from dataclasses import fields

    from conr.limits import ENV

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert set(ENV) == {f.name for f in fields(Limits)}
    assert [name for name in ENV.values() if f"`{name}`" not in readme] == []
    assert Limits.from_env({"CONR_MAX_SONG_SECONDS": "30", "CONR_MAX_VIDEO_SIDE": "1024"}).max_song_seconds == 30
