"""A watermark pasted onto other content is never believed: the copy attack with the exact mark and
with a denoiser's estimate, and the word's tag and content digest that stop it."""

import cv2
import numpy as np
import pytest

import vidprov
from vidprov.watermark import binding, forgery, pixel
from vidprov.watermark.keys import as_key

KEY = "forgery-test-key"


def scene(seed: int, t: int = 12, h: int = 192, w: int = 256) -> vidprov.Clip:
    """Smooth textured frames panning slowly: a different picture per seed."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (h // 8, (w + 2 * t) // 8, 3), dtype=np.uint8), (w + 2 * t, h),
                      interpolation=cv2.INTER_CUBIC)
    base = cv2.GaussianBlur(base, (0, 0), 2.0)
    return vidprov.Clip(np.stack([base[:, 2 * i : 2 * i + w] for i in range(t)]).astype(np.uint8), fps=12)


@pytest.fixture(scope="module")
def clips():
    return [scene(s) for s in range(4)]


@pytest.fixture(scope="module")
def marked(clips):
    return [pixel.embed(c, KEY, "abc123") for c in clips]


def test_genuine_mark_is_bound(clips, marked):
    r = pixel.detect(marked[0], KEY)
    assert r.detected and r.status == binding.BOUND and r.message == "abc123"


def test_exact_mark_pasted_onto_other_content_reads_as_copied(clips, marked):
    for i in range(len(clips)):
        target = clips[(i + 1) % len(clips)]
        forged = forgery.paste(forgery.mark_estimate_exact(marked[i], clips[i]), target)
        assert 30 < 10 * np.log10(255**2 / np.mean((forged.frames.astype(float) - target.frames) ** 2))
        r = pixel.detect(forged, KEY)
        assert not r.detected, (i, r.status, r.digest_distance)
        assert r.status in (binding.COPIED, binding.UNREADABLE, binding.ABSENT)


def test_valid_word_on_other_content_reads_as_copied(clips, marked):
    # the marked frames spliced behind another clip's opening frame: the signal and its valid word are
    # there, but the content they were made for is not
    spliced = marked[0].replace(frames=np.concatenate([clips[1].frames[:1], marked[0].frames[1:]]))
    r = pixel.detect(spliced, KEY)
    assert r.signal and r.tag_ok and r.message == "abc123"
    assert r.status == binding.COPIED and not r.detected and r.digest_distance > binding.DIGEST_TOLERANCE


def test_denoiser_estimate_pasted_is_never_believed(clips, marked):
    for i in range(len(clips)):
        target = clips[(i + 2) % len(clips)]
        forged = forgery.paste(forgery.mark_estimate_denoised(marked[i]), target)
        r = pixel.detect(forged, KEY)
        assert not r.detected and r.status != binding.BOUND, (i, r.status, r.p_value)


def test_word_tag_and_digest():
    k = as_key(KEY)
    y = cv2.GaussianBlur(np.random.default_rng(0).uniform(0, 255, (120, 160)).astype(np.float32), (0, 0), 8)
    word = binding.seal(b"\x01\x02\x03", binding.content_digest(y), k)
    assert binding.unseal(word, k) == (b"\x01\x02\x03", binding.content_digest(y), True)
    assert not binding.unseal(word, as_key("another key"))[2]
    flipped = bytes([word[0] ^ 1]) + word[1:]
    assert not binding.unseal(flipped, k)[2]  # one wrong bit of the message breaks the tag
    # random words pass the 16-bit tag about once in 65536
    rng = np.random.default_rng(1)
    assert sum(binding.unseal(rng.bytes(8), k)[2] for _ in range(2000)) <= 2
    # the digest survives mild edits and tells different pictures apart
    small = cv2.resize(cv2.resize(y, (157, 118), interpolation=cv2.INTER_AREA)[1:, 1:], (160, 120))
    assert binding.distance(binding.content_digest(small), binding.content_digest(y)) <= binding.DIGEST_TOLERANCE
    other = cv2.GaussianBlur(np.random.default_rng(2).uniform(0, 255, (120, 160)).astype(np.float32), (0, 0), 8)
    assert binding.distance(binding.content_digest(other), binding.content_digest(y)) > binding.DIGEST_TOLERANCE
    assert binding.content_digest(np.full((120, 160), 90.0, np.float32)) == bytes(3)  # flat: no digest
    assert binding.status(False, True, 0) == binding.ABSENT
    assert binding.status(True, False, 0) == binding.UNREADABLE
    assert binding.status(True, True, binding.DIGEST_TOLERANCE + 1) == binding.COPIED
    assert binding.status(True, True, 0) == binding.BOUND


def test_frames_above_1080p_are_analysed_at_half_size_and_stay_bound():
    big = scene(9, t=4, h=1152, w=2048)
    m = pixel.embed(big, KEY, "0f0f0f")
    folder = pixel.Folder(big.height, big.width, big.fps)
    assert folder.scale == 2 and (folder.height, folder.width) == (576, 1024)
    r = pixel.detect(m, KEY)
    assert r.detected and r.message == "0f0f0f" and r.p_value < 1e-12
    assert not pixel.detect(big, KEY).signal
