"""The edits the watermark benchmark applies, by name.

Everything but brightness comes from vidprov.benchmarks.perturbations (H.264 through
vidprov.reencode, resize, centre crop, fps halving, blur, chains). Brightness +-10% is a gain
(x * 1.1), which is what the watermark targets name, not the additive offset of that module.
"""

from __future__ import annotations

import numpy as np

from vidprov.clip import Clip

FULL = ("none", "h264_crf18", "h264_crf23", "h264_crf30", "h264_crf35", "h264_crf40", "resize_0.5",
        "crop_0.8", "fps_half", "gain_1.1", "gain_0.9", "blur_1", "chain:crop_0.8+h264_crf30")
QUICK = ("none", "h264_crf23", "h264_crf30", "h264_crf40", "resize_0.5", "crop_0.8", "fps_half",
         "gain_1.1", "gain_0.9", "blur_1", "chain:crop_0.8+h264_crf30")
# attacks after which the issue asks for detection at p < 1e-6 with TPR >= 0.99
DETECTION_TARGETS = ("h264_crf40", "resize_0.5", "crop_0.8", "fps_half", "gain_1.1", "gain_0.9", "blur_1",
                     "chain:crop_0.8+h264_crf30")


def apply(name: str, clip: Clip, *, seed: int = 0) -> Clip:
    if name.startswith("gain_"):
        g = float(name.split("_", 1)[1])
        lut = np.clip(np.rint(np.arange(256) * g), 0, 255).astype(np.uint8)
        return clip.replace(frames=lut[clip.frames])
    from vidprov.benchmarks.perturbations import get

    return get(name)(clip, seed=seed)
