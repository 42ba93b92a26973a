"""Background removal for sheet drawings and video frames, with rembg.

CoNR needs each drawing cut out (transparent background). Pictures that
already carry a meaningful alpha channel keep it unless ``force`` is set;
others go through a rembg model. Models live in a folder this project
controls (``CONR_REMBG_DIR``, default ``~/.cache/conr/rembg``) and are
downloaded from rembg's GitHub release on first use (``ensure_model``; the
Space does it at start-up). Background removal never dead-ends on a missing
model: when the chosen one cannot be had, the best installed one is used and
the result says so; only with no model at all is a picture without
transparency refused, saying what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import numpy as np

from .crop import FAINT_ALPHA
from .errors import InputError
from .runtime import cache_folder

log = logging.getLogger("conr.matting")

#: The models offered, best for drawings first (the fallback order): name -> (file, what it is good at).
MODELS: dict[str, tuple[str, str]] = {
    "isnet-anime": ("isnet-anime.onnx", "anime and cartoon drawings (recommended)"),
    "isnet-general-use": ("isnet-general-use.onnx", "general pictures, high quality"),
    "u2net": ("u2net.onnx", "general pictures"),
    "u2netp": ("u2netp.onnx", "small and fast, rougher edges"),
    "silueta": ("silueta.onnx", "small general model"),
}
DEFAULT_MODEL = "isnet-anime"
#: rembg's published MD5 of each model file (the ones rembg itself checks).
CHECKSUMS = {
    "isnet-anime": "6f184e756bb3bd901c8849220a83e38e",
    "isnet-general-use": "fc16ebd8b0c10d971d3513d564d01e29",
    "u2net": "60024c5c889badc19c04ad937298a77b",
    "u2netp": "8e83ca70e441ab06c318d82300c84806",
    "silueta": "55e59e0d8062d2f5d013f4725ee84782",
}
#: Where rembg publishes its models; ``CONR_REMBG_URL`` points to a mirror holding the same file names.
DOWNLOAD_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"
#: Seconds a stalled connection or read may take before the download is given up.
DOWNLOAD_TIMEOUT_S = 20.0
#: A failed download is not tried again for this long (each upload would otherwise wait on it).
RETRY_AFTER_S = 300.0
#: What the refusals say about where models go (no server path: the page may face anyone).
WHERE_MODELS_GO = "the server's rembg model folder (CONR_REMBG_DIR, default ~/.cache/conr/rembg)"

#: A picture's alpha is "meaningful" (it is already a cut-out) when at least
#: this fraction of it is clearly transparent.
MEANINGFUL_ALPHA_FRACTION = 0.01

Progress = Callable[[str], None]
#: ``ensure_model``'s answer while another thread (the start-up download) fetches the model.
STILL_DOWNLOADING = "it is still downloading"

_sessions: dict[str, object] = {}
_lock = threading.Lock()
_downloads: dict[str, threading.Lock] = {name: threading.Lock() for name in MODELS}
_failures: dict[str, tuple[float, str]] = {}


def model_dir() -> Path:
    """Where rembg keeps its models for us (also exported to rembg as U2NET_HOME)."""
    directory = Path(os.environ.get("CONR_REMBG_DIR") or cache_folder("rembg"))
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["U2NET_HOME"] = str(directory)
    # We verify downloads ourselves; rembg would otherwise hash the file on every load and, on a
    # mismatch (a file someone put there), try to download over it.
    os.environ["MODEL_CHECKSUM_DISABLED"] = "1"
    return directory


def model_path(name: str) -> Path:
    return model_dir() / MODELS[name][0]


def installed_models() -> list[str]:
    """The models whose files are in ``model_dir()``, best for drawings first."""
    return [name for name in MODELS if model_path(name).is_file()]


def has_meaningful_alpha(rgba: np.ndarray) -> bool:
    """True when the picture is already a cut-out (a flat alpha of 255 is not).

    An empty or nearly opaque cut-out also counts: the sheet checks then say
    precisely what is wrong with it.
    """
    alpha = rgba[:, :, 3]
    return np.count_nonzero(alpha < FAINT_ALPHA) / alpha.size >= MEANINGFUL_ALPHA_FRACTION


def download_url(name: str) -> str:
    base = os.environ.get("CONR_REMBG_URL") or DOWNLOAD_URL
    return base.rstrip("/") + "/" + MODELS[name][0]


def is_offline() -> bool:
    """``CONR_OFFLINE=1``: never try to download a model."""
    return os.environ.get("CONR_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _unreachable(url: str) -> str | None:
    """A quick probe of ``url``'s host (a few seconds at most): why it cannot be reached, or None."""
    from .weights import _reachable

    parts = urlparse(url)
    if parts.scheme not in ("http", "https"):
        return None
    probe = url if parts.port else f"{parts.scheme}://{parts.hostname}:{443 if parts.scheme == 'https' else 80}"
    return None if _reachable(probe) else f"{parts.hostname} is unreachable"


