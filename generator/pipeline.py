"""Family glue around diffusers' WanPipeline and LTXPipeline.

Training, sampling and latent inversion (Tree-Ring style watermark detection) must see exactly the
same prompt encoding, latent layout and timestep scale, so they all go through the helpers here:
`encode_prompt` (tokens -> embeddings + mask), `predict_velocity` (flow-matching velocity of a
normalised latent (B, C, t, h, w) at a timestep on the 0-1000 scale), and `assemble` (modules ->
diffusers pipeline, saved and loaded with save_pretrained/from_pretrained).

Latents are normalised per channel with statistics stored in the VAE itself (set_latent_stats here;
vidprov.vae reads them, and encodes and decodes), which is where the diffusers pipelines read them from
when decoding.
"""

from __future__ import annotations

import torch

FPS = 8.0  # training clips are sampled at 8 fps; LTX's RoPE time scale depends on it
MAX_TOKENS = 16  # prompt length (tokens) of the tiny text encoder


def family_of(pipe) -> str:
    name = type(pipe).__name__
    if name.startswith("Wan"):
        return "wan"
    if name.startswith("LTX"):
        return "ltx"
    return name


def make_scheduler(shift: float = 1.0):
    from diffusers import FlowMatchEulerDiscreteScheduler

    # 80-token latents are far below the sequence lengths that motivate a timestep shift.
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift, use_dynamic_shifting=False)


def assemble(family: str, *, vae, transformer, text_encoder, tokenizer, scheduler=None):
    from diffusers import LTXPipeline, WanPipeline

    cls = WanPipeline if family == "wan" else LTXPipeline
    return cls(tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae,
               scheduler=scheduler or make_scheduler())


def encode_prompt(pipe, prompts: list[str], *, device=None, max_tokens: int = MAX_TOKENS):
    """-> (embeddings (B, L, D), attention mask (B, L) bool). Differentiable (used in training)."""
    device = device or pipe.text_encoder.device
    kw = {"do_classifier_free_guidance": False, "max_sequence_length": max_tokens, "device": device}
    if family_of(pipe) == "ltx":
        emb, mask, _, _ = pipe.encode_prompt(prompts, **kw)
        return emb, mask
    emb, _ = pipe.encode_prompt(prompts, **kw)
    # Wan zeroes the padded positions itself and attends to all of them; the mask is informational.
    mask = emb.abs().sum(-1) > 0
    return emb, mask


def latent_shape(pipe, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(C, t, h, w) of the normalised latent for a clip of that size."""
    vae = pipe.vae
    if family_of(pipe) == "wan":
        ts, ss, c = vae.config.scale_factor_temporal, vae.config.scale_factor_spatial, vae.config.z_dim
    else:
        ts, ss, c = vae.temporal_compression_ratio, vae.spatial_compression_ratio, vae.config.latent_channels
    return c, (num_frames - 1) // ts + 1, height // ss, width // ss


def predict_velocity(pipe, latents: torch.Tensor, timestep: torch.Tensor, emb: torch.Tensor, mask: torch.Tensor,
                     fps: float = FPS) -> torch.Tensor:
    """Velocity (noise - data) predicted for latents (B, C, t, h, w) at timestep (B,) in [0, 1000]."""
    tr = pipe.transformer
    if family_of(pipe) == "wan":
        return tr(hidden_states=latents, timestep=timestep, encoder_hidden_states=emb, return_dict=False)[0]
    b, c, t, h, w = latents.shape
    p, pt = tr.config.patch_size, tr.config.patch_size_t
    packed = pack_ltx_latents(latents, p, pt)
    rope = (pipe.vae_temporal_compression_ratio / fps, pipe.vae_spatial_compression_ratio,
            pipe.vae_spatial_compression_ratio)
    out = tr(hidden_states=packed, encoder_hidden_states=emb, timestep=timestep, encoder_attention_mask=mask,
             num_frames=t, height=h, width=w, rope_interpolation_scale=rope, return_dict=False)[0]
    return unpack_ltx_latents(out, t, h, w, p, pt)


def pack_ltx_latents(latents: torch.Tensor, p: int = 1, pt: int = 1) -> torch.Tensor:
    """(B, C, F, H, W) -> the LTX transformer's tokens (B, F/pt * H/p * W/p, C * pt * p * p)."""
    b, c, f, h, w = latents.shape
    x = latents.reshape(b, c, f // pt, pt, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).flatten(4, 7).flatten(1, 3)


def unpack_ltx_latents(tokens: torch.Tensor, f: int, h: int, w: int, p: int = 1, pt: int = 1) -> torch.Tensor:
    """The inverse of pack_ltx_latents, for a latent of f x h x w patches: (B, C, f * pt, h * p, w * p)."""
    x = tokens.reshape(tokens.size(0), f, h, w, -1, pt, p, p)
    return x.permute(0, 4, 1, 5, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(2, 3)


def set_latent_stats(vae, family: str, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Store per-channel latent statistics where the diffusers pipelines read them."""
    if family == "wan":
        vae.register_to_config(latents_mean=[float(v) for v in mean], latents_std=[float(v) for v in std])
    else:
        vae.latents_mean.copy_(mean)
        vae.latents_std.copy_(std)
