"""The latent watermark wired to vidprov.generator's real VideoGenerator class, with a tiny random
Wan pipeline: checks shapes and plumbing (generate with marked noise, VAE encode, inversion),
not detection quality, which needs trained weights (`vidprov bench watermark` measures that)."""

import pytest
import torch

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_generator():
    from vidprov.generator import models, pipeline, text
    from vidprov.generator.video_generator import VideoGenerator

    torch.manual_seed(0)
    vae = models.build_vae(models.default_vae_config("wan"))
    tr = models.build_transformer(models.DiTConfig(family="wan", num_layers=1, num_heads=2, head_dim=16, text_dim=32),
                                  latent_channels=vae.config.z_dim)
    tok = text.build_tokenizer(["a fox runs"], max_length=8)
    enc = text.build_text_encoder(len(tok), d_model=32, num_layers=1, num_heads=2, d_ff=64)
    pipe = pipeline.assemble("wan", vae=vae, transformer=tr, text_encoder=enc, tokenizer=tok)
    pipe.to("cpu")
    return VideoGenerator(pipe, name="tiny-wan", settings={"size": 32, "num_frames": 5, "max_tokens": 8})


@pytest.mark.slow
def test_generate_marked_and_recover_noise_shapes(tiny_generator):
    from vidprov.watermark import latent

    wm = latent.GeneratorWatermark(tiny_generator, steps=2)
    clip = wm.generate("a fox runs", "latent-key", seed=3)
    assert clip.frames.shape[1:3] == (32, 32) and clip.meta["custom_latents"]
    noise = wm.recover_noise(clip)
    assert tuple(noise.shape) == (1, *tiny_generator.latent_shape(clip.num_frames, 32, 32))
    r = wm.detect(clip, "latent-key")
    assert 0.0 <= r.p_value <= 1.0 and r.n_coefficients > 0
    marked = wm.noise("latent-key", 3, 5, 32)
    plain = tiny_generator.initial_noise(3, 5, 32, 32)
    assert latent.test_noise(marked, "latent-key").z > latent.test_noise(plain, "latent-key").z + 2
    assert latent.test_noise(plain, "latent-key").p_value > 1e-6
