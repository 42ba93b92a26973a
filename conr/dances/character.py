"""The procedural character: a closed triangle mesh in the canonical A-pose, with skin weights.

Everything is built here from simple shapes (no third-party model): each
part is a stack of rings (a generalised tube: torso, limbs, skirt, hair) or a
deformed sphere (head, hair cap), closed with apex fans, so every part is a
closed, consistently outward-wound surface. Parts overlap at the joints,
which keeps the figure free of holes when it bends.

Model axes (MMD-style): x = towards the character's own left, y = up (feet
at 0, top of the head at 1.6), z = towards the character's back (it faces
-z). Anime proportions: the head is 1/6.5 of the height.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..render3d.skinning import Skeleton
from .skeleton import SKELETON, SKIRT_PANELS, SKIRT_PROFILE, TWIN_TAIL

HEIGHT = 1.6
HEAD_HEIGHT = HEIGHT / 6.5
#: Influences per vertex in linear blend skinning.
MAX_INFLUENCES = 4

#: Part ids (0 means background in rendered buffers).
PARTS = (
    "head",
    "hair",
    "neck",
    "torso",
    "skirt",
    "arm.L",
    "arm.R",
    "leg.L",
    "leg.R",
    "shoe.L",
    "shoe.R",
    "back_hair",
    "lock.L",
    "lock.R",
    "tail.L",
    "tail.R",
    "thumb.L",
    "thumb.R",
)
PART_ID = {name: i + 1 for i, name in enumerate(PARTS)}

HEAD_CENTRE = np.array([0.0, HEIGHT - 0.128, -0.008])
HEAD_RADII = np.array([0.104, 0.128, 0.114])


@dataclass
class Character:
    """The rigged mesh: rest (A-pose) geometry, triangles, parts and skin weights."""

    skeleton: Skeleton
    vertices: np.ndarray  # (V, 3) float64, rest positions
    normals: np.ndarray  # (V, 3) rest normals
    triangles: np.ndarray  # (T, 3) int32, outward (counter-clockwise seen from outside)
    part_ids: np.ndarray  # (V,) uint8, see PART_ID
    bone_ids: np.ndarray  # (V, K) int32
    weights: np.ndarray  # (V, K) float64, rows sum to 1
    part_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # triangle index range per part

    @property
    def fingerprint(self) -> str:
        """Changes whenever the geometry or rig changes (part of the cache key)."""
        digest = hashlib.sha1()
        for array in (self.vertices, self.triangles, self.bone_ids, self.weights):
            digest.update(np.ascontiguousarray(np.round(array, 6) if array.dtype.kind == "f" else array).tobytes())
        return digest.hexdigest()[:16]


# ---------------------------------------------------------------- surfaces


def ring_surface(rings: np.ndarray, start_apex: np.ndarray, end_apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Close a stack of rings (R, M, 3) with an apex at each end; returns vertices, triangles.

    The result is wound outward (checked by its signed volume).
    """
    count, around = rings.shape[:2]
    vertices = np.concatenate([rings.reshape(-1, 3), start_apex[None], end_apex[None]])
    start, end = count * around, count * around + 1
    j, k = np.meshgrid(np.arange(count - 1), np.arange(around), indexing="ij")
    a = j * around + k
    b = j * around + (k + 1) % around
    c = (j + 1) * around + (k + 1) % around
    d = (j + 1) * around + k
    quads = np.concatenate([np.stack([a, d, c], -1).reshape(-1, 3), np.stack([a, c, b], -1).reshape(-1, 3)])
    k = np.arange(around)
    fan_start = np.stack([np.full(around, start), k, (k + 1) % around], -1)
    last = (count - 1) * around
    fan_end = np.stack([last + k, np.full(around, end), last + (k + 1) % around], -1)
    triangles = np.concatenate([quads, fan_start, fan_end]).astype(np.int32)
    if signed_volume(vertices, triangles) < 0:
        triangles = triangles[:, ::-1].copy()
    return vertices, triangles


