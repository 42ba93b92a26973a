"""Ultra-Dense Pose (UDP) frames: reading, validating, writing, and preparing them.

A UDP frame is float32 (H, W, 4): per pixel the rest-pose XYZ of the visible
body surface and its visibility, all in [0, 1]. Frames arrive as

- ``.npz`` with key ``i`` (what the original CoNR reads), loaded without pickle;
- 4-channel float OpenEXR (R, G, B = XYZ, A = visibility), as written by the
  community MMD-to-UDP tool, sometimes without a file extension (read with
  the OpenEXR bindings: the pinned OpenCV wheels have no EXR codec);
- 16-bit RGBA PNG holding value * 65535 (our addition);

one by one, as a folder, a list of files or a .zip archive, in natural
numeric order (``2.npz`` before ``10.npz``). Every check names the bad file,
and a frame's declared size is checked before any pixel is decoded.
"""

from __future__ import annotations

import io
import lzma
import os
import re
import tempfile
import zipfile
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Sequence, Union

import cv2
import numpy as np

from .archive import MAX_ZIP_ENTRIES, check_entry, is_hidden_entry, is_unsafe_name, open_zip, read_entry
from .crop import SquareCrop
from .errors import InputError

#: How far outside [0, 1] a value may stray (rounding in other tools) before we refuse it.
RANGE_TOLERANCE = 1e-3
MAX_SIDE = 4096
MIN_SIDE = 8
#: Archive limits (zip bombs, absurd uploads).
MAX_ZIP_BYTES = 8 * 1024**3
MAX_ENTRY_RATIO = 200  # uncompressed / compressed; float maps compress far less than this

EXR_MAGIC = b"\x76\x2f\x31\x01"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
UDP_SUFFIXES = (".npz", ".exr", ".png")

PathLike = Union[str, os.PathLike]


