"""generator.explain on tiny random pipelines: shapes, trajectory, attention."""

from __future__ import annotations

import numpy as np
import pytest

from vidprov.errors import VidprovError
from vidprov.generator.explain import explain, token_grid
from vidprov.generator.export import save_pipeline
from vidprov.generator.video_generator import VideoGenerator


@pytest.fixture(scope="module", params=["wan", "ltx"])
def gen(request, tmp_path_factory):
    from test_generator_pipeline import tiny_pipeline

    path = tmp_path_factory.mktemp(request.param) / "pipe"
    save_pipeline(tiny_pipeline(request.param), path, settings={"size": 32, "num_frames": 5, "max_tokens": 8})
    return VideoGenerator.load(path, device="cpu", decode_dtype=None)


def test_explain_records_latent_patches_trajectory_and_attention(gen, one_torch_thread):
    ex = explain(gen, "a cat on grass", seed=3, steps=4, show_steps=[0, 3], query=(1, 0, 1))
    assert ex.frames.shape == (5, 32, 32, 3) and ex.frames.dtype == np.uint8
    c, t, h, w = gen.latent_shape(5, 32, 32)
    assert ex.latent.shape == (c, t, h, w)
    assert ex.compression["ratio"] == pytest.approx(ex.frames.size / ex.latent.size, rel=1e-3)
    assert ex.token_grid == token_grid(gen) and np.prod(ex.patch) >= 1
    assert [p["step"] for p in ex.trajectory] == [0, 3] and ex.trajectory[0]["sigma"] > ex.trajectory[1]["sigma"]
    assert ex.attention.shape == ex.token_grid and ex.attention.sum() == pytest.approx(1.0, abs=1e-4)
    again = explain(gen, "a cat on grass", seed=3, steps=4, show_steps=[0, 3], query=(1, 0, 1))
    np.testing.assert_array_equal(ex.frames, again.frames)  # seeded


def test_explain_rejects_a_query_outside_the_grid(gen):
    with pytest.raises(VidprovError, match="outside the token grid"):
        explain(gen, "a cat", steps=2, query=(99, 0, 0))
