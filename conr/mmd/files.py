"""Opening user uploads: a .pmx or .pmd (or a .zip holding one, with its textures), a .vmd (or a .zip holding one).

Archives are never extracted: the one entry we need is read into memory,
after checking its declared size, its compression ratio (zip bombs) and
that it is not encrypted; textures and everything else are ignored.
Entry names of Japanese archives are usually Shift-JIS without the zip
UTF-8 flag; they are shown decoded as such.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from ..archive import check_entry, is_hidden_entry, open_zip, read_entry
from ..errors import InputError
from .pmd import MAGIC as PMD_MAGIC
from .pmd import read_pmd
from .pmx import PmxModel, read_pmx
from .vmd import VmdMotion, read_vmd

MAX_MODEL_BYTES = 256 * 1024**2
MAX_MOTION_BYTES = 128 * 1024**2
#: Uncompressed / compressed; models and motions compress well under this.
MAX_ENTRY_RATIO = 100
ZIP_MAGIC = b"PK\x03\x04"


def entry_name(info: zipfile.ZipInfo) -> str:
    """An entry's name as its author wrote it (cp932 when the UTF-8 flag is unset and it decodes)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("cp932")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _size_checked(path: Path, cap: int, kind: str) -> bytes:
    if not path.is_file():
        raise InputError(f"The {kind} file '{path}' does not exist.")
    with path.open("rb") as handle:
        data = handle.read(cap + 1)  # never more than the cap, whatever the file claims to be
    if len(data) > cap:
        raise InputError(
            f"'{path.name}' is {path.stat().st_size / 1024**2:.0f} MB; a {kind} may be at most {cap / 1024**2:.0f} MB."
        )
    return data


def _from_zip(path: Path, suffixes: tuple[str, ...], kind: str, cap: int, member: str | None) -> tuple[bytes, str]:
    with open_zip(path) as archive:
        infos = archive.infolist()
        candidates = []
        for info in infos:
            name = entry_name(info)
            base = PurePosixPath(name.replace("\\", "/")).name
            if info.is_dir() or is_hidden_entry(name):
                continue
            if base.lower().endswith(suffixes):
                candidates.append((name, info))
        wanted = " or ".join(suffixes)
        if member is not None:
            chosen = [c for c in candidates if c[0] == member or PurePosixPath(c[0].replace("\\", "/")).name == member]
            if not chosen:
                raise InputError(
                    f"'{path.name}' holds no {wanted} file called '{member}'. It holds: {_listing(candidates)}."
                )
            candidates = chosen[:1]
        if not candidates:
            raise InputError(f"'{path.name}' holds no {wanted} file; upload a .zip with the {kind} inside.")
        newest = [c for c in candidates if c[0].lower().endswith(".pmx")]
        if (
            len(candidates) > 1 and len(newest) == 1 and member is None
        ):  # a model shipped as .pmx and as .pmd: the newer format
            candidates = newest
        if len(candidates) > 1:
            raise InputError(
                f"'{path.name}' holds {len(candidates)} {wanted} files: {_listing(candidates)}. "
                f"Choose one (--pmx NAME on the command line), or upload a .zip with only that one."
            )
        name, info = candidates[0]
        check_entry(path, info, name, MAX_ENTRY_RATIO, cap, kind)
        return read_entry(archive, info, path, name), name


def _listing(candidates) -> str:
    names = [name for name, _ in candidates]
    return ", ".join(f"'{n}'" for n in names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _read(source, suffixes: tuple[str, ...], kind: str, cap: int, member: str | None) -> tuple[bytes, str]:
    path = Path(source)
    if not path.is_file():
        raise InputError(f"The {kind} file '{path}' does not exist.")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == ZIP_MAGIC:
        return _from_zip(path, suffixes, kind, cap, member)
    return _size_checked(path, cap, kind), path.name


def load_model(source, member: str | None = None) -> PmxModel:
    """A model from a .pmx or .pmd file or a .zip holding one (``member`` picks one of several)."""
    data, name = _read(source, (".pmx", ".pmd"), "model", MAX_MODEL_BYTES, member)
    return read_model(data, name)


def read_model(data: bytes, name: str) -> PmxModel:
    """Parse model bytes as PMD or PMX, by their signature (a PMD renamed .pmx still works)."""
    return read_pmd(data, name) if data[:3] == PMD_MAGIC else read_pmx(data, name)


def load_motion(source, member: str | None = None) -> VmdMotion:
    """A VMD motion from a .vmd file or a .zip holding one."""
    data, name = _read(source, (".vmd",), "motion", MAX_MOTION_BYTES, member)
    return read_vmd(data, name)
