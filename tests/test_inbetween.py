"""UDP-guided in-betweening (conr/inbetween.py): matching, warping, holes and fallbacks, the CLI's --inbetween and --draft."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FIXTURES
from PIL import Image

from conr.inbetween import HOLE_FRACTION, Key, Plan, SurfaceIndex, mark_frame, render_inbetween, warp_frame
from conr.udp import UdpSequence, read_udp, write_udp
from conr.video import probe_video


def synthetic_udp(
    size: int = 96, shift: tuple[int, int] = (0, 0), hidden: tuple[slice, slice] | None = None
) -> np.ndarray:
    """An ellipse-shaped body whose surface coordinates move with it (shifted by (dy, dx) pixels).

    XYZ is a smooth one-to-one function of the position on the body; where
    ``hidden`` (body coordinates) the body is covered by something else
    (XYZ far away), as a limb in front of the torso would.
    """
    dy, dx = shift
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    v, u = yy - size * 0.5 - dy, xx - size * 0.5 - dx  # body coordinates, pixels from its centre
    inside = (v / (size * 0.3)) ** 2 + (u / (size * 0.2)) ** 2 < 1
    frame = np.zeros((size, size, 4), np.float32)
    frame[..., 0] = 0.5 + u / (size * 1.2)
    frame[..., 1] = 0.3 + 0.1 * np.sin(u / 7.0) * np.cos(v / 9.0)
    frame[..., 2] = 0.5 - v / (size * 1.2)
    if hidden is not None:
        rows = (v >= hidden[0].start) & (v < hidden[0].stop)
        cols = (u >= hidden[1].start) & (u < hidden[1].stop)
        frame[rows & cols, 1] = 0.95  # another surface, far in UDP space
    frame[..., :3] *= inside[..., None]
    frame[..., 3] = inside
    return frame


def udp_colours(udp: np.ndarray) -> np.ndarray:
    """A stand-in for the network: each pixel coloured by its surface point (straight RGBA uint8), so warps can be checked."""
    xyz = udp[..., :3]
    rgb = np.stack(
        [xyz[..., 0] * 255, 128 + 100 * np.sin(xyz[..., 0] * 40) * np.cos(xyz[..., 2] * 30), xyz[..., 2] * 255], -1
    )
    rgba = np.concatenate([rgb, udp[..., 3:4] * 255], -1)
    rgba[udp[..., 3] <= 0.5] = 0
    return np.clip(np.rint(rgba), 0, 255).astype(np.uint8)


class ColourRenderer:
    """Renders each UDP frame as ``udp_colours`` and records which frames it was asked for."""

    def __init__(self):
        self.rendered: list[np.ndarray] = []

    def render_iter(self, frames, sheet=None, batch_size=None, progress=None, cancel=None, **options):
        for frame in frames:
            self.rendered.append(frame)
            yield udp_colours(frame)


def test_matching_is_exact_on_identical_poses():
    udp = synthetic_udp()
    rows, cols = np.nonzero(udp[..., 3] > 0.5)
    x, y, distance = SurfaceIndex(udp).match(udp[rows, cols, :3])
    assert np.array_equal(x, cols.astype(np.float32)) and np.array_equal(y, rows.astype(np.float32))
    assert distance.max() == 0
    key = Key.of(udp, udp_colours(udp))
    frame, holes = warp_frame(udp, key, key, 0.4)
    assert holes == 0
    assert np.array_equal(frame, udp_colours(udp))


def test_matching_on_a_real_dance_frame():
    """Our character's UDP (folds, occlusions, 16-bit cache values aside): nearly every pixel finds itself."""
    from conr.dances import get_motion
    from conr.dances.generator import dance_frames

    udp = next(iter(dance_frames(get_motion("wave"), 192, times=[0.5])))
    rows, cols = np.nonzero(udp[..., 3] > 0.5)
    x, y, distance = SurfaceIndex(udp).match(udp[rows, cols, :3])
    itself = (np.abs(x - cols) < 0.5) & (np.abs(y - rows) < 0.5)
    assert itself.mean() > 0.995
    assert np.percentile(distance, 99) < 1e-3


