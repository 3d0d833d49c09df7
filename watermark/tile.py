"""The periodic tile the pixel watermark lives in, and the folding that reads it back.

The mark is one TILE x TILE luma pattern repeated over the whole frame and every frame. Its energy
sits in a ring of mid spatial frequencies of the tile's 2-D DFT (they survive H.264, blur and a
0.5x resize). Which coefficient carries the sync pattern and which carries which coded payload bit
is fixed (key-independent), so the null distribution of the detector is the same for every key;
the key chooses the phase of every coefficient and scrambles the payload.

Folding (summing the frame over the tile period) turns a crop into a cyclic shift of the tile
and a resize by s into a tile of period s * TILE with the same DFT indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from vidprov.watermark import ecc
from vidprov.watermark.keys import WatermarkKey

TILE = 64
R_MIN, R_MAX = 2.5, 15.0  # ring of DFT indices (cycles per tile)
PAYLOAD_BITS = 64
N_SYNC = 136
HIGHPASS = 15  # box size of the local-mean removal before folding (removes low-frequency host)
LAYOUT_SEED = 20260401


@dataclass(frozen=True)
class Layout:
    ky: np.ndarray  # (K,) signed row frequency of each used coefficient (half plane)
    kx: np.ndarray  # (K,)
    sync: np.ndarray  # (S,) indices into the K coefficients
    payload: np.ndarray  # (Q,) indices into the K coefficients
    bit_of: np.ndarray  # (Q,) coded-bit index carried by each payload coefficient
    n_coded: int


@lru_cache(maxsize=1)
def layout() -> Layout:
    r = int(np.ceil(R_MAX))
    ky, kx = np.meshgrid(np.arange(-r, r + 1), np.arange(0, r + 1), indexing="ij")
    ky, kx = ky.ravel(), kx.ravel()
    rad = np.hypot(ky, kx)
    half = (kx > 0) | ((kx == 0) & (ky > 0))  # one of each conjugate pair
    keep = half & (rad >= R_MIN) & (rad <= R_MAX)
    ky, kx = ky[keep], kx[keep]
    order = np.random.default_rng(LAYOUT_SEED).permutation(ky.size)
    sync, payload = order[:N_SYNC], order[N_SYNC:]
    n_coded = ecc.coded_length(PAYLOAD_BITS)
    if payload.size < n_coded:
        raise RuntimeError("tile layout has fewer payload coefficients than coded bits")
    # Coded bits are spread over the payload coefficients round-robin (some carry two copies).
    bit_of = np.arange(payload.size) % n_coded
    return Layout(ky=ky, kx=kx, sync=np.sort(sync), payload=payload, bit_of=bit_of, n_coded=n_coded)


@dataclass(frozen=True)
class KeyPattern:
    """Unit complex phasors (K,) for one key: the key's phase per coefficient."""

    phasor: np.ndarray
    scramble: np.ndarray  # (n_coded,) 0/1 whitening of the coded bits


@lru_cache(maxsize=64)
def key_pattern(key: WatermarkKey) -> KeyPattern:
    lay = layout()
    phase = key.rng("tile-phase").uniform(0.0, 2.0 * np.pi, lay.ky.size)
    scramble = key.rng("payload-scramble").integers(0, 2, lay.n_coded).astype(np.uint8)
    return KeyPattern(phasor=np.exp(1j * phase), scramble=scramble)


def signs_for(payload: bytes, key: WatermarkKey) -> np.ndarray:
    """+-1 per coefficient: +1 on sync coefficients, the scrambled coded bit on payload ones."""
    lay = layout()
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    coded = ecc.encode(bits) ^ key_pattern(key).scramble
    s = np.ones(lay.ky.size)
    s[lay.payload] = 1.0 - 2.0 * coded[lay.bit_of]
    return s


WHITEN_C = 2.0  # floor of the local activity (grey levels) in the whitening weight


