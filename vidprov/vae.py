"""The one video-VAE wrapper: a Wan or LTX VAE as clip <-> normalised latent.

`h = load_vae("ltx")`; `z = h.encode(clip)` -> (1, C, t, h, w) normalised latents; `h.decode(z)` -> Clip;
`h.reconstruct(clip)` -> Clip of the input's shape. Clips whose frame count is not 4k+1 or whose sides are
not multiples of the VAE's spatial factor are padded (last frame repeated, edges reflected) before
encoding; reconstruct crops the padding away again. The generator trains and samples with it, the
detector's latent features and the reconstruction baseline reconstruct with it.

Latents are normalised per channel with statistics stored in the VAE itself (Wan: config
latents_mean/latents_std; LTX: the latents_mean/latents_std buffers), which is where the diffusers
pipelines read them from when decoding.

Family names ('wan', 'ltx') resolve to the folders registered with register_family; vidprov.generator
registers its shipped weights when it is imported. Any folder holding a saved VAE (or a pipeline with
a vae/ subfolder) loads without that.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vidprov.clip import Clip
from vidprov.errors import VidprovError
from vidprov.normalize import DEFAULT_FPS

VAE_CLASSES = ("AutoencoderKLWan", "AutoencoderKLLTXVideo")
_FAMILY_FOLDERS: dict[str, Path] = {}


class VAENotFoundError(VidprovError):
    """No loadable VAE under that name or folder."""


def register_family(family: str, folder: str | os.PathLike) -> None:
    """Make load_vae(family) load the VAE saved in folder (a pipeline folder or a VAE folder)."""
    _FAMILY_FOLDERS[family] = Path(folder)


def to_tensor(frames: np.ndarray, device="cpu"):
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1]."""
    import torch

    x = torch.tensor(frames, device=device)  # a copy: Clip frames are read-only views
    return x.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)


def to_uint8(x) -> np.ndarray:
    """float (B, 3, T, H, W) in [-1, 1] -> uint8 (B, T, H, W, 3)."""
    import torch

    y = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(dtype=torch.uint8)
    return y.permute(0, 2, 3, 4, 1).cpu().numpy()


def get_latent_stats(vae, family: str):
    """(mean, std) per latent channel, as CPU tensors."""
    import torch

    if family == "wan":
        return torch.tensor(vae.config.latents_mean), torch.tensor(vae.config.latents_std)
    return vae.latents_mean.detach().cpu().clone(), vae.latents_std.detach().cpu().clone()


def encode_latents(vae, family: str, x):
    """Pixels (B, 3, T, H, W) in [-1, 1] -> normalised latents (posterior mode)."""
    import torch

    with torch.no_grad():
        z = vae.encode(x.to(vae.device, vae.dtype)).latent_dist.mode()
        mean, std = get_latent_stats(vae, family)
        shape = (1, -1, 1, 1, 1)
        return (z - mean.view(shape).to(z)) / std.view(shape).to(z)


def decode_latents(vae, family: str, latents):
    """Normalised latents -> pixels (B, 3, T, H, W) in [-1, 1]."""
    import torch

    with torch.no_grad():
        mean, std = get_latent_stats(vae, family)
        shape = (1, -1, 1, 1, 1)
        z = latents.to(vae.device, vae.dtype) * std.view(shape).to(vae.device, vae.dtype) + mean.view(shape).to(vae.device, vae.dtype)
        return vae.decode(z).sample


def family_of_vae(vae) -> str:
    return "wan" if type(vae).__name__ == "AutoencoderKLWan" else "ltx"


class VAEHandle:
    """fingerprint: a hash of the weights it was loaded from (None when built in memory), so a model that
    learned from this VAE's reconstructions can tell when the VAE under it has changed."""

    def __init__(self, vae, family: str | None = None, *, fps: float = DEFAULT_FPS, fingerprint: str | None = None):
        family = family or family_of_vae(vae)
        self.vae, self.family, self.fps, self.fingerprint = vae, family, fps, fingerprint
        if family == "wan":
            self.t_factor, self.s_factor = vae.config.scale_factor_temporal, vae.config.scale_factor_spatial
        else:
            self.t_factor, self.s_factor = vae.temporal_compression_ratio, vae.spatial_compression_ratio

    @property
    def device(self):
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

    def encode(self, clip: Clip):
        x = to_tensor(self._pad(np.asarray(clip.frames))[None], self.device)
        return encode_latents(self.vae, self.family, x)

    def decode(self, latents, fps: float | None = None) -> Clip:
        if latents.ndim != 5 or latents.shape[0] != 1:
            raise ValueError(f"latents must be (1, C, t, h, w), got {tuple(latents.shape)}")
        frames = to_uint8(decode_latents(self.vae, self.family, latents))[0]
        return Clip(frames, fps=fps or self.fps, meta={"decoded_by": f"vidprov-{self.family}-vae"})

    def reconstruct(self, clip: Clip) -> Clip:
        rec = self.decode(self.encode(clip), fps=clip.fps).frames[: clip.num_frames, : clip.height, : clip.width]
        return clip.replace(frames=np.ascontiguousarray(rec), reconstructed_by=f"vidprov-{self.family}-vae")


def load_vae(family_or_path: str | os.PathLike = "ltx", device="cpu") -> VAEHandle:
    """A registered family ('wan' / 'ltx'), a pipeline folder, or a folder holding only a saved VAE."""
    from diffusers import AutoencoderKLLTXVideo, AutoencoderKLWan

    path = _FAMILY_FOLDERS.get(str(family_or_path), Path(family_or_path))
    if (path / "model_index.json").exists():
        path = path / "vae"
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        known = ", ".join(sorted(_FAMILY_FOLDERS)) or "none (import vidprov.generator to register its families)"
        raise VAENotFoundError(f"{family_or_path}: no VAE found (expected {cfg_file}); registered families: {known}")
    cls_name = json.loads(cfg_file.read_text()).get("_class_name", "")
    cls = {"AutoencoderKLWan": AutoencoderKLWan, "AutoencoderKLLTXVideo": AutoencoderKLLTXVideo}.get(cls_name)
    if cls is None:
        raise VAENotFoundError(f"{path}: unsupported VAE class {cls_name!r} (expected {' or '.join(VAE_CLASSES)})")
    vae = cls.from_pretrained(path).to(device).eval()
    return VAEHandle(vae, "wan" if cls is AutoencoderKLWan else "ltx", fingerprint=weights_fingerprint(path))


def weights_fingerprint(folder: str | os.PathLike) -> str | None:
    """sha256 (first 16 hex digits) of a saved model folder's safetensors files."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]
