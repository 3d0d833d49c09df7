"""Frequency and noise features: spectral energy, periodic upsampling peaks, noise-residual statistics.

Decoders of latent generators upsample 8x (or 4x/2x) with transposed convolutions or
interpolation, which leaves too little high-frequency energy and, often, periodic peaks in the
spectrum of the noise residual; camera sensors leave temporally independent, spatially almost
white noise that generators do not reproduce. Everything is computed on luma (plus one
cross-channel statistic) so that colour style cannot leak in.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from vidprov.clip import Clip
from vidprov.color import luma
from vidprov.detector.stats import EPS, kurtosis

N_RADIAL_BINS = 32
FRAME_STEP = 2  # frequency statistics use every second frame of a window (features.FEATURE_VERSION 2)


@lru_cache(maxsize=16)
def _hann2d(h: int, w: int) -> np.ndarray:
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    win.flags.writeable = False  # shared between calls (and threads)
    return win


@lru_cache(maxsize=16)
def _rings(h: int, w: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Ring index of every spectrum cell (bins = beyond Nyquist) and the cell count per ring."""
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h // 2) / (h / 2), (xx - w // 2) / (w / 2))
    idx = np.minimum((r * bins).astype(int), bins).ravel()
    counts = np.bincount(idx, minlength=bins + 1)
    idx.flags.writeable = counts.flags.writeable = False
    return idx, counts


