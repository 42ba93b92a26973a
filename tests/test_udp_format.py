"""UDP frame files: round trips for every encoding, zip safety, refusal of bad frames naming the file, previews."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from conr.errors import InputError
from conr.udp import (
    decode_udp,
    encode_udp,
    open_udp_sequence,
    read_udp,
    udp_preview,
    write_udp,
    write_udp_preview_image,
    write_udp_preview_video,
    write_udp_zip,
)


def random_frame(seed: int = 0, h: int = 24, w: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = rng.random((h, w, 4), dtype=np.float32)
    mask = (rng.random((h, w)) > 0.4).astype(np.float32)
    frame[:, :, :3] *= mask[:, :, None]
    frame[:, :, 3] = mask
    return frame


@pytest.mark.parametrize("fmt, tolerance", [("npz", 0.0), ("exr", 0.0), ("png", 0.5 / 65535 + 1e-7)])
def test_frame_round_trip(tmp_path, fmt, tolerance):
    frame = random_frame()
    path = write_udp(tmp_path / f"f.{fmt}", frame)
    back = read_udp(path)
    assert back.dtype == np.float32 and back.shape == frame.shape
    assert np.abs(back - frame).max() <= tolerance
    # The format is recognised by content, not by name.
    assert np.array_equal(decode_udp(path.read_bytes(), "no-suffix"), back)


@pytest.mark.parametrize("fmt", ["npz", "png"])
def test_zip_round_trip_in_natural_order(tmp_path, fmt):
    frames = [random_frame(i) for i in range(12)]
    path = write_udp_zip(tmp_path / "dance.zip", frames, fmt)
    sequence = open_udp_sequence(path)
    assert len(sequence) == 12
    assert sequence.names[:3] == [f"00000.{fmt}", f"00001.{fmt}", f"00002.{fmt}"]
    for original, loaded in zip(frames, sequence):
        assert np.abs(original - loaded).max() <= 1e-5


def smooth_frame(size: int = 128, shift: float = 0.0) -> np.ndarray:
    """A sphere's rest-pose XYZ seen from the front: smooth coordinates like a rendered body, empty around it."""
    y, x = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size * 2 - 1
    x = x - shift
    inside = x**2 + y**2 < 0.8**2
    z = np.sqrt(np.clip(0.8**2 - x**2 - y**2, 0, None))
    frame = np.stack([(x + 1) / 2, (1 - y) / 2, (z + 1) / 2, np.ones_like(x)], axis=2) * inside[:, :, None]
    return frame.astype(np.float32)


def test_zips_default_to_16_bit_png_exact_and_smaller_than_npz(tmp_path):
    """Our tools' zips must fit the upload limit: 16-bit PNG by default, lossless to 1/65535, clipped to [0, 1]."""
    frames = [smooth_frame(shift=i / 50) for i in range(6)]
    frames[0][40, 60, 0] = 1.0005  # allowed in a UDP frame (within the tolerance); PNG clips it
    default = write_udp_zip(tmp_path / "default.zip", frames)
    npz = write_udp_zip(tmp_path / "npz.zip", frames, "npz")
    with zipfile.ZipFile(default) as archive:
        assert [info.filename for info in archive.infolist()][:2] == ["00000.png", "00001.png"]
    back = open_udp_sequence(default)
    for original, loaded in zip(frames, back):
        assert np.abs(np.clip(original, 0, 1) - loaded).max() <= 0.5 / 65535 + 1e-7
    assert back[0][40, 60, 0] == 1.0
    assert default.stat().st_size < 0.6 * npz.stat().st_size


def test_folder_sorts_numbers_naturally(tmp_path):
    for index in (10, 2, 1):
        write_udp(tmp_path / f"{index}.npz", random_frame(index))
    sequence = open_udp_sequence(tmp_path)
    assert sequence.names == ["1.npz", "2.npz", "10.npz"]
    assert np.array_equal(sequence[2], random_frame(10))
    with pytest.raises(InputError, match=r"does not exist"):
        open_udp_sequence(tmp_path / "nowhere")


