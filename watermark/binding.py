"""What the pixel watermark's 64 bits carry, so a mark cannot be pasted onto other content and believed.

The 64-bit word is message (24 bits, the user's payload) | content digest (24 bits) | tag (16 bits).
The tag is a keyed MAC (HMAC-SHA256 under the watermark key) of message and digest: a word read from
a signal that was not embedded with the key (a denoiser's estimate of someone else's mark, noise)
passes it with probability 2^-16, and nobody without the key can make a valid word for new content.
The digest is a coarse perceptual hash of the first frame (signs of 24 fixed random projections of
its 8x8 luma thumbnail, mean removed): it survives re-encoding, rescaling, small shifts, brightness
changes and blur, and differs between different pictures, so a mark copied whole onto another clip
reads as a valid word whose digest does not match the clip it sits in.
"""

from __future__ import annotations

import hashlib
import hmac

import cv2
import numpy as np

from vidprov.watermark.keys import WatermarkKey

MESSAGE_BYTES = 3
DIGEST_BITS = 24
TAG_BYTES = 2
THUMB = 8
# Digest bits that may differ between embedding and detection before the mark counts as copied. Measured:
# genuine marks after H.264 CRF 30 + 2% downscale + 1-px shift differ in 0-3 bits; unrelated clips in ~12.
DIGEST_TOLERANCE = 5
FLAT_CONTRAST = 2.0  # grey levels of thumbnail RMS contrast under which a frame has no usable digest

BOUND, COPIED, UNREADABLE, ABSENT = "bound", "copied", "unreadable", "absent"

_PROJECTIONS = np.random.default_rng(20261204).standard_normal((DIGEST_BITS, THUMB * THUMB))


def content_digest(y: np.ndarray) -> bytes:
    """24-bit perceptual digest of one frame's luma (H, W); all zero bits for a flat frame."""
    thumb = cv2.resize(np.ascontiguousarray(y, dtype=np.float32), (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    v = thumb.ravel().astype(np.float64)
    v -= v.mean()
    if np.sqrt(np.mean(v * v)) < FLAT_CONTRAST:
        return bytes(DIGEST_BITS // 8)
    return np.packbits((_PROJECTIONS @ v) > 0).tobytes()


def _tag(key: WatermarkKey, message: bytes, digest: bytes) -> bytes:
    return hmac.new(key.secret, b"vidprov-wm-tag\0" + message + digest, hashlib.sha256).digest()[:TAG_BYTES]


def seal(message: bytes, digest: bytes, key: WatermarkKey) -> bytes:
    """The 8-byte word the watermark carries."""
    if len(message) != MESSAGE_BYTES or len(digest) != DIGEST_BITS // 8:
        raise ValueError(f"message must be {MESSAGE_BYTES} bytes and digest {DIGEST_BITS // 8}")
    return message + digest + _tag(key, message, digest)


def unseal(word: bytes, key: WatermarkKey) -> tuple[bytes, bytes, bool]:
    """(message, digest, tag valid) of an 8-byte word read from a frame."""
    m, d, t = word[:MESSAGE_BYTES], word[MESSAGE_BYTES : MESSAGE_BYTES + DIGEST_BITS // 8], word[-TAG_BYTES:]
    return m, d, hmac.compare_digest(t, _tag(key, m, d))


def distance(a: bytes, b: bytes) -> int:
    """Differing bits of two digests."""
    return int(np.unpackbits(np.frombuffer(bytes(x ^ y for x, y in zip(a, b, strict=True)), np.uint8)).sum())


def status(signal: bool, tag_ok: bool, digest_distance: int) -> str:
    """bound: a valid word whose digest matches this content; copied: valid, but made for other
    content (or this content was cropped or edited past the digest's tolerance); unreadable: a
    watermark-like signal whose word is not valid under the key; absent: no signal."""
    if not signal:
        return ABSENT
    if not tag_ok:
        return UNREADABLE
    return BOUND if digest_distance <= DIGEST_TOLERANCE else COPIED
