"""Reading VMD motions (MikuMikuDance's motion format) from untrusted bytes.

A VMD file is a header and up to six sections, each a uint32 count and
fixed-size records (the IK section's records carry their own count):
bone keys (used), morph keys (counted), camera keys (used when the camera
frames the dance: ``conr.mmd.camera``), light and self-shadow keys (checked
and skipped), and "show/IK" keys (used: they switch IK chains on and off
over time). Files from old MMD versions stop after any section; that is
accepted.

Bone names are Shift-JIS (Windows code page 932) in 15-byte fields; they are
matched to a model by their bytes, and decoded with errors replaced for
messages. Keys are at integer frames, 30 per second. Values stay in the
file's units and axes; ``conr.mmd.axes`` maps them to ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .axes import to_model_quaternion
from .binary import BinaryReader

ADVICE = "Export it from MikuMikuDance again, or re-download the motion."
SIGNATURE_NEW = b"Vocaloid Motion Data 0002"
SIGNATURE_OLD = b"Vocaloid Motion Data file"
#: VMD keys are frame numbers at this rate.
FPS = 30
NAME_BYTES = 15
IK_NAME_BYTES = 20

BONE_KEY = np.dtype(
    [("name", "S15"), ("frame", "<u4"), ("position", "<f4", (3,)), ("rotation", "<f4", (4,)), ("curves", "u1", (64,))]
)
MORPH_KEY_BYTES = 23
#: Interpolation: 6 channels (x, y, z, rotation, distance, view angle) of 4 bytes (x1, x2, y1, y2).
CAMERA_KEY = np.dtype(
    [
        ("frame", "<u4"),
        ("distance", "<f4"),
        ("position", "<f4", (3,)),
        ("rotation", "<f4", (3,)),
        ("curves", "u1", (24,)),
        ("view_angle", "<u4"),
        ("orthographic", "u1"),
    ]
)
CAMERA_KEY_BYTES = CAMERA_KEY.itemsize
LIGHT_KEY_BYTES = 28
SHADOW_KEY_BYTES = 9
IK_KEY_MIN_BYTES = 9
IK_ENTRY_BYTES = IK_NAME_BYTES + 1

#: Caps (the byte-size cap of the loader bounds these further).
MAX_BONE_KEYS = 2_000_000
MAX_OTHER_KEYS = 4_000_000
MAX_IK_KEYS = 100_000
MAX_IK_ENTRIES = 256
#: Bezier control values live on a 0..127 grid.
CURVE_MAX = 127


@dataclass
class BoneTrack:
    """One bone's keys, sorted by frame (one key per frame; a repeated frame keeps the last in the file)."""

    name: str
    frames: np.ndarray  # (K,) int64
    positions: np.ndarray  # (K, 3) float64, file units, offset from the bind pose in the parent's frame
    rotations: np.ndarray  # (K, 4) float64 unit quaternions (w, x, y, z)
    curves: np.ndarray  # (K, 4, 4) uint8: channel (x, y, z, rotation) x control value (x1, y1, x2, y2)


@dataclass
class CameraTrack:
    """Camera keys, sorted by frame (a repeated frame keeps the last in the file); values in file units and axes.

    MMD's camera looks from ``distance`` (negative: in front) along its own
    z axis at ``targets``, turned by ``angles`` (radians, x, y, z); easing
    curves are stored with the later key, like bone keys.
    """

    frames: np.ndarray  # (K,) int64
    distances: np.ndarray  # (K,) float64, file units
    targets: np.ndarray  # (K, 3) float64, file units
    angles: np.ndarray  # (K, 3) float64 radians
    curves: np.ndarray  # (K, 6, 4) uint8: channel (x, y, z, rotation, distance, view angle) x (x1, y1, x2, y2)
    view_angles: np.ndarray  # (K,) float64 degrees (vertical field of view)
    orthographic: np.ndarray  # (K,) bool


