"""The edits the watermark benchmark applies, by name.

Everything but brightness comes from vidprov.benchmarks.perturbations (H.264 through
vidprov.reencode, resize, centre crop, fps halving, blur, chains). Brightness +-10% is a gain
(x * 1.1), which is what the watermark targets name, not the additive offset of that module.
"""

from __future__ import annotations

import numpy as np

from vidprov.clip import Clip

# H.264 CRF 30 after a 2% downscale and a 1-pixel shift: a re-upload that rescales slightly.
RESCALE_CHAIN = "chain:downscale_0.98+shift_1+h264_crf30"


FULL = ("none", "h264_crf18", "h264_crf23", "h264_crf30", "h264_crf35", "h264_crf40", "resize_0.5",
        "crop_0.8", "fps_half", "gain_1.1", "gain_0.9", "blur_1", "chain:crop_0.8+h264_crf30",
        "chain:downscale_0.98+shift_1+h264_crf30")
QUICK = ("none", "h264_crf23", "h264_crf30", "h264_crf40", "resize_0.5", "crop_0.8", "fps_half",
         "gain_1.1", "gain_0.9", "blur_1", "chain:crop_0.8+h264_crf30", "chain:downscale_0.98+shift_1+h264_crf30")
# attacks after which the issue asks for detection at p < 1e-6 with TPR >= 0.99
DETECTION_TARGETS = ("h264_crf40", "resize_0.5", "crop_0.8", "fps_half", "gain_1.1", "gain_0.9", "blur_1",
                     "chain:crop_0.8+h264_crf30")


def apply(name: str, clip: Clip, *, seed: int = 0) -> Clip:
    if name == RESCALE_CHAIN:
        return rescale_shift_crf30(clip)
    if name.startswith("gain_"):
        g = float(name.split("_", 1)[1])
        lut = np.clip(np.rint(np.arange(256) * g), 0, 255).astype(np.uint8)
        return clip.replace(frames=lut[clip.frames])
    from vidprov.benchmarks.perturbations import get

    return get(name)(clip, seed=seed)


def rescale_shift_crf30(clip: Clip) -> Clip:
    import cv2

    from vidprov.io import reencode

    h, w = clip.height, clip.width
    size = (round(w * 0.98), round(h * 0.98))
    small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in clip.frames])
    shifted = np.ascontiguousarray(small[:, 1:, 1:])  # the picture moves one pixel up and left
    return reencode(clip.replace(frames=shifted), crf=30)


def mark_estimate_exact(marked: Clip, original: Clip) -> np.ndarray:
    """The mark itself, frame by frame (marked minus original, float (T, H, W, 3)): the best a forger
    who holds both copies can paste."""
    n = min(marked.num_frames, original.num_frames)
    return marked.frames[:n].astype(np.float32) - original.frames[:n].astype(np.float32)


def mark_estimate_denoised(marked: Clip, *, gain: float = 3.0, max_frames: int = 16) -> np.ndarray:
    """A forger's estimate from the marked copy alone: frames minus an off-the-shelf denoiser
    (cv2.fastNlMeansDenoisingColored), averaged over frames, times gain."""
    import cv2

    idx = np.unique(np.linspace(0, marked.num_frames - 1, min(max_frames, marked.num_frames)).round().astype(int))
    res = [marked.frames[i].astype(np.float32) - cv2.fastNlMeansDenoisingColored(marked.frames[i], None, 5, 5, 7, 21)
           for i in idx]
    return gain * np.mean(res, axis=0)


def paste(estimate: np.ndarray, target: Clip) -> Clip:
    """target with the estimate added: one (H, W, 3) estimate to every frame, or (T, H, W, 3) frame by
    frame (cycled). The target is resized to the estimate's size first, so the mark keeps its geometry."""
    import cv2

    h, w = estimate.shape[-3:-1]
    frames = target.frames
    if frames.shape[1:3] != (h, w):
        frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    est = estimate[None] if estimate.ndim == 3 else estimate[np.arange(len(frames)) % len(estimate)]
    out = np.clip(np.rint(frames.astype(np.float32) + est), 0, 255).astype(np.uint8)
    return target.replace(frames=out)
