"""Train a family's video VAE on random spacetime crops of real clips (resumable, DDP-ready).

Loss: L1 + MSE + a low-frequency colour term (L1 of the 8x8 average-pooled error) + a pooled chroma
(Cb/Cr) error term + an L1 on spatial/temporal finite differences (edges and motion, against the blur
an L1/MSE-only decoder settles into) + a small KL on the posterior (the mean is decoded). Held-out PSNR is measured on
fixed 17-frame crops of clips whose source groups are never trained on, using the EMA weights.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidprov.atomic import atomic_write_json
from vidprov.generator import checkpoint, distributed
from vidprov.generator.models import VAEConfig, build_vae, default_vae_config
from vidprov.generator.training_data import CacheConfig, CropSampler, build_cache
from vidprov.vae import to_tensor, to_uint8

log = logging.getLogger(__name__)


@dataclass
class VAETrainConfig:
    family: str = "ltx"
    out: str = "runs/ltx_vae"
    data: str | None = None  # a Manifest file or a folder; None: ../shared/data
    cache_dir: str = "runs/frame_cache"
    frames: int = 17
    size: int = 64  # training crop side; the VAE is convolutional, so small crops buy more steps per CPU second
    eval_size: int = 64  # held-out PSNR is always measured at the generator's output size
    batch_size: int = 4
    lr: float = 4e-4
    warmup: int = 50
    steps: int = 100_000
    minutes: float | None = None  # stop after this much wall time in this process
    ckpt_every_s: float = 300.0
    eval_every: int = 100
    seed: int = 0
    threads: int | None = None
    kl_weight: float = 1e-6
    # Decode the posterior mean: sampling with the initial unit variance buried the latent in noise and
    # stalled the first hundreds of steps (loss flat at ~0.8); the transformer's latents are normalised anyway.
    sample_posterior: bool = False
    lowfreq_weight: float = 1.0
    diff_weight: float = 0.5
    chroma_weight: float = 3.0
    ema_decay: float = 0.995
    freeze_encoder: bool = False  # decoder-only fine-tuning keeps the latent space of a trained transformer
    init_from: str | None = None  # a saved diffusers VAE folder to start from
    device: str | None = None
    vae: VAEConfig = field(default_factory=VAEConfig)


def load_manifest(data: str | None):
    from vidprov.manifest import Manifest

    if data is None:
        return Manifest.from_shared()
    p = Path(data)
    return Manifest.from_folder(p) if p.is_dir() else Manifest.read(p)


def recon_losses(y: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    """y, x: (B, 3, T, H, W) in [-1, 1]; mean/logvar: posterior of the latent."""
    err = y - x
    diffs = []
    for dim in (2, 3, 4):  # time, height, width
        n = x.shape[dim]
        if n > 1:
            dy, dx = y.narrow(dim, 1, n - 1) - y.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
            diffs.append((dy - dx).abs().mean())
    b, c, t, h, w = err.shape
    k = min(8, h, w)
    lowfreq = F.avg_pool3d(err, (1, k, k)).abs().mean()
    # Chroma (Cb, Cr) of the error, pooled: colour differences are small next to luminance ones, and a VAE
    # trained on L1/MSE alone learns sepia first (seen in both families' first hour).
    chroma_mix = torch.tensor([[-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]], device=err.device, dtype=err.dtype)
    chroma_err = torch.einsum("kc,bcthw->bkthw", chroma_mix, err)
    chroma = F.avg_pool3d(chroma_err, (1, min(4, h, w), min(4, h, w))).abs().mean()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
    return {"l1": err.abs().mean(), "mse": err.pow(2).mean(), "lowfreq": lowfreq,
            "diff": torch.stack(diffs).mean(), "chroma": chroma, "kl": kl}


class _VAEForward(torch.nn.Module):
    """encode -> sample -> decode in one forward, so DDP sees (and syncs) the whole graph."""

    def __init__(self, vae, sample_posterior: bool = False):
        super().__init__()
        self.vae, self.sample_posterior = vae, sample_posterior

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        post = self.vae.encode(x).latent_dist
        z = post.sample(generator=generator) if self.sample_posterior else post.mode()
        return self.vae.decode(z).sample, post.mean, post.logvar


def vae_config_of(vae, family: str) -> VAEConfig:
    """The VAEConfig that rebuilds a loaded diffusers VAE (stored in checkpoints)."""
    c = vae.config
    if family == "wan":
        return VAEConfig(family="wan", latent_channels=c.z_dim, channels=(c.base_dim,), layers_per_block=c.num_res_blocks - 1,
                         spatial_compression=c.scale_factor_spatial)
    return VAEConfig(family="ltx", latent_channels=c.latent_channels, channels=tuple(c.block_out_channels),
                     layers_per_block=c.layers_per_block[0], patch_size=c.patch_size)


def is_decoder_param(name: str) -> bool:
    return name.startswith(("decoder.", "post_quant_conv."))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * math.log10(255.0**2 / max(mse, 1e-10)))


@torch.no_grad()
def reconstruct(vae, frames: np.ndarray, device, batch: int = 4) -> np.ndarray:
    """uint8 (N, T, H, W, 3) -> reconstruction through the posterior mode."""
    out = []
    for i in range(0, len(frames), batch):
        x = to_tensor(frames[i : i + batch], device)
        z = vae.encode(x).latent_dist.mode()
        out.append(to_uint8(vae.decode(z).sample[:, :, : x.shape[2]]))
    return np.concatenate(out)


def _lr(cfg: VAETrainConfig, step: int) -> float:
    return cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))


def train_vae(cfg: VAETrainConfig) -> dict:
    from tqdm import tqdm

    from vidprov.generator.viz import save_curves, save_grid

    dist, out, state = checkpoint.start_run(cfg)
    ckpt_path = out / "ckpt.pt"
    if state is not None:
        cfg.vae = VAEConfig(**state["config"]["vae"])
    vae = build_vae(cfg.vae)
    if state is None and cfg.init_from:
        vae = type(vae).from_pretrained(cfg.init_from).float()
        cfg.vae = vae_config_of(vae, cfg.family)
    vae.to(dist.device)
    if cfg.freeze_encoder:
        for n, p in vae.named_parameters():
            p.requires_grad_(is_decoder_param(n))
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    ema = checkpoint.EMA(vae, cfg.ema_decay)
    step, cpu_s, history = 0, 0.0, {"train": [], "heldout_psnr": []}
    if state is not None:
        step, cpu_s, history = checkpoint.restore(state, vae, ema, opt, fresh_optimizer_ok=True)
        log.info("resumed %s at step %d", ckpt_path, step)
        if cfg.freeze_encoder:
            # The frozen encoder is the EMA one: exactly the encoder that cached the transformer's latents.
            enc = {k: v for k, v in ema.shadow.items() if not is_decoder_param(k)}
            vae.load_state_dict({**vae.state_dict(), **enc})
    model = distributed.wrap(_VAEForward(vae, cfg.sample_posterior), dist)

    clips = build_cache(load_manifest(cfg.data), cfg.cache_dir, CacheConfig(seed=cfg.seed))
    train = [c for c in clips if c.split == "train"]
    held = [c for c in clips if c.split != "train"] or train
    sampler = CropSampler(train, frames=cfg.frames, size=cfg.size, seed=cfg.seed * 1000 + dist.rank + step)
    held_frames, _ = CropSampler(held, frames=17, size=cfg.eval_size, flip=False).fixed(2 * len(held))
    gen = torch.Generator(dist.device).manual_seed(cfg.seed * 7919 + dist.rank + step)

    def save_ckpt():
        checkpoint.save(ckpt_path, {
            "config": asdict(cfg), "model": vae.state_dict(), "ema": ema.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "cpu_s": clock.cpu_s, "history": history,
        })

    def evaluate() -> float:
        ev = build_vae(cfg.vae).to(dist.device).eval()
        ev.load_state_dict(vae.state_dict())
        ema.copy_to(ev)
        rec = reconstruct(ev, held_frames, dist.device)
        value = float(np.mean([psnr(a, b) for a, b in zip(held_frames, rec, strict=True)]))
        history["heldout_psnr"].append((step, value))
        save_grid(out / "recon_grid.png", [np.concatenate([a, b], axis=1) for a, b in zip(held_frames[:6], rec[:6], strict=True)], scale=2)
        save_curves(out / "loss.png", {"train": history["train"]}, title=f"{cfg.family} VAE")
        return value

    t0, clock = time.time(), checkpoint.SaveClock(cfg.ckpt_every_s, cpu_s)
    bar = tqdm(total=cfg.steps, initial=step, desc=f"{cfg.family} VAE", disable=not dist.main, dynamic_ncols=True)
    last_psnr = history["heldout_psnr"][-1][1] if history["heldout_psnr"] else float("nan")
    stop = checkpoint.StopFlag()
    while step < cfg.steps and not stop:
        if cfg.minutes is not None and time.time() - t0 > cfg.minutes * 60:
            break
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        frames, _ = sampler.batch(cfg.batch_size)
        x = to_tensor(frames, dist.device)
        y, mean, logvar = model(x, gen)
        parts = recon_losses(y[:, :, : x.shape[2]], x, mean, logvar)
        loss = (parts["l1"] + parts["mse"] + cfg.lowfreq_weight * parts["lowfreq"]
                + cfg.diff_weight * parts["diff"] + cfg.chroma_weight * parts["chroma"] + cfg.kl_weight * parts["kl"])
        checkpoint.optimise(loss, opt, params, ema, vae)
        step += 1
        history["train"].append((step, loss.item()))
        if dist.main and step % cfg.eval_every == 0:
            last_psnr = evaluate()
        bar.set_postfix(loss=f"{loss.item():.4f}", l1=f"{parts['l1'].item():.4f}", psnr=f"{last_psnr:.2f}")
        bar.update(1)
        if dist.main:
            clock.save_if_due(save_ckpt)
    bar.close()
    cpu_s = clock.count()
    if dist.main:
        last_psnr = evaluate()
        save_ckpt()
        summary = {"family": cfg.family, "step": step, "cpu_s": cpu_s, "heldout_psnr_db": last_psnr,
                   "final_loss": float(np.mean([v for _, v in history["train"][-50:]])) if history["train"] else None}
        atomic_write_json(out / "summary.json", summary)
        log.info("VAE %s: %s", cfg.family, summary)
    else:
        summary = {}
    distributed.teardown(dist)
    return summary


def make_config(family: str, **overrides) -> VAETrainConfig:
    base = VAETrainConfig(family=family, out=f"runs/{family}_vae", vae=default_vae_config(family),
                          frames=17 if family == "ltx" else 9)
    for k, v in overrides.items():
        if v is None:
            continue
        if k in ("latent_channels", "spatial_compression"):
            setattr(base.vae, k, v)
        else:
            setattr(base, k, v)
    return base


def export_vae(ckpt_path: str | os.PathLike, out_dir: str | os.PathLike, *, use_ema: bool = True):
    """Write a checkpoint's (EMA) VAE in diffusers save_pretrained format; returns the module."""
    state = checkpoint.load(ckpt_path)
    vae = build_vae(VAEConfig(**state["config"]["vae"]))
    vae.load_state_dict(state["model"])
    if use_ema:
        shadow = state["ema"]["shadow"]
        vae.load_state_dict({**vae.state_dict(), **shadow})
    vae.save_pretrained(out_dir, safe_serialization=True)
    return vae

