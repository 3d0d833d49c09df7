"""Aligned pairs (generate-dataset --from-real) on tiny, randomly initialised pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import moving_clip
from vidprov.generator import aligned
from vidprov.generator.export import build_random_pipeline, save_pipeline
from vidprov.generator.models import DiTConfig, TextConfig, VAEConfig
from vidprov.generator.video_generator import VideoGenerator
from vidprov.io import read_video, write_video
from vidprov.manifest import Manifest
from vidprov.provenance import write_clip


@pytest.fixture(scope="module", params=["ltx", "wan"])
def tiny_model(request, tmp_path_factory):
    family = request.param
    torch.manual_seed(0)
    vae = VAEConfig(family=family, channels=(8,) if family == "wan" else (8, 16, 16), latent_channels=4, layers_per_block=1)
    dit = DiTConfig(family=family, num_layers=1, num_heads=2, head_dim=8, text_dim=16)
    text = TextConfig(d_model=16, num_layers=1, num_heads=2, d_ff=32, max_length=8)
    pipe = build_random_pipeline(family, vae=vae, dit=dit, text=text, captions=["a cat on grass"])
    path = tmp_path_factory.mktemp(family) / "pipe"
    save_pipeline(pipe, path, settings={"size": 32, "num_frames": 5, "max_tokens": 8})
    return str(path)


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reals")
    (folder / "real").mkdir()
    write_video(moving_clip(t=12, h=40, w=56, seed=1), folder / "real" / "clip a;rm -rf.mp4")
    write_video(moving_clip(t=12, h=48, w=48, seed=2), folder / "real" / "b.mp4")
    return folder


def _settings(model, **kw) -> aligned.AlignedSettings:
    return aligned.AlignedSettings(model=model, size=32, num_frames=5, steps=4, **kw)


def test_pairs_share_a_group_and_record_their_provenance(tiny_model, real_folder, tmp_path, one_torch_thread):
    out = tmp_path / "pairs"
    m = aligned.make_pairs(out, aligned.real_sources(real_folder), _settings(tiny_model), write_clip=write_clip, progress=False)
    df = m.df
    assert sorted(df["label"]) == ["generated", "generated", "real", "real"]
    fake = df[df["label"] == "generated"]
    for _, row in fake.iterrows():
        real = df[df["path"] == row["source"]].iloc[0]
        assert real["label"] == "real" and real["group"] == row["group"]
        assert row["mode"] == "reconstruct" and row["generator"] == "vidprov-pipe-reconstruct"
        assert len(row["checkpoint_hash"]) > 0 and 0 < row["ssim"] <= 1 and row["psnr_db"] > 0
        a, b = read_video(out / row["path"]), read_video(out / real["path"])
        assert a.frames.shape == b.frames.shape == (5, 32, 32, 3)
    assert all(";" not in p and " " not in p for p in df["path"])  # hostile source names are sanitised
    assert Manifest.read(out / "manifest.csv").df["path"].tolist() == df["path"].tolist()


def test_a_rerun_resumes_and_a_second_mode_adds_to_the_manifest(tiny_model, real_folder, tmp_path, monkeypatch,
                                                                 one_torch_thread):
    out = tmp_path / "pairs"
    sources = aligned.real_sources(real_folder, limit=1)
    first = aligned.make_pairs(out, sources, _settings(tiny_model), write_clip=write_clip, progress=False)
    monkeypatch.setattr(aligned, "regenerate", lambda *a, **k: pytest.fail("a finished pair was recomputed"))
    again = aligned.make_pairs(out, sources, _settings(tiny_model), write_clip=write_clip, progress=False).df
    for column in ("path", "label", "group", "source", "checkpoint_hash", "psnr_db"):
        assert again[column].astype(str).tolist() == first.df[column].astype(str).tolist()
    monkeypatch.undo()
    both = aligned.make_pairs(out, sources, _settings(tiny_model, mode="regenerate", strength=0.5), write_clip=write_clip, progress=False)
    assert set(both.df["generator"]) == {"", "vidprov-pipe-reconstruct", "vidprov-pipe-regenerate-s0.5"}
    assert len(both) == 3  # one real window, two generated versions of it


def test_strength_zero_is_the_reconstruction_and_noise_changes_the_clip(tiny_model, real_folder, one_torch_thread):
    gen = VideoGenerator.load(tiny_model, device="cpu")
    window = aligned.source_window(real_folder / "real" / "b.mp4", _settings(tiny_model))
    rec = aligned.regenerate(gen, window, _settings(tiny_model))
    zero = aligned.regenerate(gen, window, _settings(tiny_model, mode="regenerate", strength=0.0))
    half = aligned.regenerate(gen, window, _settings(tiny_model, mode="regenerate", strength=0.5), seed=0)
    other = aligned.regenerate(gen, window, _settings(tiny_model, mode="regenerate", strength=0.5), seed=1)
    assert rec.shape == window.frames.shape and rec.dtype == np.uint8
    assert np.array_equal(rec, zero)
    assert not np.array_equal(rec, half) and not np.array_equal(half, other)


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(aligned.AlignedSpecError, match="--mode"):
        aligned.AlignedSettings(mode="repaint")
    with pytest.raises(aligned.AlignedSpecError, match="--strength"):
        aligned.AlignedSettings(mode="regenerate", strength=1.5)
    (tmp_path / "generated" / "x").mkdir(parents=True)
    write_video(moving_clip(t=4, h=32, w=32), tmp_path / "generated" / "x" / "g.mp4")
    with pytest.raises(aligned.AlignedSpecError, match="no real clips"):
        aligned.real_sources(tmp_path)


def test_cli_from_real(tiny_model, real_folder, tmp_path, monkeypatch, capsys, one_torch_thread):
    from vidprov import cli

    def run(*argv):
        monkeypatch.setattr("sys.argv", ["vidprov", "generate-dataset", *argv])
        with pytest.raises(SystemExit) as exc:
            cli.main()
        return exc.value.code

    out = tmp_path / "pairs"
    assert run("--from-real", str(real_folder), "--out", str(out), "--model", tiny_model, "--size", "32",
               "--limit", "1", "--device", "cpu") == 0
    assert len(Manifest.read(out / "manifest.csv")) == 2
    assert run("--from-real", str(real_folder), "--out", str(out), "--mode", "regenerate", "--strength", "2") == 2
    assert "--strength must be between 0 and 1" in capsys.readouterr().err
