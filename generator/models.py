"""Model configurations of the two generator families and the diffusers modules they build.

Family `wan`: AutoencoderKLWan (causal 3D VAE, 4x time, 8x8 space) + WanTransformer3DModel.
Family `ltx`: AutoencoderKLLTXVideo (patchified high-compression VAE) + LTXVideoTransformer3DModel.
Both VAEs map 17 x 64 x 64 RGB to a 16 x 5 x 8 x 8 latent, so the transformers see 80 spacetime
tokens (Wan patchifies 1x2x2 -> 5x4x4 = 80; LTX patch 1 at 8x8 latent -> 320: see `LTX_DIT`).
Sizes follow the measured trials in issue 3: small enough to train on a 2-core CPU in hours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from vidprov.errors import VidprovError

FAMILIES = ("wan", "ltx")


class UnknownFamilyError(VidprovError):
    """A model family name that is neither 'wan' nor 'ltx'."""


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise UnknownFamilyError(f"unknown generator family {family!r}; expected one of {', '.join(FAMILIES)}")
    return family


@dataclass
class VAEConfig:
    family: str = "ltx"
    latent_channels: int = 16
    # ltx: encoder/decoder block widths; wan: base_dim is channels[0]
    channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    patch_size: int = 2
    # wan only: 8 (Wan2.1's 8x8) or 4 (one spatial stage fewer: a 16x16 latent at 64 px, ~4x more
    # information per frame, which is what lifts held-out PSNR past the 8x VAEs' ~23.5 dB plateau)
    spatial_compression: int = 8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiTConfig:
    family: str = "ltx"
    num_layers: int = 6
    num_heads: int = 4
    head_dim: int = 32
    ffn_mult: int = 4
    text_dim: int = 128  # width of the tiny text encoder's output
    patch_size: tuple[int, int, int] = (1, 2, 2)  # wan only; ltx uses patch 1 on the 8x8 latent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TextConfig:
    vocab_size: int = 512
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    d_ff: int = 256
    max_length: int = 16
    extra: dict = field(default_factory=dict)


def build_vae(cfg: VAEConfig):
    check_family(cfg.family)
    if cfg.latent_channels < 1:
        raise VidprovError(f"VAE latent_channels must be >= 1, got {cfg.latent_channels}")
    if cfg.family == "ltx":
        from diffusers import AutoencoderKLLTXVideo

        n = len(cfg.channels)
        lpb = (cfg.layers_per_block,) * (n + 1)
        # Two scaling blocks (2x2x2 each) after a 2x2 patchify: 8x8 space, 4x time.
        scaling = tuple(i < 2 for i in range(n))
        return AutoencoderKLLTXVideo(
            latent_channels=cfg.latent_channels, block_out_channels=tuple(cfg.channels),
            decoder_block_out_channels=tuple(cfg.channels), down_block_types=("LTXVideoDownBlock3D",) * n,
            layers_per_block=lpb, decoder_layers_per_block=lpb, spatio_temporal_scaling=scaling,
            decoder_spatio_temporal_scaling=scaling, decoder_inject_noise=(False,) * (n + 1),
            upsample_residual=(False,) * n, upsample_factor=(1,) * n, downsample_type=("conv",) * n,
            patch_size=cfg.patch_size, patch_size_t=1,
        )
    from diffusers import AutoencoderKLWan

    c = cfg.latent_channels
    if cfg.spatial_compression not in (4, 8):
        raise VidprovError(f"wan VAE spatial_compression must be 4 or 8, got {cfg.spatial_compression}")
    # Each stage halves space; the last two also halve time (causal: 4k+1 frames -> k+1).
    stages = 3 if cfg.spatial_compression == 8 else 2
    return AutoencoderKLWan(base_dim=cfg.channels[0], z_dim=c, num_res_blocks=cfg.layers_per_block + 1,
                            dim_mult=[1, 2, 4, 4][: stages + 1], temperal_downsample=[False, True, True][-stages:],
                            scale_factor_spatial=cfg.spatial_compression,
                            latents_mean=[0.0] * c, latents_std=[1.0] * c)


def build_transformer(cfg: DiTConfig, latent_channels: int = 16):
    check_family(cfg.family)
    inner = cfg.num_heads * cfg.head_dim
    if cfg.family == "wan":
        from diffusers import WanTransformer3DModel

        return WanTransformer3DModel(
            patch_size=tuple(cfg.patch_size), num_attention_heads=cfg.num_heads, attention_head_dim=cfg.head_dim,
            in_channels=latent_channels, out_channels=latent_channels, text_dim=cfg.text_dim, freq_dim=64,
            ffn_dim=inner * cfg.ffn_mult, num_layers=cfg.num_layers, rope_max_seq_len=64,
        )
    from diffusers import LTXVideoTransformer3DModel

    return LTXVideoTransformer3DModel(
        in_channels=latent_channels, out_channels=latent_channels, patch_size=1, patch_size_t=1,
        num_attention_heads=cfg.num_heads, attention_head_dim=cfg.head_dim, cross_attention_dim=inner,
        num_layers=cfg.num_layers, caption_channels=cfg.text_dim,
    )


def default_vae_config(family: str) -> VAEConfig:
    if check_family(family) == "ltx":
        return VAEConfig(family="ltx", channels=(32, 64, 128), layers_per_block=1, patch_size=2)
    return VAEConfig(family="wan", channels=(16,), layers_per_block=1)
