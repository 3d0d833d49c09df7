"""Encoder fine-tuning (decoder frozen) on a tiny pipeline: it trains, resumes, and its export leaves
generation bit-identical while changing what the encoder returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidprov.clip import Clip
from vidprov.generator.export import build_random_pipeline, save_pipeline
from vidprov.generator.models import DiTConfig, TextConfig, VAEConfig


def _tiny_pipeline_dir(root, family="ltx"):
    torch.manual_seed(0)
    vae = VAEConfig(family=family, channels=(8, 16, 16), latent_channels=4, layers_per_block=1)
    dit = DiTConfig(family=family, num_layers=1, num_heads=2, head_dim=8, text_dim=16)
    text = TextConfig(d_model=16, num_layers=1, num_heads=2, d_ff=32, max_length=8)
    pipe = build_random_pipeline(family, vae=vae, dit=dit, text=text, captions=["a cat on grass", "cars on a road"])
    return save_pipeline(pipe, root / "pipe", settings={"size": 32, "num_frames": 5, "max_tokens": 8})


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory):
    from vidprov.io import write_video

    root = tmp_path_factory.mktemp("real")
    (root / "real").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        still = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        frames = np.stack([np.roll(still, 2 * t, axis=1) for t in range(12)])  # a panning picture
        write_video(Clip(frames, fps=8.0), root / "real" / f"c{i}.mp4")
    return root


def test_encoder_finetune_trains_resumes_and_exports_without_changing_samples(tmp_path, real_dir):
    from vidprov.generator.train_encoder import export_encoder, make_config, train_encoder
    from vidprov.generator.video_generator import VideoGenerator

    pipe_dir = _tiny_pipeline_dir(tmp_path)
    kw = dict(model=str(pipe_dir), out=str(tmp_path / "enc"), data=str(real_dir), cache_dir=str(tmp_path / "cache"),
              pairs=4, heldout_pairs=2, sample_steps=2, batch_size=2, real_batch_size=1, eval_every=1000, threads=1)
    s = train_encoder(make_config("ltx", steps=2, **kw))
    assert s["step"] == 2 and np.isfinite(s["heldout_latent_mse"]) and s["heldout_real_psnr_db"] > 0
    state = torch.load(tmp_path / "enc" / "ckpt.pt", weights_only=False)
    assert state["config"]["pairs"] == 4 and len(state["history"]["train"]) == 2
    s = train_encoder(make_config("ltx", steps=3, **kw))  # resumes from the checkpoint and its cached pairs
    assert s["step"] == 3

    before = VideoGenerator.load(pipe_dir, device="cpu")
    sample = before("a cat on grass", seed=2, steps=2)
    probe = Clip(sample.frames, fps=8.0)
    z_before = before.encode_latents(probe)
    export_encoder(tmp_path / "enc" / "ckpt.pt", pipe_dir)
    after = VideoGenerator.load(pipe_dir, device="cpu")
    np.testing.assert_array_equal(after("a cat on grass", seed=2, steps=2).frames, sample.frames)
    assert not torch.allclose(after.encode_latents(probe), z_before)
