"""Generator sampling API on tiny, randomly initialised pipelines saved with save_pretrained (no downloads)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidprov.clip import Clip
from vidprov.generator.export import build_random_pipeline, save_pipeline
from vidprov.generator.models import DiTConfig, TextConfig, VAEConfig
from vidprov.generator.video_generator import (
    GenerationError,
    ModelNotFoundError,
    VideoGenerator,
    resolve_model,
)
from vidprov.manifest import DEFAULT_SHARED_MANIFEST
from vidprov.vae import VAENotFoundError, load_vae

FAMILIES = ["wan", "ltx"]


def tiny_pipeline(family: str):
    torch.manual_seed(0)
    vae = VAEConfig(family=family, channels=(8,) if family == "wan" else (8, 16, 16), latent_channels=4, layers_per_block=1)
    dit = DiTConfig(family=family, num_layers=1, num_heads=2, head_dim=8, text_dim=16)
    text = TextConfig(d_model=16, num_layers=1, num_heads=2, d_ff=32, max_length=8)
    return build_random_pipeline(family, vae=vae, dit=dit, text=text, captions=["a cat on grass", "cars on a road"])


@pytest.fixture(scope="module", params=FAMILIES)
def saved(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / "pipe"
    save_pipeline(tiny_pipeline(request.param), path, settings={"size": 32, "num_frames": 5, "max_tokens": 8})
    return request.param, path


@pytest.fixture(scope="module")
def loaded(saved):
    return VideoGenerator.load(saved[1], device="cpu")


def test_bf16_decode_matches_fp32_decode(saved):
    _, path = saved
    exact = VideoGenerator.load(path, device="cpu", decode_dtype=None)
    fast = VideoGenerator.load(path, device="cpu", decode_dtype=torch.bfloat16)
    a, b = exact("a cat on grass", seed=1, steps=2), fast("a cat on grass", seed=1, steps=2)
    assert a.meta["vae_decode_dtype"] == "float32" and b.meta["vae_decode_dtype"] == "bfloat16"
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).mean() < 2.0
    np.testing.assert_array_equal(b.frames, fast("a cat on grass", seed=1, steps=2).frames)
    z = fast.initial_noise(0, 5, 32, 32)
    assert np.abs(exact.decode_latents(z).frames.astype(int) - fast.decode_latents(z).frames.astype(int)).mean() < 2.0


def test_roundtrip_loads_as_diffusers_pipeline_and_is_deterministic(saved):
    family, path = saved
    gen = VideoGenerator.load(path, device="cpu")  # the PATH loader: a save_pretrained folder
    assert gen.family == family
    assert type(gen.pipe).__name__ == ("WanPipeline" if family == "wan" else "LTXPipeline")
    a = gen("a cat on grass", seed=3, steps=3)
    b = gen("a cat on grass", seed=3, steps=3)
    c = gen("a cat on grass", seed=4, steps=3)
    assert a.frames.shape == (5, 32, 32, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    for key in ("model", "family", "checkpoint_hash", "prompt", "seed", "steps", "guidance", "scheduler"):
        assert key in a.meta
    assert a.meta["scheduler"] == "FlowMatchEulerDiscreteScheduler" and a.meta["seed"] == 3
    assert len(a.meta["checkpoint_hash"]) == 16


def test_explicit_latents_reproduce_the_seeded_noise(loaded):
    gen = loaded
    z = gen.initial_noise(7, 5, 32, 32)
    assert z.shape == (1, *gen.latent_shape(5, 32, 32))
    by_seed = gen("cars on a road", seed=7, steps=2)
    by_latents = gen("cars on a road", seed=0, steps=2, latents=z)
    assert np.array_equal(by_seed.frames, by_latents.frames)
    assert by_latents.meta["custom_latents"] is True
    with pytest.raises(GenerationError, match="latents must have shape"):
        gen("cars", steps=2, latents=torch.zeros(1, 4, 1, 1, 1))


def test_inversion_pieces_have_consistent_shapes(loaded):
    gen = loaded
    emb, mask = gen.encode_prompt("a cat")
    z = gen.initial_noise(0, 5, 32, 32)
    v = gen.predict_velocity(z, 500.0, emb, mask)
    assert v.shape == z.shape and torch.isfinite(v).all()
    # One Euler step of the scheduler is x + (sigma_next - sigma) * velocity: the convention inversion relies on.
    gen.scheduler.set_timesteps(4)
    t0 = gen.scheduler.timesteps[0]
    stepped = gen.scheduler.step(v, t0, z, return_dict=False)[0]
    s = gen.scheduler.sigmas
    assert torch.allclose(stepped, z + (s[1] - s[0]) * v, atol=1e-5)
    clip = gen("a cat", seed=1, steps=2)
    lat = gen.encode_latents(clip)
    assert lat.shape == z.shape
    assert gen.decode_latents(lat).frames.shape == clip.frames.shape


def test_bad_settings_raise_clear_errors(loaded):
    gen = loaded
    with pytest.raises(GenerationError, match="4k\\+1"):
        gen("a cat", num_frames=6, steps=1)
    with pytest.raises(GenerationError, match="multiple of 16"):
        gen("a cat", size=40, steps=1)
    with pytest.raises(GenerationError, match="steps"):
        gen("a cat", steps=0)


def test_load_vae_pads_and_crops_back(saved):
    _, path = saved
    h = load_vae(path)
    rng = np.random.default_rng(0)
    clip = Clip(rng.integers(0, 255, (7, 30, 34, 3), dtype=np.uint8), fps=8)
    z = h.encode(clip)
    assert z.ndim == 5 and z.shape[0] == 1
    assert h.decode(z).num_frames == 9  # padded to 4k+1
    rec = h.reconstruct(clip)
    assert rec.frames.shape == clip.frames.shape and rec.fps == clip.fps


def test_unknown_models_are_refused(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model_index.json"):
        resolve_model(tmp_path)
    with pytest.raises(ModelNotFoundError):
        VideoGenerator.load(tmp_path / "nope")
    with pytest.raises(VAENotFoundError, match="no VAE found"):
        load_vae(tmp_path)


def test_tokenizer_maps_unknown_words_to_unk():
    from vidprov.generator.text import build_tokenizer

    tok = build_tokenizer(["cars on a road"], max_length=6)
    ids = tok(["Cars, on a ROAD!", "zebras on a road"], padding="max_length", max_length=6).input_ids
    assert ids[0][:4] == [tok.convert_tokens_to_ids(w) for w in ("cars", "on", "a", "road")]
    assert ids[1][0] == tok.unk_token_id and ids[1][1:4] == ids[0][1:4]
    assert ids[0][4] == tok.eos_token_id and ids[0][5] == tok.pad_token_id


def test_cli_generate_writes_mp4_and_sidecar(saved, tmp_path, monkeypatch, capsys):
    from vidprov import read_video
    from vidprov.watermark.keys import default_key

    _, path = saved
    base = ["generate", "--prompt", "a cat", "--model", str(path), "--device", "cpu"]
    out, plain = tmp_path / "clip.mp4", tmp_path / "plain.mp4"
    assert _run_cli(monkeypatch, *base, "--seed", "2", "--steps", "2", "--out", str(out), "--json") == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["seed"] == 2 and side["prompt"] == "a cat" and side["frames"] == 5
    assert read_video(out).num_frames == 5
    assert side["latent_watermark_key_id"] == default_key().key_id and side["custom_latents"]  # planted by default
    assert _run_cli(monkeypatch, *base, "--seed", "2", "--steps", "2", "--out", str(plain), "--no-latent-mark") == 0
    side = json.loads(plain.with_suffix(".json").read_text())
    assert "latent_watermark_key_id" not in side and not side["custom_latents"]
    assert _run_cli(monkeypatch, *base, "--frames", "6", "--out", str(tmp_path / "bad.mp4")) == 2
    assert "4k+1" in capsys.readouterr().err


@pytest.mark.skipif(not DEFAULT_SHARED_MANIFEST.exists(), reason="needs ../shared/data (MANIFEST.csv)")
def test_captions_cover_every_real_group():
    from vidprov.generator.training_data import load_captions
    from vidprov.manifest import Manifest

    groups = set(Manifest.from_shared().where(label="real").df["group"])
    assert groups <= set(load_captions())


@pytest.fixture()
def tiny_weights(tmp_path, monkeypatch):
    """Both families' 'shipped' weights replaced by tiny random pipelines."""
    from vidprov.generator import video_generator

    for family in FAMILIES:
        save_pipeline(tiny_pipeline(family), tmp_path / family, settings={"size": 32, "num_frames": 5, "max_tokens": 8})
    monkeypatch.setattr(video_generator, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(video_generator, "_LOADED", {})
    return tmp_path


def test_generate_by_family_name_and_module_level_api(tiny_weights):
    import vidprov
    import vidprov.generator as g

    clip = vidprov.generate("a cat on grass", model="ltx", seed=1, steps=2)
    assert clip.meta["family"] == "ltx" and clip.meta["model"] == "ltx"
    assert g.load("wan") is g.load("wan")  # cached
    assert np.array_equal(g.generate("a cat", model="wan", seed=5, steps=2).frames,
                          g.load("wan")("a cat", seed=5, steps=2).frames)


def test_demo_step_writes_clips_and_a_section(tiny_weights, tmp_path):
    from rich.console import Console

    from vidprov.demo import DemoContext
    from vidprov.generator.demo import demo_step

    ctx = DemoContext(out=tmp_path / "report", console=Console(quiet=True), quick=True, real_paths=[], manifest=None)
    demo_step(ctx)
    assert len(ctx.state["generated"]) == 2
    assert all(p.endswith(".mp4") for p in ctx.state["generated"])
    assert (tmp_path / "report" / "generated" / "samples.png").exists()
    assert ctx.sections and ctx.sections[0][0] == "Generated clips"


def test_bench_splits_the_time(saved):
    from vidprov.generator.bench import run_bench

    family, path = saved
    r = run_bench(str(path), steps=3, repeats=1, device="cpu")
    m = r["median"]
    # Both families run the conditional and unconditional branches as one batched call per step.
    assert m["transformer_calls"] == 3
    assert 0 < m["transformer_s"] < m["total_s"] and m["vae_decode_s"] > 0
    assert m["overhead_s"] == pytest.approx(m["total_s"] - m["transformer_s"] - m["vae_decode_s"])
    assert r["peak_rss_mib"] > 0


def _run_cli(monkeypatch, *argv) -> int:
    from vidprov import cli

    monkeypatch.setattr("sys.argv", ["vidprov", *argv])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return exc.value.code


def test_cli_generate_dataset_and_bench(saved, tmp_path, monkeypatch, capsys):
    from vidprov.manifest import Manifest

    _, path = saved
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("cars\tcars on a road\n# a comment\na cat on grass\n")
    out = tmp_path / "ds"
    assert _run_cli(monkeypatch, "generate-dataset", "--n", "2", "--out", str(out), "--models", str(path),
                    "--steps", "2", "--guidance", "1.5", "--prompts", str(prompts), "--device", "cpu") == 0
    m = Manifest.read(out / "manifest.csv")
    assert list(m.df["prompt"]) == ["cars on a road", "a cat on grass"]
    assert m.df["group"][0].endswith("/cars") and set(m.df["guidance"]) == {1.5}
    assert _run_cli(monkeypatch, "generate-dataset", "--n", "1", "--out", str(out), "--models", str(path),
                    "--prompts", str(tmp_path / "missing.txt")) == 2
    assert "prompt file not found" in capsys.readouterr().err
    assert _run_cli(monkeypatch, "bench", "generator", "--model", str(path), "--steps", "2", "--repeats", "1",
                    "--device", "cpu", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 2 and report["median"]["total_s"] > 0


def test_wan_batched_guidance_matches_wanpipeline():
    """vidprov's Wan loop runs both guidance branches in one transformer call; WanPipeline runs two."""
    gen = VideoGenerator(tiny_pipeline("wan"), name="tiny", settings={"size": 32, "num_frames": 5, "max_tokens": 8},
                         decode_dtype=None)
    calls = []
    hook = gen.transformer.register_forward_pre_hook(lambda _m, args, kw: calls.append(kw["hidden_states"].shape[0]),
                                                     with_kwargs=True)
    ours = gen("a cat on grass", seed=2, steps=3, guidance=4.0)
    hook.remove()
    assert calls == [2, 2, 2]  # one batched call per step
    out = gen.pipe(prompt="a cat on grass", negative_prompt="", height=32, width=32, num_frames=5, num_inference_steps=3,
                   guidance_scale=4.0, output_type="np", latents=gen.initial_noise(2, 5, 32, 32), max_sequence_length=8)
    ref = (np.asarray(out.frames[0]) * 255.0).round().clip(0, 255).astype(np.uint8)
    assert np.abs(ours.frames.astype(int) - ref.astype(int)).max() <= 1
    no_cfg = gen("a cat on grass", seed=2, steps=2, guidance=1.0)
    assert no_cfg.frames.shape == (5, 32, 32, 3)


def test_wan_vae_with_4x_spatial_compression_keeps_80_token_patches():
    from vidprov.generator.models import build_vae
    from vidprov.generator.train_dit import default_dit_config

    vae = build_vae(VAEConfig(family="wan", channels=(8,), latent_channels=4, layers_per_block=1, spatial_compression=4))
    assert vae.config.scale_factor_spatial == 4
    z = vae.encode(torch.zeros(1, 3, 5, 32, 32)).latent_dist.mode()
    assert tuple(z.shape) == (1, 4, 2, 8, 8)
    assert default_dit_config("wan", vae).patch_size == (1, 4, 4)
    assert default_dit_config("wan").patch_size == (1, 2, 2)
    with pytest.raises(Exception, match="spatial_compression"):
        build_vae(VAEConfig(family="wan", channels=(8,), spatial_compression=2))
    with pytest.raises(Exception, match="latent_channels"):
        build_vae(VAEConfig(family="ltx", latent_channels=0))


def test_ltx_latent_packing_round_trips():
    from vidprov.generator.pipeline import pack_ltx_latents, unpack_ltx_latents

    x = torch.randn(2, 4, 3, 6, 8)
    tokens = pack_ltx_latents(x, 2, 3)
    assert tokens.shape == (2, 1 * 3 * 4, 4 * 3 * 2 * 2)
    assert torch.equal(unpack_ltx_latents(tokens, 1, 3, 4, 2, 3), x)
