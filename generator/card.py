"""Export a trained family to generator/weights/<family>/ with measured numbers and a model card."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from vidprov.atomic import atomic_write_json, atomic_write_text
from vidprov.generator.video_generator import WEIGHTS_DIR

EVAL_PROMPTS = ["cars on a road from a static traffic camera", "a person signing with their hands",
                "a white cockatoo bird moving its head", "people riding bikes on a street",
                "a dashcam view of a road with cars", "a person flipping a pancake in a kitchen",
                "an old black and white film of people", "a stream of water"]


# The shipped families were trained on the shared data's first 67 real clips (MANIFEST row order); real
# clips added later would change the group split and let trained-on groups into the held-out set.
TRAINING_REALS = 67


def heldout_crops(n_per_clip: int = 2, size: int = 64, frames: int = 17, *, data: str | None = None,
                  n_real: int | None = TRAINING_REALS) -> tuple[np.ndarray, np.ndarray]:
    """Fixed 17x64x64 crops of held-out (never trained on) and of training real clips, from the first
    `n_real` real clips of the manifest (all of them when None)."""
    from vidprov.generator.train_vae import load_manifest
    from vidprov.generator.training_data import CacheConfig, CropSampler, build_cache

    real = load_manifest(data).where(label="real")
    if n_real is not None:
        real = type(real)(real.df.head(n_real), root=real.root)
    clips = build_cache(real, "runs/frame_cache", CacheConfig())
    held = [c for c in clips if c.split != "train"]
    train = [c for c in clips if c.split == "train"]
    h, _ = CropSampler(held, frames=frames, size=size, flip=False).fixed(n_per_clip * len(held))
    t, _ = CropSampler(train, frames=frames, size=size, flip=False).fixed(len(h), seed=99)
    return h, t


def fvd_figures(samples: list[np.ndarray], held: list[np.ndarray], train: list[np.ndarray]) -> dict:
    """FVD of samples vs held-out real crops, next to two real-vs-real FVDs: the floor at this set size."""
    from vidprov.generator import metrics

    (f_samples, l_samples), (f_held, l_held), (f_train, l_train) = (
        metrics.i3d_embeddings(list(c)) for c in (samples, held, train))
    half = len(f_held) // 2
    out = {}
    for suffix, (s, h, t) in (("", (f_samples, f_held, f_train)), ("_logits", (l_samples, l_held, l_train))):
        out |= {f"fvd{suffix}_samples_vs_heldout": metrics.frechet_distance(s, h),
                f"fvd{suffix}_train_vs_heldout_real": metrics.frechet_distance(t, h),
                f"fvd{suffix}_heldout_half_vs_half": metrics.frechet_distance(h[:half], h[half:])}
    return out


def evaluate(path: Path, *, n_samples: int = 24, steps: int = 20, guidance: float = 4.0, data: str | None = None) -> dict:
    from vidprov.clip import Clip
    from vidprov.generator import metrics
    from vidprov.generator.train_vae import psnr
    from vidprov.generator.video_generator import VideoGenerator
    from vidprov.generator.viz import save_grid
    from vidprov.vae import load_vae

    held, train = heldout_crops(data=data)
    vae = load_vae(path)
    rec = [vae.reconstruct(Clip(c, fps=8.0)).frames for c in held]
    gen = VideoGenerator.load(path, device="cpu")
    t0 = time.perf_counter()
    samples = [gen(EVAL_PROMPTS[i % len(EVAL_PROMPTS)], seed=i, steps=steps, guidance=guidance).frames for i in range(n_samples)]
    sample_s = (time.perf_counter() - t0) / n_samples
    feats = {k: np.stack([metrics.clip_features(c) for c in v]) for k, v in
             {"held": list(held), "train": list(train), "samples": samples}.items()}
    save_grid(path / "samples.png", samples[: len(EVAL_PROMPTS)], scale=2)
    save_grid(path / "reconstructions.png", [np.concatenate([a, b], axis=1) for a, b in zip(held[:6], rec[:6], strict=True)], scale=2)
    _save_preview(path / "preview.gif", samples[:4])
    return {
        "vae_heldout_psnr_db": float(np.mean([psnr(a, b) for a, b in zip(held, rec, strict=True)])),
        "n_heldout_crops": len(held), "n_samples": n_samples, "steps": steps, "guidance": guidance,
        "seconds_per_sample_cpu": sample_s,
        "samples": metrics.summarize(samples), "heldout_real": metrics.summarize(list(held)),
        "frechet_samples_vs_heldout": metrics.frechet_distance(feats["samples"], feats["held"]),
        "frechet_train_vs_heldout_real": metrics.frechet_distance(feats["train"], feats["held"]),
        **fvd_figures(samples, list(held), list(train)),
    }


def _save_preview(path: Path, clips: list[np.ndarray], scale: int = 2) -> None:
    """A small looping GIF: the clips side by side."""
    from PIL import Image

    frames = np.concatenate(clips, axis=2).repeat(scale, 1).repeat(scale, 2)
    imgs = [Image.fromarray(f) for f in frames]
    tmp = path.with_suffix(".gif.part")
    imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=125, loop=0)
    tmp.replace(path)


def export_family(family: str, *, out: Path | None = None, vae_ckpt: Path | None = None, dit_ckpt: Path | None = None,
                  run_eval: bool = True, notes: str | None = None) -> dict:
    from vidprov.generator.export import pipeline_from_checkpoints, save_pipeline
    from vidprov.generator.pipeline import FPS, MAX_TOKENS

    out = Path(out or WEIGHTS_DIR / family)
    vae_ckpt = Path(vae_ckpt or f"runs/{family}_vae/ckpt.pt")
    dit_ckpt = Path(dit_ckpt or f"runs/{family}_dit/ckpt.pt")
    pipe, vs, ds = pipeline_from_checkpoints(family, vae_ckpt, dit_ckpt)
    size, frames = ds["config"]["size"], ds["config"]["frames"]
    save_pipeline(pipe, out, settings={"family": family, "size": size, "num_frames": frames, "fps": FPS, "max_tokens": MAX_TOKENS})
    vh, dh = vs["history"], ds["history"]
    info = {
        "family": family,
        "vae": {"steps": vs["step"], "cpu_s": vs["cpu_s"], "config": vs["config"],
                "final_train_loss": float(np.mean([v for _, v in vh["train"][-100:]])),
                "heldout_psnr_during_training": vh["heldout_psnr"][-1][1] if vh["heldout_psnr"] else None},
        "transformer": {"steps": ds["step"], "cpu_s": ds["cpu_s"], "config": ds["config"],
                        "final_train_loss": float(np.mean([v for _, v in dh["train"][-200:]])),
                        "heldout_flow_loss": dh["heldout"][-1][1] if dh["heldout"] else None},
        "params_m": {k: sum(p.numel() for p in getattr(pipe, k).parameters()) / 1e6 for k in ("vae", "transformer", "text_encoder")},
        "machine": f"{platform.machine()} CPU, {__import__('os').cpu_count()} cores (shared with other jobs)",
    }
    if run_eval:
        info["eval"] = evaluate(out)
    atomic_write_json(out / "metrics.json", info)
    card = model_card(info)
    if notes:
        card += "\n## Training history (as run)\n\n" + notes.strip() + "\n"
    (out / "README.md").write_text(card)
    return {k: v for k, v in info.items() if k in ("family", "params_m", "eval")}


def refresh_card(path: Path) -> dict:
    """Measure an exported pipeline folder again (same fixed crops, prompts and seeds), then rewrite its
    metrics.json and model card (`render_card`)."""
    path = Path(path)
    info_file = path / "metrics.json"
    if not info_file.is_file():
        raise FileNotFoundError(f"{path}: no metrics.json (not an exported vidprov pipeline folder)")
    info = json.loads(info_file.read_text())
    old = info.get("eval", {})
    info["eval"] = evaluate(path, n_samples=old.get("n_samples", 24), steps=old.get("steps", 20),
                            guidance=old.get("guidance", 4.0))
    atomic_write_text(info_file, json.dumps(info, indent=2, default=str) + "\n")
    render_card(path)
    return {k: v for k, v in info.items() if k in ("family", "eval")}


def render_card(path: Path) -> None:
    """Rewrite README.md from metrics.json, keeping the sections written by hand after the generated
    card's last section (Limits): how the weights were trained."""
    path = Path(path)
    card_file = path / "README.md"
    info = json.loads((path / "metrics.json").read_text())
    tail = ""
    if card_file.is_file():
        text = card_file.read_text()
        limits = text.find("\n## Limits\n")
        after = text.find("\n## ", limits + 1) if limits >= 0 else -1
        tail = text[after:] if after >= 0 else ""
    atomic_write_text(card_file, model_card(info) + tail)


