"""Training augmentation with the distortions uploads go through: re-compression, resizing, cropping.

The distortions come from vidprov.perturb (draw); every augmented window is normalised again, so it
has exactly the format of a scanned clip.
"""

from __future__ import annotations

import numpy as np

from vidprov.clip import Clip
from vidprov.detector.windows import WindowSpec
from vidprov.normalize import normalize, resize_center_crop
from vidprov.perturb import AUGMENT_KINDS, draw


def augment_window(window: Clip, spec: WindowSpec, rng: np.random.Generator, kinds=AUGMENT_KINDS) -> Clip:
    """A distorted copy of a normalised window (one or two distortions), normalised again."""
    chosen = rng.choice(len(kinds), size=int(rng.integers(1, 3)), replace=False)
    out = window
    for i in sorted(chosen, key=lambda i: AUGMENT_KINDS.index(kinds[i]) if kinds[i] in AUGMENT_KINDS else 0)[::-1]:
        seed = int(rng.integers(2**31))
        out = draw(kinds[i], rng)(out, seed=seed)
    frames = resize_center_crop(out.frames, spec.size) if out.height != spec.size or out.width != spec.size else out.frames
    return normalize(out.replace(frames=frames), size=spec.size, fps=spec.fps, num_frames=spec.num_frames, crf=spec.crf,
                     preset=spec.preset)
