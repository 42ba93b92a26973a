"""Small files that declare huge frames (decompression bombs), written without ever holding the frame.

Each is a valid file of its format: decoded naively it would take gigabytes.
A long run of zeros deflates to identical blocks after a full flush, so one
compressed block is repeated instead of compressing gigabytes.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

BLOCK = 64 * 1024**2


def _deflate_run(prefix: bytes, count: int, fill: bytes = b"\0") -> bytes:
    """Raw deflate of ``prefix`` followed by ``count`` bytes ``fill``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [compressor.compress(prefix), compressor.flush(zlib.Z_FULL_FLUSH)]
    full, rest = divmod(count, BLOCK)
    if full:
        block = compressor.compress(fill * BLOCK) + compressor.flush(zlib.Z_FULL_FLUSH)
        again = compressor.compress(fill * BLOCK) + compressor.flush(zlib.Z_FULL_FLUSH)
        assert block == again, "identical blocks must compress identically after a full flush"
        out += [block] * full
    out += [compressor.compress(fill * rest), compressor.flush()]
    return b"".join(out)


def _checksum(function, prefix: bytes, count: int, start: int, fill: bytes = b"\0") -> int:
    value = function(prefix, start)
    block = fill * BLOCK
    while count:
        step = min(count, BLOCK)
        value = function(block[:step], value)
        count -= step
    return value


def _zip_one(name: str, prefix: bytes, count: int, fill: bytes = b"\0") -> bytes:
    """A zip with one deflated member holding ``prefix`` + ``count`` bytes ``fill`` (sizes under 4 GiB)."""
    data = _deflate_run(prefix, count, fill)
    size = len(prefix) + count
    crc = _checksum(zlib.crc32, prefix, count, 0, fill)
    raw = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0) + raw
    central = (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(raw),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + raw
    )
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def npz_bomb(path: Path, shape=(12000, 12000, 4), dtype="<f4", fill: bytes = b"\0", missing: int = 0) -> Path:
    """An .npz whose array 'i' is ``shape`` zeros (12000x12000x4 float32: 2.3 GB, about 2 MB on disk).

    ``fill=b"\\xff"`` makes every float NaN; ``missing`` bytes fewer than the shape needs makes it damaged.
    """
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    count = int(np.prod(shape)) * np.dtype(dtype).itemsize - missing
    path.write_bytes(_zip_one("i.npy", header.getvalue(), count, fill))
    return path


def npz_header_bomb(path: Path, length: int = 2**31) -> Path:
    """An .npz whose array 'i' has an .npy (version 2) header declared ``length`` bytes long, all zeros."""
    path.write_bytes(_zip_one("i.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", length), length))
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_bomb(path: Path, width: int = 12000, height: int = 12000) -> Path:
    """A 16-bit RGBA PNG of ``width`` x ``height`` zeros (1.15 GB decoded, about 1 MB on disk)."""
    raw = height * (1 + width * 8)  # a filter byte, then 8 bytes per pixel, each row
    stream = b"\x78\xda" + _deflate_run(b"", raw) + struct.pack(">I", _checksum(zlib.adler32, b"", raw, 1))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def exr_bomb(path: Path, width: int = 12000, height: int = 12000) -> Path:
    """A scanline OpenEXR, half-float R, G, B, A, ZIP-compressed zeros (1.15 GB decoded, about 1 MB on disk)."""
    channels = b"".join(c.encode() + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for c in "ABGR") + b"\0"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = (
        b"".join(
            [
                _attribute("channels", "chlist", channels),
                _attribute("compression", "compression", b"\x03"),  # ZIP: 16 scanlines per chunk
                _attribute("dataWindow", "box2i", window),
                _attribute("displayWindow", "box2i", window),
                _attribute("lineOrder", "lineOrder", b"\x00"),
                _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
                _attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
                _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
            ]
        )
        + b"\0"
    )
    start = b"\x76\x2f\x31\x01" + struct.pack("<I", 2) + header
    chunks = [(y, min(16, height - y)) for y in range(0, height, 16)]
    table_end = len(start) + 8 * len(chunks)
    blocks, offsets, position, packed = [], [], table_end, {}
    for y, lines in chunks:
        if lines not in packed:
            # OpenEXR's ZIP codec: bytes split odd/even, then differences + 128; zeros become 0, 128, 128, ...
            packed[lines] = zlib.compress(b"\0" + b"\x80" * (lines * width * 4 * 2 - 1), 9)
        block = struct.pack("<ii", y, len(packed[lines])) + packed[lines]
        offsets.append(position)
        blocks.append(block)
        position += len(block)
    path.write_bytes(start + struct.pack(f"<{len(offsets)}Q", *offsets) + b"".join(blocks))
    return path


def gif_bomb(path: Path, width: int = 30000, height: int = 30000, frames: int = 2) -> Path:
    """A GIF whose logical screen is ``width`` x ``height``, holding ``frames`` 1x1 frames 0.1 s apart (tiny on disk)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"  # 2-colour table
    delay = b"\x21\xf9\x04\x00" + struct.pack("<H", 10) + b"\x00\x00"  # graphic control: 10 centiseconds
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"  # one pixel, LZW min size 2
    path.write_bytes(screen + (delay + image) * frames + b"\x3b")
    return path
