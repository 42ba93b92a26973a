"""Character sheet images: safe loading, checks, and the network's view of them.

A sheet is 1 to N drawings of one character with a transparent background.
``load_image`` turns a path, PIL image or array into RGBA uint8 (refusing
what is not an image, damaged, or too large); ``prepare_sheet`` cuts every
view the way the released network expects (premultiplied alpha, square
crop, 256 px).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .crop import SquareCrop, figure_mask
from .errors import InputError

#: Network input size.
NETWORK_SIZE = 256
#: Default limit on an input image's pixel count (decompression bombs).
MAX_IMAGE_PIXELS = 40_000_000
#: The original refuses a view whose cropped alpha averages this much or more.
OPAQUE_MEAN_LIMIT = 0.95

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]

REMOVE_BACKGROUND_HINT = (
    "Remove the background first (the app does this for you; on the command line use "
    "`python -m conr cutout` or any background remover) and save it as a PNG with transparency."
)


def describe(source: ImageInput, index: int) -> str:
    """A short name for error messages: the file name, else 'image N'."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    name = getattr(source, "filename", None)
    return Path(name).name if name else f"image {index + 1}"


def load_image(
    source: ImageInput | bytes, name: str | None = None, max_pixels: int = MAX_IMAGE_PIXELS, kind: str = "Sheet image"
) -> np.ndarray:
    """Load one picture (or a file's bytes) as RGBA uint8 (H, W, 4), applying EXIF orientation.

    Raises InputError naming the file (as ``kind 'name'``) when it cannot be
    read, is not an image, is damaged, or has more than ``max_pixels`` pixels;
    the size is checked before the pixels are decoded.
    """
    name = name or describe(source, 0)
    if isinstance(source, np.ndarray):
        return _array_to_rgba(source, name)
    try:
        if isinstance(source, Image.Image):
            image = source
        elif isinstance(source, (bytes, bytearray)):
            image = Image.open(io.BytesIO(source))
        else:
            path = Path(source)
            if not path.is_file():
                raise InputError(f"{kind} '{name}' does not exist or is not a file.")
            if path.stat().st_size == 0:
                raise InputError(f"{kind} '{name}' is an empty file (0 bytes). Upload the drawing again.")
            image = Image.open(path)
        width, height = image.size
        if width * height > max_pixels:
            raise InputError(
                f"{kind} '{name}' is {width}x{height} ({width * height / 1e6:.1f} megapixels), over the "
                f"limit of {max_pixels / 1e6:.0f} megapixels. Scale it down (1024 px is plenty: the network sees 256 px)."
            )
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8))
        return np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(
            f"{kind} '{name}' is not an image this app can read. Use PNG (best, keeps transparency), WebP or JPEG."
        ) from None
    except Image.DecompressionBombError:
        raise InputError(f"{kind} '{name}' is too large to open safely (possible decompression bomb).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{kind} '{name}' is damaged or truncated and cannot be decoded ({exc}).") from None


