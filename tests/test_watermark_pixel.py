"""Pixel watermark: ECC, embed/detect round trips, attacks the design must absorb, calibrated null."""

import cv2
import numpy as np
import pytest
from scipy import stats

import vidprov
from vidprov.watermark import ecc, null, pixel, tile
from vidprov.watermark.keys import WatermarkKeyError, as_key, default_key, parse_payload

PAYLOAD = "0123456789abcdef"


def texture_clip(t=24, h=192, w=256, seed=0, fps=12.0):
    """A textured scene that pans slowly: enough detail to hide a mark, no video file needed."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (h + 64, w + 64, 3)).astype(np.float32), (0, 0), 2.0)
    base = (base - base.min()) / (base.max() - base.min()) * 200 + 28
    frames = np.stack([base[i : i + h, 2 * i : 2 * i + w] for i in range(t)]).astype(np.uint8)
    return vidprov.Clip(frames, fps=fps)


@pytest.fixture(scope="module")
def marked():
    clip = texture_clip()
    return clip, pixel.embed(clip, "secret", PAYLOAD)


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def test_ecc_roundtrip_corrects_noisy_soft_values():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, 64)
    coded = ecc.encode(bits)
    assert coded.size == ecc.coded_length(64) == 140
    soft = (1.0 - 2.0 * coded) + rng.normal(0, 0.8, coded.size)
    assert np.mean((soft < 0) != coded) > 0.05  # the channel really flips bits
    assert np.array_equal(ecc.viterbi_decode(soft, 64), bits)


def test_embed_is_invisible_and_detects_payload(marked):
    clip, m = marked
    assert m.frames.shape == clip.frames.shape and m.fps == clip.fps
    assert psnr(clip.frames, m.frames) > 41.5
    # chroma untouched: the same change on R, G and B
    d = m.frames.astype(int) - clip.frames.astype(int)
    inner = (clip.frames > 5).all(-1) & (clip.frames < 250).all(-1)
    assert np.all((d[..., 0] == d[..., 1])[inner]) and np.all((d[..., 1] == d[..., 2])[inner])
    r = pixel.detect(m, "secret", expected_payload=PAYLOAD)
    assert r.detected and r.p_value < 1e-6
    assert r.payload == PAYLOAD and r.bit_accuracy == 1.0
    assert r.scale == 1.0 and r.shift == (0, 0)
    assert len(r.segments) == 2 and all(s["p_value"] < 1e-3 for s in r.segments)
    assert m.meta["watermark_key_id"] == as_key("secret").key_id


def test_wrong_key_and_unmarked_are_not_detected(marked):
    clip, m = marked
    for c, key in ((m, "other"), (clip, "secret")):
        r = pixel.detect(c, key)
        assert not r.detected and r.p_value > 1e-3


@pytest.mark.parametrize("attack", ["crf23", "crop", "resize", "brightness", "blur", "fps"])
def test_survives_attacks(marked, attack):
    _, m = marked
    f = m.frames
    if attack == "crf23":
        a = vidprov.reencode(m, crf=23)
    elif attack == "crop":
        a = m.replace(frames=np.ascontiguousarray(f[:, 13:173, 21:229]))
    elif attack == "resize":
        a = m.replace(frames=np.stack([cv2.resize(x, (128, 96), interpolation=cv2.INTER_AREA) for x in f]))
    elif attack == "brightness":
        a = m.replace(frames=np.clip(f * 1.1, 0, 255).astype(np.uint8))
    elif attack == "blur":
        a = m.replace(frames=np.stack([cv2.GaussianBlur(x, (0, 0), 1.0) for x in f]))
    else:
        a = m.replace(frames=f[::2], fps=m.fps / 2)
    r = pixel.detect(a, "secret", expected_payload=PAYLOAD)
    assert r.detected, (attack, r.p_value)
    if attack == "resize":
        assert r.scale == 0.5
    if attack == "crop":
        assert r.shift == ((-13) % 64, (-21) % 64)


def test_null_p_values_are_uniform_over_random_keys():
    clip = texture_clip(t=8, seed=3)
    folder = pixel.Folder(clip.height, clip.width, clip.fps)
    folder.add_luma(pixel.luma(clip.frames))
    p = np.array([pixel.analyse(folder, f"random-{i}").p_value for i in range(300)])
    assert p.min() > 1e-6
    assert stats.kstest(p, "uniform").pvalue > 1e-3


def test_null_tail_is_monotone_and_joins_the_body():
    zs = np.linspace(2.0, 12.0, 200)
    p = np.array([null.p_value(z, 64) for z in zs])
    assert np.all(np.diff(p) <= 1e-15) and p[0] == 1.0 and p[-1] < 1e-20
    assert null.combine([0.01, 0.5]) == pytest.approx(1 - 0.99**2)


def test_fold_uses_partial_edge_tiles_and_recovers_the_tile():
    rng = np.random.default_rng(5)
    t = rng.normal(0, 1, (64, 64))
    frame = np.tile(t, (3, 3))[:144, :176][None].astype(np.float32)  # 2x2 whole tiles + partial edges
    assert np.allclose(tile.fold(frame, 64)[0], t, atol=1e-5)
    # the partial rows/columns count: noise added only there moves the fold
    noisy = frame.copy()
    noisy[0, 128:, :] += 1.0
    assert not np.allclose(tile.fold(noisy, 64)[0], t, atol=1e-3)
    whole = np.tile(t, (2, 2))[None].astype(np.float32)
    assert np.allclose(tile.fold(whole, 64)[0], t, atol=1e-5)


def test_qcif_frame_carries_the_payload_and_is_detected_after_h264():
    clip = texture_clip(t=12, h=144, w=176, seed=6)  # QCIF: whole 64-pixel tiles cover 65% of it
    m = pixel.embed(clip, "small", PAYLOAD)
    r = pixel.detect(m, "small", expected_payload=PAYLOAD)
    assert r.detected and r.bit_accuracy == 1.0
    assert pixel.detect(vidprov.reencode(m, crf=23), "small").detected


def test_embed_meets_the_psnr_budget():
    clip = texture_clip(t=4, seed=4)
    for target in (40.0, pixel.DEFAULT_PSNR_DB):
        m = pixel.embed(clip, "budget", PAYLOAD, psnr_db=target)
        assert abs(psnr(clip.frames, m.frames) - target) < 0.3


def test_layout_has_room_for_sync_and_coded_payload():
    lay = tile.layout()
    assert lay.sync.size == tile.N_SYNC and lay.payload.size >= lay.n_coded
    assert set(lay.bit_of) == set(range(lay.n_coded))


def test_keys_and_payload_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPROV_HOME", str(tmp_path))
    k = default_key()
    assert (tmp_path / "watermark.key").stat().st_mode & 0o777 == 0o600
    assert default_key() == k and "secret" not in repr(k)
    assert parse_payload("ff", k) == bytes(7) + b"\xff"
    assert parse_payload(None, k) == bytes.fromhex(k.key_id)
    with pytest.raises(WatermarkKeyError):
        parse_payload("zz", k)
    with pytest.raises(WatermarkKeyError):
        parse_payload("00" * 9, k)
    with pytest.raises(WatermarkKeyError):
        as_key("")


def test_too_small_frames_raise_clearly():
    with pytest.raises(pixel.WatermarkError, match="smaller"):
        pixel.embed(texture_clip(t=2, h=48, w=48), "k")
    with pytest.raises(pixel.WatermarkError, match="too small"):
        pixel.detect(texture_clip(t=2, h=24, w=24), "k")
