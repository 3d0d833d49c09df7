"""The robust statistics every feature family of the detector computes on luma (vidprov.color.luma)."""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def kurtosis(x: np.ndarray) -> float:
    """Fourth standardised moment of all values of x (0 for a constant)."""
    # float32 and in-place powers: this runs on ~10^5-10^6 values per window on the scan path.
    x = np.asarray(x, np.float32).ravel()
    c = x - x.mean(dtype=np.float64)
    c2 = np.square(c, out=c)
    var = float(c2.mean(dtype=np.float64))
    if var <= EPS**2:
        return 0.0
    return float(np.square(c2, out=c2).mean(dtype=np.float64) / (var**2 + EPS))
