"""The square crop around a figure that CoNR's network sees, and the way back.

Every sheet image and every UDP frame is cut to a square window centred on
the bounding box of its non-transparent pixels, zero-padded where the window
leaves the canvas, and resized to the network's 256x256. The window is kept
as a ``SquareCrop`` so the render can be pasted back into the pose canvas.
Rounding and interpolation choices follow the original implementation
exactly; the released weights were trained with them.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import cv2
import numpy as np

#: A figure covering less than this fraction of its canvas counts as empty.
MIN_AREA_FRACTION = 0.001
#: Alpha below this (of 255) is faint: an anti-aliased edge, or the haze some
#: background removers leave over the whole picture.
FAINT_ALPHA = 16
#: Faint alpha reaching further than this beyond the solid figure is haze, not its edge.
EDGE_PX = 2


@dataclass(frozen=True)
class SquareCrop:
    """Where the square window sits on the canvas (all in canvas pixels)."""

    canvas_h: int
    canvas_w: int
    crop_top: int
    crop_bottom: int
    crop_left: int
    crop_right: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    side_h: int
    side_w: int

    def as_array(self) -> np.ndarray:
        """The 12 numbers in the original implementation's ``crop`` record order."""
        return np.array(astuple(self), dtype=np.int64)

    @classmethod
    def around(cls, alpha: np.ndarray, ignore_haze: bool = False) -> SquareCrop | None:
        """The square window around ``alpha > 0``, or None for an empty figure.

        Returns None when the figure is a single pixel or covers under 0.1% of
        the canvas, the cases the original treats as "bad" input. With
        ``ignore_haze`` (drawings, not UDP masks) a faint haze does not count
        as figure (see ``figure_mask``).
        """
        canvas_h, canvas_w = alpha.shape[:2]
        opaque = (figure_mask(alpha) if ignore_haze else alpha > 0).astype(np.uint8)
        left, top, box_w, box_h = cv2.boundingRect(opaque)
        if box_h <= 1 and box_w <= 1:
            return None
        if opaque.sum() / (canvas_h * canvas_w) < MIN_AREA_FRACTION:
            return None
        side = box_h if box_h > box_w else box_w
        # Python's round() (half to even) on purpose: the original uses it.
        top = int(round(top - (side - box_h) / 2))
        left = int(round(left - (side - box_w) / 2))
        bottom, right = top + side, left + side
        return cls(
            canvas_h,
            canvas_w,
            crop_top=max(top, 0),
            crop_bottom=min(bottom, canvas_h),
            crop_left=max(left, 0),
            crop_right=min(right, canvas_w),
            pad_top=max(-top, 0),
            pad_bottom=max(bottom - canvas_h, 0),
            pad_left=max(-left, 0),
            pad_right=max(right - canvas_w, 0),
            side_h=side,
            side_w=side,
        )

    def cut(self, image: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
        """Crop, zero-pad and resize ``image`` (H, W[, C]) to ``size`` x ``size``.

        Images grow with INTER_LINEAR and shrink with INTER_AREA; label maps
        (``nearest=True``) use INTER_NEAREST_EXACT so no UDP value is invented.
        """
        window = image[self.crop_top : self.crop_bottom, self.crop_left : self.crop_right]
        pad = ((self.pad_top, self.pad_bottom), (self.pad_left, self.pad_right)) + ((0, 0),) * (image.ndim - 2)
        if any(p for pair in pad for p in pair):
            window = np.pad(window, pad, mode="constant")
        if window.shape[:2] == (size, size):
            return np.ascontiguousarray(window)
        if nearest:
            interpolation = cv2.INTER_NEAREST_EXACT
        elif size > window.shape[0] and size > window.shape[1]:
            interpolation = cv2.INTER_LINEAR
        else:
            interpolation = cv2.INTER_AREA
        return cv2.resize(window, (size, size), interpolation=interpolation)

    def paste(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """Put a square render (S, S, C) back at this window of a blank canvas.

        Resized with INTER_AREA whatever the direction, as the original does;
        label maps (``nearest=True``) with INTER_NEAREST_EXACT.
        """
        interpolation = cv2.INTER_NEAREST_EXACT if nearest else cv2.INTER_AREA
        window = cv2.resize(image, (self.side_w, self.side_h), interpolation=interpolation)
        if window.ndim == 2:
            window = window[:, :, None]
        canvas = np.zeros((self.canvas_h, self.canvas_w, window.shape[2]), dtype=image.dtype)
        canvas[self.crop_top : self.crop_bottom, self.crop_left : self.crop_right] = window[
            self.pad_top : self.side_h - self.pad_bottom, self.pad_left : self.side_w - self.pad_right
        ]
        return canvas


def figure_mask(alpha: np.ndarray) -> np.ndarray:
    """The pixels that belong to the figure: ``alpha > 0`` unless a faint haze surrounds it.

    A clean cut-out, whose faint pixels are only its anti-aliased edge (within
    ``EDGE_PX`` of the solid part's box), keeps the original's ``alpha > 0``
    exactly. When faint alpha reaches further (a haze of alpha 1-15 over the
    whole picture, or faint specks), only ``alpha >= FAINT_ALPHA`` counts:
    otherwise the square crop would take the whole picture and shrink the
    character. A picture with nothing but faint alpha has no figure.
    """
    visible = alpha > 0
    solid = alpha >= FAINT_ALPHA
    if not solid.any():
        return solid
    x, y, w, h = cv2.boundingRect(solid.astype(np.uint8))
    vx, vy, vw, vh = cv2.boundingRect(visible.astype(np.uint8))
    edge_only = vx >= x - EDGE_PX and vy >= y - EDGE_PX and vx + vw <= x + w + EDGE_PX and vy + vh <= y + h + EDGE_PX
    return visible if edge_only else solid
