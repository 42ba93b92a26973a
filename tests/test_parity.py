"""Our network computes what the original CoNR computes (recipe weights, float32, CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from PIL import Image

from conr.network import CoNRNetwork
from conr.sheet import load_image, prepare_sheet
from conr.udp import prepare_pose, read_udp

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "expected" / "tensors.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def max_diff(a, b) -> float:
    a = a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)
    return float(np.abs(a - np.asarray(b, np.float64)).max())


def test_state_dict_layout_matches_released_files():
    manifest = json.loads((FIXTURES / "state_dict_manifest.json").read_text())
    with torch.device("meta"):  # shapes only: no memory, no random initialisation
        network = CoNRNetwork()
    for part, keys in manifest.items():
        ours = {k: list(v.shape) for k, v in getattr(network, part).state_dict().items()}
        assert ours == keys, part
    counts = {part: sum(v.numel() for v in getattr(network, part).parameters()) for part in manifest}
    assert counts == {
        "udpparsernet": 57_220_420,
        "target_pose_encoder": 26_963_745,
        "shader": 96_135_096,
        "rgbadecodernet": 84_484,
    }


def test_preparation_is_identical(fixture_sheet, fixture_poses, expected):
    sheet = prepare_sheet([load_image(p) for p in fixture_sheet])
    assert np.array_equal(sheet.rgb, expected["character_images"])
    assert np.array_equal(sheet.alpha, expected["character_masks"])
    for i, path in enumerate(fixture_poses):
        pose = prepare_pose(read_udp(path))
        assert np.array_equal(pose.label, expected[f"pose_label_{i}"])
        assert np.array_equal(pose.mask, expected[f"pose_mask_{i}"])
        assert pose.crop.as_array().tolist() == expected[f"pose_crop_{i}"].tolist()


def test_network_intermediates_and_renders(renderer, fixture_sheet, fixture_poses, expected):
    sheet = renderer.parse_sheet(fixture_sheet)
    assert max_diff(sheet.features.udp, expected["parser_udp"]) <= TOLERANCE
    frames = [read_udp(p) for p in fixture_poses]
    target = torch.from_numpy(prepare_pose(frames[0]).target[None])
    with torch.inference_mode():
        features = renderer.network.encode_pose(target)
    for level, feature in enumerate(features):
        assert max_diff(feature[0], expected[f"target_pose_features_{level}"]) <= TOLERANCE, level
    renders = renderer.render_premultiplied_256(frames, sheet)
    for i in range(2):
        diff = max_diff(renders[i], expected[f"rgba_{i}"])
        assert diff <= TOLERANCE, (i, diff)


def test_pasted_frames_match_original_within_one_level(renderer, fixture_sheet, fixture_poses):
    sheet = renderer.parse_sheet(fixture_sheet)
    frames = renderer.render([read_udp(p) for p in fixture_poses], sheet)
    for i, frame in enumerate(frames):
        original = np.asarray(Image.open(FIXTURES / "expected" / f"{i}.png").convert("RGBA")).astype(np.int32)
        assert frame.shape == original.shape and frame.dtype == np.uint8
        alpha = frame[:, :, 3].astype(np.int32)
        # the original writes premultiplied RGB; ours is straight, so compare RGB x A
        premultiplied = np.rint(frame[:, :, :3].astype(np.float64) * alpha[:, :, None] / 255.0)
        assert np.abs(alpha - original[:, :, 3]).max() <= 1
        assert np.abs(premultiplied - original[:, :, :3]).max() <= 1
        assert (frame[alpha == 0] == 0).all()


def test_sheet_parse_is_cached(renderer, fixture_sheet):
    first = renderer.parse_sheet(fixture_sheet)
    again = renderer.parse_sheet([str(p) for p in fixture_sheet])
    assert again is first
