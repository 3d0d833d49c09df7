"""Latent (Tree-Ring style) watermark on tensors with tiny models: marking keeps noise Gaussian,
sampling + inversion recovers the key, the null is N(0, 1), and the generator wiring works."""

import numpy as np
import pytest
import torch
from scipy import stats

import vidprov
from vidprov.watermark import latent

S2 = 0.25  # variance of the toy data distribution


def gaussian_velocity(x, t):
    """Exact flow-matching velocity E[noise - data | x_t] for data ~ N(0, S2), plus a tiny fixed nonlinearity."""
    s = (t / 1000.0).view(-1, *([1] * (x.ndim - 1)))
    var = (1 - s) ** 2 * S2 + s**2
    return (s - (1 - s) * S2) / var * x + 0.02 * torch.tanh(x)


def test_marked_noise_stays_standard_normal_and_only_the_disk_changes():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 4, 5, 32, 32, generator=g)
    marked = latent.watermark_noise(noise, "k", channels=1)  # Tree-Ring's single channel: the last one
    assert torch.allclose(marked[:, :3], noise[:, :3])
    x = marked[0, 3].flatten().numpy()
    assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05
    assert stats.kstest(x, "norm").pvalue > 1e-3
    spec_diff = torch.fft.fft2(marked[0, 3] - noise[0, 3]).abs()
    outside = ~latent.disk_mask(32, 32)
    assert spec_diff[:, outside].max() < 1e-4  # float32 round-off only
    # magnitudes are the seed's, phases the key's
    a, b = torch.fft.fft2(marked[0, 3].double()), torch.fft.fft2(noise[0, 3].double())
    inside = latent.disk_mask(32, 32)
    assert torch.allclose(a.abs()[:, inside], b.abs()[:, inside], atol=1e-3)


def test_sample_invert_recovers_the_key():
    sig = latent.default_sigmas(10)
    detected, null = [], []
    for seed in range(4):
        noise = torch.randn(1, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
        for key, marked_with in (("key-a", "key-a"), ("key-a", None)):
            z_T = latent.watermark_noise(noise, marked_with) if marked_with else noise
            x0 = latent.sample(z_T, gaussian_velocity, sig)
            rec = latent.invert(x0, gaussian_velocity, sig)
            r = latent.test_noise(rec, key)
            (detected if marked_with else null).append(r)
    assert all(r.detected and r.p_value < 1e-6 for r in detected)
    assert not any(r.detected for r in null)


def test_null_is_standard_normal_over_random_keys():
    noise = torch.randn(1, 4, 3, 24, 24, generator=torch.Generator().manual_seed(5))
    z = np.array([latent.test_noise(noise, f"random-{i}").z for i in range(150)])
    assert stats.kstest(z, "norm").pvalue > 1e-3


class TinyGenerator:
    """The VideoGenerator interface the latent watermark uses, with a toy model and a toy 'VAE'."""

    settings = {"num_frames": 9, "size": 32}
    scheduler = None
    device = torch.device("cpu")

    def latent_shape(self, num_frames, height, width):
        return 4, (num_frames - 1) // 4 + 1, height // 4, width // 4

    def initial_noise(self, seed, num_frames, height, width):
        return torch.randn((1, *self.latent_shape(num_frames, height, width)), generator=torch.Generator().manual_seed(seed))

    def encode_prompt(self, prompt):
        return torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool)

    def predict_velocity(self, x, t, emb, mask):
        return gaussian_velocity(x, t)

    def decode(self, z):
        # toy VAE: channels 0-2 -> RGB, latent frame/pixel repeated 4x; channel 3 stored in the blue LSBs' place
        x = z[0].repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # c t h w
        frames = (x[:3] * 20 + 128).clamp(0, 255).permute(1, 2, 3, 0).round().to(torch.uint8).numpy()
        frames = np.repeat(frames, 4, axis=0)[:9]
        side = ((x[3] * 20 + 128).clamp(0, 255).round().to(torch.uint8).numpy())
        return vidprov.Clip(np.ascontiguousarray(frames), fps=8.0, meta={"ch3": side})

    def encode_latents(self, clip):
        f = torch.from_numpy(clip.frames[::4].astype(np.float32))  # t H W 3
        rgb = (f.permute(3, 0, 1, 2) - 128) / 20
        ch3 = (torch.from_numpy(clip.meta["ch3"].astype(np.float32)) - 128) / 20
        z = torch.cat([rgb, ch3[None]], 0)
        return torch.nn.functional.avg_pool3d(z[None], (1, 4, 4))

    def __call__(self, prompt, *, seed, num_frames, size, latents, steps, **kw):
        return self.decode(latent.sample(latents, gaussian_velocity, latent.default_sigmas(steps)))


def test_generator_wiring_marks_and_detects():
    wm = latent.GeneratorWatermark(TinyGenerator(), steps=16)
    marked = wm.generate("a fox", "gen-key", seed=1)
    plain = TinyGenerator()("a fox", seed=1, num_frames=9, size=32, latents=TinyGenerator().initial_noise(1, 9, 32, 32), steps=16)
    assert marked.meta["latent_watermark_key_id"]
    assert wm.detect(marked, "gen-key").p_value < 1e-3
    assert wm.detect(plain, "gen-key").p_value > 1e-3
    assert wm.detect(marked, "other-key").p_value > 1e-3


@pytest.mark.parametrize("radius", [2.0, 3.0, 5.0])
def test_half_mask_counts_each_conjugate_pair_once(radius):
    m = latent.disk_mask(16, 16, radius)
    h = latent._half(m)
    assert int(h.sum()) * 2 == int(m.sum()) - 0  # no self-conjugate frequencies inside a small disk


def test_default_marks_every_channel_and_more_coefficients_raise_the_evidence():
    noise = torch.randn(1, 4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    marked = latent.watermark_noise(noise, "k")
    for c in range(4):
        assert not torch.allclose(marked[0, c], noise[0, c])
        assert stats.kstest(marked[0, c].flatten().numpy(), "norm").pvalue > 1e-3
    one = latent.test_noise(latent.watermark_noise(noise, "k", channels=1), "k", channels=1)
    every = latent.test_noise(marked, "k")
    assert every.n_coefficients == 4 * one.n_coefficients
    # a weak recovery (the key's phases buried in noise) is detected with all channels, not with one
    g = torch.Generator().manual_seed(9)
    weak_one = latent.watermark_noise(noise, "k", channels=1) + 1.5 * torch.randn(noise.shape, generator=g)
    weak_all = marked + 1.5 * torch.randn(noise.shape, generator=g)
    # (z grows with the square root of the number of coefficients: 2x expected here)
    assert latent.test_noise(weak_all, "k").z > 1.5 * latent.test_noise(weak_one, "k", channels=1).z
    assert latent.channels_for(16, None) == list(range(16)) and latent.channels_for(16, 1) == [15]
