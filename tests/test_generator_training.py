"""Generator training on a tiny synthetic real-clip folder: resumable VAE and transformer runs, export,
2-process gloo DDP, and the resumable generate-dataset job. Tiny models, a few steps each."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import torch

from vidprov.clip import Clip
from vidprov.generator.models import DiTConfig, TextConfig, VAEConfig


def _moving_square(seed: int, n: int = 24, h: int = 80, w: int = 96) -> Clip:
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 255, 3, dtype=np.uint8)
    fg = rng.integers(0, 255, 3, dtype=np.uint8)
    frames = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        frames[t] = bg
        y, x = 10 + t, 5 + 2 * t
        frames[t, y : y + 20, x : x + 20] = fg
    return Clip(frames, fps=8.0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from vidprov.io import write_video

    root = tmp_path_factory.mktemp("data")
    (root / "real").mkdir()
    for i in range(4):
        write_video(_moving_square(i), root / "real" / f"clip{i}.mp4")
    return root


def tiny_vae(family: str) -> VAEConfig:
    return VAEConfig(family=family, channels=(8,) if family == "wan" else (8, 16, 16), latent_channels=4, layers_per_block=1)


def vae_config(family, data_dir, out, **kw):
    from vidprov.generator.train_vae import make_config

    return make_config(family, out=str(out), data=str(data_dir), cache_dir=str(out.parent / "cache"), size=32,
                       eval_size=32, frames=5, batch_size=2, eval_every=1000, threads=1, vae=tiny_vae(family), **kw)


@pytest.mark.parametrize("family", ["wan", "ltx"])
def test_vae_and_transformer_train_resume_and_export(family, data_dir, tmp_path):
    from vidprov.generator.card import export_family
    from vidprov.generator.train_dit import make_config, train_dit
    from vidprov.generator.train_vae import train_vae
    from vidprov.generator.video_generator import VideoGenerator

    vdir = tmp_path / "vae"
    s = train_vae(vae_config(family, data_dir, vdir, steps=2))
    assert s["step"] == 2 and np.isfinite(s["final_loss"]) and s["heldout_psnr_db"] > 0
    s = train_vae(vae_config(family, data_dir, vdir, steps=3))  # resumes: one more step
    assert s["step"] == 3
    state = torch.load(vdir / "ckpt.pt", weights_only=False)
    assert state["config"]["vae"]["family"] == family and len(state["history"]["train"]) == 3
    assert (vdir / "recon_grid.png").exists() and (vdir / "loss.png").exists()

    ddir = tmp_path / "dit"
    cfg = make_config(family, out=str(ddir), vae_ckpt=str(vdir / "ckpt.pt"), data=str(data_dir),
                      cache_dir=str(tmp_path / "cache"), size=32, frames=5, windows_per_clip=1, crops_per_window=1,
                      batch_size=2, steps=2, eval_every=1000, threads=1,
                      dit=DiTConfig(family=family, num_layers=1, num_heads=2, head_dim=8, text_dim=16),
                      text=TextConfig(d_model=16, num_layers=1, num_heads=2, d_ff=32, max_length=8))
    s = train_dit(cfg)
    assert s["step"] == 2 and np.isfinite(s["heldout_flow_loss"])
    lat = torch.load(ddir / "latents.pt", weights_only=False)
    assert lat["train"]["latents"].shape[0] == 2 * 3  # 3 training clips, each with its mirrored copy
    assert (ddir / "samples.png").exists()

    out = tmp_path / "weights" / family
    export_family(family, out=out, vae_ckpt=vdir / "ckpt.pt", dit_ckpt=ddir / "ckpt.pt", run_eval=False)
    assert (out / "model_index.json").exists() and (out / "README.md").exists()
    assert list(out.rglob("*.safetensors"))
    gen = VideoGenerator.load(out, device="cpu")
    clip = gen("people walking", seed=0, steps=2)
    assert clip.frames.shape == (5, 32, 32, 3)
    # A transformer retrained on a shipped VAE exports with that VAE folder (its card keeps the VAE's record).
    out_b = tmp_path / "weights_b" / family
    export_family(family, out=out_b, vae_ckpt=out / "vae", dit_ckpt=ddir / "ckpt.pt", run_eval=False)
    assert json.loads((out_b / "metrics.json").read_text())["vae"]["steps"] == 3
    assert VideoGenerator.load(out_b, device="cpu")("people walking", seed=0, steps=2).frames.shape == (5, 32, 32, 3)

    # Further training continues from the shipped folder, keeping its latent normalisation.
    s = train_vae(vae_config(family, data_dir, tmp_path / "vae2", steps=1, init_from=str(out / "vae")))
    assert s["step"] == 1
    cfg.out, cfg.init_from, cfg.steps, cfg.dit, cfg.text = str(tmp_path / "dit2"), str(out), 1, None, None
    s = train_dit(cfg)
    assert s["step"] == 1
    from vidprov.vae import get_latent_stats

    state = torch.load(tmp_path / "dit2" / "ckpt.pt", weights_only=False)
    assert state["config"]["init_from"] == str(out)
    assert state["config"]["dit"]["num_layers"] == 1 and state["config"]["text"]["d_model"] == 16
    shipped_mean, shipped_std = get_latent_stats(gen.vae, family)
    assert torch.allclose(shipped_mean, lat["mean"].float(), atol=1e-2)  # exported = training stats (fp16 rounding)
    lat2 = torch.load(tmp_path / "dit2" / "latents.pt", weights_only=False)
    assert torch.equal(lat2["mean"], shipped_mean) and torch.equal(lat2["std"], shipped_std)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, data_dir: str, out: str, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    from pathlib import Path

    from vidprov.generator import distributed
    from vidprov.generator.models import build_vae
    from vidprov.generator.train_vae import _VAEForward

    torch.set_num_threads(1)
    torch.manual_seed(0)  # same initial weights on both ranks
    dist = distributed.setup("cpu")
    vae = build_vae(tiny_vae("ltx"))
    model = distributed.wrap(_VAEForward(vae), dist)
    opt = torch.optim.SGD(vae.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(rank)
    for _ in range(2):
        x = torch.rand(1, 3, 5, 16, 16, generator=gen) * 2 - 1  # different data on each rank
        y, _, _ = model(x, gen)
        loss = (y - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    flat = torch.cat([p.detach().flatten() for p in vae.parameters()])
    np.save(Path(result_dir) / f"rank{rank}.npy", flat.numpy())
    distributed.teardown(dist)
    # The full trainer under DDP: rank 0 writes the checkpoint.
    os.environ["MASTER_PORT"] = str(port + 1)
    from vidprov.generator.train_vae import make_config, train_vae

    train_vae(make_config("ltx", out=out, data=data_dir, cache_dir=str(Path(out).parent / "cache"), size=16, eval_size=16,
                          frames=5, batch_size=1, steps=2, eval_every=1000, threads=1, vae=tiny_vae("ltx"), device="cpu"))


def test_ddp_two_processes_gloo_keep_weights_in_sync(data_dir, tmp_path):
    import torch.multiprocessing as mp

    from vidprov.generator.training_data import CacheConfig, build_cache
    from vidprov.manifest import Manifest

    build_cache(Manifest.from_folder(data_dir), tmp_path / "cache", CacheConfig())  # decode once, not in both ranks
    port = _free_port()
    mp.spawn(_ddp_worker, args=(2, port, str(data_dir), str(tmp_path / "run"), str(tmp_path)), nprocs=2, join=True)
    a, b = np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy")
    assert np.array_equal(a, b)  # gradients were averaged across ranks
    state = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=False)
    assert state["step"] == 2


def test_generate_dataset_is_resumable_and_writes_a_manifest(tmp_path):
    from vidprov.generator.export import build_random_pipeline, save_pipeline
    from vidprov.generator.generated_dataset import generate_dataset, make_plan
    from vidprov.manifest import Manifest
    from vidprov.provenance import write_clip

    model = tmp_path / "tiny"
    torch.manual_seed(0)
    pipe = build_random_pipeline("ltx", vae=tiny_vae("ltx"), dit=DiTConfig(family="ltx", num_layers=1, num_heads=2, head_dim=8, text_dim=16),
                                 text=TextConfig(d_model=16, num_layers=1, num_heads=2, d_ff=32, max_length=8),
                                 captions=["a cat on grass", "cars on a road"])
    save_pipeline(pipe, model, settings={"size": 32, "num_frames": 5, "max_tokens": 8})
    prompts = [("g1", "a cat on grass"), ("g2", "cars on a road")]
    plan = make_plan(3, [str(model)], [2, 3], [1.0], prompts, seed=10)
    assert [p.steps for p in plan] == [2, 2, 3] and [p.seed for p in plan] == [10, 11, 12]
    out = tmp_path / "ds"
    m = generate_dataset(out, plan[:2], write_clip=write_clip, device="cpu", progress=False)
    first = (out / m.df["path"][0]).stat().st_mtime_ns
    m = generate_dataset(out, plan, write_clip=write_clip, device="cpu", progress=False)  # resumes: only clip 2 is new
    assert (out / m.df["path"][0]).stat().st_mtime_ns == first
    m2 = Manifest.read(out / "manifest.csv")
    assert len(m2) == 3 and set(m2.df["label"]) == {"generated"}
    assert list(m2.df["prompt"]) == ["a cat on grass", "cars on a road", "a cat on grass"]
    side = json.loads((out / m2.df["path"][2]).with_suffix(".json").read_text())
    assert side["steps"] == 3 and side["seed"] == 12
