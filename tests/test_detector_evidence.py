"""Scope notes and the noise-residual map of vidprov.detector.evidence."""

from __future__ import annotations

import numpy as np
import pytest

from vidprov.detector.evidence import noise_residual, scope_notes
from vidprov.io import VideoInfo


def info(**kw) -> VideoInfo:
    base = dict(source="x", container="mov,mp4", codec="h264", width=1280, height=720, fps=30.0, duration_s=10.0,
                num_frames=300, frames_exact=True, pix_fmt="yuv420p", rotation=0, size_bytes=20_000_000, has_audio=False)
    return VideoInfo(**{**base, **kw})


def test_scope_notes_name_what_is_outside_the_training_domain():
    assert scope_notes(info()) == []
    notes = " ".join(scope_notes(info(duration_s=1.2, width=176, height=144, size_bytes=1_000)))
    assert "very short" in notes and "tiny (176x144)" in notes and "heavily compressed" in notes
    assert "GIF" in " ".join(scope_notes(info(codec="gif", container="gif")))


def test_noise_residual_is_a_uint8_map_and_rejects_bad_frames():
    rng = np.random.default_rng(0)
    smooth = np.full((32, 48, 3), 128, np.uint8)
    grainy = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert noise_residual(smooth).max() == 0
    r = noise_residual(grainy)
    assert r.shape == (32, 48) and r.dtype == np.uint8 and r.max() == 255
    with pytest.raises(ValueError, match="uint8"):
        noise_residual(grainy.astype(np.float32))
