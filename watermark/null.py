"""The null distribution of the pixel-watermark detector, and p-values from it.

Under H0 ("no mark of this key"), the key's phases are independent of the video, so every
phase-only correlation entry is a sum of N_SYNC cosines of i.i.d. uniform phases, whatever the
video: the distribution of the maximum over all cyclic shifts depends only on the tile period.
It is calibrated once by Monte Carlo (`calibrate`, stored in null_calibration.json). The body of
the p-value is the empirical survival function; beyond the simulated range the tail follows the
Sidak bound max-of-P^2-independent-normals, scaled to join the empirical curve, which is
conservative there (a sum of bounded cosines has lighter tails than a normal).
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import stats

from vidprov.watermark import tile

CALIBRATION_FILE = Path(__file__).with_name("null_calibration.json")
PERIODS = (64, 32, 48, 96, 128)
_TAIL_FROM = 1e-3  # below this survival, the tail model takes over from the empirical curve


def simulate_max(period: int, n: int, seed: int = 0, batch: int = 1000) -> np.ndarray:
    """n draws of max over shifts of the normalised correlation map under H0."""
    lay = tile.layout()
    rng = np.random.default_rng([seed, period])
    ref = np.ones(lay.sync.size, dtype=np.complex128)
    out = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        coef = np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, (b, lay.sync.size)))
        out.append(np.array([tile.correlation_map(c, ref, period).max() for c in coef]))
    return np.concatenate(out)


def _sidak_log_sf(z: np.ndarray, period: int) -> np.ndarray:
    # log(1 - (1 - sf(z))^n), computed stably for tiny sf
    n = period * period
    return np.log(-np.expm1(n * np.log1p(-stats.norm.sf(z))))


def calibrate(periods=PERIODS, n: int = 100_000, path: Path = CALIBRATION_FILE, progress=None) -> dict:
    """Simulate the null for each period and store survival quantiles (atomic JSON write)."""
    data = {"n_sync": int(tile.layout().sync.size), "tile": tile.TILE, "n_draws": n, "periods": {}}
    for period in periods:
        m = np.sort(simulate_max(period, n))
        # survival grid: log-spaced from 1 down to 10/n
        surv = np.unique(np.concatenate([np.linspace(1.0, 0.05, 96), np.geomspace(0.05, 10.0 / n, 160)]))[::-1]
        z = np.quantile(m, 1.0 - surv)
        data["periods"][str(period)] = {"survival": surv.tolist(), "z": z.tolist()}
        if progress:
            progress(period)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".null.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    _table.cache_clear()
    return data


@lru_cache(maxsize=1)
def _table() -> dict:
    data = json.loads(CALIBRATION_FILE.read_text())
    if data["n_sync"] != tile.layout().sync.size or data["tile"] != tile.TILE:
        raise RuntimeError(f"{CALIBRATION_FILE} was made for another tile layout; rerun null.calibrate()")
    return data


def p_value(z: float, period: int) -> float:
    """P(max correlation >= z | H0) for one tile period."""
    entry = _table()["periods"].get(str(period))
    if entry is None:
        raise ValueError(f"no null calibration for period {period}")
    surv, zs = np.asarray(entry["survival"]), np.asarray(entry["z"])
    if z <= zs[0]:
        return 1.0
    # z where the empirical curve reaches _TAIL_FROM; below it, interpolate the simulated curve
    z0 = float(np.interp(np.log(_TAIL_FROM), np.log(surv[::-1]), zs[::-1]))
    if z <= z0:
        return float(np.exp(np.interp(z, zs, np.log(surv))))
    log_p = np.log(_TAIL_FROM) + _sidak_log_sf(np.array(z), period) - _sidak_log_sf(np.array(z0), period)
    return float(np.exp(min(log_p, np.log(_TAIL_FROM))))


def combine(p_values: list[float]) -> float:
    """Sidak correction over the searched scales (their statistics are nearly independent)."""
    if not p_values:
        return 1.0
    p = min(p_values)
    return float(-np.expm1(len(p_values) * np.log1p(-min(p, 1.0 - 1e-16)))) if p < 1 else 1.0
