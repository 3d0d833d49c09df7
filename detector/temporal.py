"""Temporal-consistency features: optical flow, warping residual, flow smoothness/acceleration,
second-order frame differences and trajectory curvature.

Generators synthesise motion that is locally plausible but not governed by physics: flow fields are
too smooth or jitter, warping one frame onto the next leaves an unusual residual, and the clip's
path through a frame-embedding space bends differently from camera footage. All features are
ratios or normalised statistics where possible, so they describe motion quality, not the amount
of motion or the scene's brightness.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.color import luma
from vidprov.detector.stats import EPS, kurtosis

FLOW_SIZE = 128  # flow on a 128x128 luma copy: 10x faster than 256 and enough for its statistics


def _norm2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sqrt(x^2 + y^2): np.hypot guards against overflow that flow vectors never reach, at 5x the cost."""
    return np.sqrt(x * x + y * y)


def dense_flow(gray_u8: np.ndarray) -> np.ndarray:
    """DIS optical flow between consecutive frames: (T, H, W) uint8 -> (T-1, H, W, 2) float32."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    return np.stack([dis.calc(a, b, None) for a, b in zip(gray_u8[:-1], gray_u8[1:], strict=True)])


def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(frame: np.ndarray, flow: np.ndarray, grid: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Sample `frame` (H, W) at x + flow(x): brings frame t+1 back onto frame t."""
    gx, gy = grid if grid is not None else _pixel_grid(*flow.shape[:2])
    return cv2.remap(frame, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def flow_features(y: np.ndarray) -> dict[str, float]:
    """Flow, warping residual, smoothness and acceleration on a (T, H, W) float luma stack."""
    small = np.stack([cv2.resize(f, (FLOW_SIZE, FLOW_SIZE), interpolation=cv2.INTER_AREA) for f in y])
    u8 = np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)
    flow = dense_flow(u8)  # (T-1, h, w, 2)
    # The two components as contiguous planes: reductions over a trailing axis of 2 are slow (scan path).
    fx, fy = np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])
    mag = _norm2(fx, fy)
    mean_mag = float(mag.mean())
    # Warping residual relative to the plain frame difference: 1 = flow explains nothing,
    # near 0 = motion is a clean warp (rigid scenes); generators often sit in between.
    grid = _pixel_grid(*flow.shape[1:3])
    res, diff = [], []
    for t in range(len(flow)):
        warped = warp(small[t + 1], flow[t], grid)
        res.append(np.abs(warped - small[t]).mean())
        diff.append(np.abs(small[t + 1] - small[t]).mean())
    res, diff = np.array(res), np.array(diff)
    # Smoothness: spatial gradient of the flow field relative to its magnitude.
    (dxy, dxx), (dyy, dyx) = np.gradient(fx, axis=(1, 2)), np.gradient(fy, axis=(1, 2))
    grad = np.sqrt(dxy * dxy + dxx * dxx + dyy * dyy + dyx * dyx)
    # Acceleration: change of the flow field between consecutive pairs.
    acc = _norm2(np.diff(fx, axis=0), np.diff(fy, axis=0)) if len(flow) > 1 else np.zeros_like(mag)
    # Direction coherence: |mean flow vector| / mean |flow| (1 = global pan, 0 = incoherent).
    per_pair_mag = mag.mean(axis=(1, 2))
    coherence = _norm2(fx.mean(axis=(1, 2)), fy.mean(axis=(1, 2))) / (per_pair_mag + EPS)
    return {
        "flow_log_mag": float(np.log(mean_mag + 1e-3)),
        "flow_mag_cv_time": float(per_pair_mag.std() / (per_pair_mag.mean() + EPS)),
        "flow_mag_cv_space": float(mag.std() / (mean_mag + EPS)),
        "warp_residual_ratio": float(res.sum() / (diff.sum() + EPS)),
        "warp_residual_ratio_max": float((res / (diff + EPS)).max()),
        "flow_smoothness": float(grad.mean() / (mean_mag + 1e-2)),
        "flow_accel_ratio": float(acc.mean() / (mean_mag + 1e-2)),
        "flow_accel_kurtosis": kurtosis(acc),
        "flow_coherence": float(coherence.mean()),
    }


