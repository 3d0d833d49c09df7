"""Latent-reconstruction features: how well a video VAE reproduces the clip, at several scales.

A clip decoded by a latent generator lies close to the decoder's output manifold, so an
autoencoder of the same kind reconstructs it with less error than camera footage (the idea of
autoencoder-reconstruction detectors). The VAE is any object with `reconstruct(clip) -> Clip`;
vidprov's own come from vidprov.vae.load_vae (family names resolve once vidprov.generator, which
registers its shipped weights, has been imported).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from vidprov import vae
from vidprov.clip import Clip
from vidprov.color import luma
from vidprov.detector.stats import EPS
from vidprov.errors import VidprovError

log = logging.getLogger(__name__)

Reconstruct = Callable[[Clip], Clip]
DEFAULT_SCALES = (1.0, 0.5)


def _rescale(clip: Clip, scale: float) -> Clip:
    if scale == 1.0:
        return clip
    h, w = (max(8, int(round(s * scale / 8)) * 8) for s in (clip.height, clip.width))
    frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in clip.frames])
    return clip.replace(frames=frames)


def reconstruction_error(clip: Clip, reconstruct: Reconstruct) -> dict[str, float]:
    """Error statistics of one reconstruction, on luma; ratios make them content-independent."""
    rec = reconstruct(clip)
    if rec.frames.shape != clip.frames.shape:
        raise ValueError(f"VAE returned frames of shape {rec.frames.shape} for input {clip.frames.shape}")
    y, yr = luma(clip.frames), luma(rec.frames)
    err = np.abs(y - yr)
    # Energy of the input's own detail, to turn the error into a relative one.
    detail = np.abs(y - np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in y])).mean()
    hp_err = np.abs((y - yr) - np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in (y - yr)])).mean()
    per_frame = err.mean(axis=(1, 2))
    return {
        "log_err": float(np.log(err.mean() + 1e-4)),
        "err_to_detail": float(err.mean() / (detail + EPS)),
        "hp_err_frac": float(hp_err / (err.mean() + EPS)),
        "err_cv_time": float(per_frame.std() / (per_frame.mean() + EPS)),
    }


def latent_features(clip: Clip, reconstruct: Reconstruct, scales: Sequence[float] = DEFAULT_SCALES,
                    name: str = "vae") -> dict[str, float]:
    """Reconstruction-error features at each scale, plus the error ratio between scales."""
    feats: dict[str, float] = {}
    logs = []
    for s in scales:
        stats = reconstruction_error(_rescale(clip, s), reconstruct)
        logs.append(stats["log_err"])
        feats.update({f"latent_{name}_s{s:g}_{k}": v for k, v in stats.items()})
    for s, lg in zip(scales[1:], logs[1:], strict=True):
        feats[f"latent_{name}_ratio_s{s:g}"] = float(lg - logs[0])
    return feats


def load_vae(family: str | None = None, device: str | None = None):
    """The VAE handle (vidprov.vae) of `family` (a registered family name or a VAE folder; the first
    available of wan, ltx if None), or None when none can be loaded: the latent family is then left
    out, never faked."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    for fam in [family] if family else ["wan", "ltx"]:  # vidprov's two video VAE families
        try:
            return vae.load_vae(fam, device=device)
        except (VidprovError, OSError, ValueError) as exc:  # weights absent or unreadable: go on without them
            log.info("VAE %s unavailable: %s", fam, exc)
    return None