def signed_volume(vertices: np.ndarray, triangles: np.ndarray) -> float:
    v0, v1, v2 = (vertices[triangles[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() / 6.0)


def _resample(control: np.ndarray, count: int) -> np.ndarray:
    """Resample rows of ``control`` (N, C; the first three columns a path) evenly by arc length."""
    steps = np.linalg.norm(np.diff(control[:, :3], axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    at = np.linspace(0.0, arc[-1], count)
    return np.stack([np.interp(at, arc, control[:, c]) for c in range(control.shape[1])], axis=1)


def _smooth(values: np.ndarray, passes: int = 2) -> np.ndarray:
    """A few passes of a [1 2 1] filter along the path (ends kept): rounds off the profile's corners."""
    values = values.copy()
    for _ in range(passes):
        values[1:-1] = (values[:-2] + 2 * values[1:-1] + values[2:]) / 4
    return values


def tube(
    control, ref_axis, rings: int, around: int, cap_rings: int = 4, round_start: bool = True, round_end: bool = True
):
    """A closed tube along a polyline: ``control`` rows are (x, y, z, radius_a, radius_b).

    ``radius_b`` is measured along ``ref_axis`` (projected off the path), and
    ``radius_a`` across it. Ends are rounded with ``cap_rings`` rings (or
    left flat with just an apex fan).
    """
    samples = _resample(np.asarray(control, np.float64), rings)
    samples[:, 3:] = _smooth(samples[:, 3:])
    centres, radii = samples[:, :3], samples[:, 3:5]
    tangents = np.gradient(centres, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    ref = np.asarray(ref_axis, np.float64)
    b_axis = ref - (tangents @ ref)[:, None] * tangents
    b_axis /= np.linalg.norm(b_axis, axis=1, keepdims=True)
    a_axis = np.cross(b_axis, tangents)
    phi = np.linspace(0.0, 2 * np.pi, around, endpoint=False)
    cos, sin = np.cos(phi), np.sin(phi)

    def ring(centre, ra, rb, a, b):
        return centre + ra * cos[:, None] * a + rb * sin[:, None] * b

    stack = [ring(centres[i], radii[i, 0], radii[i, 1], a_axis[i], b_axis[i]) for i in range(rings)]
    start_apex, end_apex = centres[0].copy(), centres[-1].copy()
    for end, round_it in ((0, round_start), (-1, round_end)):
        if not round_it:
            continue
        direction = -tangents[0] if end == 0 else tangents[-1]
        length = radii[end].mean()
        caps = []
        for n in range(1, cap_rings + 1):
            angle = np.pi / 2 * n / (cap_rings + 1)
            centre = centres[end] + direction * length * np.sin(angle)
            caps.append(
                ring(centre, radii[end, 0] * np.cos(angle), radii[end, 1] * np.cos(angle), a_axis[end], b_axis[end])
            )
        apex = centres[end] + direction * length
        if end == 0:
            stack = caps[::-1] + stack
            start_apex = apex
        else:
            stack = stack + caps
            end_apex = apex
    return ring_surface(np.stack(stack), start_apex, end_apex)


def sphere_directions(rings: int, around: int) -> np.ndarray:
    """Unit directions on a latitude/longitude grid (R, M, 3), poles excluded, bottom first."""
    theta = np.linspace(0.0, np.pi, rings + 2)[1:-1]  # from the bottom (-y) to the top (+y)
    phi = np.linspace(0.0, 2 * np.pi, around, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    return np.stack([np.sin(t) * np.cos(p), -np.cos(t), np.sin(t) * np.sin(p)], axis=-1)


def head_offsets(directions: np.ndarray) -> np.ndarray:
    """The head surface around ``HEAD_CENTRE``: an ellipsoid with a narrow, pointed anime chin."""
    d = directions * HEAD_RADII
    below = np.clip(-directions[..., 1], 0.0, 1.0)
    taper = 1.0 - 0.42 * below**1.6
    d[..., 0] *= taper
    d[..., 2] *= 1.0 - 0.18 * below**2
    d[..., 2] -= 0.012 * below  # the chin sits a little forward
    return d


def _smoothstep(edge0: float, edge1: float, x):
    t = np.clip((np.asarray(x, np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def hair_offsets(directions: np.ndarray) -> np.ndarray:
    """The hair volume: the head pushed outwards, except over the face (below jagged bangs), where it sinks inside."""
    x, y, z = directions[..., 0], directions[..., 1], directions[..., 2]
    # Bangs: the hairline over the face zig-zags in points (seven strands across the forehead).
    angle = np.arctan2(x, -z)
    zigzag = np.abs(((angle / (np.pi / 7)) % 2.0) - 1.0)  # 0..1 triangle wave
    hairline = 0.12 + 0.16 * zigzag
    front = _smoothstep(-0.15, 0.05, -z)  # 1 on the face side
    face = front * (1.0 - _smoothstep(hairline - 0.04, hairline + 0.04, y))
    # Below ear level on the sides the hair stops (the jaw shows); at the back it reaches down to the nape.
    lowest = -0.2 - 0.55 * _smoothstep(0.0, 0.5, z)
    below = 1.0 - _smoothstep(lowest - 0.08, lowest + 0.08, y)
    covered = (1.0 - face) * (1.0 - below)
    thickness = -0.12 + 0.24 * covered
    return head_offsets(directions) * (1.0 + thickness[..., None])


# ---------------------------------------------------------------- parts


def _torso():
    # y, half-width, half-depth, z offset of the centre (negative = forward)
    profile = np.array(
        [
            [0.79, 0.085, 0.065, 0.005],
            [0.86, 0.128, 0.092, 0.010],
            [0.93, 0.132, 0.094, 0.008],
            [1.00, 0.100, 0.074, 0.000],
            [1.08, 0.104, 0.078, -0.004],
            [1.17, 0.118, 0.092, -0.014],
            [1.24, 0.130, 0.084, -0.008],
            [1.30, 0.138, 0.068, 0.000],
            [1.335, 0.080, 0.050, 0.004],
        ]
    )
    control = np.stack([np.zeros(len(profile)), profile[:, 0], profile[:, 3], profile[:, 1], profile[:, 2]], 1)
    return tube(control, (0, 0, 1), rings=40, around=48, cap_rings=5)


def _neck():
    control = [[0, 1.29, 0.004, 0.031, 0.034], [0, 1.42, 0.0, 0.029, 0.031]]
    return tube(control, (0, 0, 1), rings=8, around=24, cap_rings=2)


def _skirt():
    profile = np.array(SKIRT_PROFILE)
    samples = _resample(
        np.stack([np.zeros(len(profile)), profile[:, 0], np.zeros(len(profile)), profile[:, 1], profile[:, 2]], 1), 12
    )
    around = 80
    phi = np.linspace(0.0, 2 * np.pi, around, endpoint=False)
    depth = _smoothstep(1.0, 0.70, samples[:, 1])  # pleats grow towards the hem
    pleat = 1.0 + 0.05 * depth[:, None] * np.cos(16 * phi)[None]
    x = samples[:, 3:4] * np.cos(phi)[None] * pleat
    z = samples[:, 4:5] * np.sin(phi)[None] * pleat
    y = np.repeat(samples[:, 1:2], around, axis=1)
    rings = np.stack([x, y, z], -1)
    return ring_surface(rings, np.array([0.0, 1.035, 0.0]), np.array([0.0, 0.66, 0.0]))


def _arm(skeleton: Skeleton, side: str):
    shoulder = skeleton.heads[skeleton.index[f"upper_arm.{side}"]]
    elbow = skeleton.heads[skeleton.index[f"forearm.{side}"]]
    wrist = skeleton.heads[skeleton.index[f"hand.{side}"]]
    tip = skeleton.tails[skeleton.index[f"hand.{side}"]]
    direction = (elbow - shoulder) / np.linalg.norm(elbow - shoulder)
    points = [
        (shoulder - 0.03 * direction, 0.048, 0.050),
        (shoulder + 0.06 * direction, 0.045, 0.047),
        (elbow - 0.03 * direction, 0.035, 0.037),
        (elbow + 0.05 * direction, 0.035, 0.037),
        (wrist - 0.03 * direction, 0.026, 0.027),
        (wrist + 0.01 * direction, 0.017, 0.028),
        (wrist + 0.06 * direction, 0.018, 0.040),  # the mitten hand: flat, palm towards the body, thumb apart
        (tip - 0.03 * direction, 0.016, 0.036),
        (tip - 0.012 * direction, 0.008, 0.020),
    ]
    control = [[*p, ra, rb] for p, ra, rb in points]
    return tube(control, (0, 0, 1), rings=40, around=20, cap_rings=3)


def _leg(skeleton: Skeleton, side: str):
    hip = skeleton.heads[skeleton.index[f"thigh.{side}"]]
    knee = skeleton.heads[skeleton.index[f"shin.{side}"]]
    ankle = skeleton.heads[skeleton.index[f"foot.{side}"]]
    x = hip[0]
    rows = [
        (hip[1] + 0.04, 0.070, 0.072),
        (hip[1] - 0.05, 0.072, 0.074),
        (0.66, 0.060, 0.062),
        (knee[1] + 0.04, 0.043, 0.045),
        (knee[1] - 0.04, 0.040, 0.043),
        (0.30, 0.043, 0.046),
        (0.16, 0.029, 0.031),
        (ankle[1] + 0.01, 0.025, 0.028),
        (ankle[1] - 0.03, 0.024, 0.027),
    ]
    control = [[x * (0.96 if y > 0.7 else 1.0), y, 0.0, ra, rb] for y, ra, rb in rows]
    return tube(control, (0, 0, 1), rings=44, around=20, cap_rings=3)


def _shoe(skeleton: Skeleton, side: str):
    ankle = skeleton.heads[skeleton.index[f"foot.{side}"]]
    x = ankle[0]
    rows = [
        (0.045, 0.040, 0.032, 0.034),
        (0.040, 0.0, 0.036, 0.040),
        (0.036, -0.09, 0.037, 0.035),
        (0.030, -0.135, 0.030, 0.028),
    ]
    control = [[x, y, z, ra, rb] for y, z, ra, rb in rows]
    return tube(control, (0, 1, 0), rings=14, around=20, cap_rings=3)


def _around_head(offsets, rings: int, around: int):
    """A closed surface around the head centre, ``offsets`` giving its extent per direction."""
    surface = HEAD_CENTRE + offsets(sphere_directions(rings, around))
    bottom = HEAD_CENTRE + offsets(np.array([0.0, -1.0, 0.0]))
    top = HEAD_CENTRE + offsets(np.array([0.0, 1.0, 0.0]))
    return ring_surface(surface, bottom, top)


def _head():
    return _around_head(head_offsets, 32, 40)


def _hair():
    return _around_head(hair_offsets, 40, 64)


def _back_hair():
    control = [
        [0.0, 1.47, 0.050, 0.080, 0.040],
        [0.0, 1.40, 0.092, 0.118, 0.042],
        [0.0, 1.30, 0.108, 0.128, 0.036],
        [0.0, 1.22, 0.110, 0.110, 0.026],
        [0.0, 1.17, 0.106, 0.040, 0.012],
    ]
    return tube(control, (0, 0, 1), rings=18, around=24, cap_rings=2)


def _twin_tail(sign: float):
    """A thick twin tail along the tail bones: narrow at the tie, full in the middle, a point at the end."""
    radii = (0.026, 0.046, 0.050, 0.040, 0.010)
    control = [[x * sign, y, z, r, r * 0.8] for (x, y, z), r in zip(TWIN_TAIL, radii)]
    return tube(control, (0, 0, 1), rings=30, around=16, cap_rings=2)


def _thumb(skeleton: Skeleton, side: str):
    i = skeleton.index[f"thumb.{side}"]
    head, tail = skeleton.heads[i], skeleton.tails[i]
    direction = (tail - head) / np.linalg.norm(tail - head)
    control = [
        [*(head - 0.012 * direction), 0.011, 0.013],
        [*(head + 0.4 * (tail - head)), 0.010, 0.011],
        [*tail, 0.007, 0.008],
    ]
    return tube(control, (0, 1, 0), rings=8, around=10, cap_rings=2)


def _lock(sign: float):
    control = [
        [0.088 * sign, 1.53, -0.035, 0.020, 0.012],
        [0.096 * sign, 1.43, -0.045, 0.021, 0.011],
        [0.094 * sign, 1.33, -0.040, 0.013, 0.008],
        [0.090 * sign, 1.28, -0.034, 0.004, 0.004],
    ]
    return tube(control, (1, 0, 0), rings=16, around=12, cap_rings=2)


# ---------------------------------------------------------------- skin weights


def _segment_distance(points: np.ndarray, head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    axis = tail - head
    t = np.clip(((points - head) @ axis) / max(axis @ axis, 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (head + t[:, None] * axis), axis=1)


def distance_weights(skeleton: Skeleton, points: np.ndarray, bones: list[str], power: float = 5.0) -> np.ndarray:
    """Smooth weights (V, B) over ``bones``: inverse distance to each bone's segment, to a power."""
    ids = [skeleton.index[b] for b in bones]
    distance = np.stack([_segment_distance(points, skeleton.heads[i], skeleton.tails[i]) for i in ids], 1)
    raw = 1.0 / np.maximum(distance, 1e-3) ** power
    dense = np.zeros((len(points), len(skeleton)))
    dense[:, ids] = raw / raw.sum(axis=1, keepdims=True)
    return dense


def skirt_weights(skeleton: Skeleton, points: np.ndarray) -> np.ndarray:
    """The waistband follows the hips; below, the two nearest panels (spring chains), upper or lower bone by height."""
    dense = np.zeros((len(points), len(skeleton)))
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    step = 2 * np.pi / SKIRT_PANELS
    u = (
        np.arctan2(z, x) % (2 * np.pi)
    ) / step - 0.5  # fractional panel index (panel k sits at skeleton.skirt_angles()[k])
    k0 = np.floor(u).astype(int) % SKIRT_PANELS
    k1 = (k0 + 1) % SKIRT_PANELS
    f = u - np.floor(u)
    waist = _smoothstep(0.96, 1.025, y)
    lower = _smoothstep(0.90, 0.78, y)
    rows = np.arange(len(points))
    dense[:, skeleton.index["hips"]] = waist
    for k, share in ((k0, 1 - f), (k1, f)):
        for suffix, part in (("a", 1 - lower), ("b", lower)):
            ids = np.array([skeleton.index[f"skirt{j}{suffix}"] for j in range(SKIRT_PANELS)])[k]
            dense[rows, ids] += (1 - waist) * part * share
    return dense


def hair_weights(skeleton: Skeleton, points: np.ndarray) -> np.ndarray:
    """Hair hangs from the head; the long back hair hands over to the neck and chest further down."""
    dense = np.zeros((len(points), len(skeleton)))
    to_chest = _smoothstep(1.32, 1.12, points[:, 1])
    to_neck = _smoothstep(1.46, 1.34, points[:, 1]) * (1 - to_chest)
    dense[:, skeleton.index["chest"]] = to_chest
    dense[:, skeleton.index["neck"]] = 0.6 * to_neck
    dense[:, skeleton.index["head"]] = 1.0 - to_chest - 0.6 * to_neck
    return dense


def _top_influences(dense: np.ndarray, count: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    ids = np.argsort(-dense, axis=1)[:, :count]
    weights = np.take_along_axis(dense, ids, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    return ids.astype(np.int32), weights


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (outward for outward-wound triangles)."""
    v0, v1, v2 = (vertices[triangles[:, i]] for i in range(3))
    face = np.cross(v1 - v0, v2 - v0)
    normals = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(normals, triangles[:, i], face)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


@lru_cache(maxsize=1)
def build_character() -> Character:
    """Build the rigged character (about 30k triangles; tens of milliseconds, cached)."""
    skeleton = SKELETON
    arm = lambda s: ["shoulder." + s, "upper_arm." + s, "forearm." + s, "hand." + s]  # noqa: E731
    leg = lambda s: ["thigh." + s, "shin." + s]  # noqa: E731
    tail = lambda s: [f"tail{i}.{s}" for i in range(1, 5)]  # noqa: E731
    torso_bones = ["hips", "spine", "chest", "neck", "shoulder.L", "shoulder.R"]
    parts = {
        "head": (_head(), lambda p: distance_weights(skeleton, p, ["head"])),
        "hair": (_hair(), lambda p: hair_weights(skeleton, p)),
        "neck": (_neck(), lambda p: distance_weights(skeleton, p, ["chest", "neck", "head"], power=4)),
        "torso": (_torso(), lambda p: distance_weights(skeleton, p, torso_bones, power=4)),
        "skirt": (_skirt(), lambda p: skirt_weights(skeleton, p)),
        "arm.L": (_arm(skeleton, "L"), lambda p: distance_weights(skeleton, p, arm("L"))),
        "arm.R": (_arm(skeleton, "R"), lambda p: distance_weights(skeleton, p, arm("R"))),
        "leg.L": (_leg(skeleton, "L"), lambda p: distance_weights(skeleton, p, leg("L") + ["foot.L"])),
        "leg.R": (_leg(skeleton, "R"), lambda p: distance_weights(skeleton, p, leg("R") + ["foot.R"])),
        "shoe.L": (_shoe(skeleton, "L"), lambda p: distance_weights(skeleton, p, ["foot.L"])),
        "shoe.R": (_shoe(skeleton, "R"), lambda p: distance_weights(skeleton, p, ["foot.R"])),
        "back_hair": (_back_hair(), lambda p: hair_weights(skeleton, p)),
        "lock.L": (_lock(1.0), lambda p: distance_weights(skeleton, p, ["head"])),
        "lock.R": (_lock(-1.0), lambda p: distance_weights(skeleton, p, ["head"])),
        "tail.L": (_twin_tail(1.0), lambda p: distance_weights(skeleton, p, tail("L"), power=4)),
        "tail.R": (_twin_tail(-1.0), lambda p: distance_weights(skeleton, p, tail("R"), power=4)),
        "thumb.L": (_thumb(skeleton, "L"), lambda p: distance_weights(skeleton, p, ["hand.L", "thumb.L"])),
        "thumb.R": (_thumb(skeleton, "R"), lambda p: distance_weights(skeleton, p, ["hand.R", "thumb.R"])),
    }
    assert list(parts) == list(PARTS)
    vertices, triangles, part_ids, normals, dense, ranges = [], [], [], [], [], {}
    offset = tri_offset = 0
    for name, ((verts, tris), weigh) in parts.items():
        vertices.append(verts)
        triangles.append(tris + offset)
        normals.append(vertex_normals(verts, tris))
        part_ids.append(np.full(len(verts), PART_ID[name], np.uint8))
        dense.append(weigh(verts))
        ranges[name] = (tri_offset, tri_offset + len(tris))
        offset += len(verts)
        tri_offset += len(tris)
    bone_ids, weights = _top_influences(np.concatenate(dense))
    return Character(
        skeleton=skeleton,
        vertices=np.concatenate(vertices),
        normals=np.concatenate(normals),
        triangles=np.concatenate(triangles).astype(np.int32),
        part_ids=np.concatenate(part_ids),
        bone_ids=bone_ids,
        weights=weights,
        part_ranges=ranges,
    )
