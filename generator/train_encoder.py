"""Fine-tune a trained VAE's encoder to invert its own decoder on the generator's outputs (decoder frozen).

Why: the latent watermark is read by encoding a video back to latents and inverting the sampler. A VAE
trained only to autoencode real clips does not map its decoder's outputs back to the latents that made
them (the round trip moved latents by 32-37% of their scale and erased the key). Generation never runs
the encoder, so fine-tuning it changes no sample; it serves detection (and reconstruction features).

Data: pairs (pixels, latent) made by the generator itself: the latent the sampler handed to the VAE
decoder, and the uint8 clip that came out, half of them re-encoded with H.264 at a random CRF (so the
mapping survives compression) and half made from latent-watermarked noise (random keys).
Loss: normalised-latent MSE of encode(pixels) against that latent, plus the autoencoding loss of real
clips through the frozen decoder (so real footage keeps reconstructing).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vidprov.generator import checkpoint, pipeline
from vidprov.generator.data import CacheConfig, CropSampler, build_cache, to_tensor
from vidprov.generator.train_vae import is_decoder_param, load_manifest, psnr, reconstruct

log = logging.getLogger(__name__)


@dataclass
class EncoderTrainConfig:
    family: str = "ltx"
    model: str | None = None  # pipeline folder; None: the shipped weights of `family`
    out: str = "runs/ltx_encoder"
    data: str | None = None  # real clips for the autoencoding term (None: ../shared/data)
    cache_dir: str = "runs/frame_cache"
    pairs: int = 384
    heldout_pairs: int = 24
    sample_steps: int = 20
    guidance: float = 4.0
    reencode_fraction: float = 0.5
    crf_min: int = 18
    crf_max: int = 35
    batch_size: int = 8
    real_batch_size: int = 2
    real_weight: float = 1.0
    lr: float = 1e-4
    steps: int = 1500
    minutes: float | None = None
    ckpt_every_s: float = 300.0
    eval_every: int = 250
    seed: int = 0
    threads: int | None = None


def make_pairs(gen, n: int, seed: int, cfg: EncoderTrainConfig, progress: bool = True) -> dict:
    """n generated clips with the exact (raw, denormalised) latent their VAE decode started from."""
    from tqdm import tqdm

    from vidprov.generator.data import load_captions
    from vidprov.io import reencode
    from vidprov.watermark.latent import GeneratorWatermark

    rng = np.random.default_rng(seed)
    captions = sorted(load_captions().values())
    wm = GeneratorWatermark(gen, steps=cfg.sample_steps)
    frames, latents, keys = [], [], []
    vae = gen.vae
    for i in tqdm(range(n), desc="pairs", disable=not progress):
        captured: list[torch.Tensor] = []
        original = vae.decode

        def spy(z, *a, _orig=original, _cap=captured, **k):
            _cap.append(z.detach().float().cpu())
            return _orig(z, *a, **k)

        vae.decode = spy
        try:
            s = int(seed * 100_000 + i)
            key = f"encoder-pair-{seed}-{i}" if rng.random() < 0.5 else None
            noise = wm.noise(key, s, gen.settings["num_frames"], gen.settings["size"]) if key else None
            clip = gen(captions[int(rng.integers(len(captions)))], seed=s, steps=cfg.sample_steps,
                       guidance=cfg.guidance, latents=noise)
        finally:
            vae.__dict__.pop("decode", None)  # back to the class method
        if rng.random() < cfg.reencode_fraction:
            clip = reencode(clip, crf=int(rng.integers(cfg.crf_min, cfg.crf_max + 1)))
        frames.append(clip.frames)
        latents.append(captured[-1][0])
        keys.append(key)
    return {"frames": np.stack(frames), "latents": torch.stack(latents), "keys": keys}


def cached_pairs(gen, path: Path, n: int, seed: int, cfg: EncoderTrainConfig) -> dict:
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=False)
    pairs = make_pairs(gen, n, seed, cfg)
    checkpoint.save(path, pairs)
    return pairs


def encode_normalised(vae, family: str, x: torch.Tensor) -> torch.Tensor:
    """Posterior mode of pixels x (B, 3, T, H, W) in [-1, 1], normalised like the transformer's latents
    (pipeline.encode_latents with gradients)."""
    return normalise(vae, family, vae.encode(x).latent_dist.mode())


def normalise(vae, family: str, z: torch.Tensor) -> torch.Tensor:
    """Raw VAE latents -> the transformer's normalised latents."""
    mean, std = pipeline.get_latent_stats(vae, family)
    shape = (1, -1, 1, 1, 1)
    return (z - mean.view(shape).to(z)) / std.view(shape).to(z)


