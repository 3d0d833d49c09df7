"""The pixel watermark: embed a keyed 64-bit word in the luma of every frame, and detect it.

The word is a 24-bit message, a digest of the content and a keyed tag (binding.py): a detection is
only reported as a vidprov mark when the tag is valid and the digest matches the content it sits in.

Embedding (per frame, see blocks.py for the grid): every block's amplitude along each of its K
smooth carrier vectors is moved towards the nearest point of its slot's lattice (dither
modulation, with distortion compensation: only a fraction alpha of the way). The lattice step
follows the block's mean luma (Weber masking); alpha follows a JND-style mask (more in texture,
less near black and white) and is scaled so that every frame meets a fixed PSNR. The same change
goes to R, G and B, so chroma is untouched (4:2:0 would destroy it anyway). The mark is the same in
every frame (temporal redundancy), so it survives frame dropping and H.264's inter prediction.

Why lattices and not an added pattern: at the low spatial frequencies that survive H.264 CRF 40
the host's own energy is hundreds of times the mark's, which an additive (spread-spectrum) mark
cannot get past; a lattice decoder does not see the host at all, only the codec's noise.

Detection: for each searched block size, every grid shift and tile offset, the lattice phases of
all blocks (summed as unit phasors over frames) are correlated with the key's sync dithers; the
best hypothesis is then tested with separate test slots, whose null law is exact (null.py), and
the payload slots are Viterbi-decoded there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
from scipy import stats

from vidprov.clip import Clip
from vidprov.color import luma_u8
from vidprov.errors import VidprovError
from vidprov.watermark import binding, blocks, ecc, null
from vidprov.watermark.keys import WatermarkKey, as_key, parse_expected, parse_payload

log = logging.getLogger(__name__)

DEFAULT_PSNR_DB = 42.5
DEFAULT_ALPHA = 1e-6  # detection threshold on the p-value
BATCH = 16
BATCH_PIXELS = BATCH * 640 * 480  # frames per batch shrink above 640x480, so 4K frames go one at a time
MAX_ANALYSIS_FRAMES = 16  # frames the detector keeps, evenly spread (16 and 96 read H.264-attacked clips alike)
ANALYSIS_PIXELS = 8 * 1920 * 1088  # luma pixels kept at most: 16 frames up to 720p, 8 at 1080p
# Frames larger than 720p are analysed at half size (the search covers marks rescaled by 0.5-2x):
# a quarter of the memory and time, at the robustness of the 0.5x resize attack.
HALVE_ABOVE = 1280 * 736
GRID_CACHE_BYTES = 128 * 2**20  # per-size sums kept for further keys; larger ones are recomputed
ACCEPT_Z = 9.0  # a sync peak this high ends the block-size search (the null maximum is ~5)
UNTOUCHED_MARGIN = 2.0  # the untouched geometry wins unless another peak is this much higher


class WatermarkError(VidprovError, ValueError):
    """Frames the watermark cannot work with (too small for its tile, wrong dtype or shape)."""


@dataclass
class WatermarkResult:
    """detected: the key's mark is present, its 64-bit word is valid under the key (tag) and was made
    for this content (digest within tolerance): status "bound". signal: only the statistical test
    (p_value < alpha). status: bound, copied (valid word made for other content), unreadable (a
    watermark-like signal whose word is not valid: never reported as a vidprov mark) or absent."""

    detected: bool
    p_value: float
    bit_accuracy: float
    bit_accuracy_source: str  # "expected" (vs the given payload) or "estimated" (coded-bit agreement)
    payload: str  # 16 hex digits: the word read (message, digest, tag), valid or not
    z: float  # the test statistic in null standard deviations
    block: int  # block size found, pixels
    shift: tuple[int, int]  # grid origin found (row, column), pixels
    tile_offset: tuple[int, int]  # slot tile offset found, blocks
    sync_z: float  # height of the sync peak that chose the hypothesis
    key_id: str
    num_frames: int
    frames_analysed: int
    segments: list[dict] = field(default_factory=list)
    signal: bool = False
    status: str = binding.ABSENT
    message: str = ""  # the user's 6 hex digits, from a valid word only
    tag_ok: bool = False
    digest_distance: int = binding.DIGEST_BITS

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shift"], d["tile_offset"] = list(self.shift), list(self.tile_offset)
        return d


def jnd_mask(mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Per-block strength from its mean and standard deviation: texture masking (more in busy
    blocks), damped near black and white (clipping, visibility)."""
    texture = np.sqrt(np.clip(spread, 2.0, 40.0) / 10.0)
    headroom = np.clip(np.minimum(mean, 255.0 - mean) / 32.0, 0.2, 1.0)
    return texture * headroom


