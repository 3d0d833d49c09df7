"""Aligned pairs: a generated version of each real clip, made by vidprov's own VAE and transformer.

For every real clip, its normalised window (short side to `size`, centre crop, `fps`, `num_frames`) is
written as the real half of the pair, and next to it either
- `reconstruct`: the window passed through the model's VAE (encode, decode), or
- `regenerate`: SDEdit, the window's latents re-noised to flow-matching noise level `strength` (0-1) and
  denoised again by the transformer in `round(steps * strength)` Euler steps, then decoded.
Both halves go through the same H.264 writer and share the source clip's group, so what separates them
is the generator (the VAE decoder's fingerprint above all), not scene content or compression.

Layout of OUT: real/<stem>.mp4 and generated/vidprov-<family>-<mode>[-s<strength>]/<stem>.mp4, each with
a JSON sidecar, and manifest.csv (vidprov.manifest columns plus source, source_path, mode, strength,
model, checkpoint_hash, psnr_db, ssim). Resumable: a pair whose two sidecars exist is not recomputed.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vidprov.clip import Clip
from vidprov.errors import VidprovError
from vidprov.generator.generated_dataset import ClipWriter

log = logging.getLogger(__name__)

MODES = ("reconstruct", "regenerate")


class AlignedSpecError(VidprovError):
    """Bad aligned-pair arguments (unknown mode, strength outside 0-1, no real clips)."""


@dataclass(frozen=True)
class AlignedSettings:
    mode: str = "reconstruct"
    strength: float = 0.5  # regenerate only: 0 = the reconstruction, 1 = from pure noise
    model: str = "ltx"
    size: int = 256
    num_frames: int = 17  # 4k+1: the VAEs' native clip length
    fps: float = 8.0
    steps: int = 20  # regenerate: Euler steps over the full 0-1 range; strength s runs round(steps * s)
    seed: int = 0  # clip i's noise uses seed + i

    def __post_init__(self):
        if self.mode not in MODES:
            raise AlignedSpecError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0.0 <= self.strength <= 1.0:
            raise AlignedSpecError(f"--strength must be between 0 and 1, got {self.strength}")
        if self.size < 16 or self.num_frames < 1 or self.steps < 1:
            raise AlignedSpecError(f"size, num_frames and steps must be positive (size >= 16), got {self}")

    @property
    def generator_name(self) -> str:
        family = Path(self.model).name if self.model not in ("wan", "ltx") else self.model
        suffix = f"-s{self.strength:g}" if self.mode == "regenerate" else ""
        return f"vidprov-{family}-{self.mode}{suffix}"


def real_sources(source: str | os.PathLike, limit: int | None = None):
    """The real rows of a manifest file, or of a folder (its MANIFEST.csv / manifest.csv, else real/ files)."""
    from vidprov.manifest import Manifest

    path = Path(source)
    if path.is_dir():
        found = [path / n for n in ("MANIFEST.csv", "manifest.csv") if (path / n).is_file()]
        manifest = Manifest.read(found[0]) if found else Manifest.from_folder(path)
    else:
        manifest = Manifest.read(path)
    real = manifest.where(label="real")
    if len(real) == 0:
        raise AlignedSpecError(f"{source}: no real clips in it")
    if limit is not None:
        if limit < 1:
            raise AlignedSpecError(f"--limit must be >= 1, got {limit}")
        real = type(real)(real.df.head(limit), root=real.root)
    return real


def _stem(index: int, path: str) -> str:
    # Source names come from anywhere: keep them readable but never a path or shell surprise.
    return f"{index:05d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', Path(path).stem)[:60]}"


def source_window(path: Path, s: AlignedSettings) -> Clip:
    from vidprov.io import read_video
    from vidprov.normalize import normalize

    # decoded at the window's short side: normalize resizes to it anyway, and 1080p sources stay within the decode limits
    clip = read_video(path, max_frames=int(s.num_frames / s.fps * 60) + 60, size=s.size)
    return normalize(clip, size=s.size, fps=s.fps, num_frames=s.num_frames, crf=None)


@torch.no_grad()
def regenerate(gen, clip: Clip, s: AlignedSettings, prompt: str = "", seed: int = 0) -> np.ndarray:
    """uint8 frames of `clip`'s VAE reconstruction (strength 0) or its SDEdit regeneration from `seed`'s noise."""
    z0 = gen.encode_latents(clip).float()
    n_steps = round(s.steps * s.strength) if s.mode == "regenerate" else 0
    x = z0
    if n_steps:
        noise = torch.randn(z0.shape, generator=torch.Generator("cpu").manual_seed(seed)).to(z0)
        # Flow matching: x_sigma = (1 - sigma) x0 + sigma noise; the model predicts noise - x0.
        sigmas = torch.linspace(s.strength, 0.0, n_steps + 1)
        x = (1 - sigmas[0]) * z0 + sigmas[0] * noise
        emb, mask = gen.encode_prompt(prompt)
        for sigma, nxt in zip(sigmas[:-1], sigmas[1:], strict=True):
            x = x + (nxt - sigma) * gen.predict_velocity(x, sigma * 1000, emb, mask)
    frames = gen.decode_latents(x, fps=clip.fps).frames
    return np.ascontiguousarray(frames[: clip.num_frames, : clip.height, : clip.width])


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, mean SSIM over frames) of two uint8 (T, H, W, 3) clips."""
    from skimage.metrics import structural_similarity

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    ssim = float(np.mean([structural_similarity(x, y, channel_axis=2) for x, y in zip(a, b, strict=True)]))
    return psnr, ssim