def natural_key(name: str) -> list:
    """Sort key treating digit runs as numbers: frame2 < frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


# ---------------------------------------------------------------- validation


def _shape_problem(shape, dtype, name: str) -> str | None:
    if shape is None or len(shape) != 3:
        return f"UDP frame '{name}' has shape {shape}; expected height x width x 4 (XYZ + visibility)."
    h, w, c = shape
    if c != 4:
        return f"UDP frame '{name}' has {c} channels; expected 4 (X, Y, Z, visibility)."
    if not np.issubdtype(dtype, np.floating):
        return f"UDP frame '{name}' holds {dtype} values; expected floats in [0, 1]."
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        return f"UDP frame '{name}' is {w}x{h}; each side must be between {MIN_SIDE} and {MAX_SIDE} pixels."
    return None


def check_udp_shape(shape, dtype, name: str) -> None:
    """Refuse a frame by its declared shape and value type, before anything is decoded."""
    problem = _shape_problem(tuple(shape) if shape is not None else None, np.dtype(dtype), name)
    if problem:
        raise InputError(problem)


def _value_problem(array: np.ndarray, name: str) -> str | None:
    finite = np.isfinite(array)
    if not finite.all():
        return f"UDP frame '{name}' contains {int((~finite).sum())} NaN or infinite values."
    low, high = float(array.min()), float(array.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        return (
            f"UDP frame '{name}' has values from {low:.4g} to {high:.4g}; UDP coordinates and visibility "
            f"must lie in [0, 1] (within {RANGE_TOLERANCE:g})."
        )
    return None


def validate_udp(array: np.ndarray, name: str) -> np.ndarray:
    """Check a decoded frame and return it as contiguous float32, values as they are.

    Values up to ``RANGE_TOLERANCE`` outside [0, 1] are kept: the original
    feeds them to the network unclipped; only 16-bit PNG and previews clip.
    """
    if isinstance(array, np.ndarray):
        problem = _shape_problem(array.shape, array.dtype, name)
        if problem is None:
            array = np.ascontiguousarray(array, dtype=np.float32)
            problem = _value_problem(array, name)
    else:
        problem = _shape_problem(getattr(array, "shape", None), None, name)
    if problem:
        del array  # a kept exception must not keep the frame alive through this frame's locals
        raise InputError(problem)
    return array


# ---------------------------------------------------------------- decoding
#
# Each decoder reads the declared size first (npy header, EXR header, PNG
# IHDR) and refuses a frame out of bounds before allocating it. Errors are
# raised outside ``except`` blocks so that no exception context keeps a
# half-decoded array alive.

#: An .npy header is a short dict literal; numpy's own limit.
MAX_NPY_HEADER = 10_000
_NPZ_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_STREAM_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, lzma.LZMAError)


def decode_udp(data: bytes, name: str) -> np.ndarray:
    """Decode one frame from its bytes, recognising the format by content."""
    if len(data) == 0:
        raise InputError(f"UDP frame '{name}' is an empty file.")
    if data.startswith(ZIP_MAGIC):  # .npz is a zip of .npy files
        return validate_udp(_decode_npz(data, name), name)
    if data.startswith(EXR_MAGIC):
        return validate_udp(_decode_exr(data, name), name)
    if data.startswith(PNG_MAGIC):
        return validate_udp(_decode_png16(data, name), name)
    raise InputError(
        f"UDP frame '{name}' is not a UDP file: expected .npz (key 'i'), 4-channel float OpenEXR or 16-bit RGBA PNG."
    )


def _npz_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """The member numpy calls 'i' (``i.npy``, or ``i``), refused if it cannot be read safely."""
    infos = {info.filename: info for info in archive.infolist()}
    info = infos.get("i.npy") or infos.get("i")
    if info is None:
        keys = [key[:-4] if key.endswith(".npy") else key for key in infos]
        raise InputError(f"UDP frame '{name}' has no array 'i' (it has {', '.join(keys) or 'none'}).")
    if info.flag_bits & 0x1:
        raise InputError(
            f"UDP frame '{name}': its array 'i' is encrypted. Save it again with numpy.savez, without a password."
        )
    if info.compress_type not in _NPZ_METHODS:
        raise InputError(
            f"UDP frame '{name}': its array 'i' uses zip compression method {info.compress_type}, which cannot be read "
            "(stored, deflate, bzip2 and lzma can). Save it again with numpy.savez or numpy.savez_compressed."
        )
    return info


def _npy_header(stream, name: str) -> tuple[tuple, bool, np.dtype, int]:
    """Shape, Fortran order, dtype and header length of an .npy stream, reading at most MAX_NPY_HEADER bytes."""
    from numpy.lib import format as npy

    magic = stream.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
        raise InputError(f"UDP frame '{name}': its array 'i' is not a numpy array (.npy).")
    width = 2 if magic[6] == 1 else 4
    length_bytes = stream.read(width)
    length = int.from_bytes(length_bytes, "little") if len(length_bytes) == width else -1
    if not 0 <= length <= MAX_NPY_HEADER:
        raise InputError(
            f"UDP frame '{name}': the header of its array 'i' declares {length:,} bytes; the limit is "
            f"{MAX_NPY_HEADER:,}. It is not a plain float array; save the frame with numpy.savez."
        )
    head = io.BytesIO(length_bytes + stream.read(length))
    reader = npy.read_array_header_1_0 if magic[6] == 1 else npy.read_array_header_2_0
    problem = None
    try:
        shape, fortran, dtype = reader(head, max_header_size=MAX_NPY_HEADER)
    except ValueError as exc:
        problem = f"UDP frame '{name}': the header of its array 'i' is damaged ({str(exc)[:200]})."
    if problem:
        raise InputError(problem)
    return shape, fortran, dtype, 8 + width + length


def _decode_npz(data: bytes, name: str) -> np.ndarray:
    from numpy.lib import format as npy

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        problem = f"UDP frame '{name}' is not a readable .npz file ({exc})."
    else:
        problem = None
    if problem:
        raise InputError(problem)
    with archive:
        info = _npz_member(archive, name)
        try:
            stream = archive.open(info)
        except (*_STREAM_ERRORS, NotImplementedError, RuntimeError) as exc:
            problem = f"UDP frame '{name}': its array 'i' cannot be unpacked ({exc})."
        if problem:
            raise InputError(problem)
        with stream:
            try:
                shape, fortran, dtype, header = _npy_header(stream, name)
            except InputError:
                raise
            except _STREAM_ERRORS as exc:
                problem = f"UDP frame '{name}' is not a readable .npz file ({exc})."
            if problem:
                raise InputError(problem)
            if dtype.hasobject:
                raise InputError(f"UDP frame '{name}' stores Python objects; only plain float arrays are accepted.")
            check_udp_shape(shape, dtype, name)
            size = int(np.prod(shape)) * dtype.itemsize
            if info.file_size != header + size:
                raise InputError(
                    f"UDP frame '{name}': its array 'i' declares {'x'.join(map(str, shape))} {dtype} ({size:,} bytes) "
                    f"but holds {info.file_size - header:,} bytes; the file is damaged."
                )
            try:
                stream.seek(0)
                array = npy.read_array(stream, allow_pickle=False, max_header_size=MAX_NPY_HEADER)
            except _STREAM_ERRORS as exc:
                problem = f"UDP frame '{name}' is not a readable .npz file ({str(exc)[:200]})."
            if problem:
                raise InputError(problem)
    return array


def _decode_exr(data: bytes, name: str) -> np.ndarray:
    # The OpenEXR bindings, not OpenCV: the pinned OpenCV wheels are built without OpenEXR.
    import OpenEXR

    problem = None
    try:
        with OpenEXR.File(io.BytesIO(data), header_only=True) as exr:
            headers = [part.header for part in exr.parts]  # only valid while the file is open
            kinds = [header.get("type") for header in headers]
            windows = [[np.array(corner, np.int64) for corner in header["dataWindow"]] for header in headers]
    except Exception as exc:  # the bindings raise RuntimeError and others for damaged files
        problem = f"UDP frame '{name}' looks like OpenEXR but its header could not be read ({exc})."
    if problem:
        raise InputError(problem)
    for kind, (low, high) in zip(kinds, windows):
        if kind not in (OpenEXR.scanlineimage, OpenEXR.tiledimage):
            raise InputError(f"UDP frame '{name}' is a deep OpenEXR image; expected a flat 4-channel float image.")
        width, height = (high - low + 1).tolist()
        check_udp_shape((height, width, 4), np.float32, name)
    try:
        with OpenEXR.File(io.BytesIO(data), separate_channels=True) as exr:
            channels = {key: channel.pixels for key, channel in exr.channels().items()}
    except Exception as exc:
        problem = f"UDP frame '{name}' looks like OpenEXR but could not be decoded ({exc})."
    if problem:
        raise InputError(problem)
    if not {"R", "G", "B", "A"} <= set(channels):
        found = ", ".join(sorted(channels)) or "none"
        raise InputError(f"UDP frame '{name}' is an OpenEXR image with channels {found}; expected 4 (R, G, B, A).")
    planes = [np.asarray(channels.pop(c)) for c in "RGBA"]
    del channels
    if any(p.ndim != 2 or p.shape != planes[0].shape for p in planes):
        raise InputError(f"UDP frame '{name}' has OpenEXR channels of different sizes.")
    return np.stack(planes, axis=2).astype(np.float32, copy=False)


def _png_header(data: bytes, name: str) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type from the IHDR chunk, which the PNG format puts first."""
    if len(data) < 33 or data[12:16] != b"IHDR" or int.from_bytes(data[8:12], "big") != 13:
        raise InputError(f"UDP frame '{name}' is a damaged PNG (no IHDR header).")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return width, height, data[24], data[25]


