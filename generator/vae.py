"""load_vae: a family's video VAE as clip <-> normalised latent, for detectors and reconstruction baselines.

`h = load_vae("wan")`; `z = h.encode(clip)` -> (1, C, t, h, w) normalised latents; `h.decode(z)` -> Clip;
`h.reconstruct(clip)` -> Clip of the input's shape. Clips whose frame count is not 4k+1 or whose sides are
not multiples of the VAE's spatial factor are padded (last frame repeated, edges reflected) before
encoding; reconstruct crops the padding away again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vidprov.clip import Clip
from vidprov.generator import pipeline
from vidprov.generator.data import to_tensor, to_uint8
from vidprov.generator.video_generator import ModelNotFoundError, _fp32_loading, resolve_model


class VAEHandle:
    """fingerprint: a hash of the weights it was loaded from (None when built in memory), so a model that
    learned from this VAE's reconstructions can tell when the VAE under it has changed."""

    def __init__(self, vae, family: str, *, fps: float = pipeline.FPS, fingerprint: str | None = None):
        self.vae, self.family, self.fps, self.fingerprint = vae, family, fps, fingerprint
        if family == "wan":
            self.t_factor, self.s_factor = vae.config.scale_factor_temporal, vae.config.scale_factor_spatial
        else:
            self.t_factor, self.s_factor = vae.temporal_compression_ratio, vae.spatial_compression_ratio

    @property
    def device(self) -> torch.device:
        return self.vae.device

    def _pad(self, frames: np.ndarray) -> np.ndarray:
        t, h, w, _ = frames.shape
        tt = -(-(t - 1) // self.t_factor) * self.t_factor + 1
        hh, ww = -(-h // self.s_factor) * self.s_factor, -(-w // self.s_factor) * self.s_factor
        if tt > t:
            frames = np.concatenate([frames, np.repeat(frames[-1:], tt - t, axis=0)])
        if (hh, ww) != (h, w):
            frames = np.pad(frames, ((0, 0), (0, hh - h), (0, ww - w), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
        return frames

    @torch.no_grad()
    def encode(self, clip: Clip) -> torch.Tensor:
        x = to_tensor(self._pad(np.asarray(clip.frames))[None], self.device)
        return pipeline.encode_latents(self.vae, self.family, x)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, fps: float | None = None) -> Clip:
        if latents.ndim != 5 or latents.shape[0] != 1:
            raise ValueError(f"latents must be (1, C, t, h, w), got {tuple(latents.shape)}")
        frames = to_uint8(pipeline.decode_latents(self.vae, self.family, latents))[0]
        return Clip(frames, fps=fps or self.fps, meta={"decoded_by": f"vidprov-{self.family}-vae"})

    @torch.no_grad()
    def reconstruct(self, clip: Clip) -> Clip:
        rec = self.decode(self.encode(clip), fps=clip.fps).frames[: clip.num_frames, : clip.height, : clip.width]
        return clip.replace(frames=np.ascontiguousarray(rec), reconstructed_by=f"vidprov-{self.family}-vae")


def load_vae(family_or_path: str | Path = "wan", device: str | torch.device = "cpu") -> VAEHandle:
    """'wan' / 'ltx' (shipped weights), a pipeline folder, or a folder holding only a saved VAE."""
    from diffusers import AutoencoderKLLTXVideo, AutoencoderKLWan

    path = Path(family_or_path)
    if str(family_or_path) in ("wan", "ltx") or (path / "model_index.json").exists():
        path = resolve_model(family_or_path) / "vae"
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise ModelNotFoundError(f"{family_or_path}: no VAE found (expected {cfg_file})")
    import json

    cls_name = json.loads(cfg_file.read_text()).get("_class_name", "")
    cls = {"AutoencoderKLWan": AutoencoderKLWan, "AutoencoderKLLTXVideo": AutoencoderKLLTXVideo}.get(cls_name)
    if cls is None:
        raise ModelNotFoundError(f"{path}: unsupported VAE class {cls_name!r} (expected AutoencoderKLWan or AutoencoderKLLTXVideo)")
    with _fp32_loading():
        vae = cls.from_pretrained(path).to(device).eval()
    return VAEHandle(vae, "wan" if cls is AutoencoderKLWan else "ltx", fingerprint=weights_fingerprint(path))


def weights_fingerprint(folder: Path) -> str | None:
    """sha256 (first 16 hex digits) of a saved model folder's safetensors files."""
    import hashlib

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]