def prefilter(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One luma frame (H, W) float32 -> (whitened residual, local mean, local activity).

    residual = (y - local mean) / (local mean absolute deviation + c): the high-pass removes the
    low-frequency host, and dividing by the local activity makes the remaining host roughly white,
    so quiet regions count as much as busy ones (a locally whitened matched filter).
    """
    size = (HIGHPASS, HIGHPASS)
    mu = cv2.blur(y, size, borderType=cv2.BORDER_REFLECT)
    act = cv2.blur(cv2.absdiff(y, mu), size, borderType=cv2.BORDER_REFLECT)
    res = cv2.divide(cv2.subtract(y, mu), cv2.add(act, WHITEN_C))
    return res, mu, act


def whiten(y: np.ndarray) -> np.ndarray:
    """prefilter's residual for every frame of (T, H, W) float32."""
    out = np.empty_like(y)
    for i in range(y.shape[0]):
        out[i] = prefilter(y[i])[0]
    return out


def highpass_gain(period: int = TILE) -> np.ndarray:
    """Gain of `highpass` at each layout coefficient (box filter transfer function), (K,)."""
    lay = layout()

    def box(k):
        f = np.abs(k) / period
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.sin(HIGHPASS * np.pi * f) / (HIGHPASS * np.sin(np.pi * f))
        return np.where(f == 0, 1.0, d)

    return 1.0 - box(lay.ky) * box(lay.kx)


def fold(y: np.ndarray, period: int) -> np.ndarray:
    """Mean over every tile of each frame, partial edge tiles included: (T, H, W) -> (T, P, P) float64.

    Using the partial tiles matters on small frames (176x144 holds only 2x2 whole 64-pixel tiles,
    65% of its area). Each tile position is divided by how many tiles covered it, so the folded
    mark is the designed tile exactly. Sums in the input's precision (float32 is plenty, 2x faster)."""
    t, h, w = y.shape
    nh, nw = h // period, w // period
    if nh == 0 or nw == 0:
        raise ValueError(f"frame {h}x{w} is smaller than the period {period}")
    rh, rw = h - nh * period, w - nw * period
    rows = y[:, : nh * period].reshape(t, nh, period, w).sum(axis=1)  # (T, P, W)
    if rh:
        rows[:, :rh] += y[:, nh * period :]
    out = rows[:, :, : nw * period].reshape(t, period, nw, period).sum(axis=2)  # (T, P, P)
    if rw:
        out[:, :, :rw] += rows[:, :, nw * period :]
    count = np.outer(nh + (np.arange(period) < rh), nw + (np.arange(period) < rw))
    return out.astype(np.float64) / count


def coefficients(tiles: np.ndarray, period: int) -> np.ndarray:
    """DFT of folded tiles at the layout coefficients: (..., P, P) -> (..., K) complex."""
    lay = layout()
    spec = np.fft.fft2(tiles, axes=(-2, -1))
    return spec[..., lay.ky % period, lay.kx % period]


def to_tile(coef: np.ndarray, period: int = TILE) -> np.ndarray:
    """Real (P, P) tile whose DFT is coef at the layout coefficients (and their conjugates)."""
    lay = layout()
    spec = np.zeros((period, period), dtype=np.complex128)
    spec[lay.ky % period, lay.kx % period] = coef
    spec[(-lay.ky) % period, (-lay.kx) % period] = np.conj(coef)
    return np.fft.ifft2(spec).real


def correlation_map(coef: np.ndarray, reference: np.ndarray, period: int) -> np.ndarray:
    """Phase-only correlation over every cyclic shift of the tile, normalised to N(0, 1) under H0.

    coef (K_s,) measured, reference (K_s,) unit phasors. Entry [dy, dx] tests 'the tile was
    shifted by (dy, dx)'. With uniform random key phases each entry is a sum of K_s cosines of
    uniform phases: mean 0, variance K_s / 2, whatever the video.
    """
    lay = layout()
    mag = np.abs(coef)
    unit = np.divide(coef, mag, out=np.zeros_like(coef), where=mag > 0)
    g = unit * np.conj(reference)
    ky, kx = lay.ky[lay.sync], lay.kx[lay.sync]
    spec = np.zeros((period, period), dtype=np.complex128)
    spec[ky % period, kx % period] = g
    # sum_k Re(g_k exp(+2 pi i k.d / P)): a shift by d multiplies the tile's DFT by exp(-2 pi i k.d / P)
    corr = np.fft.ifft2(spec).real * (period * period)
    return corr / np.sqrt(g.size / 2.0)


def shift_phasor(period: int, dy: int, dx: int, idx: np.ndarray | None = None) -> np.ndarray:
    """exp(+2 pi i k.d / P) at the layout coefficients: undoes a cyclic shift of (dy, dx)."""
    lay = layout()
    ky, kx = (lay.ky, lay.kx) if idx is None else (lay.ky[idx], lay.kx[idx])
    return np.exp(2j * np.pi * (ky * dy + kx * dx) / period)

