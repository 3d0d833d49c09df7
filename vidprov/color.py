"""Luma (BT.601) of RGB frames, the two ways vidprov computes it.

`luma` is the detector's float form; `luma_u8` is OpenCV's rounded fixed-point form, which the
watermark, the generator's quality metrics and the baselines read. They differ by up to half a grey
level, and each caller's saved models and marks were made with its own, so both stay.
"""

from __future__ import annotations

import cv2
import numpy as np


def luma(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB -> (..., H, W) float32 luma in [0, 1] (BT.601 weights)."""
    frames = np.asarray(frames)
    stack = frames.reshape(-1, *frames.shape[-3:])
    out = np.empty(stack.shape[:-1], np.float32)
    for i, frame in enumerate(stack):
        # Frame by frame, so the temporaries stay in cache (25% faster than whole-stack arithmetic); the
        # same operations in the same order give the same bits, which the flow features are sensitive to.
        f = frame.astype(np.float32)
        out[i] = (0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]) / 255.0
    return out.reshape(frames.shape[:-1])


def luma_u8(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB -> (..., H, W) uint8 BT.601 luma, rounded as OpenCV rounds it."""
    frames = np.asarray(frames)
    stack = frames.reshape(-1, *frames.shape[-3:])
    out = np.empty(stack.shape[:-1], np.uint8)
    for i, frame in enumerate(stack):
        out[i] = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return out.reshape(frames.shape[:-1])
