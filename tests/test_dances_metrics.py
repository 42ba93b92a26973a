"""The dance measures: pose variety (silhouette IoU, issue 13's definition) and foot-skate, on synthetic cases."""

import numpy as np
import pytest

from conr.dances.metrics import foot_skate, iou, pose_variety, silhouette, variety_frame_indices


def _frame(mask: np.ndarray) -> np.ndarray:
    frame = np.zeros(mask.shape + (4,), np.float32)
    frame[..., 3] = mask
    frame[..., :3] = 0.3 * mask[..., None]
    return frame


def _square(size=128, top=30, left=50, side=40, fill_left_half=False):
    mask = np.zeros((size, size), np.float32)
    mask[top : top + side, left : left + (side // 2 if fill_left_half else side)] = 1.0
    return mask


def test_identical_frames_have_no_variety_wherever_they_are():
    frames = [
        _frame(_square(top=10 + i, left=5 + 2 * i, side=30 + i)) for i in range(30)
    ]  # moved and scaled: framing does not count
    assert pose_variety(frames) == pytest.approx(0.0, abs=1e-9)


def test_a_known_pair_gives_its_iou():
    full = silhouette(_frame(_square()))
    half = silhouette(_frame(_square(fill_left_half=True)))  # 40 x 20: padded square, a centred stripe half as wide
    assert full.all() and half.sum() == 96 * 48
    assert iou(full, half) == pytest.approx(0.5)
    assert pose_variety([_frame(_square()), _frame(_square(fill_left_half=True))]) == pytest.approx(0.5)
    # 24 of 48 frames are sampled, alternating: 144 unlike pairs of the 276.
    frames = [_frame(_square(fill_left_half=bool(i % 4 >= 2))) for i in range(48)]
    assert list(variety_frame_indices(48)) == list(range(0, 48, 2))
    assert pose_variety(frames) == pytest.approx(144 * 0.5 / 276)


def test_visibility_threshold_and_empty_frames():
    faint = _frame(_square()) * 0.4  # visibility 0.4 < 0.5: not part of the silhouette
    assert not silhouette(faint).any()
    assert iou(silhouette(faint), silhouette(faint)) == 1.0
    with pytest.raises(ValueError, match="two frames"):
        pose_variety([_frame(_square())])


def test_foot_skate_counts_only_planted_feet():
    frames = 30
    sliding = np.zeros((frames, 2, 3))
    sliding[:, 0, 0] = np.arange(frames) * 0.01  # left foot slides 1 cm a frame on the floor
    sliding[:, 0, 0] -= sliding[:, 0, 0].mean()
    sliding[:, :, 1] = 0.075
    sliding[:, 1, 0] = 0.2  # right foot still
    # The wrap-around step (the loop's end back to its start) is a 29 cm jump: counted too, as a planted foot.
    expected = (29 * 1.0 + 29.0 + 0.0 * frames) / (2 * frames)
    assert foot_skate(sliding, rest_height=0.075, height=1.6) == pytest.approx(expected)
    lifted = sliding.copy()
    lifted[:, 0, 1] += 0.1  # the same slide in the air is a step, not skating
    assert foot_skate(lifted, rest_height=0.075, height=1.6) == pytest.approx(0.0)
    # A character twice as tall sliding twice as far skates the same at 1.6 m.
    assert foot_skate(sliding * 2, rest_height=0.15, height=3.2) == pytest.approx(expected)
