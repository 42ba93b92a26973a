"""Precision chosen by measured video quality (conr.precision): the metric, the choice, the cache, real measurements."""

from __future__ import annotations

import copy
import os
import stat

import numpy as np
import pytest
import torch

from conr.precision import (
    MAX_P999_LEVELS,
    MIN_PSNR_DB,
    Measurement,
    PrecisionChoice,
    Quality,
    choose_precision,
    frame_quality,
    native_dtypes,
    parse_precision,
    pick,
)
from conr.weights import PARTS, ResolvedWeights


def _frames(seed: int = 0, count: int = 3) -> list[np.ndarray]:
    """Figures on transparent canvases: a random opaque disc each, empty corners."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    out = []
    for _ in range(count):
        frame = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
        frame[..., 3] = np.where((yy - 32) ** 2 + (xx - 32) ** 2 < 24**2, 255, 0)
        frame[frame[..., 3] == 0] = 0
        out.append(frame)
    return out


def _shifted(frames: list[np.ndarray], levels: int, every: int = 1) -> list[np.ndarray]:
    """Each colour of the figure ``levels`` higher (clipped), on every ``every``-th pixel."""
    out = []
    for f in frames:
        g = f.astype(np.int32)
        mask = np.zeros(f.shape[:2], bool)
        mask.reshape(-1)[::every] = True
        mask &= f[..., 3] > 0
        g[mask, :3] = np.clip(g[mask, :3] + levels, 0, 255)
        out.append(g.astype(np.uint8))
    return out


def test_frame_quality_in_levels():
    base = _frames()
    same = frame_quality(base, base)
    assert same.psnr_db == float("inf") and same.mean_abs == 0 and same.p999_abs == 0
    # one level on every colour channel of the figure (and none on alpha): MSE 3/4, PSNR 10 log10(255^2 / 0.75)
    one = frame_quality(_shifted(base, 1), base)
    assert one.psnr_db == pytest.approx(10 * np.log10(255**2 / 0.75), abs=0.05)
    assert one.mean_abs == pytest.approx(0.75, abs=0.01) and one.p999_abs == 1
    # a few far-off pixels: the mean barely moves, the 99.9th percentile sees them when they are 1% of the figure
    rare = frame_quality(_shifted(base, 60, every=97), base)
    assert rare.mean_abs < 1.0 and rare.p999_abs >= 50
    # the empty canvas does not count: the same figure on a 4x larger canvas scores the same
    big = [np.pad(f, ((0, 64), (0, 64), (0, 0))) for f in base]
    big_shifted = [np.pad(f, ((0, 64), (0, 64), (0, 0))) for f in _shifted(base, 1)]
    assert frame_quality(big_shifted, big).psnr_db == pytest.approx(one.psnr_db)
    with pytest.raises(ValueError):
        frame_quality(base[:2], base)


def test_pick_takes_the_fastest_that_passes():
    ok, bad = Quality(45.0, 0.3, 3.0), Quality(35.0, 2.0, 20.0)
    measured = [
        Measurement("float32", 2.0, Quality(float("inf"), 0, 0)),
        Measurement("fast-bad", 0.5, bad),
        Measurement("fast-good", 1.2, ok),
        Measurement("slow-good", 3.0, ok),
    ]
    assert pick(measured) == "fast-good"
    assert pick(measured[:2]) == "float32"
    assert pick(measured, min_psnr=50) == "float32"
    sharp = Quality(60.0, 0.01, MAX_P999_LEVELS + 1)  # high PSNR but a visible tail: refused
    assert pick([measured[0], Measurement("tail", 1.0, sharp)]) == "float32"


class FakeMeasure:
    """Injected candidates: float32 is the reference; each other name renders its own perturbation at its own speed."""

    SPEEDS = {"float32": 2.0, "fast-bad": 0.5, "fast-good": 1.2, "slow-good": 3.0}

    def __init__(self):
        self.calls: list[str] = []
        self.base = _frames(1)

    def __call__(self, name: str):
        self.calls.append(name)
        frames = {
            "float32": self.base,
            "fast-bad": _shifted(self.base, 40, every=3),
            "fast-good": _shifted(self.base, 1, every=2),
            "slow-good": self.base,
        }[name]
        return frames, self.SPEEDS[name]


@pytest.fixture
def weighed(tiny_renderer, tmp_path):
    """A copy of the tiny renderer whose weights are four small files in tmp_path (their sizes and times key the cache)."""
    paths = {}
    for part in PARTS:
        paths[part] = tmp_path / f"{part}.pth"
        paths[part].write_bytes(part.encode())
    other = copy.copy(tiny_renderer)
    other.weights = ResolvedWeights(paths, {part: "test" for part in PARTS})
    return other


CANDIDATES = ["fast-bad", "fast-good", "slow-good"]


def test_choice_cache_hit_and_invalidation(weighed, tmp_path, monkeypatch):
    cache = tmp_path / "precision.json"
    measure = FakeMeasure()
    choice = choose_precision(weighed, CANDIDATES, measure=measure, cache_path=cache)
    assert choice.precision == "fast-good" and not choice.cached
    assert [m.name for m in choice.measurements] == ["float32", *CANDIDATES]
    bad = choice.measured("fast-bad").quality
    assert bad.psnr_db < MIN_PSNR_DB and bad.p999_abs > MAX_P999_LEVELS
    good = choice.measured("fast-good").quality
    assert good.psnr_db >= MIN_PSNR_DB and good.p999_abs <= MAX_P999_LEVELS
    assert "fast-good" in choice.describe() and "PSNR" in choice.describe()
    assert measure.calls == ["float32", *CANDIDATES]
    assert weighed.precision.name == "float32", "choosing never switches the renderer"

    # the same device, weights and torch: read from the cache, nothing rendered
    again = choose_precision(weighed, CANDIDATES, measure=measure, cache_path=cache)
    assert again.cached and again.precision == "fast-good" and len(measure.calls) == 4
    assert again.measured("fast-good").quality.psnr_db == pytest.approx(good.psnr_db)

    # other weights (a file's size changes): measured again
    weighed.weights.paths["shader"].write_bytes(b"retrained shader")
    choose_precision(weighed, CANDIDATES, measure=measure, cache_path=cache)
    assert len(measure.calls) == 8
    # another torch version: measured again; back to this one: still cached
    monkeypatch.setattr(torch, "__version__", "99.0")
    assert not choose_precision(weighed, CANDIDATES, measure=measure, cache_path=cache).cached
    monkeypatch.undo()
    assert choose_precision(weighed, CANDIDATES, measure=measure, cache_path=cache).cached
    # a damaged cache file is measured over, not trusted
    cache.write_text("{not json")
    assert not choose_precision(weighed, CANDIDATES, measure=measure, cache_path=cache).cached


def test_no_native_candidate_means_float32_without_measuring(weighed, tmp_path):
    def refuse(name):
        raise AssertionError("nothing should be measured")

    choice = choose_precision(weighed, [], measure=refuse, cache_path=tmp_path / "p.json")
    assert (
        choice.precision == "float32"
        and not choice.measurements
        and "computes no reduced precision" in choice.describe()
    )
    assert not (tmp_path / "p.json").exists()


def test_precision_names():
    assert parse_precision("bf16").name == "bfloat16" and parse_precision("bfloat16").encoder_dtype == torch.bfloat16
    shader = parse_precision("bfloat16-shader")
    assert shader.dtype == torch.bfloat16 and shader.encoder_dtype == torch.float32 and shader.name == "bfloat16-shader"
    assert parse_precision(None).name == "float32" and parse_precision("float32-shader").name == "float32"
    from conr.errors import InputError

    with pytest.raises(InputError, match="Unknown precision 'int8'"):
        parse_precision("int8")


@pytest.mark.skipif(
    "bfloat16" not in native_dtypes(torch.device("cpu")), reason="this CPU has no native bfloat16 (avx512_bf16/AMX)"
)
def test_real_measurement_on_copies(renderer, fixture_sheet, fixture_poses, tmp_path):
    """bfloat16 really rendered against float32 (one view, the two fixture poses): finite, plausible numbers; the renderer
    stays float32. The full network: how far bfloat16 drifts is a property of its numbers (the tiny one barely moves)."""
    from conr.precision import renderer_measure
    from conr.udp import read_udp

    weighed = copy.copy(renderer)
    measure = renderer_measure(weighed, fixture_sheet[:1], [read_udp(p) for p in fixture_poses])
    choice = choose_precision(weighed, ["bfloat16"], measure=measure, cache_path=tmp_path / "p.json")
    reference, bf16 = choice.measurements
    assert reference.name == "float32" and bf16.name == "bfloat16"
    assert 20 < bf16.quality.psnr_db < 90 and 0 < bf16.quality.mean_abs < 10
    assert reference.seconds_per_frame > 0 and bf16.seconds_per_frame > 0
    assert renderer.precision.name == "float32"
    assert choice.precision in ("float32", "bfloat16")
    assert weighed.to(dtype=choice.precision).precision.name == choice.precision
    assert os.path.getsize(tmp_path / "p.json") > 0


def test_cache_never_replaces_what_is_not_a_file(weighed, tmp_path):
    """A cache path that is a folder or a device (say /dev/null) is left alone; use_cache=False writes nothing."""
    from conr.precision import _write_cache

    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert choose_precision(weighed, CANDIDATES, measure=FakeMeasure(), cache_path=folder).precision == "fast-good"
    assert folder.is_dir() and not any(folder.iterdir())
    fifo = tmp_path / "a-fifo"  # stands for a device: not a regular file
    os.mkfifo(fifo)
    _write_cache(fifo, "key", PrecisionChoice("float32"))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    plain = tmp_path / "p.json"
    choose_precision(weighed, CANDIDATES, measure=FakeMeasure(), cache_path=plain, use_cache=False)
    assert not plain.exists()
