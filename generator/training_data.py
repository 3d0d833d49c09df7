"""Real training clips for the generator: a decoded-frame cache and random spacetime crops.

Decoding 1080p sources on every step would dominate a 2-core training run, so each real clip is
decoded once at a low frame rate and a small short side, and stored as uint8 in runs/ (git-ignored).
Crops are drawn group-balanced, because one source group (20 sign-language clips of one signer)
would otherwise dominate what the model sees.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidprov.cache import key, load_arrays, save_arrays
from vidprov.errors import VidprovError
from vidprov.manifest import Manifest

log = logging.getLogger(__name__)

CAPTIONS_FILE = Path(__file__).with_name("captions.json")


class TrainingDataError(VidprovError):
    """The training data cannot be used (no clips, unreadable cache, ...)."""


@dataclass(frozen=True)
class CacheConfig:
    fps: float = 8.0  # matches vidprov.normalize's default, so generated clips play at the same rate
    short_side: int = 72  # crops of 64 px keep most of the scene, with a little jitter
    max_frames: int = 96
    holdout_fraction: float = 0.15
    seed: int = 0


def load_captions(path: str | os.PathLike | None = None) -> dict[str, str]:
    """group -> caption, derived by hand from MANIFEST.csv's group and notes (see captions.json)."""
    data = json.loads(Path(path or CAPTIONS_FILE).read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def caption_for(group: str, captions: dict[str, str]) -> str:
    return captions.get(group, "a video")


def _decode(path: Path, cfg: CacheConfig) -> np.ndarray:
    from vidprov.io import probe, read_video

    info = probe(path)
    stride = max(1, int(round(info.fps / cfg.fps))) if info.fps > 0 else 1
    clip = read_video(path, stride=stride, size=cfg.short_side, max_frames=cfg.max_frames)
    return clip.frames


@dataclass
class CachedClip:
    path: str
    group: str
    caption: str
    split: str
    frames: np.ndarray  # uint8 (T, H, W, 3)


def build_cache(manifest: Manifest, cache_dir: str | os.PathLike, cfg: CacheConfig = CacheConfig(),
                captions: dict[str, str] | None = None) -> list[CachedClip]:
    """Decode every real clip of the manifest once (resumable: finished clips are reused)."""
    from tqdm import tqdm

    real = manifest.where(label="real")
    if len(real) == 0:
        raise TrainingDataError("the manifest holds no clips labelled 'real' to train on")
    split = real.group_split(test_size=cfg.holdout_fraction, seed=cfg.seed)
    captions = load_captions() if captions is None else captions
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cfg_key = key(asdict(cfg))
    out: list[CachedClip] = []
    for row in tqdm(list(split), desc="decoding real clips", unit="clip"):
        src = split.abspath(row)
        f = cache_dir / f"{key(str(src))}-{cfg_key}.npz"
        saved = load_arrays(f)
        if saved is None:
            try:
                saved = {"frames": _decode(src, cfg)}
            except VidprovError as exc:
                log.warning("skipping %s: %s", src, exc)
                continue
            save_arrays(f, **saved)
        frames = saved["frames"]
        group = str(row["group"])
        out.append(CachedClip(str(src), group, caption_for(group, captions), str(row["split"]), frames))
    if not out:
        raise TrainingDataError("no real clip could be decoded")
    return out


def _reflect_indices(n: int, length: int, start: int) -> np.ndarray:
    idx = start + np.arange(length)
    if n == 1:
        return np.zeros(length, np.int64)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m < n, m, period - m)


class CropSampler:
    """Random spacetime crops (B, T, S, S, 3) uint8 with random horizontal flips, group-balanced."""

    def __init__(self, clips: list[CachedClip], *, frames: int, size: int, seed: int = 0, flip: bool = True):
        if not clips:
            raise TrainingDataError("no clips to sample crops from")
        self.clips, self.frames, self.size, self.flip = clips, frames, size, flip
        self.rng = np.random.default_rng(seed)
        groups: dict[str, list[int]] = {}
        for i, c in enumerate(clips):
            groups.setdefault(c.group, []).append(i)
        self.groups = list(groups.values())

    def crop(self, i: int, rng: np.random.Generator) -> np.ndarray:
        fr = self.clips[i].frames
        n, h, w, _ = fr.shape
        start = int(rng.integers(0, max(1, n - self.frames + 1)))
        t = _reflect_indices(n, self.frames, start)
        s = self.size
        if min(h, w) < s:
            import cv2

            scale = s / min(h, w)
            fr = np.stack([cv2.resize(x, (max(s, round(w * scale)), max(s, round(h * scale)))) for x in fr[t]])
            t = np.arange(self.frames)
            h, w = fr.shape[1:3]
        y0, x0 = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        out = fr[t, y0 : y0 + s, x0 : x0 + s]
        if self.flip and rng.random() < 0.5:
            out = out[:, :, ::-1]
        return np.ascontiguousarray(out)

    def sample_index(self) -> int:
        g = self.groups[int(self.rng.integers(len(self.groups)))]
        return g[int(self.rng.integers(len(g)))]

    def batch(self, batch_size: int) -> tuple[np.ndarray, list[str]]:
        idx = [self.sample_index() for _ in range(batch_size)]
        return np.stack([self.crop(i, self.rng) for i in idx]), [self.clips[i].caption for i in idx]

    def fixed(self, n: int, seed: int = 1234) -> tuple[np.ndarray, list[str]]:
        """A reproducible set of crops (for held-out PSNR and sample grids), one per clip in turn."""
        rng = np.random.default_rng(seed)
        idx = [i % len(self.clips) for i in range(n)]
        return np.stack([self.crop(i, rng) for i in idx]), [self.clips[i].caption for i in idx]