def _block_view(y: np.ndarray, b: int) -> np.ndarray:
    """(H, W) -> (nby, B, nbx, B) view of the whole blocks."""
    nby, nbx = y.shape[0] // b, y.shape[1] // b
    return y[: nby * b, : nbx * b].reshape(nby, b, nbx, b)


def _tiled(slots: np.ndarray, nby: int, nbx: int) -> np.ndarray:
    """(TILE, TILE, K) per-slot values -> (nby, nbx, K) per block (slot = block index mod TILE)."""
    t = blocks.TILE
    return np.tile(slots, (-(-nby // t), -(-nbx // t), 1))[:nby, :nbx]


def project(y: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes (nby, nbx, K) of the whole blocks of one frame along the carriers, and the blocks'
    mean luma (nby, nbx)."""
    v = _block_view(y, b)
    amp = np.einsum("ibjc,kbc->ijk", v, blocks.carriers(b), optimize=True) / blocks.energy(b)
    return amp, v.mean(axis=(1, 3))


def embed(clip: Clip, key, payload: str | bytes | None = None, *, psnr_db: float = DEFAULT_PSNR_DB) -> Clip:
    """Mark every frame of clip with a 64-bit word under key. Returns a new Clip (same fps/meta).

    payload: the message, up to 6 hex digits or 3 bytes (default: the key id's first 3 bytes); the word
    embedded adds the first frame's content digest and a keyed tag (binding.py). psnr_db: the luma
    change of every frame is scaled to this PSNR (a frame whose blocks all reach their lattice points
    with less change gets less: a budget is a ceiling, not a target to burn).
    meta: watermark_payload is the 16-hex word embedded, watermark_message the message.
    """
    k = as_key(key)
    if clip.num_frames == 0:
        raise WatermarkError("no frames to mark")
    word = word_for(clip.frames[0], k, payload)
    frames = np.concatenate(list(embed_frames(clip.frames, k, word, psnr_db=psnr_db)))
    return clip.replace(frames=frames, watermark_key_id=k.key_id, watermark_payload=word.hex(),
                        watermark_message=word[: binding.MESSAGE_BYTES].hex())


def word_for(first_frame: np.ndarray, key, payload: str | bytes | None = None) -> bytes:
    """The 8-byte word a clip starting with first_frame (uint8 (H, W, 3)) carries: message, digest, tag."""
    k = as_key(key)
    frame = np.asarray(first_frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise WatermarkError(f"frames must be uint8 (T, H, W, 3), got {frame.dtype} {frame.shape}")
    return binding.seal(parse_payload(payload, k), binding.content_digest(luma_u8(frame).astype(np.float32)), k)


def _strengths(err2: np.ndarray, mask: np.ndarray, budget2: float) -> np.ndarray:
    """alpha per block: min(1, lam * mask), lam chosen so that sum(alpha^2 * err2) = budget2."""
    if float(np.sum(err2)) <= budget2:
        return np.ones_like(mask)
    lo, hi = 0.0, 1.0 / max(float(mask.min()), 1e-6)
    for _ in range(40):
        lam = 0.5 * (lo + hi)
        if np.sum(np.minimum(1.0, lam * mask) ** 2 * err2) > budget2:
            hi = lam
        else:
            lo = lam
    return np.minimum(1.0, lo * mask)


def embed_frames(frames: Iterable[np.ndarray] | np.ndarray, key: WatermarkKey, payload: bytes, *,
                 psnr_db: float = DEFAULT_PSNR_DB) -> Iterator[np.ndarray]:
    """Streaming embed: yields marked uint8 (B, H, W, 3) batches for frames in (T, H, W, 3) order.
    payload: the 8-byte word (word_for)."""
    if len(payload) != 8:
        raise WatermarkError(f"embed_frames takes the 8-byte word (word_for), got {len(payload)} bytes")
    offsets = blocks.lattice_offsets(payload, key)
    budget = 255.0 / 10.0 ** (psnr_db / 20.0)  # target RMS of the luma change
    # rounding to 8 bits adds ~1/12 grey level^2 where the mark is: leave room for it
    budget2 = max(budget**2 - 1.0 / 12.0, 0.25 * budget**2)
    for batch in _batches(frames):
        rgb = np.asarray(batch)
        if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3:
            raise WatermarkError(f"frames must be uint8 (T, H, W, 3), got {rgb.dtype} {rgb.shape}")
        _, h, w, _ = rgb.shape
        try:
            b = blocks.block_size(h, w)
        except ValueError as exc:
            raise WatermarkError(str(exc)) from None
        y = luma_u8(rgb).astype(np.float32)
        vec = blocks.carriers(b)
        dy = np.zeros_like(y)
        for i in range(y.shape[0]):
            amp, mean = project(y[i], b)
            spread = _block_view(y[i], b).std(axis=(1, 3))
            nby, nbx = mean.shape
            d = blocks.step(mean)[..., None]
            t = amp / d - _tiled(offsets, nby, nbx)
            err = (np.rint(t) - t) * d  # (nby, nbx, K) amplitude to the nearest lattice point
            err2 = np.sum(err * err, axis=-1) * (blocks.energy(b) / (h * w))  # its share of the frame's MSE
            alpha = _strengths(err2, jnd_mask(mean, spread), budget2)
            change = np.einsum("ijk,kbc->ibjc", alpha[..., None] * err, vec, optimize=True)
            dy[i, : nby * b, : nbx * b] = change.reshape(nby * b, nbx * b)
        yield _add_luma(rgb, dy)


def _add_luma(rgb: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """rgb (B, H, W, 3) uint8 + rounded dy (B, H, W) on every channel, saturating (OpenCV SIMD adds)."""
    d = np.rint(dy)
    up = np.clip(d, 0, 255).astype(np.uint8)
    down = np.clip(-d, 0, 255).astype(np.uint8)
    out = np.empty_like(rgb)
    for i in range(rgb.shape[0]):
        plus = cv2.cvtColor(up[i], cv2.COLOR_GRAY2RGB)
        minus = cv2.cvtColor(down[i], cv2.COLOR_GRAY2RGB)
        out[i] = cv2.subtract(cv2.add(rgb[i], plus), minus)
    return out


def _batch_size(frame_shape) -> int:
    return max(1, min(BATCH, BATCH_PIXELS // max(1, frame_shape[0] * frame_shape[1])))


def _batches(frames) -> Iterator[np.ndarray]:
    """Consecutive frames in batches of BATCH, fewer when frames are large (see BATCH_PIXELS)."""
    if isinstance(frames, np.ndarray):
        size = _batch_size(frames.shape[1:3]) if frames.ndim >= 3 else BATCH
        for i in range(0, frames.shape[0], size):
            yield frames[i : i + size]
        return
    buf = []
    size = BATCH
    for f in frames:
        if not buf:
            size = _batch_size(np.shape(f))
        buf.append(f)
        if len(buf) == size:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def phase_maps(y: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Lattice phasors w exp(2 pi i amplitude / step) of the B x B block at every origin of one frame,
    as real and imaginary parts, each (K, H - B + 1, W - B + 1) float32 (w: the block's reliability).
    The carriers are separable, so this is two 1-D filters per carrier."""
    h, w = y.shape
    hs = blocks.half_sines(b)
    rows = {o: cv2.filter2D(y, cv2.CV_32F, hs[o][None, :], anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
            for o in {p[1] for p in blocks.PAIRS}}
    mean = cv2.boxFilter(y, cv2.CV_32F, (b, b), anchor=(0, 0), normalize=True, borderType=cv2.BORDER_CONSTANT)
    h1, w1 = h - b + 1, w - b + 1
    mean = mean[:h1, :w1]
    scale = (2.0 * np.pi / blocks.energy(b)) / blocks.step(mean).astype(np.float32)
    weight = blocks.reliability(mean).astype(np.float32)
    re = np.empty((len(blocks.PAIRS), h1, w1), dtype=np.float32)
    im = np.empty_like(re)
    for k, (a, o) in enumerate(blocks.PAIRS):
        amp = cv2.filter2D(rows[o], cv2.CV_32F, hs[a][:, None], anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
        re[k], im[k] = cv2.polarToCart(weight, np.ascontiguousarray(amp[:h1, :w1] * scale))
    return re, im


class _Grid:
    """Key-independent sums for one block size: the phasors of every (grid shift, block index mod
    TILE) summed over blocks and frames, and their Fourier transforms over the tile axes."""

    def __init__(self, frames: list[np.ndarray], b: int):
        t, kk = blocks.TILE, len(blocks.PAIRS)
        h, w = frames[0].shape
        ny, nx = -(-h // (b * t)) * t, -(-w // (b * t)) * t  # block rows/cols, padded to whole tiles
        # float32 parts summed in place (one complex64 array, not two float arrays and their complex128 sum:
        # a third of the memory on 4K frames); the fold below sums in complex128 as before.
        acc = np.zeros((kk, ny * b, nx * b), dtype=np.complex64)
        for y in frames:
            re, im = phase_maps(y, b)
            acc.real[:, : re.shape[1], : re.shape[2]] += re
            acc.imag[:, : im.shape[1], : im.shape[2]] += im
            del re, im
        # zf[k, a, oy, c, ox]: blocks with origin (oy + i B, ox + j B), i = a, j = c (mod TILE)
        self.zf = acc.reshape(kk, ny // t, t, b, nx // t, t, b).sum(axis=(1, 4), dtype=np.complex128)
        flip = (-np.arange(t)) % t
        zflip = self.zf[:, flip][:, :, :, flip]
        self.fz = np.fft.fft2(zflip, axes=(1, 3))
        mask = blocks.layout().sync.astype(np.float64)  # (TILE, TILE, K)
        fm = np.fft.fft2(np.moveaxis(mask, -1, 0))  # (K, TILE, TILE)
        fe = np.fft.fft2(np.abs(zflip) ** 2, axes=(1, 3))
        self.norm = np.fft.ifft2(np.sum(fe * fm[:, :, None, :, None], axis=0), axes=(0, 2)).real / 2.0
        self.b = b
        self.nbytes = self.zf.nbytes + self.fz.nbytes + self.norm.nbytes

    def sync_z(self, pattern: blocks.KeyPattern) -> np.ndarray:
        """z of the sync correlation for every (tile row offset, grid row, tile col offset, grid col)."""
        lay = blocks.layout()
        g = np.where(lay.sync, np.exp(-2j * np.pi * pattern.dither), 0.0)
        fg = np.fft.fft2(np.moveaxis(g, -1, 0))  # (K, TILE, TILE)
        s = np.fft.ifft2(np.sum(self.fz * fg[:, :, None, :, None], axis=0), axes=(0, 2)).real
        return np.divide(s, np.sqrt(self.norm), out=np.zeros_like(s), where=self.norm > 1e-9)

    def slots(self, oy: int, ox: int, ty: int, tx: int) -> np.ndarray:
        """(TILE, TILE, K) summed phasors of every slot under one hypothesis."""
        sel = np.moveaxis(self.zf[:, :, oy, :, ox], 0, -1)
        return np.roll(sel, (ty, tx), axis=(0, 1))


class Folder:
    """Collects the luma a detection needs (at most max_frames, evenly spread) and the per-size sums;
    analyse() then tests any number of keys against it."""

    def __init__(self, height: int, width: int, fps: float, *, max_frames: int = MAX_ANALYSIS_FRAMES,
                 segment_s: float = 1.0, grid_cache_bytes: int = GRID_CACHE_BYTES):
        """grid_cache_bytes: memory for per-size sums kept between keys (the default bounds a scan's memory;
        testing thousands of keys against one clip, as the false-positive benchmark does, wants them all)."""
        self.grid_cache_bytes = grid_cache_bytes
        self.scale = 2 if height * width > HALVE_ABOVE else 1
        height, width = height // self.scale, width // self.scale
        self.sizes = blocks.candidate_sizes(height, width)
        if not self.sizes:
            raise WatermarkError(f"frames of {height}x{width} are too small to hold a watermark tile")
        self.height, self.width, self.fps = height, width, fps
        # Frames above 720p are analysed fewer at a time, so large frames' luma and sums stay within memory.
        self.max_frames = max(2, min(int(max_frames), ANALYSIS_PIXELS // (height * width)))
        self.seg_len = max(1, round(segment_s * fps))
        self.frames: list[np.ndarray] = []
        self.index: list[int] = []
        self.stride = 1
        self.n = 0
        self.digest: bytes | None = None  # of the first frame, to check a mark's binding
        self._grids: dict[int, _Grid] = {}

    def add_luma(self, y: np.ndarray) -> None:
        """y: (B, H, W) luma of consecutive frames."""
        if self.scale > 1:
            y = [cv2.resize(np.ascontiguousarray(f, dtype=np.float32), (self.width, self.height),
                            interpolation=cv2.INTER_AREA) for f in y]
        if self.digest is None and len(y):
            self.digest = binding.content_digest(y[0])
        for f in y:
            if self.n % self.stride == 0:
                self.frames.append(np.ascontiguousarray(f, dtype=np.float32))
                self.index.append(self.n)
                if len(self.frames) > self.max_frames:  # keep every other one: still evenly spread
                    self.stride *= 2
                    keep = [i for i, n in enumerate(self.index) if n % self.stride == 0]
                    self.frames = [self.frames[i] for i in keep]
                    self.index = [self.index[i] for i in keep]
            self.n += 1
        self._grids.clear()

    def grid(self, b: int) -> _Grid:
        if b in self._grids:
            return self._grids[b]
        g = _Grid(self.frames, b)
        if sum(x.nbytes for x in self._grids.values()) + g.nbytes <= self.grid_cache_bytes:
            self._grids[b] = g
        return g


def analyse(folder: Folder, key, *, expected_payload: str | bytes | None = None,
            alpha: float = DEFAULT_ALPHA, segments: bool = True) -> WatermarkResult:
    """Search block size, grid shift and tile offset; test and decode at the best hypothesis.
    segments=False skips the per-segment scores (they cost a pass over the frames per key)."""
    k = as_key(key)
    if not folder.frames:
        raise WatermarkError("no frames to analyse")
    lay = blocks.layout()
    pat = blocks.key_pattern(k)
    best = None
    for b in folder.sizes:  # the embedder's size for these frames first
        grid = folder.grid(b)
        z = grid.sync_z(pat)
        if best is None:
            own, z0 = grid, float(z[0, 0, 0, 0])
        idx = np.unravel_index(int(np.argmax(z)), z.shape)
        if best is None or z[idx] > best[0]:
            best = (float(z[idx]), grid, idx)
        if best[0] >= ACCEPT_Z:
            break
    # prior for the untouched geometry (the embedder's block size, no shift): most re-encoded
    # videos are not cropped, and a weak mark's true peak can sit just under a noise peak elsewhere
    if z0 >= best[0] - UNTOUCHED_MARGIN:
        best = (z0, own, (0, 0, 0, 0))
    sync_z, grid, (ty, oy, tx, ox) = best
    slots = grid.slots(oy, ox, ty, tx) * np.exp(-2j * np.pi * pat.dither)
    test = slots[lay.test]
    stat = float(np.sum(test.real))
    # Two independent exact tests, combined by Fisher's method: the test slots at the chosen
    # hypothesis (uniform given everything the search saw) and the sync slots at the untouched
    # geometry (fixed in advance, so uniform too), which doubles the evidence when nothing was cropped
    sync0 = (own.slots(0, 0, 0, 0) * np.exp(-2j * np.pi * pat.dither))[lay.sync]
    p_test = null.sf(stat, np.abs(test))
    p_sync0 = null.sf(float(np.sum(sync0.real)), np.abs(sync0))
    p_value = _fisher(p_test, p_sync0)
    soft = np.zeros(lay.n_coded)
    soft[lay.bit_of[lay.payload]] = slots[lay.payload].real
    soft = np.where(pat.scramble == 1, -soft, soft)
    bits = ecc.viterbi_decode(soft, blocks.PAYLOAD_BITS)
    payload = np.packbits(bits).tobytes()
    if expected_payload is not None:
        want = np.unpackbits(np.frombuffer(parse_expected(expected_payload), dtype=np.uint8))
        bit_acc, source = float(np.mean(want == bits[: len(want)])), "expected"
    else:
        recoded = ecc.encode(bits)
        seen = soft != 0
        agree = (soft < 0) == (recoded == 1)
        bit_acc, source = (float(np.mean(agree[seen])) if seen.any() else 0.5), "estimated"
    message, digest, tag_ok = binding.unseal(payload, k)
    dist = binding.distance(digest, folder.digest) if folder.digest is not None else binding.DIGEST_BITS
    signal = bool(p_value < alpha)
    status = binding.status(signal, tag_ok, dist)
    return WatermarkResult(
        detected=status == binding.BOUND, signal=signal, status=status, message=message.hex() if tag_ok else "",
        tag_ok=tag_ok, digest_distance=dist, p_value=p_value, bit_accuracy=bit_acc, bit_accuracy_source=source,
        payload=payload.hex(), z=null.z_score(stat, np.abs(test)), block=grid.b * folder.scale,
        shift=(int(oy) * folder.scale, int(ox) * folder.scale),
        tile_offset=(int(ty), int(tx)), sync_z=sync_z, key_id=k.key_id, num_frames=folder.n,
        frames_analysed=len(folder.frames),
        segments=_segments(folder, grid.b, (oy, ox, ty, tx), pat) if segments else [],
    )


def _fisher(*p_values: float) -> float:
    """Fisher's combination of independent p-values (exact: -2 sum log p is chi-square)."""
    x = -2.0 * sum(np.log(max(p, 1e-300)) for p in p_values)
    return float(stats.chi2.sf(x, 2 * len(p_values)))


def _segments(folder: Folder, b: int, hyp: tuple[int, int, int, int], pat: blocks.KeyPattern) -> list[dict]:
    """Test-slot score per time segment at the chosen hypothesis, from the analysed frames in it
    (segments without one are left out: long clips are sampled, see MAX_ANALYSIS_FRAMES)."""
    oy, ox, ty, tx = hyp
    lay = blocks.layout()
    t = blocks.TILE
    sums: dict[int, np.ndarray] = {}
    seen: dict[int, int] = {}
    for y, n in zip(folder.frames, folder.index, strict=True):
        amp, mean = project(y[oy:, ox:], b)  # the same phasors phase_maps gives at this grid origin
        ph = blocks.reliability(mean)[..., None] * np.exp(2j * np.pi * amp / blocks.step(mean)[..., None])
        nby, nbx = ph.shape[:2]
        pad = np.zeros((-(-nby // t) * t, -(-nbx // t) * t, ph.shape[2]), dtype=complex)
        pad[:nby, :nbx] = ph
        folded = pad.reshape(pad.shape[0] // t, t, pad.shape[1] // t, t, -1).sum(axis=(0, 2))
        seg = n // folder.seg_len
        sums[seg] = sums.get(seg, 0) + folded
        seen[seg] = seen.get(seg, 0) + 1
    out = []
    for seg in sorted(sums):
        r = np.roll(sums[seg], (ty, tx), axis=(0, 1)) * np.exp(-2j * np.pi * pat.dither)
        test = r[lay.test]
        stat = float(np.sum(test.real))
        start = seg * folder.seg_len
        n_frames = min(folder.seg_len, folder.n - start)
        out.append({"start_s": round(start / folder.fps, 3), "end_s": round((start + n_frames) / folder.fps, 3),
                    "num_frames": n_frames, "frames_analysed": seen[seg],
                    "z": round(null.z_score(stat, np.abs(test)), 3),
                    "p_value": null.sf(stat, np.abs(test))})
    return out


def detect(clip: Clip, key, *, expected_payload: str | bytes | None = None, alpha: float = DEFAULT_ALPHA,
           segment_s: float = 1.0, max_frames: int = MAX_ANALYSIS_FRAMES) -> WatermarkResult:
    """Test clip for the mark of key. p_value: P(a statistic this large | no mark of this key)."""
    k = as_key(key)
    folder = Folder(clip.height, clip.width, clip.fps, segment_s=segment_s, max_frames=max_frames)
    for batch in _batches(clip.frames):
        folder.add_luma(luma_u8(batch).astype(np.float32))
    return analyse(folder, k, expected_payload=expected_payload, alpha=alpha)


def fold_file(path, *, max_frames: int | None = None, segment_s: float = 1.0,
              analysis_frames: int = MAX_ANALYSIS_FRAMES) -> Folder:
    """Collect a video file's luma (decoded without colour conversion), ready for `analyse` with any key."""
    from vidprov.watermark.lumaread import iter_luma

    folder = None
    for fps, y in iter_luma(path, max_frames=max_frames):
        if folder is None:
            folder = Folder(y.shape[1], y.shape[2], fps, segment_s=segment_s, max_frames=analysis_frames)
        folder.add_luma(y)
    return folder


def detect_file(path, key, *, expected_payload: str | bytes | None = None, alpha: float = DEFAULT_ALPHA,
                max_frames: int | None = None) -> WatermarkResult:
    """detect() on a video file, reading only its luma plane."""
    return analyse(fold_file(path, max_frames=max_frames), key, expected_payload=expected_payload, alpha=alpha)