#: PNG colour type -> channels (grey, RGB, palette, grey + alpha, RGBA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _decode_png16(data: bytes, name: str) -> np.ndarray:
    width, height, depth, colour = _png_header(data, name)
    if depth != 16:
        raise InputError(
            f"UDP frame '{name}' is {'an' if depth == 8 else 'a'} {depth}-bit PNG; UDP PNG frames must be 16-bit RGBA (value x 65535), "
            f"{depth} bits lose too much precision."
        )
    if colour != 6:
        raise InputError(
            f"UDP frame '{name}' is a PNG with {_PNG_CHANNELS.get(colour, '?')} channels; expected 4 (RGBA)."
        )
    check_udp_shape((height, width, 4), np.float32, name)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16 or image.shape != (height, width, 4):
        raise InputError(f"UDP frame '{name}' is a damaged PNG.")
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 65535.0


def read_udp(path: PathLike) -> np.ndarray:
    """Read and validate one UDP frame file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"UDP frame '{path.name}' does not exist.")
    return decode_udp(path.read_bytes(), path.name)


# ---------------------------------------------------------------- writing


#: 16-bit PNG settings: the "up" filter suits smooth XYZ maps (about 20% smaller than OpenCV's default
#: filters at twice its time, 12 ms for 512 px); levels above 4 gain little and cost much more.
PNG_PARAMS = [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_COMPRESSION, 4]


def encode_udp(frame: np.ndarray, fmt: str) -> bytes:
    """Encode a frame as 'npz', 'exr' (float32 RGBA, values as they are) or 'png' (16-bit RGBA, clipped to [0, 1])."""
    frame = validate_udp(frame, "frame to write")
    if fmt == "npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, i=frame)
        return buffer.getvalue()
    if fmt == "exr":
        return _encode_exr(frame)
    if fmt == "png":
        png = np.round(np.clip(frame, 0.0, 1.0) * 65535.0).astype(np.uint16)
        ok, data = cv2.imencode(".png", cv2.cvtColor(png, cv2.COLOR_RGBA2BGRA), PNG_PARAMS)
        if not ok:
            raise RuntimeError("OpenCV could not encode a UDP frame as PNG")
        return data.tobytes()
    raise ValueError(f"unknown UDP format {fmt!r}; use npz, exr or png")


def _encode_exr(frame: np.ndarray) -> bytes:
    """4-channel float32 OpenEXR (R, G, B, A; ZIP compression), what the MMD-to-UDP tool writes."""
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    channels = {c: np.ascontiguousarray(frame[:, :, i]) for i, c in enumerate("RGBA")}
    buffer = io.BytesIO()
    OpenEXR.File(header, channels).write(buffer)
    return buffer.getvalue()


def write_udp(path: PathLike, frame: np.ndarray, fmt: str | None = None) -> Path:
    """Write one frame; the format follows the suffix unless given."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    path.write_bytes(encode_udp(frame, fmt))
    return path


