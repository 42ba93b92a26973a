"""Checks for command-line values, shared by every sub-command.

The ``type=`` validators make argparse refuse a bad flag while parsing,
before any file is read or any weight loaded; ``output_file`` /
``output_dir`` check where results go (creating missing folders, as every
writer does) before the slow work starts. Each message names the flag or
file and says what to use instead.
"""

from __future__ import annotations

import argparse
import math
import re
import tempfile
from pathlib import Path

from .errors import InputError
from .limits import check_fps

DEVICE = re.compile(r"(cpu|cuda(:\d+)?|mps|auto)")


def _number(text: str, kind: type, what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (frames, batch sizes, windows)."""
    value = _number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed: use a whole number of at least 1")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (seconds, rates)."""
    value = _number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not allowed: use a number above 0")
    return value


def fps(text: str) -> float:
    """A frame rate ``conr.limits.check_fps`` accepts, with its message."""
    value = _number(text, float, "a frame rate")
    try:
        check_fps(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def pixels(low: int, high: int):
    """A validator for a side length in pixels from ``low`` to ``high``."""

    def side(text: str) -> int:
        value = _number(text, int, "a whole number of pixels")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} pixels is out of range: use {low} to {high}")
        return value

    side.__name__ = "pixels"  # argparse names the type in its fallback message
    return side


def device(text: str) -> str:
    """cpu, cuda, cuda:N, mps or auto; whether it exists here is checked later (``pick_device``)."""
    if not DEVICE.fullmatch(text.strip().lower()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use cpu, cuda, cuda:N (N = GPU number) or auto")
    return text.strip().lower()


def existing_file(text: str) -> str:
    """A path that is a file (images, models, videos)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: give the file(s) inside it")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist: check the path")
    return text


def existing_path(text: str) -> str:
    """A path that exists: a file, or a folder (pose frames, image sequences)."""
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist: check the path")
    return text


def _writable_folder(folder: Path, flag: str, shown: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{flag} {shown}: {folder} is a file, not a folder; choose another place.") from None
    except OSError as exc:
        raise InputError(
            f"{flag} {shown}: the folder {folder} cannot be created ({exc.strerror}); choose another place."
        ) from None
    try:
        with tempfile.TemporaryFile(dir=folder):  # the only sure test: root ignores permission bits
            pass
    except OSError as exc:
        raise InputError(
            f"{flag} {shown}: the folder {folder} is not writable ({exc.strerror}); choose another folder."
        ) from None


def output_file(path: str | Path, flag: str) -> Path:
    """Where a result file goes: not a folder, its folder created if missing and writable."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder; give a file name inside it.")
    _writable_folder(path.parent, flag, str(path))
    return path


def output_dir(path: str | Path, flag: str) -> Path:
    """Where result files go: a folder that is writable, or can be made (the writer makes it, and removes it on failure)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a folder; give a folder.")
    _writable_folder(path if path.is_dir() else path.parent, flag, str(path))
    return path
