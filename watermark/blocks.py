"""The block grid the pixel watermark lives in: block sizes, carrier vectors, slots and the key's dithers.

The luma of every frame is cut into B x B blocks (B grows with the frame, so a resize keeps the
number of blocks). Each block carries K symbols, one per carrier vector: a smooth low-frequency
pattern (a product of two half-sine bases, zero at the block's edges so neighbouring blocks join
without seams, and of zero mean so a brightness offset does not move it). A symbol is the block's
amplitude along its vector, quantised onto a lattice (dither modulation): the key chooses every
lattice's offset (its dither), a payload bit shifts it by half a step. The step grows with the
block's mean luma (Weber's law: the same relative change is as visible everywhere), which also
makes the lattice follow a brightness gain.

Blocks tile the frame in TILE x TILE groups; (block row mod TILE, block column mod TILE, vector) is
a slot. Which slot is sync, test or which coded payload bit is fixed and key-independent, so the
null law of the detector is the same for every key; the key draws the dithers and scrambles the
coded bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vidprov.watermark import ecc
from vidprov.watermark.keys import WatermarkKey

BLOCK_SIZES = (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128)
TILE = 8  # blocks per side of the slot tile
PAIRS = ((1, 2), (2, 1), (2, 2), (3, 2), (2, 3))  # (vertical, horizontal) half-sine orders of the K vectors
PAYLOAD_BITS = 64
N_SYNC = 90  # slots that find the grid (shift, tile offset, block size)
LAYOUT_SEED = 20261201
STEP = 0.06  # lattice step as a fraction of the block's mean luma
STEP_FLOOR = 64.0  # mean luma below which the step stops shrinking (the codec's noise does not shrink with it)
RELIABLE_FROM, RELIABLE_AT = 16.0, 112.0  # detector weights of blocks grow with their mean luma between these


def block_size(height: int, width: int) -> int:
    """The block size the embedder uses for frames of this size: the largest that leaves >= 9 blocks
    on the short side (>= 8 for the smallest frames), so every slot of the tile is in the frame."""
    m = min(height, width)
    for need in (9, 8):
        fits = [b for b in BLOCK_SIZES if need * b <= m]
        if fits:
            return fits[-1]
    raise ValueError(f"frames of {height}x{width} are smaller than the {TILE * BLOCK_SIZES[0]}-pixel watermark tile")


def candidate_sizes(height: int, width: int) -> list[int]:
    """Block sizes the detector searches: the embedder's for this size first, then those a resize by
    0.5-2x of a marked frame would show (at least 6 blocks on the short side)."""
    m = min(height, width)
    own = block_size(height, width) if m >= TILE * BLOCK_SIZES[0] else None
    others = [b for b in BLOCK_SIZES if 6 * b <= m and 18 * b >= m and b != own]
    return ([own] if own else []) + sorted(others, key=lambda b: abs(np.log(b / (own or m / 9))))


@lru_cache(maxsize=16)
def half_sines(size: int) -> dict[int, np.ndarray]:
    """The 1-D factors of the carriers, float32 (B,), by order: the detector filters with them."""
    t = (np.arange(size) + 0.5) / size
    return {a: np.sin(np.pi * a * t).astype(np.float32) for a in {p for pair in PAIRS for p in pair}}


@lru_cache(maxsize=16)
def carriers(size: int) -> np.ndarray:
    """(K, B, B) float32 carrier vectors for block size B (orthogonal, RMS 0.5)."""
    s = half_sines(size)
    return np.stack([np.outer(s[a], s[b]) for a, b in PAIRS])


def energy(size: int) -> float:
    """Squared norm of every carrier vector (they all have the same)."""
    return float(size * size / 4.0)


def step(mean: np.ndarray) -> np.ndarray:
    """Lattice step (luma amplitude along a carrier) from a block's mean luma."""
    return STEP * np.maximum(mean, STEP_FLOOR)


def reliability(mean: np.ndarray) -> np.ndarray:
    """Detector weight of a block from its mean luma: H.264 keeps the mark of dark blocks worst (their
    step is smallest, the codec's noise is not), measured on real clips after CRF 30."""
    return np.clip((mean - RELIABLE_FROM) / (RELIABLE_AT - RELIABLE_FROM), 0.1, 1.0)


@dataclass(frozen=True)
class Layout:
    role: np.ndarray  # (TILE, TILE, K) int8: 0 sync, 1 test, 2 payload
    bit_of: np.ndarray  # (TILE, TILE, K) coded-bit index of payload slots, -1 elsewhere
    n_coded: int

    @property
    def sync(self) -> np.ndarray:
        return self.role == 0

    @property
    def test(self) -> np.ndarray:
        return self.role == 1

    @property
    def payload(self) -> np.ndarray:
        return self.role == 2


@lru_cache(maxsize=1)
def layout() -> Layout:
    k = len(PAIRS)
    n = TILE * TILE * k
    n_coded = ecc.coded_length(PAYLOAD_BITS)
    n_test = n - N_SYNC - n_coded
    if n_test < 32:
        raise RuntimeError("slot tile too small for sync, test and coded payload")
    order = np.random.default_rng(LAYOUT_SEED).permutation(n)
    role = np.full(n, 2, dtype=np.int8)
    role[order[:N_SYNC]] = 0
    role[order[N_SYNC : N_SYNC + n_test]] = 1
    bit_of = np.full(n, -1, dtype=np.int64)
    bit_of[order[N_SYNC + n_test :]] = np.arange(n_coded)
    return Layout(role=role.reshape(TILE, TILE, k), bit_of=bit_of.reshape(TILE, TILE, k), n_coded=n_coded)


@dataclass(frozen=True)
class KeyPattern:
    dither: np.ndarray  # (TILE, TILE, K) lattice offsets in steps, uniform in [0, 1)
    scramble: np.ndarray  # (n_coded,) 0/1 whitening of the coded bits


@lru_cache(maxsize=64)
def key_pattern(key: WatermarkKey) -> KeyPattern:
    lay = layout()
    dither = key.rng("block-dither").uniform(0.0, 1.0, lay.role.shape)
    scramble = key.rng("payload-scramble").integers(0, 2, lay.n_coded).astype(np.uint8)
    return KeyPattern(dither=dither, scramble=scramble)


def lattice_offsets(payload: bytes, key: WatermarkKey) -> np.ndarray:
    """(TILE, TILE, K) lattice offset of every slot in steps: the dither, plus 1/2 where the
    (scrambled) coded payload bit is 1."""
    lay = layout()
    pat = key_pattern(key)
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    coded = ecc.encode(bits) ^ pat.scramble
    half = np.zeros(lay.role.shape)
    half[lay.payload] = 0.5 * coded[lay.bit_of[lay.payload]]
    return (pat.dither + half) % 1.0