#: What our tools write by default: 16-bit PNG is exact to 1/65535 and 2.4 times smaller than
#: compressed npz, so a dance fits the upload limit (values are clipped to [0, 1]).
DEFAULT_ZIP_FORMAT = "png"


def write_udp_zip(
    path: PathLike,
    frames: Iterable[np.ndarray],
    fmt: str = DEFAULT_ZIP_FORMAT,
    *,
    extra: dict[str, str | bytes] | None = None,
    each: Callable[[int, np.ndarray], None] | None = None,
) -> Path:
    """Write a sequence as a zip of ``00000.<fmt>``, ``00001.<fmt>``, ... (default 16-bit PNG): the one writer.

    Frames are encoded on a worker thread while the next one is made. The
    zip is written as a hidden ``.part`` file beside ``path`` and renamed
    when complete, so a failure or an interrupt leaves no partial zip (and an
    older ``path`` stays until then). ``each(index, frame)`` sees every
    frame as it comes (to write it elsewhere too); ``extra`` adds named
    files after the frames (e.g. a ``meta.json``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    partial = Path(name)
    try:
        with (
            zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive,
            ThreadPoolExecutor(1, thread_name_prefix="conr-zip") as pool,
        ):
            pending: deque = deque()
            for index, frame in enumerate(frames):
                if each is not None:
                    each(index, frame)
                pending.append((index, pool.submit(encode_udp, frame, fmt)))
                while len(pending) > 4:
                    done, job = pending.popleft()
                    archive.writestr(f"{done:05d}.{fmt}", job.result())
            for done, job in pending:
                archive.writestr(f"{done:05d}.{fmt}", job.result())
            for member, data in (extra or {}).items():
                archive.writestr(member, data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------- sequences


class UdpSequence(Sequence[np.ndarray]):
    """An ordered, lazily decoded sequence of UDP frames.

    Frames are decoded when indexed, so a long dance never sits in memory
    whole. ``names[i]`` is what error messages call frame i.
    """

    def __init__(
        self, names: list[str], loader: Callable[[int], bytes] | None = None, frames: list[np.ndarray] | None = None
    ):
        self.names = names
        self._loader = loader
        self._frames = frames

    @classmethod
    def from_arrays(cls, frames: Sequence[np.ndarray], names: Sequence[str] | None = None) -> UdpSequence:
        names = list(names) if names is not None else [f"frame {i}" for i in range(len(frames))]
        return cls(names, frames=[validate_udp(f, n) for f, n in zip(frames, names)])

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self._frames is not None:
            return self._frames[index]
        assert self._loader is not None
        return decode_udp(self._loader(index), self.names[index])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def head(self, count: int) -> UdpSequence:
        """The first ``count`` frames (a view, still lazy)."""
        count = min(count, len(self))
        if self._frames is not None:
            return UdpSequence(self.names[:count], frames=self._frames[:count])
        return UdpSequence(self.names[:count], loader=self._loader)

    def select(self, indices: Sequence[int]) -> UdpSequence:
        """The frames at ``indices`` (repeats allowed), still lazy."""
        indices = list(indices)
        names = [self.names[i] for i in indices]
        if self._frames is not None:
            return UdpSequence(names, frames=[self._frames[i] for i in indices])
        loader = self._loader
        assert loader is not None
        return UdpSequence(names, loader=lambda i: loader(indices[i]))

    def every(self, step: int) -> UdpSequence:
        """Every ``step``-th frame, for a lower frame rate."""
        return self.select(range(0, len(self), step))

    def retime(self, source_fps: float, target_fps: float, max_seconds: float | None = None) -> UdpSequence:
        """Resample a sequence recorded at ``source_fps`` for playback at ``target_fps``,
        keeping at most ``max_seconds`` (nearest earlier frame, so motion keeps its speed)."""
        duration = len(self) / source_fps
        if max_seconds:
            duration = min(duration, max_seconds)
        count = max(1, int(round(duration * target_fps)))
        indices = [min(len(self) - 1, int(i * source_fps / target_fps + 1e-6)) for i in range(count)]
        return self.select(indices)


def _is_frame_name(name: str) -> bool:
    if is_hidden_entry(name):
        return False
    base = PurePosixPath(name).name
    suffix = PurePosixPath(base).suffix.lower()
    # the MMD-to-UDP tool writes EXR frames named like "0001", without a suffix
    return suffix in UDP_SUFFIXES or suffix == "" or base.isdigit()


def _folder_sequence(folder: Path) -> UdpSequence:
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and _is_frame_name(p.name)), key=lambda p: natural_key(p.name)
    )
    if not files:
        raise InputError(f"The folder '{folder.name}' holds no UDP frames (.npz, .exr or 16-bit .png).")
    return UdpSequence([p.name for p in files], loader=lambda i: files[i].read_bytes())


def _zip_sequence(path: Path, max_entries: int, max_bytes: int) -> UdpSequence:
    total = 0
    frames = []
    with open_zip(path, max_entries) as archive:
        for info in archive.infolist():
            name = info.filename
            if is_unsafe_name(name):
                raise InputError(
                    f"'{path.name}' contains an unsafe path '{name}' (absolute or with '..'); refusing it."
                )
            if info.is_dir() or not _is_frame_name(name):
                continue
            total += info.file_size
            if total > max_bytes:
                raise InputError(
                    f"'{path.name}' unpacks to more than {max_bytes / 1024**3:.1f} GB (at entry '{name}'); refusing it."
                )
            check_entry(path, info, name, MAX_ENTRY_RATIO)
            frames.append(info)
    if not frames:
        raise InputError(f"'{path.name}' holds no UDP frames (.npz, .exr or 16-bit .png).")
    frames.sort(key=lambda info: natural_key(info.filename))
    names = [info.filename for info in frames]

    def load(index: int) -> bytes:
        with zipfile.ZipFile(path) as archive:
            return read_entry(archive, frames[index], path)

    return UdpSequence(names, loader=load)


def open_udp_sequence(
    source: PathLike | Sequence[PathLike],
    max_entries: int = MAX_ZIP_ENTRIES,
    max_bytes: int = MAX_ZIP_BYTES,
) -> UdpSequence:
    """Open a folder, a .zip, a single frame file or a list of frame files."""
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
        for p in paths:
            if not p.is_file():
                raise InputError(f"UDP frame '{p.name}' does not exist.")
        if (
            len(paths) == 1
            and paths[0].is_file()
            and paths[0].read_bytes()[:4] == ZIP_MAGIC
            and paths[0].suffix.lower() == ".zip"
        ):
            return _zip_sequence(paths[0], max_entries, max_bytes)
        paths.sort(key=lambda p: natural_key(p.name))
        return UdpSequence([p.name for p in paths], loader=lambda i: paths[i].read_bytes())
    path = Path(source)
    if path.is_dir():
        return _folder_sequence(path)
    if not path.is_file():
        raise InputError(f"The pose source '{path}' does not exist.")
    if path.suffix.lower() == ".zip":
        return _zip_sequence(path, max_entries, max_bytes)
    return UdpSequence([path.name], loader=lambda i: path.read_bytes())


# ---------------------------------------------------------------- network input


@dataclass
class PreparedPose:
    """A UDP frame as the network takes it, with the window to paste the render back."""

    target: np.ndarray  # (4, S, S) float32: XYZ * mask, mask
    crop: SquareCrop
    label: np.ndarray  # (4, S, S) the cropped UDP (XYZ + visibility)
    mask: np.ndarray  # (1, S, S) visibility after uint8 quantisation and resizing


def quantise_visibility(frame: np.ndarray) -> np.ndarray:
    """Visibility as the original sees it: through uint8, truncating."""
    return (frame[:, :, 3] * 255).clip(0, 255).astype(np.uint8)


def prepare_pose(frame: np.ndarray, size: int = 256) -> PreparedPose | None:
    """Crop a validated frame for the network; None when no body is visible."""
    alpha = quantise_visibility(frame)
    crop = SquareCrop.around(alpha)
    if crop is None:
        return None
    label = crop.cut(frame, size, nearest=True).transpose(2, 0, 1)
    mask = (crop.cut(alpha, size).astype(np.float32) / 255.0)[None]
    target = np.concatenate([label[:3] * mask, mask], axis=0)
    return PreparedPose(np.ascontiguousarray(target, dtype=np.float32), crop, np.ascontiguousarray(label), mask)


# ---------------------------------------------------------------- colour preview


def udp_preview(frame: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A UDP frame as a picture: XYZ shown as RGB where visible, over ``background``; RGB uint8."""
    frame = np.clip(validate_udp(frame, "frame to preview"), 0.0, 1.0)
    visible = frame[:, :, 3:4]
    rgb = frame[:, :, :3] * 255.0 * visible + np.asarray(background, np.float32) * (1.0 - visible)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def write_udp_preview_image(
    path: PathLike, frame: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)
) -> Path:
    """Save the colour preview of one frame as an 8-bit PNG."""
    path = Path(path)
    ok, data = cv2.imencode(".png", cv2.cvtColor(udp_preview(frame, background), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode a preview PNG")
    path.write_bytes(data.tobytes())
    return path


def write_udp_preview_video(
    path: PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    size: int | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Path:
    """Stream the colour preview of a sequence into an H.264 MP4, scaled so the longer side is ``size``."""
    from .video import resize_longest, write_video

    def pictures():
        for frame in frames:
            picture = udp_preview(frame, background)
            yield resize_longest(picture, size, grow=True) if size else picture

    return write_video(path, pictures(), fps)