@dataclass
class IkSwitches:
    """IK on/off over time: at ``frames[i]`` onwards the chain of ``names[k]`` is ``enabled[i, k]``."""

    frames: np.ndarray  # (S,) int64, sorted
    names: list[bytes]  # raw Shift-JIS IK bone names
    enabled: np.ndarray  # (S, N) bool

    def state(self, name: bytes, frames: np.ndarray) -> np.ndarray:
        """Whether the IK bone ``name`` is on at each of ``frames`` (on before any key and when unlisted)."""
        frames = np.asarray(frames, np.float64)
        if name not in self.names or not len(self.frames):
            return np.ones(frames.shape, bool)
        at = np.searchsorted(self.frames, np.floor(frames + 1e-6), side="right") - 1
        column = self.enabled[:, self.names.index(name)]
        return np.where(at >= 0, column[np.clip(at, 0, None)], True)


@dataclass
class VmdMotion:
    model_name: str
    tracks: dict[bytes, BoneTrack]  # by raw Shift-JIS name (bytes before the NUL)
    ik: IkSwitches
    last_frame: int
    counts: dict[str, int] = field(default_factory=dict)  # keys per section, for reports
    source: str = ""
    camera: CameraTrack | None = None  # None when the file has no camera keys

    @property
    def seconds(self) -> float:
        """Length: up to and including the last key's frame."""
        return (self.last_frame + 1) / FPS


def read_vmd(data: bytes, name: str = "motion.vmd") -> VmdMotion:
    """Parse a VMD file; InputError (naming ``name``) for anything malformed or over the caps."""
    r = BinaryReader(data, name, "VMD motion", ADVICE)
    signature = r.raw(30, "file signature").split(b"\0", 1)[0]
    if signature == SIGNATURE_NEW:
        model_name, _ = r.fixed_text(20, "model name")
    elif signature == SIGNATURE_OLD:
        model_name, _ = r.fixed_text(10, "model name")
    elif signature.startswith(b"PMX ") or signature.startswith(b"Pmd"):
        raise r.error("it is a model, not a motion; give it as the model")
    else:
        raise r.error("it does not start with the VMD signature 'Vocaloid Motion Data'")

    count = r.count("bone key count", MAX_BONE_KEYS, BONE_KEY.itemsize, signed=False)
    keys = np.frombuffer(r.raw(count * BONE_KEY.itemsize, "bone keys"), BONE_KEY, count)
    counts = {"bone": count}
    camera = None
    sections = (
        ("morph", MORPH_KEY_BYTES),
        ("camera", CAMERA_KEY_BYTES),
        ("light", LIGHT_KEY_BYTES),
        ("self-shadow", SHADOW_KEY_BYTES),
    )
    for section, size in sections:
        if r.remaining < 4:
            break
        n = r.count(f"{section} key count", MAX_OTHER_KEYS, size, signed=False)
        if section == "camera" and n:
            camera = _camera_track(r, np.frombuffer(r.raw(n * size, "camera keys"), CAMERA_KEY, n))
        else:
            r.skip(n * size, f"{section} keys")
        counts[section] = n
    ik = _read_ik_switches(r) if r.remaining >= 4 else IkSwitches(np.zeros(0, np.int64), [], np.zeros((0, 0), bool))
    counts["ik"] = len(ik.frames)
    tracks = _tracks(r, keys)
    last = max([int(t.frames[-1]) for t in tracks.values()], default=0)  # IK switches alone do not make a dance longer
    return VmdMotion(model_name, tracks, ik, last, counts, name, camera)


def _camera_track(r: BinaryReader, keys: np.ndarray) -> CameraTrack:
    with np.errstate(invalid="ignore"):  # signalling NaNs are refused just below
        values = np.concatenate([keys["distance"][:, None], keys["position"], keys["rotation"]], axis=1).astype(
            np.float64
        )
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise r.error(f"camera key {at} (frame {keys['frame'][at]}) holds a value that is not a finite number")
    if (np.abs(values[:, :4]) > 1e6).any():
        raise r.error("a camera key places the camera absurdly far")
    angles = keys["view_angle"].astype(np.float64)
    if ((angles < 1) | (angles > 179)).any():
        at = int(np.flatnonzero((angles < 1) | (angles > 179))[0])
        raise r.error(f"camera key {at} has a view angle of {int(angles[at])} degrees; MMD allows 1 to 179")
    order = np.lexsort((np.arange(len(keys)), keys["frame"]))
    frames = keys["frame"][order].astype(np.int64)
    order = order[np.r_[frames[1:] != frames[:-1], True]]  # the last key of a repeated frame wins
    # Each channel's 4 bytes are (x1, x2, y1, y2); keep (x1, y1, x2, y2) like bone curves.
    curves = np.minimum(keys["curves"][order].reshape(-1, 6, 4)[:, :, [0, 2, 1, 3]], CURVE_MAX).astype(np.uint8)
    v = values[order]
    return CameraTrack(
        keys["frame"][order].astype(np.int64),
        v[:, 0],
        v[:, 1:4],
        v[:, 4:7],
        curves,
        angles[order],
        keys["orthographic"][order] != 0,
    )