@pytest.mark.parametrize("t", [1 / 3, 1 / 2, 3 / 4])
def test_translation_warps_colours(t):
    """Keys at 0 and (8, 12) px, the pose between at t: the warped colours are the pose's own."""
    a, b = synthetic_udp(shift=(0, 0)), synthetic_udp(shift=(8, 12))
    between = synthetic_udp(shift=(round(8 * t), round(12 * t)))
    frame, holes = warp_frame(between, Key.of(a, udp_colours(a)), Key.of(b, udp_colours(b)), t)
    truth = udp_colours(between)
    assert holes == 0
    assert np.abs(frame.astype(int) - truth.astype(int)).max() <= 1
    assert np.array_equal(frame[..., 3] > 0, truth[..., 3] > 0)


def test_disoccluded_region_is_a_hole_and_falls_back():
    """A patch both keys show covered (a limb in front) is uncovered between them: holes, so the network renders that frame."""
    patch = (slice(-10, 10), slice(-8, 8))
    key_a, key_b = synthetic_udp(shift=(0, 0), hidden=patch), synthetic_udp(shift=(0, 4), hidden=patch)
    between = synthetic_udp(shift=(0, 2))
    ka, kb = Key.of(key_a, udp_colours(key_a)), Key.of(key_b, udp_colours(key_b))
    figure = (between[..., 3] > 0.5).sum()
    _, fraction = warp_frame(between, ka, kb, 0.5)
    # the patch's edge is within MATCH_DISTANCE (about a pixel here) of what the keys show
    assert 16 * 12 / figure <= fraction <= 20 * 16 / figure
    assert fraction > HOLE_FRACTION
    assert warp_frame(key_a, ka, kb, 0.0)[1] == 0, "what a key shows is never a hole"

    # k = 3: keys 0 and 3; frame 1 falls back and becomes the earlier key of frame 2
    frames = [key_a, between, synthetic_udp(shift=(0, 3)), key_b]
    renderer, seen, plan = ColourRenderer(), [], Plan(0, 3)
    out = list(
        render_inbetween(
            renderer,
            UdpSequence.from_arrays(frames),
            sheet=object(),
            k=3,
            plan=plan,
            progress=lambda stage, done, total: seen.append((stage, done, total)),
        )
    )
    assert len(out) == 4 and seen == [("Rendering", i, 4) for i in range(1, 5)]
    assert plan.keys == [0, 1, 3] and plan.fallbacks == [1] and plan.fallback_rate == 0.5
    assert len(renderer.rendered) == 3 and np.array_equal(renderer.rendered[-1], between)
    assert np.array_equal(out[1], udp_colours(between)), "the fallback is the network's own frame"
    assert np.abs(out[2].astype(int) - udp_colours(frames[2]).astype(int)).max() <= 1, "frame 2 is warped from 1 and 3"


def test_every_frame_in_order_and_cancel():
    from conr.errors import Cancelled

    frames = [synthetic_udp(shift=(0, i)) for i in range(7)]
    renderer = ColourRenderer()
    out = list(render_inbetween(renderer, frames, sheet=object(), k=3))
    assert len(out) == 7 and len(renderer.rendered) == 3  # 0, 3, 6
    for frame, udp in zip(out, frames):
        assert np.abs(frame.astype(int) - udp_colours(udp).astype(int)).max() <= 1
    calls = []
    with pytest.raises(Cancelled):
        for _ in render_inbetween(
            ColourRenderer(), frames, sheet=object(), k=3, cancel=lambda: calls.append(1) or len(calls) > 3
        ):
            pass


def is_mark(rgba: np.ndarray) -> np.ndarray:
    return (rgba[..., 0] > 180) & (rgba[..., 1] < 120) & (rgba[..., 3] > 200)


