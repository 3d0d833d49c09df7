"""CLI: `vidprov generate`, `vidprov generate-dataset`, `vidprov generator train-vae|train|export`,
`vidprov bench generator`. Heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vidprov.generator import DEFAULT_MODEL

console = Console()
group = typer.Typer(help="Train and export the generator's models.", no_args_is_help=True)

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="'ltx', 'wan' or a diffusers pipeline folder.")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda when available).")]


def generate(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Text prompt.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output mp4 (a JSON sidecar is written next to it).")],
    model: ModelOpt = DEFAULT_MODEL,
    seed: Annotated[int, typer.Option(help="Random seed (same seed and settings -> same frames).")] = 0,
    frames: Annotated[int | None, typer.Option(help="Frames (4k+1; default 17).")] = None,
    size: Annotated[int | None, typer.Option(help="Side in pixels (multiple of 16; default 64).")] = None,
    steps: Annotated[int, typer.Option(help="Sampling steps.")] = 20,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale.")] = 4.0,
    device: DeviceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the clip's metadata as JSON.")] = False,
    mark: Annotated[bool, typer.Option("--mark/--no-mark", help="Embed the invisible watermark (per-user key).")] = True,
    sign: Annotated[bool, typer.Option("--sign/--no-sign", help="Attach signed C2PA Content Credentials.")] = True,
    latent_mark: Annotated[bool, typer.Option("--latent-mark/--no-latent-mark",
                                              help="Plant the latent (initial-noise) watermark, per-user key.")] = True,
) -> None:
    """Generate one clip from a text prompt (H.264 mp4 + JSON sidecar), watermarked and signed by default."""
    from vidprov.generator.models import FAMILIES
    from vidprov.generator.video_generator import load

    gen = load(model, device=device)
    if latent_mark and gen.family in FAMILIES:
        from vidprov.watermark.keys import default_key
        from vidprov.watermark.latent import GeneratorWatermark

        clip = GeneratorWatermark(gen, steps=steps).generate(prompt, default_key(), seed=seed, guidance=guidance,
                                                             num_frames=frames, size=size)
    else:
        clip = gen(prompt, seed=seed, steps=steps, guidance=guidance, num_frames=frames, size=size)
    from vidprov.provenance import write_clip

    meta = write_clip(clip, out, mark=mark, sign=sign)
    if as_json:
        print(json.dumps(meta, indent=2))
    else:
        console.print(f"{clip.num_frames} frames {clip.width}x{clip.height} @ {clip.fps:g} fps by {meta['model']} "
                      f"({meta['family']}, {meta['checkpoint_hash']}) in {meta['time_s']:.2f}s -> {out}")


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _csv(text: str, cast=str) -> list:
    return [cast(x.strip()) for x in text.split(",") if x.strip()]


def generate_dataset(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (manifest.csv is written there).")],
    n: Annotated[int | None, typer.Option("--n", help="Number of generated clips (text-to-video).")] = None,
    models: Annotated[str, typer.Option(help="Comma-separated models: wan,ltx or folders.")] = "wan,ltx",
    steps: Annotated[str, typer.Option(help="Comma-separated step counts, cycled.")] = "20",
    guidance: Annotated[str, typer.Option(help="Comma-separated guidance scales, cycled.")] = "4.0",
    prompts: Annotated[Path | None, typer.Option(help="Prompt file: one per line or 'group<TAB>prompt' (default: the training captions).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of clip 0 (clip i uses seed + i).")] = 0,
    real: Annotated[bool, typer.Option("--real/--no-real", help="Also write a matching real set (one clip per prompt group, from the shared data).")] = False,
    data: Annotated[Path | None, typer.Option(help="Manifest for --real (default ../shared/data).")] = None,
    device: DeviceOpt = None,
    mark: Annotated[bool, typer.Option("--mark/--no-mark", help="Embed the invisible watermark (per-user key).")] = True,
    sign: Annotated[bool, typer.Option("--sign/--no-sign", help="Attach signed C2PA Content Credentials.")] = True,
    from_real: Annotated[Path | None, typer.Option("--from-real", help="Aligned pairs instead: a folder or manifest of real clips, each paired with its generated version.")] = None,
    mode: Annotated[str, typer.Option(help="--from-real: reconstruct (VAE) or regenerate (SDEdit with the transformer).")] = "reconstruct",
    strength: Annotated[float, typer.Option(help="--from-real regenerate: noise level 0-1 the clip is re-noised to.")] = 0.5,
    model: Annotated[str, typer.Option(help="--from-real: ltx, wan or a pipeline folder.")] = "ltx",
    size: Annotated[int, typer.Option(help="--from-real: side of the normalised square window.")] = 256,
    limit: Annotated[int | None, typer.Option(help="--from-real: only the first LIMIT real clips, in manifest order.")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="One clip per Ray task, on a local Ray or --address.")] = False,
    address: Annotated[str | None, typer.Option(help="With --ray: an existing cluster (auto, ray://HOST:PORT); "
                                                     "default RAY_ADDRESS, else a local Ray started here.")] = None,
) -> None:
    """Generate a labelled synthetic data set with a Manifest; resumable (finished clips are skipped).

    Clips are watermarked and signed by default; use --no-mark --no-sign for detector training data
    so a detector cannot learn the watermark instead of generation artefacts. With --from-real, each real
    clip is paired with its reconstruction or regeneration (never marked or signed: see generator/aligned.py).
    """
    if from_real is not None:
        from vidprov.generator.aligned import AlignedSettings, make_pairs, real_sources
        from vidprov.generator.training_data import load_captions

        settings = AlignedSettings(mode=mode, strength=strength, model=model, size=size, seed=seed,
                                   steps=_csv(steps, int)[0])
        from vidprov.provenance import write_clip

        m = make_pairs(out, real_sources(from_real, limit), settings, write_clip=write_clip, device=device,
                       captions=load_captions())
        console.print(f"{len(m)} clips ({m.df['label'].value_counts().to_dict()}) -> {out / 'manifest.csv'}")
        return
    from vidprov.generator.generated_dataset import DatasetSpecError
    from vidprov.generator.generated_dataset import generate_dataset as run

    if n is None:
        raise DatasetSpecError("give --n (text-to-video clips) or --from-real (aligned pairs)")
    from vidprov.generator.generated_dataset import make_plan, read_prompts
    from vidprov.manifest import Manifest
    from vidprov.provenance import write_clip

    if address is not None and not ray:
        raise typer.BadParameter("--address is an option of --ray")
    if ray:
        from vidprov.scale import require_ray

        require_ray()  # before any work: says how to install it
    plan = make_plan(n, _csv(models), _csv(steps, int), _csv(guidance, float), read_prompts(prompts), seed)
    real_manifest = (Manifest.read(data) if data else Manifest.from_shared()) if real else None
    if ray:
        from vidprov.scale.generate import generate_dataset as run_on_ray

        m = run_on_ray(out, plan, device=device, real_manifest=real_manifest, mark=mark, sign=sign, address=address)
    else:
        m = run(out, plan, write_clip=write_clip, device=device, real_manifest=real_manifest, mark=mark, sign=sign)
    console.print(f"{len(m)} clips ({m.df['label'].value_counts().to_dict()}) -> {out / 'manifest.csv'}")


@group.command("train-vae")
def train_vae_cmd(
    family: Annotated[str, typer.Option(help="wan or ltx.")],
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<family>_vae); resumes from its ckpt.pt.")] = None,
    data: Annotated[Path | None, typer.Option(help="Manifest file or folder of real clips (default ../shared/data).")] = None,
    minutes: Annotated[float | None, typer.Option(help="Stop after this much wall time.")] = None,
    steps: Annotated[int | None, typer.Option(help="Stop at this step.")] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    size: Annotated[int | None, typer.Option(help="Training crop side (default 64).")] = None,
    frames: Annotated[int | None, typer.Option(help="Training crop frames (4k+1).")] = None,
    lr: Annotated[float | None, typer.Option()] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Decoded-crop cache folder.")] = None,
    eval_size: Annotated[int | None, typer.Option(help="Held-out crop side for PSNR (default 64).")] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between held-out evaluations.")] = None,
    ckpt_every_s: Annotated[float | None, typer.Option(help="Seconds between checkpoints.")] = None,
    freeze_encoder: Annotated[bool, typer.Option("--freeze-encoder", help="Fine-tune the decoder only.")] = False,
    init_from: Annotated[Path | None, typer.Option(help="Start from a saved VAE folder (e.g. generator/weights/ltx/vae).")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    device: DeviceOpt = None,
    latent_channels: Annotated[int | None, typer.Option(help="Latent channels (default 16; the shipped ltx uses 64).")] = None,
    spatial_compression: Annotated[int | None, typer.Option(help="wan only: 8 (default) or 4.")] = None,
) -> None:
    """Train a video VAE on random spacetime crops of real clips (resumable; data-parallel under torchrun:
    `torchrun --nproc_per_node 2 -m vidprov.cli generator train-vae --family ltx`)."""
    from vidprov.generator.models import check_family
    from vidprov.generator.train_vae import make_config, train_vae

    check_family(family)
    s = train_vae(make_config(family, out=str(out) if out else None, data=str(data) if data else None, minutes=minutes,
                              steps=steps, batch_size=batch_size, size=size, frames=frames, lr=lr, threads=threads,
                              freeze_encoder=freeze_encoder or None, init_from=str(init_from) if init_from else None,
                              seed=seed, device=device, latent_channels=latent_channels,
                              spatial_compression=spatial_compression, cache_dir=_str(cache_dir), eval_size=eval_size,
                              eval_every=eval_every, ckpt_every_s=ckpt_every_s))
    console.print_json(data=s)


@group.command("train")
def train_dit_cmd(
    family: Annotated[str, typer.Option(help="wan or ltx.")],
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<family>_dit); resumes from its ckpt.pt.")] = None,
    vae_ckpt: Annotated[Path | None, typer.Option(help="VAE training checkpoint (default runs/<family>_vae/ckpt.pt).")] = None,
    vae_dir: Annotated[Path | None, typer.Option(help="Or a saved VAE folder (e.g. generator/weights/wan/vae).")] = None,
    data: Annotated[Path | None, typer.Option(help="Manifest file or folder of real clips.")] = None,
    minutes: Annotated[float | None, typer.Option()] = None,
    steps: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    lr: Annotated[float | None, typer.Option()] = None,
    threads: Annotated[int | None, typer.Option()] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Latent cache folder.")] = None,
    windows_per_clip: Annotated[int | None, typer.Option(help="Latent windows cached per clip.")] = None,
    crops_per_window: Annotated[int | None, typer.Option(help="Random crops encoded per window.")] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between held-out evaluations.")] = None,
    ckpt_every_s: Annotated[float | None, typer.Option(help="Seconds between checkpoints.")] = None,
    init_from: Annotated[Path | None, typer.Option(help="Continue from a saved pipeline folder (generator/weights/<family>).")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    device: DeviceOpt = None,
) -> None:
    """Train the text-conditioned transformer (flow matching) on cached latents of a frozen VAE (resumable;
    data-parallel under torchrun: `torchrun --nproc_per_node 2 -m vidprov.cli generator train --family ltx`)."""
    from vidprov.generator.models import check_family
    from vidprov.generator.train_dit import make_config, train_dit

    check_family(family)
    s = train_dit(make_config(family, out=str(out) if out else None, vae_ckpt=str(vae_ckpt) if vae_ckpt else None,
                              vae_dir=str(vae_dir) if vae_dir else None, data=str(data) if data else None,
                              minutes=minutes, steps=steps, batch_size=batch_size, lr=lr, threads=threads,
                              init_from=str(init_from) if init_from else None, seed=seed, device=device,
                              cache_dir=_str(cache_dir), windows_per_clip=windows_per_clip,
                              crops_per_window=crops_per_window, eval_every=eval_every, ckpt_every_s=ckpt_every_s))
    console.print_json(data=s)


@group.command("export")
def export_cmd(
    family: Annotated[str, typer.Option(help="wan or ltx.")],
    out: Annotated[Path | None, typer.Option(help="Pipeline folder (default generator/weights/<family>).")] = None,
    vae_ckpt: Annotated[Path | None, typer.Option()] = None,
    dit_ckpt: Annotated[Path | None, typer.Option()] = None,
    evaluate: Annotated[bool, typer.Option("--eval/--no-eval", help="Measure held-out PSNR and sample metrics for the model card.")] = True,
    notes: Annotated[Path | None, typer.Option(help="Markdown file appended to the model card (how the run actually went).")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Only measure the exported folder again and rewrite its card (no checkpoints needed).")] = False,
) -> None:
    """Assemble the EMA weights of both checkpoints into a diffusers pipeline folder with a model card."""
    from vidprov.generator.card import export_family, refresh_card
    from vidprov.generator.video_generator import WEIGHTS_DIR

    if refresh:
        console.print_json(data=refresh_card(out or WEIGHTS_DIR / family))
        return

    res = export_family(family, out=out, vae_ckpt=vae_ckpt, dit_ckpt=dit_ckpt, run_eval=evaluate,
                        notes=notes.read_text() if notes else None)
    console.print_json(data=res)


def bench_generator(
    model: ModelOpt = DEFAULT_MODEL,
    steps: Annotated[int, typer.Option(help="Sampling steps.")] = 20,
    guidance: Annotated[float, typer.Option()] = 4.0,
    size: Annotated[int | None, typer.Option()] = None,
    frames: Annotated[int | None, typer.Option()] = None,
    repeats: Annotated[int, typer.Option(help="Timed clips.")] = 5,
    device: DeviceOpt = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    fvd: Annotated[int, typer.Option("--fvd", help="Also FVD of this many samples vs held-out real crops, with its real-vs-real floor (0: skip).")] = 0,
) -> None:
    """Per-clip time split (text encoding, transformer steps, VAE decode, overhead) and peak memory."""
    from vidprov.generator.bench import run_bench

    r = run_bench(model, steps=steps, guidance=guidance, size=size, num_frames=frames, repeats=repeats, device=device,
                  threads=threads, fvd_samples=fvd)
    if as_json:
        print(json.dumps(r, indent=2))
        return
    m = r["median"]
    t = Table("part", "median s", "share")
    for key in ("text_encoder_s", "transformer_s", "vae_decode_s", "overhead_s", "total_s"):
        t.add_row(key[:-2], f"{m[key]:.4f}", f"{m[key] / m['total_s']:.0%}")
    console.print(f"{r['model']} ({r['family']}, {r['checkpoint_hash']}) on {r['device']}, {r['threads']} threads: "
                  f"{r['num_frames']}x{r['size']}x{r['size']}, {r['steps']} steps, guidance {r['guidance']}, "
                  f"{m['transformer_calls']:.0f} transformer calls")
    console.print(t)
    console.print(f"transformer step {r['transformer_step_s'] * 1000:.1f} ms; overhead {r['overhead_fraction']:.1%}; "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB" + (f"; peak CUDA {r['peak_cuda_mib']:.0f} MiB" if r["peak_cuda_mib"] else ""))
    if "fvd" in r:
        f = r["fvd"]
        console.print(f"FVD (I3D) of {f['n_samples']} samples vs {f['n_heldout']} held-out real crops: "
                      f"{f['fvd_samples_vs_heldout']:.1f}; real-vs-real floor: training vs held-out "
                      f"{f['fvd_train_vs_heldout_real']:.1f}, held-out half vs half {f['fvd_heldout_half_vs_half']:.1f}; "
                      f"on the 400 logits: {f['fvd_logits_samples_vs_heldout']:.1f} (floor "
                      f"{f['fvd_logits_train_vs_heldout_real']:.1f}, {f['fvd_logits_heldout_half_vs_half']:.1f})")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("generate-dataset")(generate_dataset)
    app.add_typer(group, name="generator")
    bench.command("generator")(bench_generator)