def _tracks(r: BinaryReader, keys: np.ndarray) -> dict[bytes, BoneTrack]:
    if not len(keys):
        return {}
    positions = keys["position"].astype(np.float64)
    rotations = keys["rotation"].astype(np.float64)
    bad = ~(np.isfinite(positions).all(axis=1) & np.isfinite(rotations).all(axis=1))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise r.error(f"bone key {at} (frame {keys['frame'][at]}) holds a value that is not a finite number")
    if (np.abs(positions) > 1e6).any():
        raise r.error("a bone key moves a bone absurdly far")
    # An all-zero quaternion means "no rotation".
    rotations = to_model_quaternion(rotations)
    norm = np.linalg.norm(rotations, axis=1, keepdims=True)
    rotations = np.where(norm > 1e-8, rotations / np.maximum(norm, 1e-8), np.array([1.0, 0.0, 0.0, 0.0]))
    # The first 16 bytes hold (x1, y1, x2, y2) for each channel (x, y, z, rotation); the rest repeat them.
    curves = np.minimum(keys["curves"][:, :16].reshape(-1, 4, 4).transpose(0, 2, 1), CURVE_MAX).astype(np.uint8)
    frames = keys["frame"].astype(np.int64)
    unique, inverse = np.unique(keys["name"], return_inverse=True)
    labels, cut_names = np.empty(len(unique), np.int64), {}
    for u, value in enumerate(unique):  # names may carry junk after their NUL: group by the part before it
        labels[u] = cut_names.setdefault(bytes(value).split(b"\0", 1)[0], len(cut_names))
    label = labels[inverse.reshape(-1)]
    order = np.lexsort((np.arange(len(keys)), frames, label))  # by name, then frame, then file order
    same = (label[order][1:] == label[order][:-1]) & (frames[order][1:] == frames[order][:-1])
    order = order[np.r_[~same, True]]  # the last key of a repeated frame wins
    starts = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1]])
    tracks = {}
    for raw, group in zip(cut_names, np.split(order, starts[1:])):
        tracks[raw] = BoneTrack(
            raw.decode("cp932", errors="replace"), frames[group], positions[group], rotations[group], curves[group]
        )
    return tracks


def _read_ik_switches(r: BinaryReader) -> IkSwitches:
    count = r.count("IK key count", MAX_IK_KEYS, IK_KEY_MIN_BYTES, signed=False)
    frames, rows, names = [], [], {}
    for i in range(count):
        frames.append(r.u32(f"frame of IK key {i}"))
        r.u8(f"visibility of IK key {i}")
        n = r.count(f"IK entry count of IK key {i}", MAX_IK_ENTRIES, IK_ENTRY_BYTES, signed=False)
        row = {}
        for k in range(n):
            _, raw = r.fixed_text(IK_NAME_BYTES, f"IK name {k} of IK key {i}")
            row[raw] = bool(r.u8(f"IK switch {k} of IK key {i}"))
            names.setdefault(raw, len(names))
            if len(names) > MAX_IK_ENTRIES:
                raise r.error(f"it switches more than {MAX_IK_ENTRIES} different IK bones")
        rows.append(row)
    order = sorted(range(count), key=lambda i: (frames[i], i))
    name_list = list(names)
    enabled = np.ones((count, len(name_list)), bool)
    state = dict.fromkeys(name_list, True)
    for out, i in enumerate(order):
        state.update(rows[i])  # unlisted chains keep their previous state
        enabled[out] = [state[n] for n in name_list]
    return IkSwitches(np.array([frames[i] for i in order], np.int64), name_list, enabled)
