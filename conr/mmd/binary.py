"""Bounds-checked little-endian reading of untrusted MMD files.

Every read goes through ``BinaryReader``, which checks that the bytes exist
before touching them and turns every problem into an ``InputError`` naming
the file. Counts are checked against a cap *and* against the bytes left
(``count * smallest record size <= remaining``), so a crafted count can never
make us allocate or loop beyond what the file itself could hold.
"""

from __future__ import annotations

import struct

import numpy as np

from ..errors import InputError

_U8 = struct.Struct("<B")
_I8 = struct.Struct("<b")
_U16 = struct.Struct("<H")
_I16 = struct.Struct("<h")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_F32 = struct.Struct("<f")

#: Signed and unsigned index dtypes by PMX index size.
SIGNED_INDEX = {1: np.dtype("<i1"), 2: np.dtype("<i2"), 4: np.dtype("<i4")}
UNSIGNED_INDEX = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<i4")}  # 4-byte vertex indices are signed ints


class BinaryReader:
    """A cursor over ``data`` that refuses to read past its end.

    ``name`` is the file name shown to the user, ``kind`` what the file should
    be ("PMX model", "VMD motion") and ``advice`` what to do about a damaged one.
    """

    def __init__(self, data: bytes, name: str, kind: str, advice: str = ""):
        self.data = bytes(data)
        self.name = name
        self.kind = kind
        self.advice = advice
        self.pos = 0

    # ------------------------------------------------------------ errors

    def error(self, problem: str) -> InputError:
        """An InputError saying which file, what is wrong and what to do."""
        advice = f" {self.advice}" if self.advice else ""
        return InputError(f"'{self.name}' is not a usable {self.kind}: {problem}.{advice}")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def need(self, size: int, what: str) -> None:
        if size < 0 or size > self.remaining:
            raise self.error(f"the {what} runs past the end of the file at byte {self.pos} (truncated or damaged)")

    # ------------------------------------------------------------ scalars

    def _unpack(self, codec: struct.Struct, what: str):
        self.need(codec.size, what)
        (value,) = codec.unpack_from(self.data, self.pos)
        self.pos += codec.size
        return value

    def u8(self, what: str) -> int:
        return self._unpack(_U8, what)

    def i8(self, what: str) -> int:
        return self._unpack(_I8, what)

    def u16(self, what: str) -> int:
        return self._unpack(_U16, what)

    def i32(self, what: str) -> int:
        return self._unpack(_I32, what)

    def u32(self, what: str) -> int:
        return self._unpack(_U32, what)

    def f32(self, what: str) -> float:
        return float(self._unpack(_F32, what))

    def floats(self, count: int, what: str, finite: bool = True) -> np.ndarray:
        """``count`` float32 values as float64; non-finite values are refused when ``finite``."""
        self.need(4 * count, what)
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float64)
        self.pos += 4 * count
        if finite and not np.isfinite(values).all():
            raise self.error(f"the {what} holds a value that is not a finite number")
        return values

    def raw(self, size: int, what: str) -> bytes:
        self.need(size, what)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def skip(self, size: int, what: str) -> None:
        self.need(size, what)
        self.pos += size

    # ------------------------------------------------------------ structured

    def count(self, what: str, cap: int, record_size: int, signed: bool = True) -> int:
        """A record count (int32, or uint32 when not ``signed``), checked against ``cap`` and the bytes left.

        ``record_size`` is the smallest size one record can have, so the count
        cannot promise more records than the file holds.
        """
        value = self.i32(what) if signed else self.u32(what)
        if value < 0:
            raise self.error(f"the {what} is negative ({value})")
        if value > cap:
            raise self.error(f"the {what} is {value:,}, over the limit of {cap:,}")
        if value * max(record_size, 1) > self.remaining:
            raise self.error(f"the {what} ({value:,}) needs more bytes than the file has left (truncated or damaged)")
        return value

    def index(self, size: int, what: str, limit: int, allow_none: bool = True) -> int:
        """A signed PMX index of ``size`` bytes: -1 (none, when allowed) or 0 <= index < ``limit``."""
        if size == 1:
            value = self.i8(what)
        elif size == 2:
            value = self._unpack(_I16, what)
        else:
            value = self.i32(what)
        if value == -1 and allow_none:
            return -1
        if not 0 <= value < limit:
            raise self.error(f"the {what} is {value}, but only 0 to {limit - 1} exist")
        return value

    def text(self, encoding: str, what: str, cap: int) -> str:
        """A PMX text: int32 byte length, then the bytes (undecodable bytes are replaced)."""
        length = self.i32(f"length of the {what}")
        if length < 0 or length > cap:
            raise self.error(f"the {what} claims {length:,} bytes (allowed: 0 to {cap:,})")
        return self.raw(length, what).decode(encoding, errors="replace")

    def fixed_text(self, size: int, what: str, encoding: str = "cp932") -> tuple[str, bytes]:
        """A NUL-terminated name in a fixed field: (decoded text, raw bytes before the NUL)."""
        raw = self.raw(size, what).split(b"\0", 1)[0]
        return raw.decode(encoding, errors="replace"), raw


def gather(data: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """Bytes ``data[o : o + width]`` for every offset, as a (N, width) uint8 array (callers checked bounds)."""
    out = np.empty((len(offsets), width), np.uint8)
    for k in range(width):
        out[:, k] = data[offsets + k]
    return out
