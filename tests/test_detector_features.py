"""Unit tests of the temporal, frequency and latent feature families on synthetic clips."""

import cv2
import numpy as np
import pytest

from vidprov.clip import Clip
from vidprov.color import luma
from vidprov.detector.features import FeatureConfig, extract, family_of
from vidprov.detector.frequency import frequency_features, periodic_peak_features, spectral_features
from vidprov.detector.reconstruction import latent_features, reconstruction_error
from vidprov.detector.temporal import curvature, difference_features, flow_features, temporal_features


def texture(rng, h=96, w=96, sigma=1.5):
    base = rng.random((h, w)).astype(np.float32)
    return cv2.GaussianBlur(base, (0, 0), sigma)


def panning(rng, t=10, size=64, speed=2):
    """A smooth texture translating rigidly: the motion optical flow explains perfectly."""
    big = texture(rng, size + t * speed + 8, size + t * speed + 8)
    frames = [big[4 : 4 + size, 4 + i * speed : 4 + i * speed + size] for i in range(t)]
    g = np.clip(np.stack(frames) * 255 * 3 - 200, 0, 255).astype(np.uint8)
    return Clip(np.repeat(g[..., None], 3, axis=-1), fps=8)


def noise_clip(rng, t=10, size=64):
    return Clip(rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8), fps=8)


def test_luma_range_and_shape():
    f = np.full((2, 4, 5, 3), 255, np.uint8)
    y = luma(f)
    assert y.shape == (2, 4, 5) and np.allclose(y, 1.0, atol=1e-5)


def test_warp_residual_low_for_rigid_motion_high_for_noise():
    rng = np.random.default_rng(0)
    rigid = flow_features(luma(panning(rng).frames))
    noise = flow_features(luma(noise_clip(rng).frames))
    assert rigid["warp_residual_ratio"] < 0.5 < noise["warp_residual_ratio"]
    assert rigid["flow_coherence"] > 0.8 > noise["flow_coherence"]


def test_second_order_difference_vanishes_for_linear_fade():
    # Brightness rising linearly: first differences constant, second differences zero.
    ramp = np.stack([np.full((16, 16), 40 + 10 * i, np.float32) / 255 for i in range(8)])
    d = difference_features(ramp)
    assert d["diff2_to_diff1"] < 1e-3
    noise = np.random.default_rng(1).random((8, 16, 16)).astype(np.float32)
    assert difference_features(noise)["diff2_to_diff1"] > 1.0


def test_curvature_straight_line_zero_random_walk_large():
    a, b = np.zeros(50), np.ones(50)
    line = np.stack([a + (b - a) * s for s in np.linspace(0, 1, 8)])
    assert np.allclose(curvature(line), 0.0, atol=1e-4)
    rand = np.random.default_rng(2).normal(size=(8, 50))
    assert curvature(rand).mean() > 1.0


def test_temporal_features_finite_and_learned_embedding_used():
    clip = panning(np.random.default_rng(3))
    feats = temporal_features(clip, embed=lambda f: f.reshape(len(f), -1)[:, :64].astype(float))
    assert all(np.isfinite(v) for v in feats.values())
    assert "curv_learned_mean" in feats and "curv_pixel_mean" in feats
    with pytest.raises(ValueError, match="at least 3 frames"):
        temporal_features(Clip(clip.frames[:2], fps=8))


def test_spectral_energy_drops_when_blurred():
    rng = np.random.default_rng(4)
    sharp = rng.random((4, 64, 64)).astype(np.float32)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in sharp])
    assert spectral_features(blurred)["spec_high_frac"] < spectral_features(sharp)["spec_high_frac"] - 2


def test_periodic_peak_found_for_period_4_pattern():
    rng = np.random.default_rng(5)
    res = rng.normal(size=(4, 64, 64)).astype(np.float32)
    x = np.arange(64)
    pattern = 2.0 * np.cos(2 * np.pi * x / 4)[None, None, :] * np.cos(2 * np.pi * x / 4)[None, :, None]
    plain, periodic = periodic_peak_features(res), periodic_peak_features(res + pattern)
    assert periodic["peak_period4"] > plain["peak_period4"] + 2
    assert periodic["peak_any_max"] >= plain["peak_any_max"]


