"""Which arithmetic precision to render in, chosen by measured video quality.

    choice = choose_precision(renderer)          # measured once, then cached on disk
    renderer.to(dtype=choice.precision)          # or simply renderer.to(dtype="auto")
    print(choice.describe())

A candidate is rendered over the reference input (the parity sheet and poses
shipped in ``conr/reference``) and a few frames of a bundled dance, and
compared with float32 frame by frame as a viewer would see them: 8-bit
premultiplied RGBA over the figure's pixels (where either frame is not
transparent), by PSNR and by the mean and 99.9th percentile of the absolute
difference in levels. The fastest candidate with PSNR >= 40 dB and p99.9 <= 8
levels wins. One pixel's maximum difference is not the rule: a video shows
millions of pixels, and a single outlier level is invisible.

Candidates are only the precisions the device computes natively (a CPU
without avx512_bf16/AMX emulates bfloat16 at a fraction of float32's speed).
Measurements run on shallow copies of the renderer (same weights, own
precision): the renderer being served is never switched while measuring.
The result is cached per device, weights (file sizes and times) and torch
version in ``$CONR_CACHE_DIR/precision.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from .errors import InputError
from .quality import premultiplied
from .runtime import cache_folder

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import ConrRenderer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}

#: The quality a reduced precision must keep against float32 to be chosen.
MIN_PSNR_DB = 40.0
MAX_P999_LEVELS = 8.0

#: Bump when the reference input or the metric changes: cached choices are then measured again.
REFERENCE_VERSION = 2
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
REFERENCE_DANCE = "step-and-clap"
REFERENCE_DANCE_FRAMES = 4


# ---------------------------------------------------------------- precisions


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = ALIASES.get(str(dtype), str(dtype))
    if name not in DTYPES:
        raise InputError(f"Unknown precision {dtype!r}: use float32, bfloat16 or float16.")
    return DTYPES[name]


@dataclass(frozen=True)
class Precision:
    """How the network computes: ``dtype`` for the shader, and for the pose U-Net too unless ``shader_only``.

    The sheet parser (once per character) and the RGBA decoder (the final
    colours, cheap) always run in float32.
    """

    dtype: torch.dtype = torch.float32
    shader_only: bool = False

    @property
    def name(self) -> str:
        base = str(self.dtype).replace("torch.", "")
        return f"{base}-shader" if self.shader_only and self.reduced else base

    @property
    def reduced(self) -> bool:
        return self.dtype != torch.float32

    @property
    def encoder_dtype(self) -> torch.dtype:
        return torch.float32 if self.shader_only else self.dtype

    def __str__(self) -> str:
        return self.name


FLOAT32 = Precision()


def parse_precision(value: str | torch.dtype | Precision | None) -> Precision:
    """``float32``, ``bfloat16`` (pose U-Net and shader), ``bfloat16-shader`` (shader only), same for float16."""
    if isinstance(value, Precision):
        return value
    if value is None or isinstance(value, torch.dtype):
        return Precision(parse_dtype(value))
    text = str(value).strip().lower()
    shader_only = text.endswith("-shader")
    if shader_only:
        text = text[: -len("-shader")]
    try:
        dtype = parse_dtype(text)
    except InputError:
        raise InputError(
            f"Unknown precision {value!r}: use auto, float32, bfloat16, bfloat16-shader, float16 or float16-shader."
        ) from None
    return Precision(dtype, shader_only and dtype != torch.float32)


def _cpu_flags() -> set[str]:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:(.*)$", info, re.M)
    return set(match.group(1).split()) if match else set()


def native_dtypes(device: torch.device) -> list[str]:
    """Reduced dtypes the device computes natively: the GPU's; on CPUs, bfloat16 with avx512_bf16/AMX, float16 with avx512_fp16/AMX-FP16.

    Without native support a CPU emulates them at a fraction of float32's
    speed, so they are not offered.
    """
    if device.type == "cuda":
        return ["float16", "bfloat16"] if torch.cuda.is_bf16_supported() else ["float16"]
    if device.type != "cpu":
        return []
    flags = _cpu_flags()
    out = []
    if flags & {"avx512_bf16", "amx_bf16"}:
        out.append("bfloat16")
    if flags & {"avx512_fp16", "amx_fp16"}:
        out.append("float16")
    return out


def native_precisions(device: torch.device) -> list[str]:
    """The candidates worth measuring here: each native reduced dtype, for the pose U-Net and shader, and the shader only."""
    return [name for dtype in native_dtypes(device) for name in (dtype, f"{dtype}-shader")]


# ---------------------------------------------------------------- quality


@dataclass
class Quality:
    """A candidate's frames against float32's, in 8-bit levels over the figure's pixels."""

    psnr_db: float
    mean_abs: float
    p999_abs: float

    def passes(self, min_psnr: float = MIN_PSNR_DB, max_p999: float = MAX_P999_LEVELS) -> bool:
        return self.psnr_db >= min_psnr and self.p999_abs <= max_p999


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    """Straight RGBA uint8 -> premultiplied (what shows over any background), in whole 8-bit levels."""
    return np.rint(premultiplied(rgba, np.float32))


