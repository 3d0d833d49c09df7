"""Training augmentation with the distortions uploads go through: re-compression, resizing, cropping.

Uses the benchmark harness's perturbations (vidprov.benchmarks.perturbations: deterministic H.264,
area resize, centre crop) when that module is installed, otherwise the same operations built from
vidprov core (with a random rather than central crop). Every augmented window is
normalised again, so it has exactly the format of a scanned clip.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.detector.windows import WindowSpec
from vidprov.io import reencode
from vidprov.normalize import normalize, resize_center_crop

KINDS = ("compress", "resize", "crop")


def _resize_roundtrip(clip: Clip, factor: float) -> Clip:
    h, w = clip.height, clip.width
    sh, sw = max(16, int(h * factor) // 2 * 2), max(16, int(w * factor) // 2 * 2)
    small = np.stack([cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) for f in clip.frames])
    return clip.replace(frames=small)  # normalize brings it back to the window size


def _crop(clip: Clip, frac: float, rng: np.random.Generator) -> Clip:
    h, w = clip.height, clip.width
    ch, cw = int(h * frac), int(w * frac)
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return clip.replace(frames=np.ascontiguousarray(clip.frames[:, y0 : y0 + ch, x0 : x0 + cw]))


def _harness():
    try:
        from vidprov.benchmarks import perturbations
    except ImportError:
        return None
    return perturbations


def perturb(clip: Clip, kind: str, rng: np.random.Generator) -> Clip:
    """One random distortion of `kind`, drawn from the ranges an upload platform applies."""
    bench = _harness()
    if bench is not None and kind in KINDS:
        seed = int(rng.integers(2**31))
        if kind == "compress":
            return bench.H264(crf=int(rng.integers(28, 40)))(clip, seed=seed)
        if kind == "resize":
            return bench.Resize(scale=float(rng.uniform(0.4, 0.8)))(clip, seed=seed)
        return bench.CenterCrop(fraction=float(rng.uniform(0.6, 0.9)))(clip, seed=seed)
    if kind == "compress":
        return reencode(clip, crf=int(rng.integers(28, 40)))
    if kind == "resize":
        return _resize_roundtrip(clip, float(rng.uniform(0.4, 0.8)))
    if kind == "crop":
        return _crop(clip, float(rng.uniform(0.6, 0.9)), rng)
    raise ValueError(f"unknown augmentation {kind!r}; valid: {list(KINDS)}")


def augment_window(window: Clip, spec: WindowSpec, rng: np.random.Generator, kinds=KINDS) -> Clip:
    """A distorted copy of a normalised window (one or two distortions), normalised again."""
    chosen = rng.choice(len(kinds), size=int(rng.integers(1, 3)), replace=False)
    out = window
    for i in sorted(chosen, key=lambda i: KINDS.index(kinds[i]) if kinds[i] in KINDS else 0)[::-1]:
        out = perturb(out, kinds[i], rng)
    frames = resize_center_crop(out.frames, spec.size) if out.height != spec.size or out.width != spec.size else out.frames
    return normalize(out.replace(frames=frames), size=spec.size, fps=spec.fps, num_frames=spec.num_frames, crf=spec.crf,
                     preset=spec.preset, resize_in=spec.resize_in)