@lru_cache(maxsize=16)
def _off_axis(h: int, w: int) -> np.ndarray:
    """Cells away from DC and the axes of a centred (h, w) spectrum."""
    yy, xx = np.mgrid[:h, :w]
    away = (np.abs(yy - h // 2) > h // 16) & (np.abs(xx - w // 2) > w // 16)
    away.flags.writeable = False
    return away


def power_spectrum(planes: np.ndarray) -> np.ndarray:
    """Mean centred power spectrum of (T, H, W) planes, Hann-windowed, mean removed per plane."""
    import scipy.fft

    x = np.asarray(planes, np.float32)
    h, w = x.shape[1:]
    x = (x - x.mean(axis=(1, 2), keepdims=True)) * _hann2d(h, w)
    # Real input: the spectrum is point-symmetric, P(-ky, -kx) = P(ky, kx). A real FFT gives columns
    # 0..W/2 at under half the cost of a complex one; the others are mirrored from them.
    f = scipy.fft.rfft2(x, workers=1)
    half = (f.real**2 + f.imag**2).mean(axis=0, dtype=np.float64)  # (H, W//2 + 1)
    p = np.empty((h, w))
    p[:, : half.shape[1]] = half
    rest = w - half.shape[1]  # columns W//2+1 .. W-1 hold kx = -(W - col)
    if rest:
        p[:, half.shape[1]:] = np.roll(half[::-1], 1, axis=0)[:, 1 : rest + 1][:, ::-1]
    return np.fft.fftshift(p)


def radial_profile(spec: np.ndarray, bins: int = N_RADIAL_BINS) -> np.ndarray:
    """Azimuthal mean of a centred spectrum over `bins` rings from DC to Nyquist (corners dropped)."""
    idx, counts = _rings(*spec.shape, bins)
    sums = np.bincount(idx, spec.ravel(), minlength=bins + 1)
    return (sums / np.maximum(counts, 1))[:bins]


def spectral_features(y: np.ndarray) -> dict[str, float]:
    prof = radial_profile(power_spectrum(y))
    total = prof[1:].sum() + EPS
    f = (np.arange(N_RADIAL_BINS) + 0.5) / N_RADIAL_BINS
    mid = slice(2, N_RADIAL_BINS // 2)
    high = slice(N_RADIAL_BINS // 2, N_RADIAL_BINS)
    logp = np.log(prof + 1e-12)
    slope_mid = np.polyfit(np.log(f[mid]), logp[mid], 1)[0]
    slope_high = np.polyfit(np.log(f[high]), logp[high], 1)[0]
    return {
        "spec_high_frac": float(np.log(prof[high].sum() / total + 1e-12)),
        "spec_top_frac": float(np.log(prof[int(0.85 * N_RADIAL_BINS):].sum() / total + 1e-12)),
        "spec_slope_mid": float(slope_mid),
        "spec_slope_high": float(slope_high),
        # Curvature of the log spectrum at high frequencies: a decoder's cut-off bends it down.
        "spec_high_bend": float(slope_high - slope_mid),
    }


def noise_residual(y: np.ndarray) -> np.ndarray:
    """(T, H, W) luma in [0,1] -> high-pass residual: frame minus its 3x3 median (denoised) version."""
    u8 = np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
    med = np.stack([cv2.medianBlur(f, 3) for f in u8]).astype(np.float32)
    return u8.astype(np.float32) - med


def periodic_peak_features(res: np.ndarray) -> dict[str, float]:
    """Peaks in the residual spectrum at the periods an upsampler leaves (N/2, N/4, N/8), and in general.

    Scores are log ratios of the power at a candidate frequency to the median of its neighbourhood.
    """
    spec = power_spectrum(res)
    h, w = spec.shape
    cy, cx = h // 2, w // 2
    logs = np.log(spec + 1e-9)

    def prominence(y: int, x: int) -> float:
        y0, y1, x0, x1 = max(0, y - 3), min(h, y + 4), max(0, x - 3), min(w, x + 4)
        return float(logs[y, x] - np.median(logs[y0:y1, x0:x1]))

    feats = {}
    for k in (2, 4, 8):
        cands = []
        for m in range(1, k):
            if k == 2 or m % 2:  # the new harmonics of period k (even m repeat the period k/2 ones)
                dy, dx = (h * m) // k, (w * m) // k
                for y, x in ((cy, (cx + dx) % w), ((cy + dy) % h, cx), ((cy + dy) % h, (cx + dx) % w)):
                    cands.append(prominence(y, x))
        feats[f"peak_period{k}"] = float(max(cands))
    # Peaks anywhere away from DC and the axes (which JPEG/H.264 blocking and borders dominate).
    away = _off_axis(h, w)
    local_med = cv2.medianBlur(np.clip((logs - logs.min()) * 8, 0, 255).astype(np.uint8), 5).astype(np.float32) / 8
    excess = (logs - logs.min()) - local_med
    feats["peak_any_max"] = float(np.percentile(excess[away], 99.9))
    return feats


def residual_features(res: np.ndarray, rgb: np.ndarray, step: int = 1) -> dict[str, float]:
    """Statistics of a (T, H, W) noise residual; rgb (T, H, W, 3) uint8 for the cross-channel one.

    step > 1: the spatial statistics use every step-th frame only, and the temporal correlation the
    pairs (t, t+1) starting at those frames, which keeps its one-frame lag at 1/step of the cost.
    """
    first = res[::step]
    std = float(first.std())
    mean = first.mean()
    r = first - mean
    var = (r**2).mean() + EPS

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float((a * b).mean() / var)

    # Temporal correlation of the residual: sensor noise is independent frame to frame.
    if len(res) > 1:
        nxt = res[1::step]
        temporal = corr(nxt - mean, r[: len(nxt)])
    else:
        temporal = 0.0
    # Cross-channel correlation of residuals (demosaicing correlates them on cameras).
    sub = rgb[::step, ::2, ::2].astype(np.float32)
    chan = np.stack([[f[..., c] - cv2.blur(f[..., c], (3, 3)) for f in sub] for c in range(3)]).reshape(3, -1)
    chan -= chan.mean(axis=1, keepdims=True)
    cov = chan @ chan.T  # (3, 3): Pearson correlations below, as np.corrcoef but in float32 BLAS
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        cc = cov / np.outer(sd, sd)
    return {
        "resid_log_std": float(np.log(std + 1e-3)),
        "resid_kurtosis": kurtosis(first[:, ::2, ::2]),
        "resid_acf_x1": corr(r[:, :, 1:], r[:, :, :-1]),
        "resid_acf_y1": corr(r[:, 1:], r[:, :-1]),
        "resid_acf_x2": corr(r[:, :, 2:], r[:, :, :-2]),
        "resid_acf_t1": temporal,
        "resid_chan_corr": float(np.nan_to_num((cc[0, 1] + cc[1, 2] + cc[0, 2]) / 3)),
        # How unevenly noise spreads over the frame: generators denoise flat regions completely.
        "resid_block_cv": _block_cv(np.abs(first)),
    }


def _block_cv(a: np.ndarray, block: int = 32) -> float:
    t, h, w = a.shape
    b = a[:, : h - h % block, : w - w % block].reshape(t, h // block, block, w // block, block).mean(axis=(2, 4))
    return float(b.std() / (b.mean() + EPS))


def frequency_features(clip: Clip, y: np.ndarray | None = None, step: int = FRAME_STEP) -> dict[str, float]:
    """All frequency and noise features of a (normalised) clip; y: its luma, if already computed.

    Spectra and residual statistics are averages over frames, and neighbouring frames of a window
    are nearly the same image: every `step`-th frame gives nearly the same statistics at 1/step the cost.
    """
    y = luma(clip.frames) if y is None else y
    step = max(1, min(step, len(y) // 2))  # short clips keep at least two frames
    feats = spectral_features(y[::step])
    res = noise_residual(y)
    feats.update(periodic_peak_features(res[::step]))
    feats.update(residual_features(res, clip.frames, step))
    return feats
