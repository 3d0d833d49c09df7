"""verify() tests the latent watermark of clips whose signed manifest names a vidprov generator."""

import numpy as np
import pytest
import torch

import vidprov
import vidprov.generator
from vidprov.provenance import verify
from vidprov.watermark import credentials, latent

S2 = 0.25


def velocity(x, t):
    s = (t / 1000.0).view(-1, *([1] * (x.ndim - 1)))
    return (s - (1 - s) * S2) / ((1 - s) ** 2 * S2 + s**2) * x


class FileGenerator:
    """A toy generator whose 'VAE' survives a file round trip: 3 latent channels = RGB at 1/4 size."""

    settings = {"num_frames": 9, "size": 64}
    scheduler = None
    device = torch.device("cpu")

    def latent_shape(self, num_frames, height, width):
        return 3, (num_frames - 1) // 4 + 1, height // 4, width // 4

    def initial_noise(self, seed, num_frames, height, width):
        shape = (1, *self.latent_shape(num_frames, height, width))
        return torch.randn(shape, generator=torch.Generator().manual_seed(seed))

    def encode_prompt(self, prompt):
        return torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool)

    def predict_velocity(self, x, t, emb, mask):
        return velocity(x, t)

    def encode_latents(self, clip):
        f = torch.from_numpy(clip.frames[::4][:3].astype(np.float32)).permute(3, 0, 1, 2)
        return torch.nn.functional.avg_pool3d(((f - 128) / 25)[None], (1, 4, 4))

    def __call__(self, prompt, *, seed, num_frames, size, latents, steps, **kw):
        z = latent.sample(latents, velocity, latent.default_sigmas(steps))[0]
        x = z.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
        frames = (x * 25 + 128).clamp(0, 255).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
        frames = np.repeat(frames, 4, axis=0)[:num_frames]
        return vidprov.Clip(np.ascontiguousarray(frames), fps=8.0, meta={"generator": "vidprov-wan", "model": "wan"})


@pytest.fixture()
def signed(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPROV_HOME", str(tmp_path / "home"))
    gen = FileGenerator()
    monkeypatch.setattr(vidprov.generator, "load", lambda model, **kw: gen, raising=False)
    clip = latent.GeneratorWatermark(gen, steps=12).generate("a fox", "latent-key", seed=2)
    path = vidprov.write_video(clip, tmp_path / "gen.mp4", crf=0, pix_fmt="yuv444p")
    claims = credentials.Claims(generator="vidprov-wan", model="wan", seed=2)
    return credentials.sign(path, tmp_path / "signed.mp4", claims)


def test_verify_runs_the_latent_test_named_by_the_manifest(signed):
    r = verify(signed, keys=["latent-key"])
    assert r.c2pa.state == "Trusted"
    assert r.latent_watermark["tested"] and r.latent_watermark["model"] == "wan"
    assert r.latent_watermark["detected"], r.latent_watermark
    assert "marked by vidprov" in r.finding
    other = verify(signed, keys=["another-key"])
    assert not other.latent_watermark["detected"]
    assert verify(signed, keys=["latent-key"], latent_model=None).latent_watermark is None


def test_latent_test_reports_why_it_could_not_run(signed, monkeypatch):
    def missing(model, **kw):
        raise vidprov.generator.ModelNotFoundError("no weights")

    monkeypatch.setattr(vidprov.generator, "load", missing, raising=False)
    r = verify(signed, keys=["latent-key"])
    assert r.latent_watermark == {"tested": False, "reason": "ModelNotFoundError: no weights"}
