"""What a latent spacetime diffusion model does, made visible on one clip it generates.

`explain(gen, prompt)` samples a clip with the model's own Euler steps and returns, from that run:
the frames, the VAE latent of the clip (with its compression factors), the grid of spacetime patches
the transformer sees as tokens, the clean clip the model predicts at chosen steps (the denoising
trajectory), and the self-attention of one chosen patch to every patch of every latent frame.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from vidprov.errors import VidprovError

_SDPA_LOCK = threading.Lock()  # the attention capture swaps a torch function for the whole process


@dataclass
class Explanation:
    frames: np.ndarray  # uint8 (T, H, W, 3), the clip the run produced
    fps: float
    latent: np.ndarray  # float32 (C, t, h, w), the VAE latent of the clip (normalised)
    compression: dict  # temporal, spatial, channels, ratio (pixel values per latent value)
    patch: tuple[int, int, int]  # (frames, rows, cols) of latent per transformer token
    token_grid: tuple[int, int, int]  # tokens along (t, h, w)
    trajectory: list[dict] = field(default_factory=list)  # {step, sigma, frames uint8 (T, H, W, 3)}
    attention_step: int = 0
    query: tuple[int, int, int] = (0, 0, 0)  # the token (t, h, w) whose attention is shown
    attention: np.ndarray | None = None  # float32 token_grid, the query's attention (sums to 1), head mean


def patch_size(gen) -> tuple[int, int, int]:
    """(t, h, w) latent cells per transformer token of a Wan or LTX transformer."""
    cfg = gen.transformer.config
    if gen.family == "wan":
        pt, ph, pw = cfg.patch_size
        return int(pt), int(ph), int(pw)
    return int(cfg.patch_size_t), int(cfg.patch_size), int(cfg.patch_size)


def token_grid(gen) -> tuple[int, int, int]:
    """Tokens along (t, h, w) the transformer sees for a clip of the generator's default size."""
    num_frames, size = int(gen.settings["num_frames"]), int(gen.settings["size"])
    _, t, h, w = gen.latent_shape(num_frames, size, size)
    pt, ph, pw = patch_size(gen)
    return t // pt, h // ph, w // pw


@contextlib.contextmanager
def capture_self_attention(n_tokens: int):
    """Record the first self-attention (query and key over n_tokens) computed inside the block:
    softmax(q k^T * scale) averaged over heads, float32 (n_tokens, n_tokens)."""
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention
    seen: dict[str, torch.Tensor] = {}

    def spy(query, key, value, *args, **kwargs):
        if "probs" not in seen and query.dim() == 4 and query.shape[-2] == key.shape[-2] == n_tokens:
            scale = kwargs.get("scale") or query.shape[-1] ** -0.5
            logits = (query[:1].float() @ key[:1].float().transpose(-1, -2)) * scale
            seen["probs"] = logits.softmax(-1).mean(1)[0]
        return original(query, key, value, *args, **kwargs)

    with _SDPA_LOCK:
        F.scaled_dot_product_attention = spy
        try:
            yield seen
        finally:
            F.scaled_dot_product_attention = original


@torch.no_grad()
def explain(gen, prompt: str, *, seed: int = 0, steps: int = 10, guidance: float = 4.0,
            show_steps: list[int] | None = None, query: tuple[int, int, int] | None = None,
            attention_step: int | None = None) -> Explanation:
    """Sample prompt with gen (a VideoGenerator of the wan or ltx family) and record what it did.

    show_steps: 0-based steps whose predicted clean clip is decoded (default: first, middle, last).
    query: the token (t, h, w) whose attention is shown (default: the centre of the first latent frame).
    attention_step: the step at which attention is recorded (default: the middle one).
    """
    if gen.family not in ("wan", "ltx"):
        raise VidprovError(f"{gen.name}: explain needs a Wan or LTX pipeline, got family {gen.family!r}")
    if steps < 1:
        raise VidprovError(f"steps must be >= 1, got {steps}")
    num_frames, size = int(gen.settings["num_frames"]), int(gen.settings["size"])
    pt, ph, pw = patch_size(gen)
    grid = token_grid(gen)
    n_tokens = int(np.prod(grid))
    show = sorted({s for s in (show_steps if show_steps is not None else [0, steps // 2, steps - 1]) if 0 <= s < steps})
    query = tuple(query) if query is not None else (0, grid[1] // 2, grid[2] // 2)
    if any(not 0 <= q < g for q, g in zip(query, grid, strict=True)):
        raise VidprovError(f"query patch {query} is outside the token grid {grid}")
    at = steps // 2 if attention_step is None else min(max(0, attention_step), steps - 1)

    scheduler = type(gen.scheduler).from_config(gen.scheduler.config)  # a private copy: set_timesteps mutates it
    scheduler.set_timesteps(steps, device="cpu")
    sigmas = scheduler.sigmas.float()
    emb, mask = gen.encode_prompt(prompt)
    cfg = guidance > 1.0
    if cfg:
        nemb, nmask = gen.encode_prompt("")
    x = gen.initial_noise(seed, num_frames, size, size).to(gen.device)
    trajectory, attention = [], None
    for i in range(steps):
        sigma = float(sigmas[i])
        capture = capture_self_attention(n_tokens) if i == at else contextlib.nullcontext({})
        with capture as seen:
            v = gen.predict_velocity(x, sigma * 1000.0, emb, mask)
        if "probs" in seen:
            flat = query[0] * grid[1] * grid[2] + query[1] * grid[2] + query[2]
            attention = seen["probs"][flat].reshape(grid).cpu().numpy().astype(np.float32)
        if cfg:
            uncond = gen.predict_velocity(x, sigma * 1000.0, nemb, nmask)
            v = uncond + guidance * (v - uncond)
        if i in show:  # flow matching: x = (1 - sigma) x0 + sigma noise, v = noise - x0
            trajectory.append({"step": i, "sigma": sigma, "frames": gen.decode_latents(x - sigma * v).frames})
        x = x + (float(sigmas[i + 1]) - sigma) * v
    clip = gen.decode_latents(x)
    latent = gen.encode_latents(clip)[0].float().cpu().numpy()
    ct, ch = clip.frames.shape[0] / latent.shape[1], clip.frames.shape[1] / latent.shape[2]
    compression = {"temporal": round(ct, 2), "spatial": round(ch, 2), "channels": int(latent.shape[0]),
                   "ratio": round(clip.frames.size / latent.size, 1)}
    return Explanation(frames=clip.frames, fps=clip.fps, latent=latent, compression=compression, patch=(pt, ph, pw),
                       token_grid=grid, trajectory=trajectory, attention_step=at, query=query, attention=attention)
