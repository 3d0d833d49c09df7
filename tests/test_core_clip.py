import numpy as np
import pytest

from vidprov import Clip, InvalidClipError


def test_clip_properties(clip):
    assert clip.num_frames == 12 and clip.height == 48 and clip.width == 64
    assert clip.duration_s == pytest.approx(1.2)
    assert "T=12" in repr(clip)


@pytest.mark.parametrize(
    "frames, fps, match",
    [
        (np.zeros((2, 4, 4, 3), np.float32), 10, "uint8"),
        (np.zeros((4, 4, 3), np.uint8), 10, "shape"),
        (np.zeros((2, 4, 4, 4), np.uint8), 10, "shape"),
        (np.zeros((0, 4, 4, 3), np.uint8), 10, "non-empty"),
        (np.zeros((2, 4, 4, 3), np.uint8), 0, "positive"),
        (np.zeros((2, 4, 4, 3), np.uint8), float("nan"), "positive"),
        (np.zeros((2, 4, 4, 3), np.uint8), "fast", "number"),
        ([[1]], 10, "numpy"),
    ],
)
def test_clip_rejects_bad_values(frames, fps, match):
    with pytest.raises(InvalidClipError, match=match):
        Clip(frames, fps=fps)


def test_clip_is_frozen_and_frames_read_only(clip):
    with pytest.raises(AttributeError):
        clip.fps = 3
    with pytest.raises(ValueError):
        clip.frames[0, 0, 0, 0] = 1


def test_replace_keeps_original(clip):
    other = clip.replace(fps=5, label="real")
    assert other.fps == 5 and other.meta["label"] == "real"
    assert clip.fps == 10 and "label" not in clip.meta
