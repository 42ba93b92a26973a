"""A z-buffered triangle rasterizer in numpy: the fallback when OpenGL is unavailable, and the test oracle.

It follows OpenGL's rules closely enough that both agree to float precision
away from edges: pixel centres at +0.5, depth linear in screen space,
attributes interpolated perspective-correctly (barycentrics divided by w),
back faces culled, flat attributes from a triangle's first vertex. Work is
vectorised over every (triangle, pixel in its bounding box) pair, in chunks.
"""

from __future__ import annotations

import numpy as np

from .gbuffer import GBuffer

#: Candidate (triangle, pixel) pairs handled per chunk; bounds memory to a few hundred MB.
CHUNK_CANDIDATES = 2_000_000


def _window(clip: np.ndarray, size: int) -> np.ndarray:
    """Clip coordinates -> (x, y, z, 1/w): x, y in pixels (row 0 at the top), z the [0, 1] window depth."""
    w = clip[:, 3]
    inv_w = 1.0 / w
    ndc = clip[:, :3] * inv_w[:, None]
    return np.stack([(ndc[:, 0] + 1) * size / 2, (1 - ndc[:, 1]) * size / 2, (ndc[:, 2] + 1) / 2, inv_w], axis=1)


def rasterize_numpy(
    clip: np.ndarray, triangles: np.ndarray, attributes: np.ndarray, flat: np.ndarray, size: int
) -> GBuffer:
    """Render triangles into a ``size`` x ``size`` G-buffer.

    Args:
        clip: (V, 4) clip-space vertex positions (all in front of the camera).
        triangles: (T, 3) vertex indices, outward-wound; front faces are clockwise in OpenGL window space.
        attributes: (V, A) per-vertex values interpolated perspective-correctly.
        flat: (V,) a per-vertex integer taken from each triangle's first vertex (part ids).
    """
    if np.any(clip[:, 3] <= 1e-6):
        raise ValueError("a vertex lies behind the camera; the framing must keep the figure in front of it")
    win = _window(np.asarray(clip, np.float64), size)
    tri = np.asarray(triangles)
    x, y = win[tri, 0], win[tri, 1]  # (T, 3)
    # Signed area with rows growing downwards. The model is left-handed (MMD), so its outward-wound
    # triangles appear clockwise in OpenGL window space (y up), i.e. positive area here.
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    front = area > 1e-12
    x_lo = np.clip(np.ceil(x.min(axis=1) - 0.5), 0, size - 1).astype(np.int64)
    x_hi = np.clip(np.floor(x.max(axis=1) - 0.5), 0, size - 1).astype(np.int64)
    y_lo = np.clip(np.ceil(y.min(axis=1) - 0.5), 0, size - 1).astype(np.int64)
    y_hi = np.clip(np.floor(y.max(axis=1) - 0.5), 0, size - 1).astype(np.int64)
    on_screen = (
        (x.max(axis=1) > 0.5) & (x.min(axis=1) < size - 0.5) & (y.max(axis=1) > 0.5) & (y.min(axis=1) < size - 0.5)
    )
    keep = np.flatnonzero(front & on_screen & (x_hi >= x_lo) & (y_hi >= y_lo))

    # Barycentric coordinates and depth are affine in screen space: l = A x + B y + C per triangle.
    xs, ys, zs = x[keep], y[keep], win[tri[keep], 2]
    inv_area = 1.0 / area[keep]
    coeff = np.empty((len(keep), 3, 3))  # [triangle, (l0, l1, z), (A, B, C)]
    for out, (i, j) in enumerate(((1, 2), (2, 0))):
        coeff[:, out, 0] = -(ys[:, j] - ys[:, i]) * inv_area
        coeff[:, out, 1] = (xs[:, j] - xs[:, i]) * inv_area
        coeff[:, out, 2] = ((ys[:, j] - ys[:, i]) * xs[:, i] - (xs[:, j] - xs[:, i]) * ys[:, i]) * inv_area
    dz0, dz1 = zs[:, 0] - zs[:, 2], zs[:, 1] - zs[:, 2]
    coeff[:, 2, 0] = coeff[:, 0, 0] * dz0 + coeff[:, 1, 0] * dz1
    coeff[:, 2, 1] = coeff[:, 0, 1] * dz0 + coeff[:, 1, 1] * dz1
    coeff[:, 2, 2] = coeff[:, 0, 2] * dz0 + coeff[:, 1, 2] * dz1 + zs[:, 2]

    width = x_hi[keep] - x_lo[keep] + 1
    counts = width * (y_hi[keep] - y_lo[keep] + 1)
    depth = np.full(size * size, np.inf)
    best_pixel, best_tri, best_l = [], [], []
    # Chunks of whole triangles, each with at most about CHUNK_CANDIDATES pairs.
    cumulative = np.cumsum(counts)
    start = 0
    while start < len(keep):
        done_before = cumulative[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cumulative, done_before + CHUNK_CANDIDATES, side="right")))
        local = np.arange(start, stop)
        n = counts[local]
        owner = np.repeat(local, n)
        offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        px = x_lo[keep][owner] + offset % width[owner]
        py = y_lo[keep][owner] + offset // width[owner]
        cx, cy = px + 0.5, py + 0.5
        c = coeff[owner]
        l0 = c[:, 0, 0] * cx + c[:, 0, 1] * cy + c[:, 0, 2]
        l1 = c[:, 1, 0] * cx + c[:, 1, 1] * cy + c[:, 1, 2]
        inside = (l0 >= 0) & (l1 >= 0) & (l0 + l1 <= 1)
        z = c[:, 2, 0] * cx + c[:, 2, 1] * cy + c[:, 2, 2]
        inside &= (z >= 0) & (z <= 1)
        pixel = (py * size + px)[inside]
        z, owner, l0, l1 = z[inside], owner[inside], l0[inside], l1[inside]
        np.minimum.at(depth, pixel, z)
        best_pixel.append(pixel)
        best_tri.append(owner)
        best_l.append(np.stack([l0, l1, z], 1))
        start = stop
    pixel = np.concatenate(best_pixel) if best_pixel else np.zeros(0, np.int64)
    owner = np.concatenate(best_tri) if best_tri else np.zeros(0, np.int64)
    lz = np.concatenate(best_l) if best_l else np.zeros((0, 3))
    winner = lz[:, 2] <= depth[pixel]
    pixel, owner, lz = pixel[winner], owner[winner], lz[winner]
    # Equal depths (shared edges): keep one candidate per pixel.
    pixel, first = np.unique(pixel, return_index=True)
    owner, lz = owner[first], lz[first]

    corners = tri[keep[owner]]  # (P, 3)
    screen = np.stack([lz[:, 0], lz[:, 1], 1.0 - lz[:, 0] - lz[:, 1]], 1)
    perspective = screen * win[corners, 3]
    perspective /= perspective.sum(axis=1, keepdims=True)
    values = np.einsum("pk,pka->pa", perspective, attributes[corners])

    buffer = GBuffer.empty(size, attributes.shape[1])
    rows, cols = np.divmod(pixel, size)
    buffer.coverage[rows, cols] = True
    buffer.depth[rows, cols] = lz[:, 2]
    buffer.attributes[rows, cols] = values
    buffer.part[rows, cols] = flat[corners[:, 0]]
    return buffer