def frame_quality(frames: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> Quality:
    """PSNR, mean and 99.9th percentile absolute difference of RGBA uint8 frames against ``reference``.

    Colours are compared premultiplied (straight RGB under an almost
    transparent pixel is invisible and amplifies rounding), over the pixels
    where either frame is not transparent, so an empty canvas around a small
    figure does not flatter the score.
    """
    if len(frames) != len(reference) or not frames:
        raise ValueError(f"frame_quality needs as many frames as the reference ({len(frames)} vs {len(reference)})")
    diffs = []
    for got, want in zip(frames, reference):
        if got.shape != want.shape:
            raise ValueError(f"frame of shape {got.shape} against a reference of shape {want.shape}")
        figure = (got[..., 3] > 0) | (want[..., 3] > 0)
        diffs.append(np.abs(_premultiplied(got)[figure] - _premultiplied(want)[figure]).ravel())
    diff = np.concatenate(diffs) if diffs else np.zeros(1, np.float32)
    if diff.size == 0:
        return Quality(float("inf"), 0.0, 0.0)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    psnr = float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
    return Quality(psnr, float(diff.mean()), float(np.percentile(diff, 99.9)))


# ---------------------------------------------------------------- choosing


@dataclass
class Measurement:
    name: str
    seconds_per_frame: float
    quality: Quality


@dataclass
class PrecisionChoice:
    """The chosen precision and what it was chosen from (float32 first)."""

    precision: str
    measurements: list[Measurement] = field(default_factory=list)
    cached: bool = False
    reason: str = ""

    def measured(self, name: str) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    def describe(self) -> str:
        """One line for logs: the choice, its PSNR and speed, and the candidates."""
        if not self.measurements:
            return f"precision: {self.precision} ({self.reason})"
        parts = []
        for m in self.measurements:
            q = m.quality
            quality = (
                "reference"
                if m.name == "float32"
                else f"PSNR {q.psnr_db:.1f} dB, mean {q.mean_abs:.2f}, p99.9 {q.p999_abs:.0f} levels"
            )
            parts.append(f"{m.name}: {m.seconds_per_frame:.2f} s/frame, {quality}")
        chosen = self.measured(self.precision)
        head = f"precision: {self.precision}"
        if chosen and chosen.name != "float32":
            head += f" (PSNR {chosen.quality.psnr_db:.1f} dB vs float32)"
        return f"{head}; {'cached' if self.cached else 'measured'} on the reference input: " + "; ".join(parts)


def pick(measurements: Sequence[Measurement], min_psnr: float = MIN_PSNR_DB, max_p999: float = MAX_P999_LEVELS) -> str:
    """The fastest measurement whose quality passes; float32 (always first, the reference) otherwise."""
    passing = [m for m in measurements if m.name == "float32" or m.quality.passes(min_psnr, max_p999)]
    return min(passing, key=lambda m: m.seconds_per_frame).name


#: ``measure(name) -> (RGBA uint8 frames, seconds per frame)`` for a precision name.
Measure = Callable[[str], "tuple[list[np.ndarray], float]"]


def measure_candidates(measure: Measure, candidates: Sequence[str]) -> list[Measurement]:
    """float32 first (the reference), then each candidate, compared with it."""
    reference, seconds = measure("float32")
    out = [Measurement("float32", seconds, Quality(float("inf"), 0.0, 0.0))]
    for name in candidates:
        if name == "float32":
            continue
        frames, seconds = measure(name)
        out.append(Measurement(name, seconds, frame_quality(frames, reference)))
    return out


# ---------------------------------------------------------------- the reference input


def reference_inputs() -> tuple[list[Path], list[np.ndarray]]:
    """The reference sheet (3 views) and poses: the parity fixture's two poses and frames of a bundled dance."""
    from .udp import read_udp

    sheet = sorted((REFERENCE_DIR / "sheet").glob("*.png"))
    poses = [read_udp(p) for p in sorted((REFERENCE_DIR / "poses").glob("*.npz"))]
    if not sheet or not poses:
        raise FileNotFoundError(f"the reference input is missing from {REFERENCE_DIR}")
    from . import dances

    dance = dances.dance_udp(REFERENCE_DANCE)
    step = max(1, len(dance) // REFERENCE_DANCE_FRAMES)
    poses += [np.asarray(dance[i]) for i in range(0, step * REFERENCE_DANCE_FRAMES, step)][:REFERENCE_DANCE_FRAMES]
    return sheet, poses


def renderer_measure(renderer: ConrRenderer, sheet_images=None, poses=None) -> Measure:
    """Render the reference input with a copy of ``renderer`` in each precision, after a warm-up.

    Each frame is timed on its own and the median kept, so that a burst of
    other work on a shared machine does not decide the choice.
    """
    if sheet_images is None or poses is None:
        sheet_images, poses = reference_inputs()
    sheet = renderer.parse_sheet(sheet_images)

    def measure(name: str) -> tuple[list[np.ndarray], float]:
        copy = renderer.copy_with(precision=name)
        copy.render(poses[:1], sheet)  # warm-up: oneDNN primitives, allocator
        frames, seconds = [], []
        for pose in poses:
            if copy.device.type == "cuda":
                torch.cuda.synchronize(copy.device)
            started = time.perf_counter()
            frames += copy.render([pose], sheet)
            if copy.device.type == "cuda":
                torch.cuda.synchronize(copy.device)
            seconds.append(time.perf_counter() - started)
        return frames, float(np.median(seconds))

    return measure


# ---------------------------------------------------------------- the cache


def device_label(device: torch.device) -> str:
    """What the speed depends on: the GPU's name, or the CPU's model, vector flags and torch's thread count."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{torch.cuda.get_device_name(index)}"
    model = platform.processor() or "cpu"
    try:
        found = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = found.group(1).strip() if found else model
    except OSError:
        pass
    flags = sorted(f for f in _cpu_flags() if f.startswith(("avx", "amx")))
    return f"{device.type}:{model}:{','.join(flags)}:{torch.get_num_threads()} threads"


def weights_fingerprint(renderer: ConrRenderer) -> str | None:
    """Name, size and modification time of each weight file; None for a network not loaded from files."""
    weights = getattr(renderer, "weights", None)
    if weights is None:
        return None
    parts = []
    for part, path in sorted(weights.paths.items()):
        stat = Path(path).stat()
        parts.append(f"{part}:{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def default_cache_path() -> Path:
    return cache_folder("precision.json")


def cache_key(renderer: ConrRenderer, candidates: Sequence[str], min_psnr: float, max_p999: float) -> str | None:
    fingerprint = weights_fingerprint(renderer)
    if fingerprint is None:
        return None
    fields = [
        device_label(renderer.device),
        fingerprint,
        torch.__version__,
        ",".join(candidates),
        f"{min_psnr}:{max_p999}",
        str(REFERENCE_VERSION),
    ]
    return hashlib.sha1("\n".join(fields).encode()).hexdigest()


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _from_record(record: dict) -> PrecisionChoice | None:
    try:
        measurements = [
            Measurement(m["name"], float(m["seconds_per_frame"]), Quality(**m["quality"]))
            for m in record["measurements"]
        ]
        return PrecisionChoice(str(record["precision"]), measurements, cached=True)
    except (KeyError, TypeError, ValueError):
        return None


def _write_cache(path: Path, key: str, choice: PrecisionChoice) -> None:
    """Add one record (JSON, written to a temporary file and renamed, so readers never see half a file)."""
    if path.exists() and not path.is_file():  # a device or a folder (never replace /dev/null with a file)
        return
    data = _read_cache(path)
    data[key] = {
        "precision": choice.precision,
        "measurements": [asdict(m) for m in choice.measurements],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, allow_nan=True))
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs a new measurement next time
        pass


def choose_precision(
    renderer: ConrRenderer,
    candidates: Sequence[str] | None = None,
    *,
    measure: Measure | None = None,
    cache_path: str | os.PathLike | None = None,
    use_cache: bool = True,
    min_psnr: float = MIN_PSNR_DB,
    max_p999: float = MAX_P999_LEVELS,
) -> PrecisionChoice:
    """The fastest precision whose frames keep PSNR >= ``min_psnr`` and p99.9 <= ``max_p999`` against float32.

    ``candidates`` default to what the device computes natively; with none,
    float32 is returned without measuring. Leaves ``renderer`` as it is
    (measurements use copies; see ``renderer_measure``). ``measure`` may be
    injected (tests). The choice is cached in ``cache_path`` (default
    ``$CONR_CACHE_DIR/precision.json``) under the device, the weights, the
    torch version, the candidates and the thresholds; ``use_cache=False``
    measures anew and writes nothing.
    """
    if candidates is None:
        candidates = native_precisions(renderer.device)
    candidates = [c for c in candidates if c != "float32"]
    if not candidates:
        return PrecisionChoice("float32", reason=f"{renderer.device} computes no reduced precision natively")
    path = Path(cache_path) if cache_path is not None else default_cache_path()
    key = cache_key(renderer, candidates, min_psnr, max_p999) if use_cache else None
    if key is not None:
        cached = _from_record(_read_cache(path).get(key, {}))
        if cached is not None:
            return cached
    measurements = measure_candidates(measure or renderer_measure(renderer), candidates)
    choice = PrecisionChoice(pick(measurements, min_psnr, max_p999), measurements)
    if key is not None:
        _write_cache(path, key, choice)
    return choice


__all__ = [
    "Precision",
    "PrecisionChoice",
    "Measurement",
    "Quality",
    "parse_precision",
    "parse_dtype",
    "native_dtypes",
    "native_precisions",
    "frame_quality",
    "pick",
    "choose_precision",
    "reference_inputs",
    "MIN_PSNR_DB",
    "MAX_P999_LEVELS",
]