def ensure_model(name: str = DEFAULT_MODEL, progress: Progress | None = None, wait: bool = False) -> str | None:
    """Make sure ``name``'s file is in ``model_dir()``, downloading it if needed.

    Returns None when the model is there, else a short reason it is not
    ("CONR_OFFLINE is set", "github.com is unreachable", ``STILL_DOWNLOADING``
    when another thread is fetching it and ``wait`` is False, ...). Offline it
    returns within a few seconds; a failure is remembered for ``RETRY_AFTER_S``
    so that uploads do not wait on it again.
    Progress lines go to ``progress`` (default: stderr, like the weights'
    download, so they reach the Space's logs even before logging is set up).
    """
    if name not in MODELS:
        raise InputError(f"Unknown background-removal model {name!r}; choose one of {', '.join(MODELS)}.")
    if model_path(name).is_file():
        return None
    if is_offline():
        return "CONR_OFFLINE is set"
    lock = _downloads[name]
    if not lock.acquire(blocking=wait):
        return STILL_DOWNLOADING
    key = str(model_path(name))
    try:
        if model_path(name).is_file():  # another thread finished meanwhile
            return None
        failed = _failures.get(key)
        if failed and time.monotonic() - failed[0] < RETRY_AFTER_S:
            return failed[1]
        reason = _download(name, progress or _to_stderr)
        if reason:
            _failures[key] = (time.monotonic(), reason)
            log.warning("Background-removal model %s is not available: %s", name, reason)
        else:
            _failures.pop(key, None)
        return reason
    finally:
        lock.release()


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _download(name: str, progress: Progress) -> str | None:
    """Fetch one model file into a temporary name, check its MD5, then move it in place."""
    url = download_url(name)
    unreachable = _unreachable(url)
    if unreachable:
        return unreachable
    target = model_path(name)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.md5()
    try:
        progress(f"Downloading background-removal model {name} from {url}")
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, shown = 0, -1
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                tenth = done * 10 // total if total else -1
                if tenth > shown:
                    shown = tenth
                    progress(f"{MODELS[name][0]}: {done / 1e6:.0f} of {total / 1e6:.0f} MB ({tenth * 10}%)")
        if digest.hexdigest() != CHECKSUMS[name]:
            return f"the downloaded file is damaged (MD5 {digest.hexdigest()}, expected {CHECKSUMS[name]})"
        os.replace(partial, target)
        progress(f"Background-removal model {name} ready ({done / 1e6:.0f} MB)")
        return None
    except Exception as exc:  # network and disk errors alike: the caller falls back
        return f"downloading failed ({type(exc).__name__}: {str(exc)[:160]})"
    finally:
        partial.unlink(missing_ok=True)


def _load(name: str):
    """A cached rembg session for the model file ``name`` has now (keyed by path: the folder may change)."""
    key = str(model_path(name))
    with _lock:
        if key not in _sessions:
            from rembg import new_session  # slow first import (numba): keep it lazy

            _sessions[key] = new_session(name)
        return _sessions[key]


def session(name: str = DEFAULT_MODEL, subject: str = "drawings") -> tuple[object, str, str | None]:
    """A rembg session for ``name``, or for the best installed model when ``name`` cannot be had.

    Returns (session, model used, note) where the note says why another model
    was used ("isnet-anime could not be downloaded (github.com is
    unreachable); used u2netp") or is None. While the start-up download runs,
    the best installed model is used ("isnet-anime is still downloading; used
    u2netp"), or, with none installed, the download is waited for. Raises
    InputError only when no model at all can be loaded; ``subject``
    ("drawings" or "video frames") words its advice.
    """
    if name not in MODELS:
        raise InputError(f"Unknown background-removal model {name!r}; choose one of {', '.join(MODELS)}.")
    problem = ensure_model(name)
    others = [other for other in installed_models() if other != name]
    if problem == STILL_DOWNLOADING and not others:  # nothing to fall back on: worth the wait
        problem = ensure_model(name, wait=True)
    if problem is None:
        try:
            return _load(name), name, None
        except Exception as exc:
            problem = f"could not be loaded ({type(exc).__name__}: {str(exc)[:160]})"
    elif problem == STILL_DOWNLOADING:
        problem = "is still downloading"
    else:
        problem = f"could not be downloaded ({problem})"
    for other in others:
        try:
            return _load(other), other, f"{name} {problem}; used {other}"
        except Exception as exc:
            log.warning("Background-removal model %s could not be loaded: %s", other, exc)
    raise InputError(no_model_message(name, problem, subject))