def _vae_flags(vae: dict) -> str:
    """The train-vae flags that rebuild a non-default VAE shape."""
    flags = ""
    if vae.get("latent_channels", 16) != 16:
        flags += f" --latent-channels {vae['latent_channels']}"
    if vae.get("family") == "wan" and vae.get("spatial_compression", 8) != 8:
        flags += f" --spatial-compression {vae['spatial_compression']}"
    return flags


def model_card(info: dict) -> str:
    f = info["family"]
    v, t = info["vae"], info["transformer"]
    ev = info.get("eval", {})
    vcfg, tcfg = v["config"], t["config"]
    lines = [
        f"# vidprov-{f}: a tiny latent video diffusion model trained on a 2-core CPU",
        "",
        f"Diffusers pipeline folder ({'WanPipeline' if f == 'wan' else 'LTXPipeline'}): "
        f"{'AutoencoderKLWan + WanTransformer3DModel' if f == 'wan' else 'AutoencoderKLLTXVideo + LTXVideoTransformer3DModel'}"
        " + a tiny T5 encoder and a word-level tokenizer built from the training captions + FlowMatchEulerDiscreteScheduler."
        " Weights are float16 safetensors (load as float32).",
        "",
        f"Parameters (M): {json.dumps({k: round(x, 2) for k, x in info['params_m'].items()})}. "
        f"Output: {tcfg['frames']} frames x {tcfg['size']}x{tcfg['size']} at 8 fps.",
        "",
        "## Data",
        "The 67 real clips of ../shared/data (MANIFEST.csv, label=real), decoded at 8 fps with short side 72;"
        " source groups split 85/15 (group_split seed 0): held-out groups are never trained on. Captions per"
        " source group: generator/captions.json. Random spacetime crops with horizontal flips, group-balanced.",
        "",
        "## Training (exact commands; each run resumes from its ckpt.pt)",
        "```",
        f"vidprov generator train-vae --family {f} --threads 1 --batch-size {vcfg['batch_size']} "
        f"--size {vcfg['size']} --frames {vcfg['frames']}{_vae_flags(vcfg.get('vae', {}))}   # seed {vcfg['seed']}, lr {vcfg['lr']}",
        f"vidprov generator train --family {f} --threads 1 --batch-size {tcfg['batch_size']}"
        f"   # seed {tcfg['seed']}, lr {tcfg['lr']}",
        f"vidprov generator export --family {f}",
        "```",
        f"- VAE: {v['steps']} steps, {v['cpu_s'] / 60:.0f} CPU-minutes, final train loss {v['final_train_loss']:.4f}"
        " (L1 + MSE + low-frequency colour + chroma + finite differences + 1e-6 KL), EMA weights.",
        f"- Transformer + text encoder: {t['steps']} steps, {t['cpu_s'] / 60:.0f} CPU-minutes, final train flow-matching"
        f" loss {t['final_train_loss']:.4f}, held-out {t['heldout_flow_loss']:.4f}, EMA weights.",
        f"- Machine: {info['machine']}.",
        "",
        "Continue training from these weights: `vidprov generator train-vae --family "
        f"{f} --init-from generator/weights/{f}/vae` and `vidprov generator train --family {f} --init-from generator/weights/{f}`.",
    ]
    if ev:
        s, r = ev["samples"], ev["heldout_real"]
        lines += [
            "",
            "## Measured (`vidprov generator export --family " + f + "`)",
            f"- VAE held-out PSNR: **{ev['vae_heldout_psnr_db']:.2f} dB** over {ev['n_heldout_crops']} fixed 17x64x64 crops"
            " (target 26 dB: " + ("met" if ev["vae_heldout_psnr_db"] >= 26 else "missed") + ").",
            f"- {ev['n_samples']} samples ({ev['steps']} steps, guidance {ev['guidance']}), {ev['seconds_per_sample_cpu']:.2f} s each of CPU time on this machine:",
            "",
            "| | warping error | sharpness (Laplacian var) | motion (mean abs frame diff) |",
            "|---|---|---|---|",
            f"| samples | {s['warping_error']:.2f} | {s['sharpness']:.1f} | {s['motion']:.2f} |",
            f"| held-out real crops | {r['warping_error']:.2f} | {r['sharpness']:.1f} | {r['motion']:.2f} |",
            "",
            f"- Fréchet distance (26-dim hand-crafted features, see generator/metrics.py): samples vs held-out real"
            f" {ev['frechet_samples_vs_heldout']:.2f}; training real vs held-out real (reference) {ev['frechet_train_vs_heldout_real']:.2f}.",
        ]
        if "fvd_samples_vs_heldout" in ev:
            lines += [
                f"- FVD (Kinetics-400 I3D, first 16 frames at 224 px; see docs/generator-metrics.md): samples vs"
                f" held-out real **{ev['fvd_samples_vs_heldout']:.1f}**; noise floor at these set sizes: training real"
                f" vs held-out real {ev['fvd_train_vs_heldout_real']:.1f}, held-out real half vs half"
                f" {ev['fvd_heldout_half_vs_half']:.1f}.",
            ]
        if "fvd_logits_samples_vs_heldout" in ev:
            lines += [
                f"- FVD on the I3D's 400 logits (the original FVD code's embedding): samples vs held-out real"
                f" {ev['fvd_logits_samples_vs_heldout']:.1f}; training real vs held-out real"
                f" {ev['fvd_logits_train_vs_heldout_real']:.1f}, held-out real half vs half"
                f" {ev['fvd_logits_heldout_half_vs_half']:.1f}.",
            ]
        lines += [
            "",
            "Samples (rows: prompts of generator/card.py EVAL_PROMPTS; columns: frames):",
            "",
            "![samples](samples.png)",
            "",
            "Held-out reconstructions (each pair of rows: original above, VAE reconstruction below):",
            "",
            "![reconstructions](reconstructions.png)",
        ]
    lines += ["", "## Limits",
              "Trained for minutes, not days, on 67 clips: samples have plausible colours and layouts of the training"
              " scenes at best, not recognisable objects. For research on detection and provenance only.", ""]
    return "\n".join(lines)
