"""The fast paths compute the same thing: batching, channels-last, out-of-memory fallback, precision choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conr.udp import read_udp


@pytest.fixture(scope="module")
def frames(fixture_poses):
    base = read_udp(fixture_poses[1])
    return [base, np.roll(base, 12, axis=1)]


def test_batching_does_not_change_frames(renderer, fixture_sheet, frames):
    renderer.parse_sheet(fixture_sheet[:1])
    one_by_one = renderer.render(frames, batch_size=1)
    batched = renderer.render(frames, batch_size=2)
    for a, b in zip(one_by_one, batched):
        # compare premultiplied colour: straight RGB amplifies rounding where alpha is tiny
        pa, pb = (np.rint(x[:, :, :3] * (x[:, :, 3:4] / 255.0)) for x in (a, b))
        assert np.abs(pa - pb).max() <= 1
        assert np.abs(a[:, :, 3].astype(int) - b[:, :, 3].astype(int)).max() <= 1


def test_plain_layout_matches_the_fixture(renderer, fixture_sheet, fixture_poses):
    """The renderer's default is channels-last; the plain NCHW layout gives the same numbers."""
    from conftest import FIXTURES

    with np.load(FIXTURES / "expected" / "tensors.npz") as expected:
        reference = [expected["rgba_0"], expected["rgba_1"]]
    renderer.parse_sheet(fixture_sheet)
    renderer.network.shader.set_channels_last(False)
    try:
        out = renderer.render_premultiplied_256([read_udp(p) for p in fixture_poses])
    finally:
        renderer.network.shader.set_channels_last(True)
    assert max(float(np.abs(out[i] - reference[i]).max()) for i in range(2)) <= 1e-4


def test_out_of_memory_halves_the_batch_and_finishes(renderer, fixture_sheet, frames, monkeypatch):
    renderer.parse_sheet(fixture_sheet[:1])
    expected = renderer.render(frames, batch_size=1)
    real_render = renderer.network.render
    attempts = []

    def picky_render(sheet, target, **kwargs):
        attempts.append(target.shape[0])
        if target.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_render(sheet, target, **kwargs)

    monkeypatch.setattr(renderer.network, "render", picky_render)
    previous = renderer.batch_size
    try:
        got = renderer.render(frames, batch_size=2)
        assert renderer.batch_size == 1
    finally:
        renderer.batch_size = previous
    assert attempts == [2, 1, 1]
    for a, b in zip(expected, got):
        assert np.array_equal(a, b)


def test_precision_choice_measures_and_keeps_float32_without_faster_options(renderer, fixture_sheet, frames):
    renderer.parse_sheet(fixture_sheet[:1])
    results = renderer.choose_precision(frames[:1], candidates=[])
    assert renderer.dtype == torch.float32
    assert results["float32"]["max_abs_diff"] == 0.0 and results["float32"]["seconds_per_frame"] > 0


def test_float16_is_refused_on_cpu(recipe_weights_dir):
    from conr.errors import InputError
    from conr.network import CoNRNetwork
    from conr.pipeline import ConrRenderer

    with pytest.raises(InputError, match=r"float16 is for GPUs"):
        ConrRenderer(CoNRNetwork(), device="cpu", dtype="float16")