def difference_features(y: np.ndarray) -> dict[str, float]:
    """Statistics of first- and second-order frame differences on (T, H, W) luma."""
    d1 = np.diff(y, axis=0)
    d2 = np.diff(y, n=2, axis=0) if len(y) > 2 else d1
    m1 = np.abs(d1).mean(axis=(1, 2))
    m2 = np.abs(d2).mean(axis=(1, 2))
    return {
        "diff1_log_mean": float(np.log(m1.mean() + 1e-4)),
        "diff2_to_diff1": float(m2.mean() / (m1.mean() + EPS)),
        "diff1_cv_time": float(m1.std() / (m1.mean() + EPS)),
        "diff2_cv_time": float(m2.std() / (m2.mean() + EPS)),
        "diff2_kurtosis": kurtosis(d2[:, ::2, ::2]),
        "diff1_kurtosis": kurtosis(d1[:, ::2, ::2]),
        # Largest jump relative to the typical one: cuts, flicker, frame drops.
        "diff1_max_to_median": float(m1.max() / (np.median(m1) + EPS)),
    }


def pixel_embedding(y: np.ndarray) -> np.ndarray:
    """A fixed frame embedding: 16x16 low-pass luma plus 8x8 band-pass detail, per frame (T, D)."""
    low = np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in y]).reshape(len(y), -1)
    mid = np.stack(
        [cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) - cv2.resize(
            cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA), (32, 32), interpolation=cv2.INTER_LINEAR)
         for f in y]
    )
    mid = np.stack([cv2.resize(np.abs(m), (8, 8), interpolation=cv2.INTER_AREA) for m in mid]).reshape(len(y), -1)
    return np.concatenate([low, 4.0 * mid], axis=1)


def curvature(embedding: np.ndarray) -> np.ndarray:
    """Angle (radians) between consecutive displacement vectors of a (T, D) trajectory: (T-2,)."""
    v = np.diff(embedding.astype(np.float64), axis=0)
    n = np.linalg.norm(v, axis=1)
    ok = (n[:-1] > EPS) & (n[1:] > EPS)
    cos = (v[:-1] * v[1:]).sum(1) / np.maximum(n[:-1] * n[1:], EPS)
    ang = np.arccos(np.clip(cos, -1.0, 1.0))
    return np.where(ok, ang, np.pi / 2)  # a static pair carries no direction: count it as neutral


def curvature_features(emb: np.ndarray, prefix: str = "curv") -> dict[str, float]:
    ang = curvature(emb)
    step = np.linalg.norm(np.diff(emb, axis=0), axis=1)
    return {
        f"{prefix}_mean": float(ang.mean()) if len(ang) else 0.0,
        f"{prefix}_std": float(ang.std()) if len(ang) else 0.0,
        f"{prefix}_step_cv": float(step.std() / (step.mean() + EPS)),
    }


def temporal_features(clip: Clip, embed: Callable[[np.ndarray], np.ndarray] | None = None,
                      y: np.ndarray | None = None) -> dict[str, float]:
    """All temporal features of a (normalised) clip. `embed` maps (T, H, W, 3) uint8 to (T, D),
    a learned frame embedding whose trajectory curvature is added as `curv_learned_*`.
    y: the clip's luma when the caller already has it (it is the same for every family)."""
    if clip.num_frames < 3:
        raise ValueError(f"temporal features need at least 3 frames, got {clip.num_frames}")
    y = luma(clip.frames) if y is None else y
    feats = flow_features(y)
    feats.update(difference_features(y))
    feats.update(curvature_features(pixel_embedding(y), "curv_pixel"))
    if embed is not None:
        feats.update(curvature_features(np.asarray(embed(clip.frames), dtype=np.float64), "curv_learned"))
    return feats
