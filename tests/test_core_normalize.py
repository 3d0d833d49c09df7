import numpy as np
import pytest
from conftest import moving_clip

from vidprov import Clip, normalize
from vidprov.normalize import resample_indices, resize_center_crop


@pytest.mark.parametrize("shape, fps", [((40, 72, 128), 30.0), ((9, 33, 47), 7.5), ((3, 200, 90), 24.0)])
def test_every_clip_leaves_with_the_same_format(shape, fps):
    t, h, w = shape
    out = normalize(moving_clip(t=t, h=h, w=w, fps=fps), size=32, fps=8.0, num_frames=8, crf=23)
    assert out.frames.shape == (8, 32, 32, 3) and out.fps == 8.0
    meta = out.meta["normalized"]
    assert meta["crf"] == 23 and meta["source_size"] == [h, w] and meta["source_fps"] == fps


def test_round_trip_really_compresses():
    clip = moving_clip(t=20, h=64, w=64)
    lossless = normalize(clip, size=64, fps=10, num_frames=8, crf=None)
    coded = normalize(clip, size=64, fps=10, num_frames=8, crf=35)
    np.testing.assert_array_equal(lossless.frames, clip.frames[:8])
    assert np.abs(coded.frames.astype(int) - lossless.frames).mean() > 0.5


def test_resample_indices():
    assert resample_indices(100, 30.0, 10.0, 5).tolist() == [0, 3, 6, 9, 12]
    assert resample_indices(4, 4.0, 4.0, 8, short="reflect").tolist() == [0, 1, 2, 3, 2, 1, 0, 1]
    assert resample_indices(4, 4.0, 4.0, 6, short="repeat").tolist() == [0, 1, 2, 3, 3, 3]
    assert resample_indices(1, 4.0, 4.0, 3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="shorter"):
        resample_indices(4, 4.0, 4.0, 8, short="error")
    assert resample_indices(100, 10.0, 10.0, 3, offset_s=2.0).tolist() == [20, 21, 22]


def test_unique_source_frames_recorded():
    out = normalize(moving_clip(t=4, fps=8), size=16, fps=8, num_frames=8, crf=None)
    assert out.meta["normalized"]["unique_source_frames"] == 4


def test_resize_center_crop_keeps_the_centre():
    frames = np.zeros((1, 40, 100, 3), np.uint8)
    frames[:, :, 45:55] = 255
    out = resize_center_crop(frames, 20)
    assert out.shape == (1, 20, 20, 3)
    assert out[0, :, 8:12].mean() > 200 and out[0, :, :4].mean() < 10


def test_normalize_rejects_non_clips():
    with pytest.raises(TypeError):
        normalize(np.zeros((2, 4, 4, 3), np.uint8))
    assert isinstance(normalize(moving_clip(), size=16, num_frames=2, crf=None), Clip)


def test_round_trip_preset_is_recorded_reproducible_and_checked():
    clip = moving_clip(t=20, h=64, w=64)
    fast = [normalize(clip, size=64, fps=10, num_frames=8, preset="ultrafast") for _ in range(2)]
    medium = normalize(clip, size=64, fps=10, num_frames=8)
    assert fast[0].meta["normalized"]["preset"] == "ultrafast" and medium.meta["normalized"]["preset"] == "medium"
    np.testing.assert_array_equal(fast[0].frames, fast[1].frames)
    assert not np.array_equal(fast[0].frames, medium.frames)  # a different encoder setting, really applied
    with pytest.raises(ValueError, match="unknown x264 preset 'warp'; valid: ultrafast"):
        normalize(clip, size=64, num_frames=8, preset="warp")