def test_residual_temporal_correlation_static_vs_fresh_noise():
    rng = np.random.default_rng(6)
    fresh = noise_clip(rng, t=6)
    static = Clip(np.repeat(fresh.frames[:1], 6, axis=0), fps=8)
    assert frequency_features(static)["resid_acf_t1"] > 0.9
    assert abs(frequency_features(fresh)["resid_acf_t1"]) < 0.2


def test_power_spectrum_from_a_real_fft_equals_the_full_complex_one():
    import scipy.fft

    from vidprov.detector.frequency import _hann2d, power_spectrum

    rng = np.random.default_rng(7)
    for shape in [(3, 64, 64), (2, 33, 47), (2, 32, 31)]:
        x = rng.random(shape).astype(np.float32)
        f = scipy.fft.fft2((x - x.mean(axis=(1, 2), keepdims=True)) * _hann2d(*shape[1:]))
        ref = np.fft.fftshift((np.abs(f) ** 2).mean(0))
        np.testing.assert_allclose(power_spectrum(x), ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_frequency_features_on_every_second_frame_match_all_frames_for_a_static_clip():
    rng = np.random.default_rng(8)
    static = Clip(np.repeat(noise_clip(rng, t=8).frames[:1], 8, axis=0), fps=8)
    every, second = frequency_features(static, step=1), frequency_features(static, step=2)
    assert every.keys() == second.keys()
    for k in every:
        assert second[k] == pytest.approx(every[k], rel=1e-5, abs=1e-6), k
    # The temporal correlation keeps its one-frame lag: fresh noise stays uncorrelated with step 2.
    assert abs(frequency_features(noise_clip(rng, t=8), step=2)["resid_acf_t1"]) < 0.2


def blur_vae(clip):
    """A stand-in autoencoder for unit tests: a blur loses detail the way a VAE does."""
    return clip.replace(frames=np.stack([cv2.GaussianBlur(f, (0, 0), 1.2) for f in clip.frames]))


def test_reconstruction_error_higher_for_detailed_clip():
    rng = np.random.default_rng(7)
    smooth = panning(rng)
    detailed = noise_clip(rng)
    assert reconstruction_error(detailed, blur_vae)["log_err"] > reconstruction_error(smooth, blur_vae)["log_err"]
    feats = latent_features(smooth, blur_vae, scales=(1.0, 0.5), name="blur")
    assert {"latent_blur_s1_log_err", "latent_blur_s0.5_log_err", "latent_blur_ratio_s0.5"} <= set(feats)


def test_reconstruction_shape_mismatch_is_an_error():
    clip = panning(np.random.default_rng(8))
    with pytest.raises(ValueError, match="shape"):
        reconstruction_error(clip, lambda c: c.replace(frames=c.frames[:, :32]))


def test_extract_families_and_exclusion():
    clip = panning(np.random.default_rng(9))
    feats = extract(clip, FeatureConfig(families=("frequency",), exclude=("resid_kurtosis",)))
    assert feats and all(family_of(k) == "frequency" for k in feats) and "resid_kurtosis" not in feats
    with pytest.raises(ValueError, match="needs a VAE"):
        extract(clip, FeatureConfig(families=("latent",)))
    with pytest.raises(ValueError, match="unknown feature families"):
        FeatureConfig(families=("colour",))
    both = extract(clip, FeatureConfig(families=("temporal", "latent"), vae_family="blur"), reconstruct=blur_vae)
    assert {family_of(k) for k in both} == {"temporal", "latent"}


def test_load_vae_is_optional():
    import vidprov.generator  # noqa: F401  (registers the shipped families)
    from vidprov.detector.reconstruction import load_vae

    found = load_vae()
    # Either vidprov's generator ships VAE weights (then a reconstructor comes back) or nothing does.
    assert found is None or (found.family in ("wan", "ltx") and callable(found.reconstruct) and found.fingerprint)


def test_feature_cache_key_ignores_latent_settings_unless_latent_features_are_computed():
    from vidprov.detector.dataset import _config_key

    plain = FeatureConfig(families=("temporal",))
    assert _config_key(FeatureConfig(families=("temporal",), vae_family="ltx", latent_scales=(0.5,))) == _config_key(plain)
    with_latent = dict(families=("temporal", "latent"), latent_scales=(0.5,))
    assert _config_key(FeatureConfig(vae_family="ltx", **with_latent)) != _config_key(FeatureConfig(vae_family="wan", **with_latent))