def test_draft_mark_is_visible():
    frame = np.zeros((64, 80, 4), np.uint8)
    marked = mark_frame(frame, "DRAFT")
    assert is_mark(marked)[: 64 // 3, : 80 // 2].sum() > 20
    assert marked[: 64 // 3, : 80 // 2, 3].sum() == marked[..., 3].sum(), "only the top-left corner is marked"
    assert frame.max() == 0, "the frame itself is left as it was"


# ---------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def small_poses(tmp_path_factory) -> Path:
    """Seven 128 px frames: the fixture pose, moving right a pixel a frame."""
    folder = tmp_path_factory.mktemp("small-poses")
    pose = cv2.resize(read_udp(FIXTURES / "inputs" / "poses" / "1.npz"), (128, 128), interpolation=cv2.INTER_NEAREST)
    for i in range(7):
        write_udp(folder / f"{i:02d}.npz", np.roll(pose, i, axis=1))
    return folder


@pytest.mark.parametrize("flags, network_frames, marked", [(["--inbetween", "3"], 3, False), (["--draft"], 3, True)])
def test_cli_inbetween_and_draft(
    flags, network_frames, marked, recipe_weights_dir, fixture_sheet, small_poses, tmp_path
):
    from test_cli import EXACT_CPU, render_args, run_cli

    out, frames_dir = tmp_path / "dance.mp4", tmp_path / "frames"
    args = ("--frames-dir", str(frames_dir), *EXACT_CPU, *flags)
    result = run_cli(*render_args(fixture_sheet, out, recipe_weights_dir, *args, poses=small_poses), timeout=600)
    assert result.returncode == 0, result.stderr
    assert "rendered 7 frames" in result.stderr
    assert f"the network rendered {network_frames} of 7 frames" in result.stderr
    assert probe_video(out).frames == 7
    pngs = [np.asarray(Image.open(p)) for p in sorted(frames_dir.glob("*.png"))]
    assert len(pngs) == 7 and all(p.shape == (128, 128, 4) for p in pngs)
    corner = np.stack([p[:20, :50] for p in pngs])
    assert is_mark(corner).any(axis=(1, 2)).all() == marked
    if marked:
        assert "DRAFT" in result.stderr and "2 of 3 drawings" in result.stderr


def test_draft_keeps_the_most_different_views():
    """Front and back show disjoint body surface; a second front view adds nothing: the draft keeps front and back."""
    import torch

    from conr.inbetween import select_views
    from conr.network import SheetFeatures
    from conr.pipeline import CharacterSheet

    udp = np.zeros((4, 4, 32, 32), np.float32)
    yy, xx = np.mgrid[:32, :32] / 32.0
    for view, depth in enumerate([0.1, 0.12, 0.9, 0.5]):  # front, front again, back, side
        udp[view, 0], udp[view, 1], udp[view, 2], udp[view, 3] = xx, depth, yy, 1.0
    udp[3, 0] = 0.5  # the side view sees one x column, at every depth along it
    udp[3, 1] = xx
    features = SheetFeatures(
        torch.arange(4.0).view(4, 1, 1, 1).expand(4, 4, 2, 2),
        [torch.arange(4.0).view(4, 1, 1, 1)],
        torch.from_numpy(udp),
    )
    sheet = CharacterSheet("key", ["front", "front-2", "back", "side"], features)
    draft = select_views(sheet, 2)
    assert draft.names == ["front", "back"] and draft.views == 2
    assert draft.features.reference[:, 0, 0, 0].tolist() == [0.0, 2.0] and draft.features.features[
        0
    ].flatten().tolist() == [0.0, 2.0]
    assert select_views(sheet, 3).names == ["front", "back", "side"]
    assert select_views(sheet, 4) is sheet


def test_in_betweening_by_default_only_for_long_cpu_renders():
    import torch

    from conr.inbetween import LONG_RENDER, auto_k

    assert auto_k(torch.device("cpu"), LONG_RENDER) == 3 and auto_k("cpu", 300) == 3
    assert auto_k(torch.device("cpu"), LONG_RENDER - 1) == 1
    assert auto_k(torch.device("cuda"), 300) == 1
