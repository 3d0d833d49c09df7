"""The copy attack on the pixel watermark: estimate a mark from marked content and paste it onto other
content. The watermark benchmark and tests use it to show a pasted mark is reported as copied, not believed."""

from __future__ import annotations

import cv2
import numpy as np

from vidprov.clip import Clip


def mark_estimate_exact(marked: Clip, original: Clip) -> np.ndarray:
    """The mark itself, frame by frame (marked minus original, float (T, H, W, 3)): the best a forger
    who holds both copies can paste."""
    n = min(marked.num_frames, original.num_frames)
    return marked.frames[:n].astype(np.float32) - original.frames[:n].astype(np.float32)


def mark_estimate_denoised(marked: Clip, *, gain: float = 3.0, max_frames: int = 16) -> np.ndarray:
    """A forger's estimate from the marked copy alone: frames minus an off-the-shelf denoiser
    (cv2.fastNlMeansDenoisingColored), averaged over frames, times gain."""
    idx = np.unique(np.linspace(0, marked.num_frames - 1, min(max_frames, marked.num_frames)).round().astype(int))
    res = [marked.frames[i].astype(np.float32) - cv2.fastNlMeansDenoisingColored(marked.frames[i], None, 5, 5, 7, 21)
           for i in idx]
    return gain * np.mean(res, axis=0)


def paste(estimate: np.ndarray, target: Clip) -> Clip:
    """target with the estimate added: one (H, W, 3) estimate to every frame, or (T, H, W, 3) frame by
    frame (cycled). The target is resized to the estimate's size first, so the mark keeps its geometry."""
    h, w = estimate.shape[-3:-1]
    frames = target.frames
    if frames.shape[1:3] != (h, w):
        frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    est = estimate[None] if estimate.ndim == 3 else estimate[np.arange(len(frames)) % len(estimate)]
    out = np.clip(np.rint(frames.astype(np.float32) + est), 0, 255).astype(np.uint8)
    return target.replace(frames=out)
