import numpy as np
import pytest

from vidprov import Clip
from vidprov import perturb as P


def _clip(t=8, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    # smooth gradient + moving square: compressible but not trivial
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i] = ((xx * 3 + yy * 2 + i * 5) % 256)[..., None]
        frames[i, 10:20, 5 + 3 * i : 15 + 3 * i] = (255, 0, 0)
    frames = np.clip(frames.astype(int) + rng.integers(-3, 4, frames.shape), 0, 255).astype(np.uint8)
    return Clip(frames, fps=10.0, meta={"source": "synthetic"})


@pytest.mark.parametrize("name", [n for n in P.ROBUSTNESS_GRID])
def test_every_grid_perturbation_runs_and_is_deterministic(name):
    clip = _clip()
    p = P.get(name)
    assert p.name == name
    a, b = p(clip, seed=3), p(clip, seed=3)
    assert a.frames.dtype == np.uint8 and a.frames.ndim == 4 and a.frames.shape[-1] == 3
    assert a.frames.shape == b.frames.shape
    if "h264" in name:
        # x264 is not bit-exact run to run here; the jitter must stay well below its own error.
        jitter = np.abs(a.frames.astype(int) - b.frames).mean()
        if a.frames.shape == clip.frames.shape:
            assert jitter < 0.8 * np.abs(a.frames.astype(int) - clip.frames).mean()
        assert jitter < 3.0
    else:
        np.testing.assert_array_equal(a.frames, b.frames)
    assert a.meta["source"] == "synthetic"
    assert clip.meta.get("perturbations") is None  # input untouched
    if name != "none":
        assert a.meta["perturbations"] == p.parts()
        changed = a.frames.shape != clip.frames.shape or not np.array_equal(a.frames, clip.frames)
        assert changed, f"{name} left the clip unchanged"


def test_shapes_and_semantics():
    clip = _clip()
    assert P.get("resize_0.5")(clip).frames.shape == (8, 24, 32, 3)
    assert P.get("resize_0.25")(clip).frames.shape == (8, 12, 16, 3)
    assert P.get("crop_0.8")(clip).frames.shape == (8, 38, 51, 3)
    half = P.get("fps_half")(clip)
    assert half.num_frames == 4 and half.fps == 5.0
    np.testing.assert_array_equal(half.frames, clip.frames[::2])
    bright = P.get("brightness_30")(clip)
    assert bright.frames.astype(int).mean() > clip.frames.astype(int).mean() + 20
    low = P.get("contrast_0.5")(clip)
    assert low.frames.std() < clip.frames.std() * 0.6


def test_h264_quality_falls_with_crf():
    clip = _clip(t=6, h=64, w=64)
    err = [np.abs(P.H264(c)(clip).frames.astype(int) - clip.frames).mean() for c in (23, 35, 45)]
    assert err[0] < err[1] < err[2]


def test_seeded_randomness_differs_across_seeds():
    clip = _clip(t=30)
    a, b = P.get("noise_8")(clip, seed=1), P.get("noise_8")(clip, seed=2)
    assert not np.array_equal(a.frames, b.frames)
    residual = a.frames.astype(float) - clip.frames
    assert 6 < residual.std() < 10
    d1, d2 = P.get("drop_0.5")(clip, seed=1), P.get("drop_0.5")(clip, seed=2)
    assert 5 < d1.num_frames < 25 and d1.num_frames != d2.num_frames or not np.array_equal(d1.frames, d2.frames)
    np.testing.assert_array_equal(d1.frames[0], clip.frames[0])


def test_chain_composes_in_order():
    clip = _clip()
    chain = P.get("chain:crop_0.8+resize_0.5+h264_crf30")
    assert isinstance(chain, P.Chain)
    out = chain(clip, seed=0)
    assert out.frames.shape == (8, 19, 26, 3)
    assert out.meta["perturbations"] == ["crop_0.8", "resize_0.5", "h264_crf30"]
    assert P.get(chain.name) == chain
    manual = P.Chain([P.CenterCrop(0.8), P.Resize(0.5), P.GaussianNoise(3.0)])(clip, seed=5)
    again = P.get("chain:crop_0.8+resize_0.5+noise_3")(clip, seed=5)
    np.testing.assert_array_equal(manual.frames, again.frames)


def test_oneof_records_what_it_applied():
    clip = _clip()
    aug = P.OneOf([P.GaussianBlur(1.0), P.Resize(0.5)], p=1.0)
    out = aug(clip, seed=0)
    assert out.meta["perturbations"] in (["blur_1"], ["resize_0.5"])
    assert P.OneOf([P.GaussianBlur(1.0)], p=0.0)(clip).frames is clip.frames


def test_unknown_and_bad_names():
    with pytest.raises(P.UnknownPerturbationError, match="valid names: none, h264_crf"):
        P.get("jpeg_50")
    with pytest.raises(P.UnknownPerturbationError, match="crf must be in 0..51"):
        P.get("h264_crf99")
    with pytest.raises(P.UnknownPerturbationError, match="empty chain"):
        P.get("chain:")
    assert [p.name for p in P.parse_list("none, quick")][:3] == ["none", "none", "h264_crf23"]
    with pytest.raises(TypeError):
        P.get("none")(np.zeros((2, 4, 4, 3), np.uint8))


def test_gain_scales_levels_and_is_named():
    clip = _clip()
    out = P.get("gain_1.1")(clip)
    assert out.meta["perturbations"] == ["gain_1.1"]
    np.testing.assert_array_equal(out.frames, np.clip(np.rint(clip.frames * 1.1), 0, 255).astype(np.uint8))
    with pytest.raises(P.UnknownPerturbationError, match="gain factor must be > 0"):
        P.get("gain_0")


def test_watermark_attacks_and_augmentations_come_from_the_registry():
    assert all(P.get(n).name == n for n in P.WATERMARK_GRID + P.WATERMARK_QUICK_GRID + P.WATERMARK_TARGETS)
    rng = np.random.default_rng(0)
    drawn = [P.draw(k, rng) for k in P.AUGMENT_KINDS for _ in range(5)]
    assert {type(d) for d in drawn} == {P.H264, P.Resize, P.CenterCrop}
    assert all(28 <= d.crf < 40 for d in drawn if isinstance(d, P.H264))
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        P.draw("rotate", rng)