def _array_to_rgba(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise InputError(f"Sheet image '{name}' has shape {array.shape}; expected H x W x 3 (RGB) or 4 (RGBA).")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise InputError(f"Sheet image '{name}' contains NaN or infinite values.")
            array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
        elif array.dtype == np.uint16:
            array = (array.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
        else:
            raise InputError(f"Sheet image '{name}' has pixel type {array.dtype}; expected uint8 or float in [0, 1].")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] == 3:
        array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(array)


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """RGB times alpha in uint8, truncating, exactly as the original loader does."""
    alpha = rgba[:, :, 3:4]
    rgb = (rgba[:, :, :3] * (alpha / 255.0)).clip(0, 255).astype(np.uint8)
    return np.concatenate([rgb, alpha], axis=2)


def has_transparency(rgba: np.ndarray) -> bool:
    """True when some pixel is not fully opaque: the figure is cut out."""
    return bool(rgba[:, :, 3].min() < 255)


@dataclass
class PreparedSheet:
    """The sheet as the network takes it: (M, 3, S, S) premultiplied RGB and (M, 1, S, S) alpha."""

    rgb: np.ndarray
    alpha: np.ndarray
    names: list[str]


def prepare_view(rgba: np.ndarray, name: str, size: int = NETWORK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Premultiply, square-crop and resize one view; float32 (3,S,S) RGB and (1,S,S) alpha in [0, 1]."""
    if not has_transparency(rgba):
        raise InputError(f"Sheet image '{name}' has no transparent pixels. {REMOVE_BACKGROUND_HINT}")
    crop = SquareCrop.around(rgba[:, :, 3], ignore_haze=True)
    if crop is None:
        raise InputError(
            f"Sheet image '{name}' is empty: almost all of it is transparent (under 0.1% of the pixels are visible). "
            "Check that the cut-out kept the character."
        )
    cut = crop.cut(premultiply(rgba), size).astype(np.float32) / 255.0
    alpha = cut[:, :, 3]
    if alpha.mean() >= OPAQUE_MEAN_LIMIT:
        raise InputError(
            f"Sheet image '{name}' is almost entirely opaque ({alpha.mean():.0%} of its square crop). "
            f"{REMOVE_BACKGROUND_HINT}"
        )
    return cut[:, :, :3].transpose(2, 0, 1).copy(), alpha[None].copy()


#: Warnings (not refusals) on drawings that look wrong: a second shape at least this share of the
#: largest one's area is another figure; a box wider than tall by this ratio is an upper body; a
#: figure whose longer side is under this share of the picture's shorter side, or these pixels, is tiny.
SECOND_FIGURE_SHARE = 0.2
WIDE_ASPECT = 1.2
TINY_SHARE = 0.15
TINY_PX = 64
#: Shapes are counted on the alpha scaled to this side at most (gaps of a pixel or two close).
SHAPES_SIDE = 512


def figure_warnings(rgba: np.ndarray, name: str) -> list[str]:
    """Short notes, each naming the picture, on a cut-out that looks wrong but is not refused.

    Several figures in one picture (separate shapes of similar size, e.g. a
    sheet grid), a figure much wider than tall (only the upper body?) and a
    tiny figure. The figure is what the square crop sees (``figure_mask``).
    """
    mask = figure_mask(rgba[:, :, 3]).astype(np.uint8)
    if not mask.any():
        return []
    height, width = mask.shape
    x, y, box_w, box_h = cv2.boundingRect(mask)
    scale = min(1.0, SHAPES_SIDE / max(height, width))
    shapes = (
        mask
        if scale == 1.0
        else (
            cv2.resize(
                mask * 255, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
            )
            > 0
        ).astype(np.uint8)
    )
    _, _, stats, _ = cv2.connectedComponentsWithStats(shapes, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    figures = int(np.count_nonzero(areas >= SECOND_FIGURE_SHARE * areas.max()))
    notes = []
    if figures > 1:
        notes.append(
            f"'{name}' seems to hold {figures} figures (separate shapes of similar size); CoNR takes one view of "
            "the character per picture, so split a sheet grid into separate pictures."
        )
    elif box_w > WIDE_ASPECT * box_h:
        notes.append(
            f"'{name}': the figure is wider than tall ({box_w}x{box_h} px); if it shows only the upper body, "
            "use a full-body drawing (head to feet): the dance moves the whole body."
        )
    if max(box_w, box_h) < max(TINY_PX, TINY_SHARE * min(height, width)):
        notes.append(
            f"'{name}': the figure is tiny ({box_w}x{box_h} px in a {width}x{height} picture); the network sees "
            f"it enlarged to {NETWORK_SIZE} px. Use a larger drawing, or check that the cut-out kept the whole character."
        )
    return notes


def prepare_sheet(
    images: Sequence[np.ndarray], names: Sequence[str] | None = None, size: int = NETWORK_SIZE
) -> PreparedSheet:
    """Prepare every view of a sheet; raises InputError naming the first bad view."""
    if len(images) == 0:
        raise InputError("The character sheet is empty: give at least one drawing of the character.")
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
    rgbs, alphas = zip(*(prepare_view(img, name, size) for img, name in zip(images, names)))
    return PreparedSheet(np.stack(rgbs), np.stack(alphas), names)
