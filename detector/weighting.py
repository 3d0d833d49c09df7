"""Sample weights that keep big groups and long clips from dominating a fit."""

from __future__ import annotations

import numpy as np


def balanced_weights(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Weights giving each class equal total mass and each group within a class equal mass,
    so a long real clip with many windows or a big group cannot dominate."""
    y, groups = np.asarray(y), np.asarray(groups)
    w = np.ones(len(y))
    for c in (0, 1):
        in_c = y == c
        gs, counts = np.unique(groups[in_c], return_counts=True)
        per = dict(zip(gs, 1.0 / counts, strict=True))
        w[in_c] = [per[g] for g in groups[in_c]]
        w[in_c] *= len(y) / 2 / w[in_c].sum()
    return w
