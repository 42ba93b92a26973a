"""The fast paths compute the same thing: batching, channels-last, out-of-memory fallback; the renderer keeps no request state.

The logic is tested on the tiny network (tests/tiny_network.py); the layout and loading on the full one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conr.udp import read_udp


@pytest.fixture(scope="module")
def frames(fixture_poses):
    base = read_udp(fixture_poses[1])
    return [base, np.roll(base, 12, axis=1)]


def test_batching_does_not_change_frames(tiny_renderer, fixture_sheet, frames):
    renderer = tiny_renderer
    sheet = renderer.parse_sheet(fixture_sheet[:1])
    one_by_one = renderer.render(frames, sheet, batch_size=1)
    batched = renderer.render(frames, sheet, batch_size=2)
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
    sheet = renderer.parse_sheet(fixture_sheet)
    renderer.network.shader.set_channels_last(False)
    try:
        out = renderer.render_premultiplied_256([read_udp(p) for p in fixture_poses], sheet)
    finally:
        renderer.network.shader.set_channels_last(True)
    assert max(float(np.abs(out[i] - reference[i]).max()) for i in range(2)) <= 1e-4


def test_out_of_memory_halves_the_batch_of_that_call_only(tiny_renderer, fixture_sheet, frames, monkeypatch):
    """The halving lasts one render call: the renderer's batch size, shared by every request, is untouched."""
    renderer = tiny_renderer
    sheet = renderer.parse_sheet(fixture_sheet[:1])
    expected = renderer.render(frames * 2, sheet, batch_size=1)
    real_render = renderer.network.render
    attempts = []

    def picky_render(sheet, target, **kwargs):
        attempts.append(target.shape[0])
        if target.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_render(sheet, target, **kwargs)

    monkeypatch.setattr(renderer.network, "render", picky_render)
    before = renderer.batch_size
    got = renderer.render(frames * 2, sheet, batch_size=2)
    assert attempts == [2, 1, 1, 1, 1], "halved once, then the rest of the call goes one frame at a time"
    assert renderer.batch_size == before
    attempts.clear()
    renderer.render(frames, sheet, batch_size=2)
    assert attempts == [2, 1, 1], "the next call starts from its own batch size again"
    for a, b in zip(expected, got):
        assert np.array_equal(a, b)


def test_sheets_are_explicit_and_placement_is_separate(tiny_renderer, fixture_sheet, frames):
    """render needs the sheet it is given; two sheets interleave; .to() moves and sets precision, returning the renderer."""
    from conr.errors import InputError

    renderer = tiny_renderer
    one = renderer.parse_sheet(fixture_sheet[:1])
    two = renderer.parse_sheet(fixture_sheet[1:2])
    assert not hasattr(renderer, "sheet"), "no implicit current sheet"
    a = renderer.render(frames[:1], one)
    renderer.render(frames[:1], two)
    assert np.array_equal(renderer.render(frames[:1], one)[0], a[0])
    with pytest.raises(InputError, match=r"No character sheet"):
        renderer.render(frames[:1], None)
    assert renderer.to("cpu", "float32") is renderer and renderer.precision.name == "float32"
    copy = renderer.copy_with("bfloat16-shader")
    assert copy.precision.name == "bfloat16-shader" and renderer.precision.name == "float32"
    assert copy.network is renderer.network


def test_from_pretrained_maps_the_files_and_matches_a_copying_load(recipe_weights_dir, renderer):
    """Loading on the meta device with the files' memory-mapped tensors gives the weights a plain load gives."""
    from conr.network.decoder import RGBADecoder
    from conr.weights import load_part

    plain = RGBADecoder()
    load_part(plain, "rgbadecodernet", recipe_weights_dir / "rgbadecodernet.pth")
    mapped = renderer.network.rgbadecodernet.state_dict()
    for key, value in plain.state_dict().items():
        assert mapped[key].device.type == "cpu" and torch.equal(mapped[key], value), key
    assert not any(p.is_meta for p in renderer.network.parameters())


def test_float16_is_refused_on_cpu():
    from tiny_network import TinyNetwork

    from conr.errors import InputError
    from conr.pipeline import ConrRenderer
    from conr.precision import native_dtypes

    if "float16" in native_dtypes(torch.device("cpu")):
        pytest.skip("this CPU computes float16 natively (AVX512-FP16/AMX)")
    with pytest.raises(InputError, match=r"float16 is for GPUs"):
        ConrRenderer(TinyNetwork(), device="cpu", dtype="float16")


def test_stage_clock_counts_every_stage_of_a_render(tiny_renderer, fixture_sheet, frames, tmp_path):
    """render_to_files reports where the time goes: one forward per batch, pasting, encoding, finishing the MP4."""
    from conr.pipeline import render_to_files
    from conr.runtime import StageClock

    renderer = tiny_renderer
    sheet = renderer.parse_sheet(fixture_sheet[:1])
    clock = StageClock()
    result = render_to_files(renderer, frames, sheet=sheet, mp4=tmp_path / "x.mp4", clock=clock)
    assert result.frames == 2 and (tmp_path / "x.mp4").stat().st_size > 0
    calls = clock.as_dict()
    assert calls["forward"]["calls"] == 4, "launch and fetch of each of the two batches"
    assert calls["paste frames (worker)"]["calls"] == 2 and calls["resize + encode (hand-off)"]["calls"] == 2
    assert calls["finish encoders"]["calls"] == 1 and calls["start encoders"]["calls"] == 1
    assert all(row["seconds"] >= 0 for row in calls.values())
    quiet = StageClock(enabled=False)
    with quiet.stage("forward"):
        pass
    assert quiet.as_dict() == {}
