"""Assemble trained parts into a diffusers pipeline folder (save_pretrained, safetensors) with a model card.

The folder loads with `DiffusionPipeline.from_pretrained` (WanPipeline / LTXPipeline), with
`vidprov.generator.load(PATH)`, and is a valid `--init-from` for further training. Weights are stored
in float16 to keep the repository small; they load back as float32 on the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from vidprov.generator import checkpoint, pipeline
from vidprov.generator.models import DiTConfig, TextConfig, VAEConfig, build_transformer, build_vae
from vidprov.generator.text import build_text_encoder, build_tokenizer


def build_random_pipeline(family: str, *, vae: VAEConfig, dit: DiTConfig, text: TextConfig, captions: list[str]):
    """An untrained pipeline of the given sizes (tests, and the starting point of training)."""
    tok = build_tokenizer(captions, max_length=text.max_length)
    te = build_text_encoder(len(tok), text.d_model, text.num_layers, text.num_heads, text.d_ff)
    return pipeline.assemble(family, vae=build_vae(vae), transformer=build_transformer(dit, vae.latent_channels),
                             text_encoder=te, tokenizer=tok)


def save_pipeline(pipe, out_dir: str | os.PathLike, *, settings: dict, dtype: torch.dtype = torch.float16) -> Path:
    """save_pretrained into a temp folder next to out_dir, then swap it in (no half-written model folder)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    try:
        pipe.to(dtype=dtype)
        pipe.save_pretrained(tmp, safe_serialization=True)
        pipe.to(dtype=torch.float32)
        (tmp / "vidprov.json").write_text(json.dumps(settings, indent=2) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _vae_from_folder(family: str, folder: Path):
    """A saved diffusers VAE (e.g. generator/weights/wan/vae, for a transformer retrained on a shipped VAE)
    and the training record of that VAE from the pipeline's metrics.json, in checkpoint form for the card."""
    from diffusers import AutoencoderKLLTXVideo, AutoencoderKLWan

    cls = AutoencoderKLWan if family == "wan" else AutoencoderKLLTXVideo
    vae = cls.from_pretrained(folder).float()
    metrics = folder.parent / "metrics.json"
    rec = json.loads(metrics.read_text()).get("vae", {}) if metrics.exists() else {}
    if not rec:
        raise FileNotFoundError(f"{folder}: no metrics.json beside it to describe how this VAE was trained")
    # final_train_loss stands in for a history: the card reads the last losses
    vs = {"step": rec["steps"], "cpu_s": rec["cpu_s"], "config": rec["config"],
          "history": {"train": [(rec["steps"], rec["final_train_loss"])],
                      "heldout_psnr": [(rec["steps"], rec["heldout_psnr_during_training"])]}}
    return vae, vs


def pipeline_from_checkpoints(family: str, vae_ckpt: str | os.PathLike, dit_ckpt: str | os.PathLike):
    """EMA weights of a VAE checkpoint and a transformer checkpoint (+ its latent statistics) -> pipeline."""
    from vidprov.generator.train_dit import TextToVelocity
    from vidprov.generator.training_data import load_captions

    if Path(vae_ckpt).is_dir():
        vae, vs = _vae_from_folder(family, Path(vae_ckpt))
        ds = checkpoint.load(dit_ckpt)
    else:
        vs = checkpoint.load(vae_ckpt)
        ds = checkpoint.load(dit_ckpt)
        if vs is None:
            raise FileNotFoundError(f"missing checkpoint: {vae_ckpt}")
        vae = build_vae(VAEConfig(**vs["config"]["vae"]))
        vae.load_state_dict({**vs["model"], **vs["ema"]["shadow"]})
    if ds is None:
        raise FileNotFoundError(f"missing checkpoint: {dit_ckpt}")
    lat = torch.load(Path(dit_ckpt).with_name("latents.pt"), map_location="cpu", weights_only=False)
    pipeline.set_latent_stats(vae, family, lat["mean"], lat["std"])
    dcfg, tcfg = ds["config"]["dit"], TextConfig(**ds["config"]["text"])
    dit = DiTConfig(**{**dcfg, "patch_size": tuple(dcfg["patch_size"])})
    tok = build_tokenizer(load_captions().values(), max_length=tcfg.max_length)
    if tok.get_vocab() != ds["tokenizer_vocab"]:
        raise ValueError("captions.json changed since the transformer was trained: tokenizer vocabulary differs")
    te = build_text_encoder(len(tok), tcfg.d_model, tcfg.num_layers, tcfg.num_heads, tcfg.d_ff)
    pipe = pipeline.assemble(family, vae=vae, transformer=build_transformer(dit, vae.config.latent_channels if family == "ltx" else vae.config.z_dim),
                             text_encoder=te, tokenizer=tok)
    flow = TextToVelocity(pipe)
    flow.load_state_dict({**ds["model"], **ds["ema"]["shadow"]})
    return pipe, vs, ds
