"""Bad input gets a specific message naming the file (library level)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from conr.errors import InputError
from conr.sheet import load_image, prepare_sheet, prepare_view
from conr.udp import decode_udp, encode_udp, prepare_pose, read_udp, udp_preview, validate_udp


def rgba_figure(h=200, w=120, opaque_fraction=0.5) -> np.ndarray:
    image = np.zeros((h, w, 4), np.uint8)
    image[20 : int(20 + h * opaque_fraction), 10:-10] = (200, 120, 90, 255)
    return image


def test_unreadable_image(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    with pytest.raises(InputError, match=r"'notes.png' is not an image"):
        load_image(bad)


def test_empty_image_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"'empty.png' is an empty file"):
        load_image(empty)


def test_truncated_image(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(rgba_figure(400, 400)).save(buffer, "PNG")
    damaged = tmp_path / "cut.png"
    damaged.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError, match=r"'cut.png' is damaged or truncated"):
        load_image(damaged)


def test_image_over_pixel_limit(tmp_path):
    big = tmp_path / "huge.png"
    Image.new("RGBA", (3000, 2000)).save(big)
    with pytest.raises(InputError, match=r"'huge.png' is 3000x2000 .* over the limit"):
        load_image(big, max_pixels=5_000_000)


def test_opaque_image_is_refused():
    with pytest.raises(InputError, match=r"'shot.jpg' has no transparent pixels.*Remove the background"):
        prepare_view(np.full((300, 200, 4), 255, np.uint8), "shot.jpg")


def test_nearly_opaque_square_is_refused_like_the_original():
    image = np.full((256, 256, 4), 255, np.uint8)
    image[0, 0, 3] = 0  # one transparent pixel does not make a cut-out
    with pytest.raises(InputError, match=r"almost entirely opaque"):
        prepare_view(image, "almost.png")


def test_fully_transparent_image_is_empty():
    with pytest.raises(InputError, match=r"'ghost.png' is empty"):
        prepare_view(np.zeros((100, 100, 4), np.uint8), "ghost.png")


def test_empty_sheet():
    with pytest.raises(InputError, match=r"sheet is empty"):
        prepare_sheet([])


def test_rgb_array_and_float_array_are_accepted():
    rgba = rgba_figure()
    as_float = load_image(rgba.astype(np.float32) / 255.0, "float")
    assert np.array_equal(as_float, rgba)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((64, 64, 3), np.float32), r"'f.npz' has 3 channels"),
        (np.zeros((64, 64), np.float32), r"'f.npz' has shape \(64, 64\)"),
        (np.zeros((64, 64, 4), np.uint8), r"'f.npz' holds uint8 values"),
        (np.full((64, 64, 4), np.nan, np.float32), r"'f.npz' contains 16384 NaN"),
        (np.full((64, 64, 4), 2.0, np.float32), r"'f.npz' has values from 2 to 2.*\[0, 1\]"),
        (np.zeros((4, 64, 4), np.float32), r"'f.npz' is 64x4"),
    ],
)
def test_bad_udp_frames(array, message):
    buffer = io.BytesIO()
    np.savez(buffer, i=array)
    with pytest.raises(InputError, match=message):
        decode_udp(buffer.getvalue(), "f.npz")


def test_npz_without_key_and_with_pickled_objects():
    buffer = io.BytesIO()
    np.savez(buffer, pose=np.zeros((64, 64, 4), np.float32))
    with pytest.raises(InputError, match=r"no array 'i' \(it has pose\)"):
        decode_udp(buffer.getvalue(), "a.npz")
    buffer = io.BytesIO()
    np.savez(buffer, i=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(InputError, match=r"stores Python objects"):
        decode_udp(buffer.getvalue(), "b.npz")


def test_not_a_udp_file():
    with pytest.raises(InputError, match=r"'x.txt' is not a UDP file"):
        decode_udp(b"hello", "x.txt")


def test_8bit_png_is_refused():
    buffer = io.BytesIO()
    Image.fromarray(rgba_figure()).save(buffer, "PNG")
    with pytest.raises(InputError, match=r"'p.png' is an 8-bit PNG"):
        decode_udp(buffer.getvalue(), "p.png")


def test_empty_pose_renders_transparent_frame_of_canvas_size(tiny_renderer, fixture_sheet, fixture_poses):
    renderer = tiny_renderer
    sheet = renderer.parse_sheet(fixture_sheet)
    empty = np.zeros((90, 70, 4), np.float32)
    speck = np.zeros((300, 300, 4), np.float32)
    speck[10:12, 10:12] = 1.0  # under 0.1% of the canvas: the original calls this empty too
    frames = renderer.render([empty, speck], sheet)
    assert frames[0].shape == (90, 70, 4) and frames[0].max() == 0
    assert frames[1].shape == (300, 300, 4) and frames[1].max() == 0
    assert prepare_pose(speck) is None


def test_render_without_sheet_and_without_frames(tiny_renderer, fixture_poses):
    renderer = tiny_renderer
    with pytest.raises(InputError, match=r"No character sheet"):
        renderer.render([read_udp(fixture_poses[0])], None)
    with pytest.raises(InputError, match=r"no pose frames"):
        renderer.render([], None)  # the frame count is checked first


def test_tiny_excursions_reach_the_network_unclipped():
    """As in the original, values slightly outside [0, 1] are fed as they are; 16-bit PNG and previews clip."""
    frame = np.zeros((64, 64, 4), np.float32)
    frame[16:48, 16:48] = (1.0005, 0.5, 0.5, 1.0)
    frame[16:48, 32:48, 0] = -0.0005
    frame[16:48, 16:32, 3] = 1.0005
    out = validate_udp(frame, "f")
    assert np.array_equal(out, frame)
    pose = prepare_pose(out)
    assert pose.target[0].max() == np.float32(1.0005) and pose.target[0].min() == np.float32(-0.0005)
    assert pose.label[3].max() == np.float32(1.0005) and pose.mask.max() == 1.0
    png = decode_udp(encode_udp(frame, "png"), "f.png")
    assert png.max() == 1.0 and png.min() == 0.0
    assert np.array_equal(decode_udp(encode_udp(frame, "npz"), "f.npz"), frame)
    picture = udp_preview(frame, background=(0, 0, 0))
    assert picture[20, 20, 0] == 255 and picture[20, 40, 0] == 0
    with pytest.raises(InputError, match=r"'g' has values from -0.002 to 0.5.*within 0.001"):
        validate_udp(np.where(frame < 0, -0.002, frame).clip(None, 0.5), "g")


def hazy(rgba: np.ndarray, seed: int = 0) -> np.ndarray:
    """The picture under a faint alpha haze (1-15 everywhere), as some background removers leave it."""
    haze = np.random.default_rng(seed).integers(1, 16, rgba.shape[:2], dtype=np.uint8)
    out = rgba.copy()
    out[:, :, 3] = np.maximum(rgba[:, :, 3], haze)
    return out


def test_a_faint_haze_does_not_shrink_the_figure(fixture_sheet):
    from conr.crop import SquareCrop

    for path in fixture_sheet:
        clean = np.asarray(Image.open(path).convert("RGBA"))
        # a clean cut-out keeps the original's box exactly (anti-aliased edges count, as there)
        assert SquareCrop.around(clean[:, :, 3], ignore_haze=True) == SquareCrop.around(clean[:, :, 3])
        foggy = hazy(clean)
        assert SquareCrop.around(foggy[:, :, 3]).side_h == max(foggy.shape[:2])  # what the haze did: the whole picture
        kept, want = SquareCrop.around(foggy[:, :, 3], ignore_haze=True), SquareCrop.around(clean[:, :, 3])
        # the same box, less the anti-aliased edge (alpha under 16 there cannot be told from the haze): 1 px at most
        for side in ("crop_top", "crop_bottom", "crop_left", "crop_right", "side_h"):
            assert abs(getattr(kept, side) - getattr(want, side)) <= 1, (path.name, side)
        rgb_hazy, alpha_hazy = prepare_view(foggy, path.name)
        rgb_clean, alpha_clean = prepare_view(clean, path.name)
        assert np.abs(alpha_hazy - alpha_clean).mean() < 0.03


def test_nothing_but_haze_is_an_empty_picture():
    with pytest.raises(InputError, match=r"'fog.png' is empty"):
        prepare_view(hazy(np.zeros((300, 200, 4), np.uint8)), "fog.png")


def blobs(*boxes, size=(400, 400)) -> np.ndarray:
    """Opaque filled ellipses in the given (x, y, w, h) boxes on a transparent picture."""
    import cv2

    image = np.zeros(size + (4,), np.uint8)
    for x, y, w, h in boxes:
        cv2.ellipse(image, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, (230, 180, 150, 255), -1, cv2.LINE_AA)
    return image


@pytest.mark.parametrize(
    "boxes, size, expected",
    [
        ([(140, 30, 120, 340)], (400, 400), []),  # one standing figure
        ([(30, 30, 120, 340), (250, 30, 120, 340)], (400, 400), [r"'x.png' seems to hold 2 figures"]),
        (
            [(20, 20, 120, 300), (220, 20, 120, 300), (20, 420, 120, 300), (220, 420, 120, 300)],
            (760, 400),
            [r"'x.png' seems to hold 4 figures"],
        ),  # a 2x2 sheet grid
        ([(20, 130, 360, 200)], (400, 400), [r"'x.png': the figure is wider than tall \(36\dx20\d px\)"]),
        ([(180, 170, 40, 50)], (400, 400), [r"'x.png': the figure is tiny \(4\dx5\d px in a 400x400 picture\)"]),
        ([(300, 300, 80, 130)], (1000, 1000), [r"'x.png': the figure is tiny"]),  # under 15% of the picture
        ([(140, 30, 120, 340), (150, 10, 30, 30)], (400, 400), []),  # a small separate part is no second figure
    ],
)
def test_drawings_that_look_wrong_are_warned_about(boxes, size, expected):
    from conr.sheet import figure_warnings

    notes = figure_warnings(blobs(*boxes, size=size), "x.png")
    assert len(notes) == len(expected), notes
    for note, pattern in zip(notes, expected):
        assert re.match(pattern, note), note


def test_sheet_warnings_reach_the_cut_outs(fixture_sheet, tmp_path):
    from conr import matting

    grid = tmp_path / "grid.png"
    Image.fromarray(blobs((30, 30, 120, 340), (250, 30, 120, 340))).save(grid)
    results = matting.cut_out_sheet([*fixture_sheet, grid])  # all transparent: no model needed
    assert [r.warnings for r in results[:-1]] == [[]] * len(fixture_sheet)  # real drawings: nothing to say
    assert results[-1].warnings[0].startswith("'grid.png' seems to hold 2 figures")
    assert all(r.note is None for r in results)
