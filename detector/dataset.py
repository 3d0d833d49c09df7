"""Training windows and their features for a manifest, cached on disk (resumable, never in the repo).

Each clip becomes up to `spec.max_windows` normalised windows (plus `augment` distorted copies of
each); each window keeps its clip's label, group, generator and source format so that splits stay
group-aware and results can be reported per format and per generator.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vidprov.atomic import atomic_write_text
from vidprov.cache import key, load_arrays, save_arrays
from vidprov.clip import Clip
from vidprov.detector.augment import augment_window
from vidprov.detector.features import FEATURE_VERSION, FeatureConfig, extract
from vidprov.detector.windows import WindowSpec, iter_windows
from vidprov.errors import VidprovError
from vidprov.manifest import Manifest

log = logging.getLogger(__name__)

AUG_VERSION = 2  # bump when augmentation changes, so cached windows are rebuilt
DEFAULT_CACHE = Path(os.environ.get("VIDPROV_CACHE", Path.home() / ".cache" / "vidprov")) / "detector"


def clip_windows(path: Path, spec: WindowSpec, cache: Path, augment: int, seed: int) -> dict[str, np.ndarray]:
    """Windows of one file: frames (n, T, H, W, 3) uint8, start_s (n,), aug (n,) 0 = original."""
    st = path.stat()
    f = cache / "windows" / f"{key(str(path), st.st_size, st.st_mtime_ns, asdict(spec), augment, seed, AUG_VERSION if augment else 0)}.npz"
    saved = load_arrays(f)
    if saved is not None:
        return saved
    wins = list(iter_windows(path, spec))
    frames = [w.clip.frames for w in wins]
    starts = [w.start_s for w in wins]
    aug = [0] * len(wins)
    rng = np.random.default_rng([seed, int(hashlib.sha1(str(path).encode()).hexdigest()[:8], 16)])
    for k in range(augment):
        for w in wins:
            frames.append(augment_window(w.clip, spec, rng).frames)
            starts.append(w.start_s)
            aug.append(k + 1)
    out = {"frames": np.stack(frames), "start_s": np.array(starts), "aug": np.array(aug)}
    save_arrays(f, **out)
    return out


def window_table(manifest: Manifest, spec: WindowSpec, cache: Path = DEFAULT_CACHE, augment: int = 1,
                 seed: int = 0, progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """One row per window (clip, label, group, generator, source_format, start_s, aug, npz, index).
    Returns the table and the list of clips that could not be read (with the reason)."""
    rows, failed = [], []
    for i, rec in enumerate(tqdm(list(manifest), desc="windows", disable=not progress)):
        path = manifest.abspath(rec["path"])
        try:
            w = clip_windows(path, spec, cache, augment, seed)
        except (VidprovError, ValueError) as exc:
            failed.append(f"{rec['path']}: {exc}")
            log.warning("skipping %s: %s", rec["path"], exc)
            continue
        for j in range(len(w["start_s"])):
            rows.append({"clip": i, "path": rec["path"], "label": rec["label"], "y": int(rec["label"] == "generated"),
                         "group": rec["group"], "generator": rec["generator"], "source_format": rec["source_format"],
                         "start_s": float(w["start_s"][j]), "aug": int(w["aug"][j]), "index": j,
                         "abspath": str(path)})
    return pd.DataFrame(rows), failed


def load_window_frames(table: pd.DataFrame, spec: WindowSpec, cache: Path, augment: int, seed: int,
                       row: int) -> np.ndarray:
    r = table.iloc[row]
    return clip_windows(Path(r["abspath"]), spec, cache, augment, seed)["frames"][r["index"]]


def _config_key(config: FeatureConfig) -> dict:
    """The feature config as cached: the latent settings only count when the latent family is computed."""
    d = asdict(config)
    if "latent" not in config.families:
        d.update(vae_family=None, latent_scales=(1.0, 0.5))  # the values older caches were keyed with
    return d


def feature_matrix(table: pd.DataFrame, spec: WindowSpec, config: FeatureConfig, cache: Path = DEFAULT_CACHE,
                   augment: int = 1, seed: int = 0, reconstruct=None, vae_fingerprint: str | None = None,
                   progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """Features of every window in `table`, cached per clip file (and per VAE weights, for latent ones)."""
    out: dict[int, dict[str, float]] = {}
    for path, sub in tqdm(list(table.groupby("abspath", sort=False)), desc="features", disable=not progress):
        p = Path(path)
        st = p.stat()
        k = key(str(p), st.st_mtime_ns, asdict(spec), _config_key(config), augment, seed, AUG_VERSION if augment else 0,
                *([vae_fingerprint] if "latent" in config.families else []), FEATURE_VERSION)
        f = cache / "features" / f"{k}.json"
        if f.exists():
            feats = json.loads(f.read_text())
        else:
            frames = clip_windows(p, spec, cache, augment, seed)["frames"]
            feats = [extract(Clip(fr, fps=spec.fps), config, reconstruct) for fr in frames]
            atomic_write_text(f, json.dumps(feats))
        for row_idx, j in zip(sub.index, sub["index"], strict=True):
            out[row_idx] = feats[j]
    names = sorted(next(iter(out.values())))
    from vidprov.detector.features import to_matrix

    return to_matrix([out[i] for i in table.index], names), names