def _zip_with(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def test_zip_path_traversal_is_refused(tmp_path):
    good = encode_udp(random_frame(), "npz")
    for bad in ("../escape.npz", "/etc/frame.npz", "frames/../../up.npz"):
        path = _zip_with(tmp_path / "evil.zip", [("0.npz", good), (bad, good)])
        with pytest.raises(InputError, match="unsafe path") as error:
            open_udp_sequence(path)
        assert bad in str(error.value)


def test_zip_with_too_many_entries_is_refused(tmp_path):
    good = encode_udp(random_frame(), "npz")
    path = _zip_with(tmp_path / "many.zip", [(f"{i}.npz", good) for i in range(6)])
    with pytest.raises(InputError, match="6 entries, over the limit of 5"):
        open_udp_sequence(path, max_entries=5)
    assert len(open_udp_sequence(path, max_entries=6)) == 6


def test_zip_bomb_is_refused(tmp_path):
    # An all-zero frame deflates more than 200-fold: what a decompression bomb looks like.
    zeros = io.BytesIO()
    np.savez(zeros, i=np.zeros((1024, 1024, 4), np.float32))
    path = _zip_with(tmp_path / "bomb.zip", [("00000.npz", zeros.getvalue())], zipfile.ZIP_DEFLATED)
    with pytest.raises(InputError, match="zip bomb") as error:
        open_udp_sequence(path)
    assert "00000.npz" in str(error.value)
    # And a total uncompressed size over the limit is refused, naming the entry where it was crossed.
    big = _zip_with(tmp_path / "big.zip", [(f"{i}.npz", encode_udp(random_frame(i), "npz")) for i in range(3)])
    limit = sum(info.file_size for info in zipfile.ZipFile(big).infolist()[:2])
    with pytest.raises(InputError, match="unpacks to more than") as error:
        open_udp_sequence(big, max_bytes=limit)
    assert "2.npz" in str(error.value)


def test_wrong_shape_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "pose_07.npz"
    np.savez(path, i=np.zeros((16, 16, 3), np.float32))
    with pytest.raises(InputError, match="pose_07.npz") as error:
        read_udp(path)
    assert "3 channels" in str(error.value)
    flat = tmp_path / "flat.npz"
    np.savez(flat, i=np.zeros((16, 16), np.float32))
    with pytest.raises(InputError, match="flat.npz"):
        read_udp(flat)


def test_nan_is_refused_with_the_file_named(tmp_path):
    frame = random_frame()
    frame[3, 4, 1] = np.nan
    path = tmp_path / "broken_frame.npz"
    np.savez(path, i=frame)
    with pytest.raises(InputError, match="broken_frame.npz.*NaN"):
        read_udp(path)
    # ... also inside an archive, named by its entry.
    archive = _zip_with(
        tmp_path / "seq.zip", [("00000.npz", encode_udp(random_frame(), "npz")), ("00001.npz", path.read_bytes())]
    )
    sequence = open_udp_sequence(archive)
    sequence[0]
    with pytest.raises(InputError, match="00001.npz"):
        sequence[1]


def test_preview_shows_xyz_as_rgb_over_the_background(tmp_path):
    frame = random_frame(3)
    picture = udp_preview(frame, background=(10, 20, 30))
    on = frame[:, :, 3] == 1
    assert picture.dtype == np.uint8 and picture.shape == frame.shape[:2] + (3,)
    assert np.abs(picture[on].astype(int) - np.round(frame[on, :3] * 255).astype(int)).max() <= 1
    assert (picture[~on] == (10, 20, 30)).all()
    import cv2

    image = cv2.imread(str(write_udp_preview_image(tmp_path / "p.png", frame)), cv2.IMREAD_UNCHANGED)
    assert image.shape == (24, 32, 3)


def test_preview_video(tmp_path):
    from conr.video import probe_video, read_video_frames

    frames = [random_frame(i, 40, 40) for i in range(5)]
    path = write_udp_preview_video(tmp_path / "p.mp4", frames, fps=10, size=64)
    info = probe_video(path)
    assert (info.codec, info.pix_fmt, info.width, info.height, info.frames) == ("h264", "yuv420p", 64, 64, 5)
    assert read_video_frames(path).shape == (5, 64, 64, 3)


def test_exr_from_other_tools(tmp_path):
    """Half-float EXR with separate R, G, B, A channels reads; a 3-channel one is refused, named."""
    import OpenEXR

    frame = random_frame(5)
    header = {"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}
    half = {c: frame[:, :, i].astype(np.float16) for i, c in enumerate("RGBA")}
    OpenEXR.File(header, half).write(str(tmp_path / "0001"))  # the MMD-to-UDP tool writes no suffix
    back = open_udp_sequence(tmp_path)[0]
    assert np.abs(back - frame).max() < 1e-3
    OpenEXR.File(header, {c: half[c] for c in "RGB"}).write(str(tmp_path / "rgb.exr"))
    with pytest.raises(InputError, match="rgb.exr.*expected 4"):
        read_udp(tmp_path / "rgb.exr")


def test_hidden_entries_are_skipped(tmp_path):
    """macOS resource forks and dot-files that archivers add are not frames, wherever they sit."""
    good = encode_udp(random_frame(), "npz")
    path = _zip_with(
        tmp_path / "mac.zip",
        [
            ("frames/0.npz", good),
            ("__MACOSX/frames/._0.npz", b"\x00\x05\x16\x07junk"),
            ("__MACOSX/frames/1.npz", b"junk"),
            ("frames/.DS_Store", b"junk"),
        ],
    )
    assert open_udp_sequence(path).names == ["frames/0.npz"]
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "0.npz").write_bytes(good)
    (tmp_path / "folder" / "._0.npz").write_bytes(b"junk")
    assert open_udp_sequence(tmp_path / "folder").names == ["0.npz"]
