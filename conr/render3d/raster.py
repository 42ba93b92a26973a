"""Choosing a rasterizer: moderngl on headless EGL when it works, else numpy (with a logged note).

Both take clip-space vertices and return a ``GBuffer``; ``raster_numpy`` is
also the oracle the OpenGL path is tested against. ``CONR_RASTERIZER``
(``auto``, ``moderngl`` or ``numpy``) overrides the choice.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np

from .gbuffer import GBuffer
from .raster_numpy import rasterize_numpy

log = logging.getLogger(__name__)

BACKENDS = ("auto", "moderngl", "numpy")


class NumpyRasterizer:
    name = "numpy"
    renderer = "numpy"

    def rasterize(
        self, clip: np.ndarray, triangles: np.ndarray, attributes: np.ndarray, flat: np.ndarray, size: int
    ) -> GBuffer:
        return rasterize_numpy(clip, triangles, attributes, flat, size)


_lock = threading.Lock()
_gl = None
_gl_failure: str | None = None


def _gl_rasterizer():
    """The shared OpenGL rasterizer, created once; None (with the reason kept) when it cannot be."""
    global _gl, _gl_failure
    with _lock:
        if _gl is None and _gl_failure is None:
            try:
                from .raster_gl import GLRasterizer

                _gl = GLRasterizer()
            except Exception as exc:  # no moderngl, no EGL, no driver: all mean "use numpy"
                _gl_failure = f"{type(exc).__name__}: {exc}"
        return _gl


def get_rasterizer(backend: str | None = None):
    """A rasterizer for ``backend`` (default: ``CONR_RASTERIZER`` or auto)."""
    backend = (backend or os.environ.get("CONR_RASTERIZER") or "auto").lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown rasterizer {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend == "numpy":
        return NumpyRasterizer()
    gl = _gl_rasterizer()
    if gl is not None:
        return gl
    if backend == "moderngl":
        raise RuntimeError(f"moderngl (EGL) is not available here: {_gl_failure}")
    log.warning(
        "OpenGL (moderngl on EGL) is unavailable (%s); rendering UDP with the slower numpy rasterizer.", _gl_failure
    )
    return NumpyRasterizer()