def make_pairs(out: str | os.PathLike, sources, s: AlignedSettings, *, write_clip: ClipWriter,
               device: str | None = None, captions: dict[str, str] | None = None, progress: bool = True):
    """Write the pairs for every real row of `sources` (a Manifest) into OUT; returns OUT's Manifest.
    write_clip(clip, mp4) writes a clip and its JSON sidecar (vidprov.provenance.write_clip, unmarked
    and unsigned here) and returns the sidecar."""
    from tqdm import tqdm

    from vidprov.generator.video_generator import load

    out = Path(out)
    gen = None
    captions = captions or {}
    rows = []
    for i, row in enumerate(tqdm(list(sources), desc=f"{s.generator_name} pairs", unit="clip", disable=not progress)):
        stem = _stem(i, row["path"])
        real_mp4 = out / "real" / f"{stem}.mp4"
        gen_mp4 = out / "generated" / s.generator_name / f"{stem}.mp4"
        if real_mp4.with_suffix(".json").exists() and gen_mp4.with_suffix(".json").exists() and gen_mp4.exists():
            meta = json.loads(gen_mp4.with_suffix(".json").read_text())
        else:
            gen = gen or load(s.model, device=device)
            window = source_window(sources.abspath(row), s)
            prompt = captions.get(row["group"], "")
            frames = regenerate(gen, window, s, prompt, seed=s.seed + i)
            psnr, ssim = similarity(window.frames, frames)
            fake = Clip(frames, fps=window.fps, meta={
                "label": "generated", "generator": s.generator_name, "model": gen.name, "family": gen.family,
                "checkpoint_hash": gen.checkpoint_hash, "mode": s.mode, "strength": s.strength if s.mode == "regenerate" else 0.0,
                "steps": round(s.steps * s.strength) if s.mode == "regenerate" else 0, "seed": s.seed + i, "prompt": prompt,
                "source": str(real_mp4.relative_to(out)), "psnr_db": psnr, "ssim": ssim})
            write_clip(window.replace(group=row["group"], label="real"), real_mp4)
            meta = write_clip(fake.replace(group=row["group"]), gen_mp4)
        common = {"group": row["group"], "source_path": str(Path(sources.abspath(row)).resolve())}
        rows.append({"path": str(real_mp4.relative_to(out)), "label": "real", "generator": "", **common,
                     "source": "", "mode": "", "strength": None, "model": "", "checkpoint_hash": "",
                     "psnr_db": None, "ssim": None})
        rows.append({"path": str(gen_mp4.relative_to(out)), "label": "generated", "generator": s.generator_name,
                     **common, "source": meta["source"], "mode": meta["mode"], "strength": meta["strength"],
                     "model": meta["model"], "checkpoint_hash": meta["checkpoint_hash"],
                     "psnr_db": meta["psnr_db"], "ssim": meta["ssim"]})
    manifest = _merge(out, rows)
    manifest.write(out / "manifest.csv")
    return manifest


def _merge(out: Path, rows: list[dict]):
    """This run's rows over those of earlier runs into the same folder (other modes or strengths)."""
    from vidprov.manifest import Manifest

    new = pd.DataFrame(rows)
    old_file = out / "manifest.csv"
    if old_file.exists():
        old = Manifest.read(old_file).df
        new = pd.concat([old[~old["path"].isin(new["path"])], new], ignore_index=True)
    return Manifest(new[[c for c in new.columns if c != "source_format"]], root=out)
