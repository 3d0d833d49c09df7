"""Error-correcting code of the pixel watermark: the rate-1/2, constraint-length-7 convolutional
code (generators 133, 171 octal, the one in 802.11 and DVB) with soft-decision Viterbi decoding.

Soft decoding matters: the detector knows how sure it is about every coded bit (a correlation),
and the Viterbi search uses that, which is worth ~2 dB over hard decisions.
"""

from __future__ import annotations

import numpy as np

CONSTRAINT = 7
GENERATORS = (0o133, 0o171)
_MEMORY = CONSTRAINT - 1
_NSTATES = 1 << _MEMORY


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    out = np.zeros_like(x)
    while np.any(x):
        out ^= x & 1
        x >>= 1
    return out


# Register r = (input << 6) | state, state = the 6 previous inputs (most recent in bit 5).
_REG = np.arange(1 << CONSTRAINT)
_OUT = np.stack([_parity(_REG & g) for g in GENERATORS], axis=1)  # (128, 2) output bits per register
# For each next state s' = (u << 5) | (s >> 1): its two predecessors s and their registers.
_NEXT = np.arange(_NSTATES)
_U = _NEXT >> (_MEMORY - 1)
_PRED = np.stack([((_NEXT << 1) & (_NSTATES - 1)) | b for b in (0, 1)], axis=1)  # (64, 2)
_PRED_REG = (_U[:, None] << _MEMORY) | _PRED  # (64, 2)
_PRED_SYM = 1.0 - 2.0 * _OUT[_PRED_REG]  # (64, 2, 2): +-1 symbols expected on each branch


def coded_length(n_bits: int) -> int:
    """Number of coded bits for n_bits of payload (the encoder is flushed with 6 zero bits)."""
    return 2 * (n_bits + _MEMORY)


def encode(bits: np.ndarray) -> np.ndarray:
    """bits (n,) of 0/1 -> coded bits (2 * (n + 6),) of 0/1."""
    bits = np.asarray(bits, dtype=np.int64).ravel()
    if bits.size and (bits.min() < 0 or bits.max() > 1):
        raise ValueError("bits must be 0/1")
    state = 0
    out = np.empty((bits.size + _MEMORY, 2), dtype=np.uint8)
    for i, u in enumerate(np.concatenate([bits, np.zeros(_MEMORY, dtype=np.int64)])):
        reg = (int(u) << _MEMORY) | state
        out[i] = _OUT[reg]
        state = reg >> 1
    return out.ravel()


def viterbi_decode(soft: np.ndarray, n_bits: int) -> np.ndarray:
    """Maximum-likelihood bits from soft values (positive = coded bit 0), length 2 * (n_bits + 6)."""
    soft = np.asarray(soft, dtype=np.float64).ravel()
    steps = n_bits + _MEMORY
    if soft.size != 2 * steps:
        raise ValueError(f"expected {2 * steps} soft values, got {soft.size}")
    pairs = soft.reshape(steps, 2)
    metric = np.full(_NSTATES, -np.inf)
    metric[0] = 0.0  # the encoder starts in state 0
    choice = np.empty((steps, _NSTATES), dtype=np.uint8)
    for t in range(steps):
        branch = _PRED_SYM @ pairs[t]  # (64, 2) correlation of each branch with what was received
        cand = metric[_PRED] + branch
        best = np.argmax(cand, axis=1)
        choice[t] = best
        metric = cand[np.arange(_NSTATES), best]
    state = 0  # flushed with zeros: the path ends in state 0
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = state >> (_MEMORY - 1)
        state = _PRED[state, choice[t, state]]
    return bits[:n_bits]
