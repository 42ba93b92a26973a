"""Background removal for sheet drawings, with rembg.

CoNR needs each drawing cut out (transparent background). Pictures that
already carry a meaningful alpha channel keep it unless ``force`` is set;
others go through a rembg model. Models live in a folder this project
controls (``CONR_REMBG_DIR``, default ``~/.cache/conr/rembg``) and are
fetched by rembg on first use; without network and without the file, the
error says so and how to get around it (upload PNGs with transparency).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

#: The models offered, best for drawings first: name -> (file, what it is good at).
MODELS: dict[str, tuple[str, str]] = {
    "isnet-anime": ("isnet-anime.onnx", "anime and cartoon drawings (recommended)"),
    "isnet-general-use": ("isnet-general-use.onnx", "general pictures, high quality"),
    "u2net": ("u2net.onnx", "general pictures"),
    "u2netp": ("u2netp.onnx", "small and fast, rougher edges"),
    "silueta": ("silueta.onnx", "small general model"),
}
DEFAULT_MODEL = "isnet-anime"

#: A picture's alpha is "meaningful" (it is already a cut-out) when at least
#: this fraction of it is clearly transparent.
MEANINGFUL_ALPHA_FRACTION = 0.01

_sessions: dict[str, object] = {}
_lock = threading.Lock()


def model_dir() -> Path:
    """Where rembg keeps its models for us (also exported to rembg as U2NET_HOME)."""
    from .weights import cache_dir

    directory = Path(os.environ.get("CONR_REMBG_DIR") or cache_dir() / "rembg")
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["U2NET_HOME"] = str(directory)
    return directory


def model_path(name: str) -> Path:
    return model_dir() / MODELS[name][0]


def installed_models() -> list[str]:
    return [name for name in MODELS if model_path(name).is_file()]


def has_meaningful_alpha(rgba: np.ndarray) -> bool:
    """True when the picture is already a cut-out (a flat alpha of 255 is not).

    An empty or nearly opaque cut-out also counts: the sheet checks then say
    precisely what is wrong with it.
    """
    alpha = rgba[:, :, 3]
    return np.count_nonzero(alpha < 16) / alpha.size >= MEANINGFUL_ALPHA_FRACTION


def _can_download() -> bool:
    from .weights import _reachable

    return os.environ.get("CONR_OFFLINE", "") not in ("1", "true") and _reachable("https://github.com")


def session(name: str = DEFAULT_MODEL):
    """A cached rembg session for ``name``; raises InputError when the model cannot be had."""
    if name not in MODELS:
        raise InputError(f"Unknown background-removal model {name!r}; choose one of {', '.join(MODELS)}.")
    with _lock:
        if name in _sessions:
            return _sessions[name]
        path = model_path(name)
        if not path.is_file() and not _can_download():
            have = installed_models()
            alternative = f" Installed instead: {', '.join(have)}." if have else ""
            raise InputError(
                f"The background-removal model '{name}' is not downloaded here and the network is unreachable, "
                f"so backgrounds cannot be removed.{alternative} Upload drawings that already have a transparent "
                f"background (PNG), or put {MODELS[name][0]} into {model_dir()}."
            )
        from rembg import new_session  # slow first import (numba): keep it lazy

        try:
            _sessions[name] = new_session(name)
        except Exception as exc:
            raise InputError(f"The background-removal model '{name}' could not be loaded ({exc}).") from None
        return _sessions[name]


class NoFigureFound(InputError):
    """Background removal left nothing, or everything: there is no figure to cut out."""


@dataclass
class CutOut:
    rgba: np.ndarray
    removed_background: bool
    model: str | None


def cut_out(rgba: np.ndarray, model: str = DEFAULT_MODEL, force: bool = False, name: str = "image") -> CutOut:
    """Return the drawing with a transparent background.

    Keeps a meaningful existing alpha unless ``force``; otherwise asks rembg
    for a mask (with its mask post-processing, which removes specks) and
    raises InputError when nothing of the figure survives.
    """
    if not force and has_meaningful_alpha(rgba):
        return CutOut(rgba, False, None)
    from PIL import Image

    remover = session(model)
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
    return CutOut(out, True, model)


def warm_up(model: str = DEFAULT_MODEL) -> str | None:
    """Import rembg and load ``model`` ahead of the first user; returns a problem description or None."""
    model_dir()
    import rembg  # noqa: F401  (the slow part: numba compiles on the first import)

    try:
        session(model)
        return None
    except InputError as exc:
        return str(exc)


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
    network would refuse (no transparency, empty).
    """
    from .sheet import MAX_IMAGE_PIXELS, describe, load_image, prepare_view

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
        results.append(result)
    return results
