"""Train a family's text-conditioned transformer by flow matching on cached, normalised VAE latents.

The VAE encoder is frozen from here on (its decoder may keep fine-tuning: that leaves the latent space
alone). Latents of random spacetime crops of the real training clips, and of their mirror images, are
encoded once; per-channel mean/std over them normalise the latents and travel with the VAE. The tiny
T5 text encoder trains jointly with the transformer; 10% of captions are replaced by the empty prompt,
which is the learned null prompt classifier-free guidance contrasts with at sampling time.

Flow matching (rectified flow, as Wan/LTX/SD3): x_s = (1 - s) x0 + s n, target v = n - x0, with s drawn
logit-normally and passed to the transformer as timestep 1000 s (the scale both models expect).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vidprov.atomic import atomic_write_json
from vidprov.generator import checkpoint, distributed, pipeline
from vidprov.generator.models import (
    DiTConfig,
    TextConfig,
    VAEConfig,
    build_transformer,
    build_vae,
    check_family,
)
from vidprov.generator.text import build_text_encoder, build_tokenizer
from vidprov.generator.train_vae import load_manifest
from vidprov.generator.training_data import CacheConfig, CropSampler, build_cache, load_captions
from vidprov.vae import get_latent_stats, to_tensor

log = logging.getLogger(__name__)

SAMPLE_PROMPTS = ["cars on a road from a static traffic camera", "a person signing with their hands",
                  "a white cockatoo bird moving its head", "people riding bikes on a street"]


@dataclass
class DiTTrainConfig:
    family: str = "wan"
    out: str = "runs/wan_dit"
    vae_ckpt: str = "runs/wan_vae/ckpt.pt"  # a train_vae checkpoint (EMA weights are used) ...
    vae_dir: str | None = None  # ... or a saved diffusers VAE folder
    data: str | None = None
    cache_dir: str = "runs/frame_cache"
    size: int = 64
    frames: int = 17
    windows_per_clip: int = 6
    crops_per_window: int = 2
    batch_size: int = 16
    lr: float = 3e-4
    warmup: int = 100
    steps: int = 100_000
    minutes: float | None = None
    ckpt_every_s: float = 300.0
    eval_every: int = 250
    caption_dropout: float = 0.1
    ema_decay: float = 0.999
    seed: int = 0
    threads: int | None = None
    device: str | None = None
    init_from: str | None = None  # a saved pipeline folder (generator/weights/<family>) to continue from
    dit: DiTConfig | None = None
    text: TextConfig | None = None


def default_dit_config(family: str, vae=None) -> DiTConfig:
    if check_family(family) == "wan":
        # Patches cover 16x16 pixels whatever the VAE's compression, so a 64-px clip is always 5x4x4 = 80
        # tokens: 1x2x2 on the 8x VAE's 8x8 latent, 1x4x4 on the 4x VAE's 16x16 one.
        sc = int(vae.config.scale_factor_spatial) if vae is not None else 8
        p = max(1, 16 // sc)
        # 5 layers: with both guidance branches batched, 20 steps + decode fit the
        # 0.5 s-per-clip budget on 2 CPU cores.
        return DiTConfig(family="wan", num_layers=5, num_heads=6, head_dim=32, ffn_mult=4, text_dim=128, patch_size=(1, p, p))
    # LTX sees 4x more tokens (patch 1 on the 8x8 latent): fewer, narrower layers for a similar cost
    # (4 layers; 5 took 0.525 s per clip, just over the budget).
    return DiTConfig(family="ltx", num_layers=4, num_heads=4, head_dim=32, ffn_mult=4, text_dim=128)


def configs_of(family: str, transformer, text_encoder, tokenizer) -> tuple[DiTConfig, TextConfig]:
    """Configs that rebuild loaded modules (so checkpoints of continued runs describe what they hold)."""
    c, t = transformer.config, text_encoder.config
    heads, dim = c.num_attention_heads, c.attention_head_dim
    if family == "wan":
        dit = DiTConfig(family="wan", num_layers=c.num_layers, num_heads=heads, head_dim=dim,
                        ffn_mult=c.ffn_dim // (heads * dim), text_dim=c.text_dim, patch_size=tuple(c.patch_size))
    else:
        dit = DiTConfig(family="ltx", num_layers=c.num_layers, num_heads=heads, head_dim=dim, text_dim=c.caption_channels)
    text = TextConfig(vocab_size=t.vocab_size, d_model=t.d_model, num_layers=t.num_layers, num_heads=t.num_heads,
                      d_ff=t.d_ff, max_length=tokenizer.model_max_length)
    return dit, text


def load_vae(cfg: DiTTrainConfig):
    vae_dir = cfg.vae_dir or (str(Path(cfg.init_from) / "vae") if cfg.init_from else None)
    if vae_dir:
        from diffusers import AutoencoderKLLTXVideo, AutoencoderKLWan

        cls = AutoencoderKLWan if cfg.family == "wan" else AutoencoderKLLTXVideo
        return cls.from_pretrained(vae_dir).float()
    state = checkpoint.load(cfg.vae_ckpt)
    if state is None:
        raise FileNotFoundError(f"no VAE checkpoint at {cfg.vae_ckpt}")
    vae = build_vae(VAEConfig(**state["config"]["vae"]))
    vae.load_state_dict({**state["model"], **state["ema"]["shadow"]})
    return vae


@torch.no_grad()
def build_latent_cache(cfg: DiTTrainConfig, vae, path: Path) -> dict:
    """Encode crops (+ mirrored copies) of train clips, and crops of held-out clips; resumable by file."""
    from tqdm import tqdm

    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=False)
    clips = build_cache(load_manifest(cfg.data), cfg.cache_dir, CacheConfig(seed=cfg.seed))
    rng = np.random.default_rng(cfg.seed)
    items: dict[str, list] = {"train": [], "heldout": []}
    for i, c in enumerate(clips):
        split = "train" if c.split == "train" else "heldout"
        s = CropSampler([c], frames=cfg.frames, size=cfg.size, flip=False)
        n_win = cfg.windows_per_clip if split == "train" else 1
        for _ in range(n_win * cfg.crops_per_window):
            crop = s.crop(0, rng)
            items[split].append((crop, c.caption, i))
            if split == "train":
                items[split].append((np.ascontiguousarray(crop[:, :, ::-1]), c.caption, i))
    out: dict = {}
    vae.eval()
    for split, rows in items.items():
        lat = []
        for j in tqdm(range(0, len(rows), 8), desc=f"encoding {split} latents"):
            x = to_tensor(np.stack([r[0] for r in rows[j : j + 8]]))
            lat.append(vae.encode(x).latent_dist.mode().float())
        out[split] = {"latents": torch.cat(lat), "captions": [r[1] for r in rows], "clip": [r[2] for r in rows]}
    z = out["train"]["latents"]
    out["mean"] = z.mean(dim=(0, 2, 3, 4))
    out["std"] = z.std(dim=(0, 2, 3, 4)).clamp_min(1e-4)
    torch.save(out, path)
    return out


class TextToVelocity(torch.nn.Module):
    """Text encoder + transformer in one forward, for DDP."""

    def __init__(self, pipe):
        super().__init__()
        self.text_encoder, self.transformer = pipe.text_encoder, pipe.transformer
        self.pipe = [pipe]  # a list, so the pipeline is not registered as a submodule twice

    def forward(self, xt, timestep, prompts):
        pipe = self.pipe[0]
        emb, mask = pipeline.encode_prompt(pipe, prompts, device=xt.device)
        return pipeline.predict_velocity(pipe, xt, timestep, emb, mask)


def _flow_batch(x0: torch.Tensor, gen: torch.Generator):
    b = x0.shape[0]
    s = torch.sigmoid(torch.randn(b, generator=gen, device=x0.device))  # logit-normal(0, 1)
    noise = torch.randn(x0.shape, generator=gen, device=x0.device, dtype=x0.dtype)
    sv = s.view(b, 1, 1, 1, 1)
    return (1 - sv) * x0 + sv * noise, noise - x0, s * 1000.0


def train_dit(cfg: DiTTrainConfig) -> dict:
    from tqdm import tqdm

    from vidprov.generator.viz import save_curves, save_grid

    dist, out, state = checkpoint.start_run(cfg)
    if state is not None:
        cfg.dit, cfg.text = DiTConfig(**state["config"]["dit"]), TextConfig(**state["config"]["text"])
        cfg.dit.patch_size = tuple(cfg.dit.patch_size)
    torch.manual_seed(cfg.seed)
    vae = load_vae(cfg).to(dist.device)
    cfg.dit = cfg.dit or default_dit_config(cfg.family, vae)
    cfg.text = cfg.text or TextConfig()
    vae.requires_grad_(False)
    if dist.main:
        cache = build_latent_cache(cfg, vae, out / "latents.pt")
    distributed.barrier(dist)
    cache = torch.load(out / "latents.pt", map_location="cpu", weights_only=False)
    if cfg.init_from:
        # Continuing a shipped model: keep the normalisation its transformer was trained with (and record
        # it in the cache, which is where export reads it from).
        cache["mean"], cache["std"] = get_latent_stats(vae, cfg.family)
        if dist.main:
            torch.save(cache, out / "latents.pt")
    pipeline.set_latent_stats(vae, cfg.family, cache["mean"], cache["std"])
    norm = lambda z: (z - cache["mean"].view(1, -1, 1, 1, 1)) / cache["std"].view(1, -1, 1, 1, 1)  # noqa: E731
    train_z, held_z = norm(cache["train"]["latents"]), norm(cache["heldout"]["latents"])
    train_caps, held_caps = cache["train"]["captions"], cache["heldout"]["captions"]
    # Group-balanced sampling (captions stand for source groups): 20 sign-language clips of one signer
    # would otherwise be a third of what the model sees.
    counts = {c: train_caps.count(c) for c in set(train_caps)}
    weights = np.array([1.0 / counts[c] for c in train_caps])
    weights /= weights.sum()

    if cfg.init_from and state is None:
        from diffusers import DiffusionPipeline

        from vidprov.generator.video_generator import quiet_text_encoder_type_check

        with quiet_text_encoder_type_check():  # shipped weights are float16 on disk; train in float32
            loaded = DiffusionPipeline.from_pretrained(cfg.init_from, dtype=torch.float32)
        tokenizer, text_encoder, transformer = loaded.tokenizer, loaded.text_encoder, loaded.transformer
        cfg.dit, cfg.text = configs_of(cfg.family, transformer, text_encoder, tokenizer)
    else:
        tokenizer = build_tokenizer(load_captions().values(), max_length=cfg.text.max_length)
        text_encoder = build_text_encoder(len(tokenizer), cfg.text.d_model, cfg.text.num_layers, cfg.text.num_heads,
                                          cfg.text.d_ff)
        transformer = build_transformer(cfg.dit, latent_channels=train_z.shape[1])
    pipe = pipeline.assemble(cfg.family, vae=vae, transformer=transformer, text_encoder=text_encoder,
                             tokenizer=tokenizer)
    pipe.to(dist.device)
    flow = TextToVelocity(pipe)
    params = [p for p in flow.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.01)
    ema = checkpoint.EMA(flow, cfg.ema_decay)
    step, cpu_s, history = 0, 0.0, {"train": [], "heldout": []}
    if state is not None:
        step, cpu_s, history = checkpoint.restore(state, flow, ema, opt)
        log.info("resumed at step %d", step)
    model = distributed.wrap(flow, dist)
    gen = torch.Generator(dist.device).manual_seed(cfg.seed * 7919 + dist.rank * 131 + step)
    rng = np.random.default_rng(cfg.seed * 1000 + dist.rank + step)

    def save_ckpt():
        checkpoint.save(out / "ckpt.pt", {
            "config": asdict(cfg), "model": flow.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
            "step": step, "cpu_s": clock.cpu_s, "history": history, "tokenizer_vocab": tokenizer.get_vocab(),
        })

    @torch.no_grad()
    def evaluate() -> float:
        live = {k: v.clone() for k, v in flow.state_dict().items()}
        ema.copy_to(flow)
        flow.eval()
        g = torch.Generator(dist.device).manual_seed(1234)
        losses = []
        for j in range(0, len(held_z), 16):
            x0 = held_z[j : j + 16].to(dist.device)
            xt, v, t = _flow_batch(x0, g)
            pred = flow(xt, t, held_caps[j : j + 16])
            losses.append(float(((pred - v) ** 2).mean()) * len(x0))
        value = sum(losses) / len(held_z)
        history["heldout"].append((step, value))
        kw = {"frame_rate": int(pipeline.FPS)} if cfg.family == "ltx" else {}
        clips = []
        for k, prompt in enumerate(SAMPLE_PROMPTS):
            vid = pipe(prompt=prompt, negative_prompt="", height=cfg.size, width=cfg.size, num_frames=cfg.frames,
                       num_inference_steps=20, guidance_scale=4.0, output_type="np", max_sequence_length=cfg.text.max_length,
                       generator=torch.Generator(dist.device).manual_seed(k), **kw).frames[0]
            clips.append((np.asarray(vid) * 255).round().clip(0, 255).astype(np.uint8))
        save_grid(out / "samples.png", clips, scale=2)
        save_curves(out / "loss.png", history, title=f"{cfg.family} transformer (flow matching)")
        flow.load_state_dict(live)
        flow.train()
        return value

    pipe.set_progress_bar_config(disable=True)
    t0, clock = time.time(), checkpoint.SaveClock(cfg.ckpt_every_s, cpu_s)
    bar = tqdm(total=cfg.steps, initial=step, desc=f"{cfg.family} transformer", disable=not dist.main, dynamic_ncols=True)
    last_held = history["heldout"][-1][1] if history["heldout"] else float("nan")
    flow.train()
    stop = checkpoint.StopFlag()
    while step < cfg.steps and not stop:
        if cfg.minutes is not None and time.time() - t0 > cfg.minutes * 60:
            break
        for g_ in opt.param_groups:
            g_["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup)
        idx = rng.choice(len(train_z), cfg.batch_size, p=weights)
        x0 = train_z[idx].to(dist.device)
        prompts = ["" if rng.random() < cfg.caption_dropout else train_caps[i] for i in idx]
        xt, v, t = _flow_batch(x0, gen)
        loss = ((model(xt, t, prompts) - v) ** 2).mean()
        checkpoint.optimise(loss, opt, params, ema, flow)
        step += 1
        history["train"].append((step, loss.item()))
        if dist.main and step % cfg.eval_every == 0:
            last_held = evaluate()
        bar.set_postfix(loss=f"{loss.item():.4f}", heldout=f"{last_held:.4f}")
        bar.update(1)
        if dist.main:
            clock.save_if_due(save_ckpt)
    bar.close()
    cpu_s = clock.count()
    summary = {}
    if dist.main:
        last_held = evaluate()
        save_ckpt()
        summary = {"family": cfg.family, "step": step, "cpu_s": cpu_s, "heldout_flow_loss": last_held,
                   "final_train_loss": float(np.mean([v for _, v in history["train"][-100:]])) if history["train"] else None}
        atomic_write_json(out / "summary.json", summary)
        log.info("transformer %s: %s", cfg.family, summary)
    distributed.teardown(dist)
    return summary


def make_config(family: str, **overrides) -> DiTTrainConfig:
    base = DiTTrainConfig(family=family, out=f"runs/{family}_dit", vae_ckpt=f"runs/{family}_vae/ckpt.pt")
    for k, v in overrides.items():
        if v is not None:
            setattr(base, k, v)
    return base
