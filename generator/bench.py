"""`vidprov bench generator`: where a clip's time goes (text encoding, transformer steps, VAE decode, overhead),
and optionally the model's FVD against held-out real clips next to the real-vs-real floor."""

from __future__ import annotations

import resource
import time

import numpy as np
import torch

from vidprov.generator import DEFAULT_MODEL


def run_bench(model: str = DEFAULT_MODEL, *, steps: int = 20, guidance: float = 4.0, size: int | None = None,
              num_frames: int | None = None, repeats: int = 5, device: str | None = None, threads: int | None = None,
              fvd_samples: int = 0) -> dict:
    from vidprov.generator.video_generator import VideoGenerator

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    gen = VideoGenerator.load(model, device=device)
    load_s = time.perf_counter() - t0
    dev = gen.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    gen("warm-up", seed=0, steps=2, guidance=guidance, size=size, num_frames=num_frames)
    runs = []
    for r in range(repeats):
        clip = gen("cars on a road from a static traffic camera", seed=r, steps=steps, guidance=guidance, size=size,
                   num_frames=num_frames)
        t = gen.last_timing
        tr = float(np.sum(t["transformer_s"]))
        runs.append({"total_s": t["total_s"], "text_encoder_s": t["text_encoder_s"], "transformer_s": tr,
                     "transformer_calls": len(t["transformer_s"]), "vae_decode_s": t["vae_decode_s"],
                     "overhead_s": t["total_s"] - tr - t["vae_decode_s"]})
    med = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    per_step = med["transformer_s"] / steps
    report = {
        "model": model, "family": gen.family, "checkpoint_hash": gen.checkpoint_hash, "device": str(dev),
        "threads": torch.get_num_threads(), "steps": steps, "guidance": guidance,
        "size": clip.height, "num_frames": clip.num_frames, "repeats": repeats, "load_s": load_s,
        "median": med, "transformer_step_s": per_step,
        "overhead_fraction": med["overhead_s"] / med["total_s"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_cuda_mib": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None,
        "params_m": {"transformer": sum(p.numel() for p in gen.transformer.parameters()) / 1e6,
                     "vae": sum(p.numel() for p in gen.vae.parameters()) / 1e6,
                     "text_encoder": sum(p.numel() for p in gen.text_encoder.parameters()) / 1e6},
    }
    if fvd_samples:
        report["fvd"] = run_fvd(gen, fvd_samples, steps=steps, guidance=guidance, size=size, num_frames=num_frames)
    return report


def run_fvd(gen, n_samples: int, *, steps: int, guidance: float, size: int | None = None,
            num_frames: int | None = None) -> dict:
    """FVD of n samples (the model card's prompts and seeds) vs the card's fixed held-out real crops."""
    from vidprov.generator.card import EVAL_PROMPTS, fvd_figures, heldout_crops
    from vidprov.generator.metrics import FVD_FRAMES
    from vidprov.generator.video_generator import GenerationError

    frames = int(num_frames or gen.settings["num_frames"])
    if n_samples < 2 or frames < FVD_FRAMES:
        raise GenerationError(f"FVD needs at least 2 samples of at least {FVD_FRAMES} frames, got {n_samples} of {frames}")
    held, train = heldout_crops()
    samples = [gen(EVAL_PROMPTS[i % len(EVAL_PROMPTS)], seed=i, steps=steps, guidance=guidance, size=size,
                   num_frames=num_frames).frames for i in range(n_samples)]
    return {"n_samples": n_samples, "n_heldout": len(held), **fvd_figures(samples, list(held), list(train))}
