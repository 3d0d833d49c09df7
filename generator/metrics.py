"""Sample-quality measures for generated clips vs held-out real clips (all on uint8 (T, H, W, 3) clips).

- warping error: mean |frame[t] - warp(frame[t+1] by Farneback flow t->t+1)| in [0, 255] units;
  low = temporally consistent (content moves rather than flickers).
- sharpness: mean variance of the Laplacian of the grey frames.
- motion: mean |frame[t+1] - frame[t]|.
- Fréchet distance in a fixed, documented 26-dim hand-crafted feature space (`clip_features`): RGB
  mean/std (6), mean saturation (1), log sharpness (1), log power in 8 radial spatial-frequency bands (8),
  log motion mean/std (2), log warping error (1), grey histogram in 7 bins (7). No learned network: no
  pretrained weights may be downloaded here, and a fixed feature space keeps numbers comparable across runs.
- FVD (`fvd`): the field's standard, the same Fréchet distance on the Kinetics-400 I3D network's 1024-d
  penultimate features (vidprov.backbones.i3d) of each clip's first 16 frames, resized to 224 px; with
  layer="logits", on its 400 class logits instead, as the original FVD code does.
  With a few dozen clips per set, as here, FVD is dominated by estimation noise: report it next to
  the FVD between two real sets of the same size (`fvd` of real vs real), the floor a model cannot beat.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import linalg

from vidprov.color import luma_u8


def _grey(frames: np.ndarray) -> np.ndarray:
    return luma_u8(frames).astype(np.float32)


def warping_error(frames: np.ndarray) -> float:
    g = _grey(frames)
    if len(g) < 2:
        return 0.0
    h, w = g.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    errs = []
    for a, b, fa, fb in zip(g[:-1], g[1:], frames[:-1], frames[1:], strict=True):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 2, 9, 3, 5, 1.1, 0)
        warped = cv2.remap(fb, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        errs.append(np.abs(warped.astype(np.float32) - fa.astype(np.float32)).mean())
    return float(np.mean(errs))


def sharpness(frames: np.ndarray) -> float:
    return float(np.mean([cv2.Laplacian(f, cv2.CV_32F).var() for f in _grey(frames)]))


def motion(frames: np.ndarray) -> float:
    f = frames.astype(np.float32)
    return float(np.abs(f[1:] - f[:-1]).mean()) if len(f) > 1 else 0.0


def _spectrum_bands(g: np.ndarray, n: int = 8) -> np.ndarray:
    p = np.abs(np.fft.fftshift(np.fft.fft2(g - g.mean(axis=(1, 2), keepdims=True)), axes=(1, 2))) ** 2
    h, w = g.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
    edges = np.linspace(0, 1, n + 1)
    return np.array([np.log(p[:, (r >= a) & (r < b)].mean() + 1e-6) for a, b in zip(edges[:-1], edges[1:], strict=True)])


def clip_features(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(np.float32) / 255.0
    hsv = np.stack([cv2.cvtColor(x, cv2.COLOR_RGB2HSV) for x in frames]).astype(np.float32)
    g = _grey(frames)
    diffs = np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3)) if len(f) > 1 else np.zeros(1)
    hist = np.histogram(g, bins=7, range=(0, 255))[0] / g.size
    return np.concatenate([
        f.mean(axis=(0, 1, 2)), f.std(axis=(0, 1, 2)), [hsv[..., 1].mean() / 255.0],
        [np.log(sharpness(frames) + 1e-3)], _spectrum_bands(g),
        [np.log(diffs.mean() + 1e-4), np.log(diffs.std() + 1e-4)], [np.log(warping_error(frames) + 1e-3)], hist,
    ]).astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature rows a (n, d) and b (m, d)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1 = np.cov(a, rowvar=False) + eps * np.eye(a.shape[1])
    s2 = np.cov(b, rowvar=False) + eps * np.eye(b.shape[1])
    covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


FVD_FRAMES = 16


def i3d_embeddings(clips: list[np.ndarray], *, model=None, batch_size: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1024) I3D penultimate features and (n, 400) logits of the first 16 frames of each uint8
    (T, H, W, 3) clip (T >= 16)."""
    import torch

    from vidprov.backbones import i3d

    for i, c in enumerate(clips):
        if not isinstance(c, np.ndarray) or c.ndim != 4 or len(c) < FVD_FRAMES:
            shape = getattr(c, "shape", type(c).__name__)
            raise ValueError(f"FVD needs clips of at least {FVD_FRAMES} frames (T, H, W, 3); clip {i} is {shape}")
    model = model if model is not None else i3d.shared_model()
    device = next(model.parameters()).device
    feats, logits = [], []
    with torch.inference_mode():
        for start in range(0, len(clips), batch_size):
            batch = torch.stack([i3d.preprocess(c[:FVD_FRAMES]) for c in clips[start:start + batch_size]])
            f = model.features(batch.to(device))
            feats.append(f.float().cpu().numpy())
            # The logits head is linear on these features (see vidprov.backbones.i3d).
            head = getattr(model, "logits", None)
            logits.append(head(f).float().cpu().numpy() if head is not None else np.zeros((len(f), 0)))
    if not feats:
        return np.zeros((0, i3d.FEATURE_DIM)), np.zeros((0, i3d.NUM_CLASSES))
    return np.concatenate(feats).astype(np.float64), np.concatenate(logits).astype(np.float64)


def i3d_features(clips: list[np.ndarray], *, model=None, batch_size: int = 4) -> np.ndarray:
    """(n, 1024) I3D penultimate features of the first 16 frames of each clip (see i3d_embeddings)."""
    return i3d_embeddings(clips, model=model, batch_size=batch_size)[0]


def fvd(real_clips: list[np.ndarray], generated_clips: list[np.ndarray], *, model=None, layer: str = "features") -> float:
    """Fréchet Video Distance between two sets of uint8 (T, H, W, 3) clips (at least 2 each, T >= 16).

    layer: "features" (the 1024-d penultimate features) or "logits" (the 400 class logits, the embedding
    the original FVD code takes from the TF-Hub I3D module).
    """
    if layer not in ("features", "logits"):
        raise ValueError(f"layer must be 'features' or 'logits', got {layer!r}")
    for name, clips in (("real", real_clips), ("generated", generated_clips)):
        if len(clips) < 2:
            raise ValueError(f"FVD needs at least 2 {name} clips to estimate a covariance, got {len(clips)}")
    pick = 0 if layer == "features" else 1
    return frechet_distance(i3d_embeddings(real_clips, model=model)[pick], i3d_embeddings(generated_clips, model=model)[pick])


def summarize(clips: list[np.ndarray]) -> dict[str, float]:
    return {"warping_error": float(np.mean([warping_error(c) for c in clips])),
            "sharpness": float(np.mean([sharpness(c) for c in clips])),
            "motion": float(np.mean([motion(c) for c in clips]))}