def train_encoder(cfg: EncoderTrainConfig) -> dict:
    from tqdm import tqdm

    from vidprov.generator.video_generator import VideoGenerator
    from vidprov.watermark.latent import GeneratorWatermark

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = VideoGenerator.load(cfg.model or cfg.family, device="cpu")
    if gen.family != cfg.family:
        raise ValueError(f"{cfg.model}: a {gen.family} pipeline, not {cfg.family}")
    vae = gen.vae
    train_pairs = cached_pairs(gen, out / "pairs_train.pt", cfg.pairs, cfg.seed, cfg)
    held_pairs = cached_pairs(gen, out / "pairs_heldout.pt", cfg.heldout_pairs, cfg.seed + 1, cfg)
    for n, p in vae.named_parameters():
        p.requires_grad_(not is_decoder_param(n))
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    ema = checkpoint.EMA(vae, 0.99)
    step, history = 0, {"train": [], "eval": []}
    state = checkpoint.load(out / "ckpt.pt")
    if state is not None:
        vae.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
        log.info("resumed at step %d", step)
    clips = build_cache(load_manifest(cfg.data), cfg.cache_dir, CacheConfig(seed=cfg.seed))
    n_frames = int(gen.settings["num_frames"])
    real = CropSampler([c for c in clips if c.split == "train"], frames=n_frames, size=int(gen.settings["size"]),
                       seed=cfg.seed + step)
    held_real, _ = CropSampler([c for c in clips if c.split != "train"], frames=n_frames, size=int(gen.settings["size"]),
                               flip=False).fixed(22)
    rng = np.random.default_rng(cfg.seed + step)
    target = normalise(vae, cfg.family, train_pairs["latents"])

    def evaluate() -> dict:
        backup = {k: v.clone() for k, v in vae.state_dict().items()}
        ema.copy_to(vae)
        vae.eval()
        with torch.no_grad():
            z = encode_normalised(vae, cfg.family, to_tensor(held_pairs["frames"], "cpu"))
            cyc = float(((z - normalise(vae, cfg.family, held_pairs["latents"])) ** 2).mean())
            rec = reconstruct(vae, held_real, "cpu")
            real_psnr = float(np.mean([psnr(a, b) for a, b in zip(held_real, rec, strict=True)]))
            wm = GeneratorWatermark(gen, steps=cfg.sample_steps)
            zs = [wm.detect(gen_clip(f), k).z for f, k in zip(held_pairs["frames"], held_pairs["keys"], strict=True) if k]
        vae.load_state_dict(backup)
        res = {"step": step, "heldout_latent_mse": cyc, "heldout_real_psnr_db": real_psnr,
               "marked_heldout_mean_z": float(np.mean(zs)) if zs else None}
        history["eval"].append(res)
        return res

    def gen_clip(frames):
        from vidprov.clip import Clip

        return Clip(frames, fps=gen.fps)

    def save():
        checkpoint.save(out / "ckpt.pt", {"config": asdict(cfg), "model": vae.state_dict(), "ema": ema.state_dict(),
                                         "optimizer": opt.state_dict(), "step": step, "history": history})

    if step == 0:
        log.info("before fine-tuning: %s", evaluate())
    stop, t0, last = checkpoint.StopFlag(), time.time(), time.time()
    bar = tqdm(total=cfg.steps, initial=step, desc=f"{cfg.family} encoder")
    while step < cfg.steps and not stop and (cfg.minutes is None or time.time() - t0 < cfg.minutes * 60):
        vae.train()
        b = rng.choice(len(target), cfg.batch_size, replace=False)
        z = encode_normalised(vae, cfg.family, to_tensor(train_pairs["frames"][b], "cpu"))
        loss_cycle = ((z - target[b]) ** 2).mean()
        xr = to_tensor(real.batch(cfg.real_batch_size)[0], "cpu")
        rec = vae.decode(vae.encode(xr).latent_dist.mode()).sample[:, :, : xr.shape[2]]
        loss_real = (rec - xr).abs().mean() + ((rec - xr) ** 2).mean()
        loss = loss_cycle + cfg.real_weight * loss_real
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(vae)
        step += 1
        history["train"].append((step, loss_cycle.item(), loss_real.item()))
        bar.set_postfix(cycle=f"{loss_cycle.item():.4f}", real=f"{loss_real.item():.4f}")
        bar.update(1)
        if step % cfg.eval_every == 0:
            log.info("eval: %s", evaluate())
        if time.time() - last > cfg.ckpt_every_s:
            save()
            last = time.time()
    bar.close()
    summary = evaluate()
    save()
    (out / "summary.json").write_text(json.dumps({"config": asdict(cfg), **summary}, indent=2))
    return summary


def export_encoder(ckpt_path: str | Path, pipeline_dir: str | Path) -> Path:
    """Write a checkpoint's EMA encoder into a pipeline folder's VAE (float16, atomic folder swap)."""
    import os
    import shutil
    import tempfile

    from vidprov.generator.video_generator import _fp32_loading

    state = checkpoint.load(ckpt_path)
    if state is None:
        raise FileNotFoundError(f"no checkpoint at {ckpt_path}")
    vae_dir = Path(pipeline_dir) / "vae"
    cls_name = json.loads((vae_dir / "config.json").read_text())["_class_name"]
    import diffusers

    with _fp32_loading():
        vae = getattr(diffusers, cls_name).from_pretrained(vae_dir).float()
    decoder_before = {k: v.clone() for k, v in vae.state_dict().items() if is_decoder_param(k)}
    vae.load_state_dict({**vae.state_dict(), **state["ema"]["shadow"]})
    vae.load_state_dict({**vae.state_dict(), **decoder_before})  # generation must not change
    tmp = Path(tempfile.mkdtemp(dir=vae_dir.parent, prefix=".vae-"))
    try:
        vae.to(torch.float16).save_pretrained(tmp, safe_serialization=True)
        old = vae_dir.with_name(".vae-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(vae_dir, old)
        os.replace(tmp, vae_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return vae_dir


def make_config(family: str, **overrides) -> EncoderTrainConfig:
    cfg = EncoderTrainConfig(family=family, out=f"runs/{family}_encoder")
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    return cfg
