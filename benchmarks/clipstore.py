"""Clips for benchmarks: decode once, normalise (same parameters for every class), cache on disk.

    store = ClipStore(manifest, NormConfig(size=128), cache_dir="bench-cache")
    clip = store.clean(row)                         # normalised, cached as .npz by clip hash
    bad = store.perturbed(row, get("h264_crf35"))   # perturbation, then normalise again

The perturbation acts on the normalised clip and the result is normalised again, so a detector
always receives the same size, frame rate, length and codec history, and the perturbation's
effect is what survives that pipeline (e.g. resize_0.25 comes back upsampled, i.e. blurred).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidprov.cache import file_digest, load_arrays, save_arrays
from vidprov.clip import Clip
from vidprov.errors import VidprovError
from vidprov.io import read_video
from vidprov.manifest import Manifest
from vidprov.normalize import normalize
from vidprov.perturb import Perturbation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NormConfig:
    """vidprov.normalize parameters applied to every clip, real or generated."""

    size: int = 128
    fps: float = 8.0
    num_frames: int = 16
    crf: int = 23

    def key(self) -> str:
        return f"s{self.size}_f{self.fps:g}_n{self.num_frames}_c{self.crf}"

    def to_dict(self) -> dict:
        return asdict(self)


def clip_hashes(manifest: Manifest) -> list[str]:
    """Content hash of each clip: the manifest's sha256 column when present, else the file's."""
    df = manifest.df
    out = []
    for i, row in enumerate(manifest):
        given = str(df["sha256"].iloc[i]).strip() if "sha256" in df.columns else ""
        out.append(given[:16] if given and given != "nan" else file_digest(manifest.abspath(row)))
    return out


class ClipStore:
    """Normalised clips of one manifest, in memory and (with cache_dir) on disk."""

    def __init__(self, manifest: Manifest, norm: NormConfig, cache_dir: str | os.PathLike | None = None,
                 seed: int = 0):
        self.manifest = manifest
        self.norm = norm
        self.seed = seed
        self.hashes = clip_hashes(manifest)
        self._hash_of = dict(zip(manifest.df["path"], self.hashes, strict=True))
        self.cache = Path(cache_dir) / "clips" / norm.key() if cache_dir else None
        self._mem: dict[str, Clip] = {}

    def hash(self, row: dict) -> str:
        return self._hash_of[row["path"]]

    def _decode(self, row: dict) -> Clip:
        # Only the first num_frames/fps seconds are used by normalize (offset 0), so decode just
        # those, at the target short side: bounded time and memory for 1080p sources.
        seconds = self.norm.num_frames / self.norm.fps + 0.5
        return read_video(self.manifest.abspath(row), size=self.norm.size, duration_s=seconds)

    def clean(self, row: dict) -> Clip:
        h = self.hash(row)
        if h in self._mem:
            return self._mem[h]
        path = self.cache / f"{h}.npz" if self.cache else None
        saved = load_arrays(path) if path is not None else None
        if saved is not None:
            clip = Clip(saved["frames"], fps=float(saved["fps"]))
        else:
            clip = normalize(self._decode(row), size=self.norm.size, fps=self.norm.fps,
                             num_frames=self.norm.num_frames, crf=self.norm.crf)
            if path is not None:
                save_arrays(path, compressed=True, frames=clip.frames, fps=np.float64(clip.fps))
        clip = clip.replace(path=row["path"], clip_hash=h)
        self._mem[h] = clip
        return clip

    def perturbed(self, row: dict, perturbation: Perturbation) -> Clip:
        clean = self.clean(row)
        if perturbation.name == "none":
            return clean
        # Per-clip seed: same clip + same perturbation -> same noise/drops on every run.
        seed = (int(self.hash(row), 16) ^ self.seed) % (2**63)
        out = perturbation(clean, seed=seed)
        return normalize(out, size=self.norm.size, fps=self.norm.fps, num_frames=self.norm.num_frames,
                         crf=self.norm.crf).replace(perturbations=out.meta.get("perturbations", []))

    def load_all(self, rows: list[dict], progress=None, task=None) -> list[dict]:
        """Decode + normalise every row (warming the cache); returns the rows that failed, with why."""
        failed = []
        for row in rows:
            try:
                self.clean(row)
            except VidprovError as exc:
                log.warning("skipping %s: %s", row["path"], exc)
                failed.append({**row, "error": str(exc)})
            if progress is not None:
                progress.advance(task)
        return failed