def no_model_message(name: str, problem: str, subject: str = "drawings") -> str:
    """The refusal when no background-removal model can be had, with what to do instead."""
    if subject == "video frames":
        instead = (
            "Upload a video whose frames are already transparent (a zip of PNG frames with transparent "
            "backgrounds, or a WebM or GIF with transparency)"
        )
    else:
        instead = "Upload drawings that already have a transparent background (PNG)"
    return (
        f"The {subject} need their background removed, but the model {name} {problem} and no other "
        f"background-removal model is installed. {instead}, or put {MODELS[name][0]} (or another model, "
        f"e.g. u2netp.onnx) into {WHERE_MODELS_GO}; rembg publishes them at {DOWNLOAD_URL}."
    )


class NoFigureFound(InputError):
    """Background removal left nothing, or everything: there is no figure to cut out."""


@dataclass
class CutOut:
    """One cut-out picture, with what the caller should tell the user about it.

    ``note`` says when another background-removal model than the chosen one
    was used; ``warnings`` are short notes, each naming the picture, on
    drawings that look wrong but are not refused (several figures, upper body
    only, a tiny figure).
    """

    rgba: np.ndarray
    removed_background: bool
    model: str | None
    note: str | None = None
    warnings: list[str] = field(default_factory=list)


def cut_out(
    rgba: np.ndarray, model: str = DEFAULT_MODEL, force: bool = False, name: str = "image", subject: str = "drawings"
) -> CutOut:
    """Return the drawing with a transparent background.

    Keeps a meaningful existing alpha unless ``force``; otherwise asks rembg
    (the chosen model, else the best installed one, see ``session``) for a
    mask (with its mask post-processing, which removes specks) and raises
    InputError when nothing of the figure survives.
    """
    if not force and has_meaningful_alpha(rgba):
        return CutOut(rgba, False, None)
    from PIL import Image

    remover, used, note = session(model, subject)
    from rembg import remove

    opaque = Image.fromarray(rgba[:, :, :3])
    mask = remove(opaque, session=remover, only_mask=True, post_process_mask=True)
    alpha = np.asarray(mask.convert("L"), dtype=np.uint8)
    if not force:  # keep whatever transparency the picture had
        alpha = np.minimum(alpha, rgba[:, :, 3])
    out = np.dstack([rgba[:, :, :3], alpha])
    visible = np.count_nonzero(alpha > 127) / alpha.size
    if visible < 0.001:
        raise NoFigureFound(
            f"Background removal found no figure in '{name}' (the cut-out is empty). Try another model "
            "(isnet-anime suits drawings), or upload the drawing with a transparent background."
        )
    if visible > 0.98:
        raise NoFigureFound(
            f"Background removal could not separate the figure from the background in '{name}' (nothing became "
            "transparent). Use a plain background behind the character, try another model, or upload a PNG with transparency."
        )
    return CutOut(out, True, used, note)


def warm_up(model: str = DEFAULT_MODEL, progress: Progress | None = None) -> str | None:
    """Download ``model`` if needed and load it ahead of the first user (the Space's start-up thread).

    Returns None when ``model`` is ready, else what will happen instead (the
    fallback note, or the refusal when no model can be had); also logged.
    """
    ensure_model(model, progress)
    import rembg  # noqa: F401  (the slow part: numba compiles on the first import)

    try:
        _, used, note = session(model)
    except InputError as exc:
        log.warning("%s", exc)
        return str(exc)
    if note:
        note = f"{note.replace('; used', '; will use')} until it is there"
        log.warning("Background removal: %s", note)
    else:
        log.info("Background-removal model %s ready", used)
    return note


def cut_out_sheet(
    sources: list,
    names: list[str] | None = None,
    model: str = DEFAULT_MODEL,
    force: bool = False,
    max_images: int = 8,
    max_pixels: int | None = None,
) -> list[CutOut]:
    """Load, cut out and check every drawing of a sheet, in order.

    Raises InputError for the first problem, naming the picture: too many
    pictures, unreadable or too large files, failed cut-outs, and views the
    network would refuse (no transparency, empty). Each result carries its
    fallback ``note`` and its ``warnings`` for the caller to show.
    """
    from .sheet import MAX_IMAGE_PIXELS, describe, figure_warnings, load_image, prepare_view

    if not sources:
        raise InputError("Add at least one drawing of your character (PNG, JPEG or WebP).")
    if len(sources) > max_images:
        raise InputError(
            f"{len(sources)} pictures is too many: a character sheet takes at most {max_images}. "
            "Keep the most different views (front, back, side, three-quarter)."
        )
    names = names or [describe(s, i) for i, s in enumerate(sources)]
    results = []
    for source, name in zip(sources, names):
        rgba = load_image(source, name, max_pixels=max_pixels or MAX_IMAGE_PIXELS)
        result = cut_out(rgba, model=model, force=force, name=name)
        prepare_view(result.rgba, name)  # the network's own checks, with the same messages
        result.warnings = figure_warnings(result.rgba, name)
        results.append(result)
    return results
