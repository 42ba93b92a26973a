"""UDP-guided in-betweening: the network renders every k-th frame, the frames between are warped from them.

Each pixel of a UDP frame names the body-surface point it shows (rest-pose
XYZ in channels 0-2, visibility in 3), so an in-between pixel's colour is
looked up where the same surface point lies in the two nearest rendered
frames (keys), and the two colours are blended by time. A point that
neither key sees (disocclusion), or sees only far from where it should be,
is a hole; a frame with too many holes is rendered by the network instead
(a fallback), and then serves as a key for its neighbours too.

    render_to_files(InbetweenRenderer(renderer, k=3), poses, sheet=sheet, mp4="dance.mp4")
    render_to_files(draft_renderer(renderer), poses, sheet=sheet, mp4="draft.mp4")  # quick preview

``python -m conr.bench --inbetween`` measures it against toon-shaded ground
truth (``oracle``).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from .errors import InputError, check_cancelled
from .progress import STAGE_RENDER, Progress
from .quality import premultiplied
from .udp import UdpSequence, validate_udp

#: A UDP pixel is part of the figure when its visibility exceeds this.
VISIBLE = 0.5
#: The voxel hash splits UDP space into GRID^3 cells (1/128 = 0.008 units: a few pixels of body surface).
GRID = 128
#: A match farther than this from the surface point (UDP units, after sub-pixel refinement) is a hole.
MATCH_DISTANCE = 0.01
#: A frame whose holes cover more than this fraction of its figure is rendered by the network.
HOLE_FRACTION = 0.03
#: Neighbouring pixels whose UDP differs by more than this lie across a fold or an occlusion: no gradient there.
JUMP = 0.04
#: After one descent, matches still this far off (UDP units) are walked once more.
STALLED = 0.001
#: Pixels around the figure that are warped too, so anti-aliased silhouettes carry over.
RING = 1
#: Default k of the draft preview, and how many of the sheet's drawings it keeps.
DRAFT_K, DRAFT_VIEWS = 3, 2
#: Frames from which a CPU render in-betweens by default (``auto_k``): 2 s at 30 fps.
LONG_RENDER = 60

#: The 26 neighbouring voxels, nearest first: 6 sharing a face, 12 an edge, 8 a corner.
_RINGS = [
    [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if abs(i) + abs(j) + abs(k) == n]
    for n in (1, 2, 3)
]


# ---------------------------------------------------------------- matching


class SurfaceIndex:
    """Where each body-surface point is seen in one UDP frame: a voxel hash of its visible pixels' XYZ.

    ``match`` finds, for query XYZ points, the sub-pixel position in this
    frame showing the nearest surface point: a voxel look-up (the 26
    neighbouring voxels when the own one is empty), Gauss-Newton steps on
    the local UDP gradient, the best of the 3x3 pixels there, and a final
    sub-pixel offset. Numpy only, one array per channel (reductions over a
    3-wide axis cost more than the arithmetic); no tree is built.
    """

    def __init__(self, udp: np.ndarray):
        h, w = udp.shape[:2]
        self.shape = (h, w)
        self.stride = w + 2
        padded = np.zeros(
            (h + 2, w + 2, 4), np.float32
        )  # a border of invisible pixels: neighbours never leave the array
        padded[1:-1, 1:-1, :3] = udp[:, :, :3]
        padded[1:-1, 1:-1, 3] = udp[:, :, 3] > VISIBLE
        # one 16-byte element per pixel: a single gather fetches XYZ and visibility (3x faster than three)
        self.packed = padded.view(np.complex128).ravel()
        seen = np.flatnonzero(padded[:, :, 3].ravel())
        self.empty = len(seen) == 0
        self.table = np.full(GRID**3, -1, np.int32)
        self.table[_voxel_ids(*self._at(seen)[:3])] = seen

    def match(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, distance) per query point (N, 3): where it is seen here, in pixels, and how far off (inf: nowhere near)."""
        n = len(query)
        x, y = np.zeros(n, np.float32), np.zeros(n, np.float32)
        distance = np.full(n, np.inf, np.float32)
        if self.empty or n == 0:
            return x, y, distance
        q = tuple(np.ascontiguousarray(query[:, c], np.float32) for c in range(3))
        candidate = self.table[_voxel_ids(*q)]
        missing = np.flatnonzero(candidate < 0)
        if len(missing):
            candidate[missing] = self._nearest_voxel(tuple(c[missing] for c in q))
        found = np.flatnonzero(candidate >= 0)
        if len(found) < n:
            q = tuple(c[found] for c in q)
        idx = self._descend(q, candidate[found])
        dx, dy, residual = self._subpixel(q, idx)
        # a few points stall on the way (folds, sparse pixels): walk those further
        far = np.flatnonzero(residual > STALLED)
        if len(far):
            qf = tuple(c[far] for c in q)
            idx_f = self._descend(qf, idx[far])
            fdx, fdy, fres = self._subpixel(qf, idx_f)
            better = fres < residual[far]
            sel = far[better]
            idx[sel], dx[sel], dy[sel], residual[sel] = idx_f[better], fdx[better], fdy[better], fres[better]
        row, col = np.divmod(idx, self.stride)
        x[found] = col - 1 + dx
        y[found] = row - 1 + dy
        distance[found] = residual
        return x, y, distance

    def _at(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """X, Y, Z and visibility (0/1) of padded pixels ``idx``."""
        p = np.take(self.packed, idx).view(np.float32).reshape(-1, 4)
        return p[:, 0], p[:, 1], p[:, 2], p[:, 3]

    def _descend(self, q, idx: np.ndarray) -> np.ndarray:
        for _ in range(2):
            idx = self._step(q, idx)
        return self._best_around(q, self._best_around(q, idx))

    def _subpixel(self, q, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sub-pixel offset (at most one pixel) from pixel ``idx`` towards ``q``, and the distance left."""
        error = tuple(a - b for a, b in zip(q, self._at(idx)))
        gx, gy = self._gradients(idx)
        dx, dy = _solve(gx, gy, error, 1.0)
        residual = np.sqrt(sum((e - a * dx - b * dy) ** 2 for e, a, b in zip(error, gx, gy)))
        return dx, dy, residual

    def _nearest_voxel(self, q) -> np.ndarray:
        """A pixel from a neighbouring voxel (the closest of the nearest non-empty ring: faces, edges, then corners), or -1."""
        coords = [_cell(c) for c in q]
        best = np.full(len(q[0]), -1, np.int32)
        todo = np.arange(len(q[0]))
        for ring in _RINGS:
            if len(todo) == 0:
                break
            qt, ct = [c[todo] for c in q], [c[todo] for c in coords]
            found, found_d = np.full(len(todo), -1, np.int32), np.full(len(todo), np.inf, np.float32)
            for offset in ring:
                around = [c + o for c, o in zip(ct, offset)]
                inside = np.logical_and.reduce([(a >= 0) & (a < GRID) for a in around])
                cand = np.where(
                    inside, self.table[np.where(inside, (around[0] * GRID + around[1]) * GRID + around[2], 0)], -1
                )
                d = np.where(cand >= 0, _distance2(qt, self._at(np.maximum(cand, 0))), np.inf)
                better = d < found_d
                found, found_d = np.where(better, cand, found), np.where(better, d, found_d)
            best[todo] = found
            todo = todo[found < 0]
        return best

    def _gradients(self, idx: np.ndarray):
        """d(XYZ)/dx and d(XYZ)/dy at padded pixels ``idx``: central differences, one-sided at edges and folds."""
        centre = self._at(idx)
        out = []
        for step in (1, self.stride):
            ahead, behind = self._at(idx + step), self._at(idx - step)
            forward = tuple(a - c for a, c in zip(ahead[:3], centre[:3]))
            backward = tuple(c - b for c, b in zip(centre[:3], behind[:3]))
            ok_f = (ahead[3] > 0) & (_norm2(forward) < JUMP**2)
            ok_b = (behind[3] > 0) & (_norm2(backward) < JUMP**2)
            scale_f = np.where(ok_b, 0.5, 1.0) * ok_f
            scale_b = np.where(ok_f, 0.5, 1.0) * ok_b
            out.append(tuple((f * scale_f + b * scale_b).astype(np.float32) for f, b in zip(forward, backward)))
        return out[0], out[1]

    def _step(self, q, idx: np.ndarray) -> np.ndarray:
        """One Gauss-Newton step towards the pixel showing ``q``, to whole pixels, only onto visible ones."""
        gx, gy = self._gradients(idx)
        dx, dy = _solve(gx, gy, tuple(a - b for a, b in zip(q, self._at(idx))), 6.0)
        row, col = np.divmod(idx, self.stride)
        h, w = self.shape
        row = np.minimum(np.maximum(row + np.rint(dy).astype(np.int32), 1), h)
        col = np.minimum(np.maximum(col + np.rint(dx).astype(np.int32), 1), w)
        moved = row * self.stride + col
        return np.where(self._at(moved)[3] > 0, moved, idx)

    def _best_around(self, q, idx: np.ndarray) -> np.ndarray:
        """The visible pixel among ``idx`` and its 8 neighbours whose XYZ is closest to ``q``."""
        best, best_d = idx, _distance2(q, self._at(idx))
        s = self.stride
        for offset in (-s - 1, -s, -s + 1, -1, 1, s - 1, s, s + 1):
            cand = idx + offset
            p = self._at(cand)
            d = np.where(p[3] > 0, _distance2(q, p), np.inf)
            better = d < best_d
            best, best_d = np.where(better, cand, best), np.where(better, d, best_d)
        return best


def _cell(c: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum((c * GRID).astype(np.int32), 0), GRID - 1)


def _voxel_ids(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return (_cell(x) * GRID + _cell(y)) * GRID + _cell(z)


def _norm2(v) -> np.ndarray:
    return v[0] * v[0] + v[1] * v[1] + v[2] * v[2]


def _distance2(a, b) -> np.ndarray:
    return _norm2(tuple(p - q for p, q in zip(a, b)))


def _dot(a, b) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _solve(gx, gy, error, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (dx, dy) with gx*dx + gy*dy ~ error (3 channels each), clipped to +-limit; 0 where degenerate."""
    a, b, c = _dot(gx, gx), _dot(gx, gy), _dot(gy, gy)
    u, v = _dot(gx, error), _dot(gy, error)
    det = a * c - b * b
    ok = det > 1e-6 * (a + c) ** 2 + 1e-20
    safe = np.where(ok, det, 1.0)
    dx = np.where(ok, (c * u - b * v) / safe, 0.0)
    dy = np.where(ok, (a * v - b * u) / safe, 0.0)
    return np.clip(dx, -limit, limit).astype(np.float32), np.clip(dy, -limit, limit).astype(np.float32)


# ---------------------------------------------------------------- warping


@dataclass
class Key:
    """A rendered frame as a source of colour: its surface index and premultiplied RGBA float32."""

    surface: SurfaceIndex
    colour: np.ndarray | None = None

    @classmethod
    def of(cls, udp: np.ndarray, rgba: np.ndarray | None = None) -> Key:
        return cls(SurfaceIndex(udp), None if rgba is None else premultiplied(rgba, np.float32))


def _figure(udp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nonzero(udp[:, :, 3] > VISIBLE)


def warp_frame(
    udp: np.ndarray, a: Key, b: Key, t: float, match_distance: float = MATCH_DISTANCE
) -> tuple[np.ndarray, float]:
    """The in-between of keys ``a`` (t = 0) and ``b`` (t = 1) for pose ``udp``: (straight RGBA uint8, hole fraction).

    A surface point seen by both keys takes (1 - t) of a's colour and t of
    b's; seen by one, that one's. Holes, and a ring of RING pixels around
    the figure (its anti-aliased edge), are warped as their nearest matched
    pixel is, so the figure keeps the keys' silhouette quality.
    """
    h, w = udp.shape[:2]
    out = np.zeros((h, w, 4), np.uint8)
    rows, cols = _figure(udp)
    if len(rows) == 0:
        return out, 0.0
    q = udp[rows, cols, :3]
    xa, ya, da = a.surface.match(q)
    xb, yb, db = b.surface.match(q)
    ok_a, ok_b = da < match_distance, db < match_distance
    holes = float((~ok_a & ~ok_b).mean())
    top, left = max(int(rows.min()) - RING, 0), max(int(cols.min()) - RING, 0)
    bottom, right = min(int(rows.max()) + RING + 1, h), min(int(cols.max()) + RING + 1, w)
    shape = (bottom - top, right - left)
    lr, lc = rows - top, cols - left
    figure = np.zeros(shape, np.uint8)
    figure[lr, lc] = 1
    region = (
        cv2.dilate(figure, np.ones((3, 3), np.uint8), iterations=RING).astype(bool) if RING else figure.astype(bool)
    )

    total = np.zeros(shape, np.float32)
    blend = np.zeros(shape + (4,), np.float32)
    for key, x, y, ok, other_ok, weight in ((a, xa, ya, ok_a, ok_b, 1.0 - t), (b, xb, yb, ok_b, ok_a, t)):
        if weight <= 0 or not ok.any():
            continue
        weights = np.where(region, np.float32(weight), np.float32(0))
        weights[lr[~ok & other_ok], lc[~ok & other_ok]] = 0  # the other key sees it, this one does not
        colour = _sample(key.colour, x[ok] - cols[ok], y[ok] - rows[ok], lr[ok], lc[ok], region, top, left)
        blend += colour * weights[:, :, None]
        total += weights
    covered = total > 0
    blend[covered] /= total[covered][:, None]
    alpha = blend[:, :, 3:4]
    rgb = np.where(alpha > 0, blend[:, :, :3] * 255.0 / np.maximum(alpha, 1e-3), 0)
    out[top:bottom, left:right] = np.clip(np.concatenate([rgb, alpha], axis=2) + 0.5, 0, 255).astype(np.uint8)
    return out, holes


def _sample(colour, shift_x, shift_y, lr, lc, region, top, left) -> np.ndarray:
    """Sample a key's colour for every ``region`` pixel, each shifted as its nearest matched pixel (lr, lc) is."""
    shape = region.shape
    sites = np.ones(shape, np.uint8)
    sites[lr, lc] = 0
    _, labels = cv2.distanceTransformWithLabels(sites, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    # labels number the sites in raster order, as np.nonzero lists them (lr, lc come from it)
    nearest = labels[region] - 1
    ry, rx = np.nonzero(region)
    map_x = np.full(shape, -2.0, np.float32)
    map_y = np.full(shape, -2.0, np.float32)
    map_x[ry, rx] = rx + left + shift_x[nearest]
    map_y[ry, rx] = ry + top + shift_y[nearest]
    return cv2.remap(colour, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# ---------------------------------------------------------------- the sequence


@dataclass
class Plan:
    """Which frames the network rendered: one in k, the last, and the fallbacks (known once the render is done)."""

    frames: int
    k: int
    keys: list[int] = field(default_factory=list)
    fallbacks: list[int] = field(default_factory=list)

    @property
    def fallback_rate(self) -> float:
        """Fallbacks per frame that was meant to be an in-between."""
        meant = self.frames - len(key_frames(self.frames, self.k))
        return len(self.fallbacks) / meant if meant else 0.0


def key_frames(frames: int, k: int) -> list[int]:
    """The frames the network renders in any case: every k-th and the last."""
    return sorted(set(range(0, frames, k)) | {frames - 1})


def inbetween_sequence(
    read: Callable[[int], np.ndarray],
    plan: Plan,
    keys: Iterable[np.ndarray],
    render_one: Callable[[int, np.ndarray], np.ndarray],
    hole_limit: float = HOLE_FRACTION,
    match_distance: float = MATCH_DISTANCE,
    cancel=None,
    stage=None,
) -> Iterator[tuple[np.ndarray, bool]]:
    """Every frame in order, as (straight RGBA uint8, warped?), from the renders of ``key_frames`` (``keys``, in order).

    ``read(i)`` gives UDP frame i. An in-between whose holes exceed
    ``hole_limit`` is rendered by ``render_one(i, udp)`` instead (a
    fallback) and is then the earlier key of the frames after it. ``plan``
    is filled in as frames go.
    """
    stage = stage or (lambda name: contextlib.nullcontext())
    regular = key_frames(plan.frames, plan.k)
    previous: Key | None = None
    for p, (index, rgba) in enumerate(zip(regular, keys)):
        plan.keys.append(index)
        gap_before = p > 0 and index - regular[p - 1] > 1
        gap_after = p + 1 < len(regular) and regular[p + 1] - index > 1
        with stage("warp in-betweens"):
            key = Key.of(read(index), rgba) if gap_before or gap_after else None  # adjacent keys need no index
        if gap_before:
            start = regular[p - 1]
            for j in range(start + 1, index):
                check_cancelled(cancel, "The render")
                with stage("warp in-betweens"):
                    udp = read(j)
                    frame, holes = warp_frame(udp, previous, key, (j - start) / (index - start), match_distance)
                warped = holes <= hole_limit
                if not warped:
                    frame = render_one(j, udp)
                    plan.fallbacks.append(j)
                    plan.keys.append(j)
                    with stage("warp in-betweens"):
                        start, previous = j, Key.of(udp, frame)
                yield frame, warped
        yield rgba, False
        previous = key
    plan.keys.sort()


def render_inbetween(
    renderer,
    udp_frames: Iterable[np.ndarray] | Sequence[np.ndarray],
    sheet=None,
    k: int = 3,
    batch_size: int | None = None,
    progress: Progress | None = None,
    cancel=None,
    hole_limit: float = HOLE_FRACTION,
    match_distance: float = MATCH_DISTANCE,
    plan: Plan | None = None,
    **options,
) -> Iterator[np.ndarray]:
    """Like ``ConrRenderer.render_iter`` (same frames, in order; progress per output frame; ``cancel`` between
    batches and frames), but the network renders only ``key_frames`` and the fallbacks; the rest are warped.

    The keys stream through the renderer's ``render_iter`` (batched as
    usual); a fallback is rendered on its own. ``plan`` (a ``Plan``) is
    filled in as frames go. Other ``options`` (a ``clock``) go to the
    renderer's ``render_iter``; a clock also gets the warping as a stage.
    """
    frames = udp_frames if isinstance(udp_frames, Sequence) else list(udp_frames)
    total = len(frames)
    if total == 0:
        raise InputError("There are no pose frames to render.")
    if k < 1:
        raise InputError(f"In-betweening needs k >= 1 (every k-th frame rendered), not {k}.")
    names = getattr(frames, "names", None) or [f"frame {i}" for i in range(total)]
    plan = plan if plan is not None else Plan(total, k)
    plan.frames, plan.k = total, k

    def read(i: int) -> np.ndarray:
        return validate_udp(frames[i], names[i])

    def subset(indices: list[int]) -> UdpSequence:
        if isinstance(frames, UdpSequence):
            return frames.select(indices)
        return UdpSequence([names[i] for i in indices], frames=[frames[i] for i in indices])

    def render_one(index: int, udp: np.ndarray) -> np.ndarray:
        one = UdpSequence([names[index]], frames=[udp])
        return list(renderer.render_iter(one, sheet=sheet, batch_size=1, cancel=cancel, **options))[0]

    clock = options.get("clock")
    keys = renderer.render_iter(
        subset(key_frames(total, k)), sheet=sheet, batch_size=batch_size, cancel=cancel, **options
    )
    sequence = inbetween_sequence(
        read, plan, keys, render_one, hole_limit, match_distance, cancel, clock.stage if clock else None
    )
    for done, (frame, _) in enumerate(sequence, 1):
        if progress:
            progress(STAGE_RENDER, done, total)
        yield frame


# ---------------------------------------------------------------- the renderer option and the draft


def select_views(sheet, count: int):
    """The ``count`` most different views of a parsed sheet (by the body surface each one shows), as a new sheet.

    Views are compared by the voxels (8 per axis) of their UDP estimates'
    visible points: 1 - intersection over union. The farthest pair comes
    first, then the view farthest from those chosen, and so on.
    """
    from .network import SheetFeatures
    from .pipeline import CharacterSheet

    if sheet.views <= count:
        return sheet
    udp = sheet.udp
    cells = []
    for view in udp:
        seen = view[:, :, 3] > VISIBLE
        coords = np.clip((view[seen, :3] * 8).astype(np.int32), 0, 7)
        cells.append(set(((coords[:, 0] * 8 + coords[:, 1]) * 8 + coords[:, 2]).tolist()))
    m = len(cells)
    dist = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            union = len(cells[i] | cells[j])
            dist[i, j] = 1.0 - len(cells[i] & cells[j]) / union if union else 0.0
    i, j = np.unravel_index(np.argmax(dist), dist.shape)
    chosen = [int(i), int(j)] if i != j else [0, 1]
    while len(chosen) < count:
        rest = [v for v in range(m) if v not in chosen]
        chosen.append(max(rest, key=lambda v: min(dist[v, c] for c in chosen)))
    chosen.sort()
    f = sheet.features
    features = SheetFeatures(f.reference[chosen], [x[chosen] for x in f.features], f.udp[chosen])
    return CharacterSheet(f"{sheet.key}:{','.join(map(str, chosen))}", [sheet.names[c] for c in chosen], features)


def mark_frame(rgba: np.ndarray, text: str) -> np.ndarray:
    """``text`` stamped in the top-left corner of a straight RGBA frame (opaque, outlined, sized to the canvas)."""
    h, w = rgba.shape[:2]
    scale = max(min(h, w) / 700.0, 0.4)
    thickness = max(1, int(round(scale * 2)))
    (_, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    margin = max(2, int(round(min(h, w) * 0.02)))
    out = np.ascontiguousarray(rgba).copy()
    origin = (margin, margin + text_h)
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (40, 30, 40, 255), thickness + 2, cv2.LINE_AA)
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 60, 60, 255), thickness, cv2.LINE_AA)
    return out


class InbetweenRenderer:
    """A ``ConrRenderer`` that in-betweens: pass it wherever a renderer's ``render_iter`` is used (``render_to_files``).

    ``views`` keeps only that many of the sheet's drawings (``select_views``);
    ``mark`` stamps every frame (the draft's "DRAFT"). After a render,
    ``plan`` says which frames the network rendered, so make one per render
    (it costs nothing; the network stays the wrapped renderer's). Other
    attributes are the wrapped renderer's.
    """

    def __init__(
        self,
        renderer,
        k: int = 3,
        views: int | None = None,
        mark: str | None = None,
        hole_limit: float = HOLE_FRACTION,
        match_distance: float = MATCH_DISTANCE,
    ):
        if k < 1:
            raise InputError(f"--inbetween {k}: give 1 (every frame rendered) or more.")
        self.renderer, self.k, self.views, self.mark = renderer, k, views, mark
        self.hole_limit, self.match_distance = hole_limit, match_distance
        self.plan: Plan | None = None

    def __getattr__(self, name: str):
        if name == "renderer":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.renderer, name)

    def sheet_for(self, sheet):
        """The sheet this renders with: ``sheet`` (from ``parse_sheet``) cut to ``views`` drawings."""
        if sheet is None:
            raise InputError("No character sheet: pass the sheet from parse_sheet(images) to render().")
        return select_views(sheet, self.views) if self.views else sheet

    def render_iter(
        self, udp_frames, sheet=None, batch_size=None, progress=None, cancel=None, **options
    ) -> Iterator[np.ndarray]:
        self.plan = Plan(0, self.k)
        frames = render_inbetween(
            self.renderer,
            udp_frames,
            self.sheet_for(sheet),
            self.k,
            batch_size,
            progress,
            cancel,
            self.hole_limit,
            self.match_distance,
            self.plan,
            **options,
        )
        for frame in frames:
            yield mark_frame(frame, self.mark) if self.mark else frame

    def render(
        self, udp_frames, sheet=None, batch_size=None, progress=None, cancel=None, **options
    ) -> list[np.ndarray]:
        return list(self.render_iter(udp_frames, sheet, batch_size, progress, cancel, **options))


def draft_renderer(renderer, k: int = DRAFT_K, views: int = DRAFT_VIEWS) -> InbetweenRenderer:
    """The quick preview: the ``views`` most different drawings, every ``k``-th frame rendered, frames marked DRAFT."""
    return InbetweenRenderer(renderer, k=k, views=views, mark="DRAFT")


def auto_k(device, frames: int) -> int:
    """The in-betweening a render gets by default: k = 3 for long renders on a CPU, none elsewhere."""
    return 3 if getattr(device, "type", str(device)) == "cpu" and frames >= LONG_RENDER else 1


# ---------------------------------------------------------------- the oracle


def oracle(
    dances: Sequence[str] | None = None,
    ks: Sequence[int] = (2, 3, 4),
    size: int = 512,
    seconds: float | None = 4.0,
    fps: float = 30.0,
    hole_limit: float = HOLE_FRACTION,
    match_distance: float = MATCH_DISTANCE,
    rasterizer=None,
) -> list[dict]:
    """In-betweening measured against ground truth: our character toon-shaded in every frame of each dance.

    Toon key frames are warped exactly as network renders would be, and
    each in-between is compared with the toon render of its own pose: PSNR
    over the canvas and over the figure (pixels either frame covers), SSIM
    over the figure (``conr.quality``), the fallback rate, and the CPU time
    of the in-betweening (indexing keys, matching, warping; ``time.process_time``,
    so other processes on the host count less) per in-between. One row per
    dance and k, over the first ``seconds`` of each dance (None: one loop).
    """
    from .dances import get_motion, list_dances
    from .dances.generator import dance_camera
    from .dances.views import toon_and_udp
    from .quality import psnr, ssim
    from .render3d.raster import get_rasterizer

    rasterizer = rasterizer or get_rasterizer()
    rows = []
    for name in dances or [info.name for info in list_dances()]:
        motion = get_motion(name)
        camera = dance_camera(motion)
        times = motion.frame_times(fps)
        if seconds:
            times = times[: max(2, int(round(seconds * fps)))]
        pairs = [toon_and_udp(motion.sample(t), camera, size, rasterizer=rasterizer) for t in times]
        toon, udp = [p[0] for p in pairs], [p[1] for p in pairs]
        for k in ks:
            plan = Plan(len(udp), k)
            keys = (toon[i] for i in key_frames(len(udp), k))
            sequence = inbetween_sequence(udp.__getitem__, plan, keys, lambda j, _: toon[j], hole_limit, match_distance)
            cpu, scores = 0.0, []
            for j in range(len(udp)):
                started = time.process_time()
                frame, warped = next(sequence)
                cpu += time.process_time() - started
                if warped:
                    figure = (frame[:, :, 3] > 0) | (toon[j][:, :, 3] > 0)
                    scores.append(
                        (
                            min(psnr(frame, toon[j]), 100.0),
                            min(psnr(frame, toon[j], figure), 100.0),
                            ssim(frame, toon[j], figure),
                        )
                    )
            s = np.array(scores).reshape(-1, 3)
            nan = float("nan")
            rows.append(
                {
                    "dance": name,
                    "k": k,
                    "frames": len(udp),
                    "inbetweens": len(scores),
                    "fallbacks": len(plan.fallbacks),
                    "fallback_rate": plan.fallback_rate,
                    "psnr": float(s[:, 0].mean()) if len(s) else nan,
                    "psnr_min": float(s[:, 0].min()) if len(s) else nan,
                    "psnr_figure": float(s[:, 1].mean()) if len(s) else nan,
                    "ssim_figure": float(s[:, 2].mean()) if len(s) else nan,
                    "cpu_ms": 1e3 * cpu / max(len(scores), 1),
                }
            )
    return rows


def print_oracle(
    seconds: float | None = 4.0, size: int = 512, dances: Sequence[str] | None = None, machine: str = "", out=print
) -> list[dict]:
    """``python -m conr.bench --inbetween``: the oracle table, one row per dance and k, then each k over all dances."""
    span = f"the first {seconds:g} s" if seconds else "one loop"
    out(
        f"# in-betweening oracle: toon ground truth, {size} px, {span} of each dance at 30 fps; {machine}; "
        "CPU ms per in-between (indexing keys, matching, warping)"
    )
    out("| dance | k | in-betweens | fallback | PSNR dB | min PSNR | figure PSNR | figure SSIM | CPU ms |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    from .dances import list_dances

    for name in dances or [info.name for info in list_dances()]:
        for row in oracle([name], size=size, seconds=seconds):
            rows.append(row)
            out(_oracle_line(row))
    for k in sorted({r["k"] for r in rows}):
        group = [r for r in rows if r["k"] == k]
        weights = np.array([r["inbetweens"] for r in group], float)
        meant = sum(r["inbetweens"] + r["fallbacks"] for r in group)
        mean = lambda key: (
            float(np.average([r[key] for r in group], weights=weights)) if weights.sum() else float("nan")
        )  # noqa: E731
        out(
            _oracle_line(
                {
                    "dance": "**all**",
                    "k": k,
                    "inbetweens": int(weights.sum()),
                    "fallback_rate": sum(r["fallbacks"] for r in group) / max(meant, 1),
                    "psnr": mean("psnr"),
                    "psnr_min": min(r["psnr_min"] for r in group),
                    "psnr_figure": mean("psnr_figure"),
                    "ssim_figure": mean("ssim_figure"),
                    "cpu_ms": mean("cpu_ms"),
                }
            )
        )
    return rows


def _oracle_line(r: dict) -> str:
    return (
        f"| {r['dance']} | {r['k']} | {r['inbetweens']} | {100 * r['fallback_rate']:.1f}% | {r['psnr']:.2f} | {r['psnr_min']:.2f} | "
        f"{r['psnr_figure']:.2f} | {r['ssim_figure']:.4f} | {r['cpu_ms']:.1f} |"
    )
