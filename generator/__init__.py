"""vidprov.generator: latent spacetime diffusion video models (Wan and LTX families) trained here.

    gen = vidprov.generator.load()                 # the default family (DEFAULT_MODEL, "ltx"); or "wan", or a diffusers pipeline folder
    clip = gen("cars on a street at night", seed=0)  # a Clip with generation metadata
    clip = vidprov.generator.generate("a person signing", model="ltx", seed=1)
    vae = vidprov.vae.load_vae("ltx"); z = vae.encode(clip); rec = vae.reconstruct(clip)  # once this is imported

See video_generator.py for the interface a latent watermark uses (initial noise, prompt encoding,
velocity prediction, latent encode/decode). Heavy imports (torch, diffusers) happen on first use.
"""

from __future__ import annotations

from pathlib import Path

from vidprov.generator.models import FAMILIES
from vidprov.vae import register_family

# `vidprov generate` and load() use this family unless told otherwise: ltx's VAE reaches the 26 dB target
# (27.1 dB vs wan's 23.4), its latent watermark AUC 1.0 (wan 0.90), and it samples in about half wan's time
# (benchmarks/RESULTS.md, "Generator").
DEFAULT_MODEL = "ltx"

# The shipped weights: generator/weights/<family>, a diffusers pipeline folder each. Registering them
# lets vidprov.vae.load_vae("ltx") find the family's VAE.
WEIGHTS_DIR = Path(__file__).with_name("weights")
for _family in FAMILIES:
    register_family(_family, WEIGHTS_DIR / _family)

_LAZY = {
    "VideoGenerator": "vidprov.generator.video_generator",
    "load": "vidprov.generator.video_generator",
    "generate": "vidprov.generator.video_generator",
    "ModelNotFoundError": "vidprov.generator.video_generator",
    "GenerationError": "vidprov.generator.video_generator",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidprov.generator' has no attribute {name!r}")


__all__ = sorted([*_LAZY, "DEFAULT_MODEL", "FAMILIES", "WEIGHTS_DIR"])
