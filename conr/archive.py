"""Reading untrusted .zip uploads (UDP frames, MMD models and motions, image sequences).

Archives are never extracted: entries are read into memory one at a time,
after checks on the entry count, each entry's name, encryption, declared
size and compression ratio (zip bombs), and a read never returns more than
the size the entry's header declares.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from .errors import InputError

MAX_ZIP_ENTRIES = 20_000


def open_zip(path: Path, max_entries: int = MAX_ZIP_ENTRIES) -> zipfile.ZipFile:
    """Open ``path`` as a zip archive holding at most ``max_entries`` entries."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"'{path.name}' is not a readable .zip archive ({exc}).") from None
    count = len(archive.infolist())
    if count > max_entries:
        archive.close()
        raise InputError(f"'{path.name}' has {count:,} entries, over the limit of {max_entries:,}.")
    return archive


def is_unsafe_name(name: str) -> bool:
    """Absolute, drive-qualified or climbing out with '..' (with either slash)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or bool(parts and ":" in parts[0])


def is_hidden_entry(name: str) -> bool:
    """A dot-file or anything under ``__MACOSX/`` (macOS resource forks such as ``__MACOSX/._0.png``):
    archivers add these beside the real files; they are skipped, not refused."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return not parts or parts[-1].startswith(".") or "__MACOSX" in parts


def check_entry(
    path: Path,
    info: zipfile.ZipInfo,
    name: str,
    max_ratio: float | None = None,
    max_bytes: int | None = None,
    kind: str = "file",
) -> None:
    """Refuse an encrypted entry, one over ``max_bytes``, or one expanding more than ``max_ratio``-fold.

    Each bound is optional; reads are bounded by the declared size anyway (``read_entry``).
    """
    if info.flag_bits & 0x1:
        raise InputError(f"'{path.name}': entry '{name}' is encrypted; upload an unencrypted zip.")
    if max_bytes is not None and info.file_size > max_bytes:
        raise InputError(
            f"'{path.name}': '{name}' is {info.file_size / 1024**2:.0f} MB; a {kind} may be at most {max_bytes / 1024**2:.0f} MB."
        )
    if max_ratio is not None and info.compress_size and info.file_size / info.compress_size > max_ratio:
        raise InputError(
            f"'{path.name}': entry '{name}' expands {info.file_size / info.compress_size:.0f}-fold, "
            "which looks like a zip bomb; refusing it."
        )


def read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, name: str | None = None) -> bytes:
    """The entry's bytes, never more than its header declares."""
    name = name or info.filename
    try:
        with archive.open(info) as entry:
            data = entry.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError) as exc:
        raise InputError(f"'{path.name}': '{name}' cannot be unpacked ({exc}).") from None
    if len(data) > info.file_size:
        raise InputError(f"'{path.name}': entry '{name}' is larger than its header claims; refusing it.")
    return data
