"""Generator families by lineage: the one table of which generators share weights or architecture.

Leave-one-family-out evaluation (the benchmark harness, the detector's own quick evaluation) holds out
a whole family, so that a held-out generator is really unseen.
"""

from __future__ import annotations

# Lineage of the public generators in ../shared/data (and common others), for leave-one-family-out.
# A family holds models that share weights or architecture (fine-tunes, distillations, plug-ins),
# so holding out one member while training on its sibling would not test generalisation.
GENERATOR_FAMILIES: dict[str, str] = {
    # ModelScope T2V (VideoFusion UNet3D) and its descendants
    "modelscope": "modelscope",
    "zeroscope": "modelscope",       # fine-tune of ModelScope T2V
    "instructvideo": "modelscope",   # reward fine-tune of ModelScope T2V
    "motiondirector": "modelscope",  # motion LoRAs on ModelScope T2V
    "videolcm": "modelscope",        # consistency distillation of ModelScope T2V
    "tft2v": "modelscope",           # TF-T2V, same Alibaba codebase and UNet
    "show1": "modelscope",           # pixel keyframes, but final frames from ZeroScope latent upscaling
    # VideoCrafter and its descendants
    "videocrafter": "videocrafter",
    "dynamicrafter": "videocrafter",  # image animation built on VideoCrafter
    "tooncrafter": "videocrafter",    # built on DynamiCrafter
    "t2vturbo": "videocrafter",       # distilled from VideoCrafter2
    # Stable Video Diffusion
    "svd": "svd",
    # AnimateDiff (SD 1.5 + motion module) and plug-ins
    "animatediff": "animatediff",
    "animatelcm": "animatediff",      # consistency-distilled AnimateDiff-style motion module
    "pia": "animatediff",             # image animator plugged into AnimateDiff
    # DiT video models in the Latte / Open-Sora line
    "opensora": "opensora",
    "opensoraplan": "opensora",       # Open-Sora-Plan v1.0 started from Latte's architecture
    "latte": "opensora",
    # LaVie and its descendants
    "lavie": "lavie",
    "seine": "lavie",                 # LaVie-based transition/prediction model
    "vlogger": "lavie",               # ShowMaker built on LaVie/SEINE
    # independent: their own family
    "gen2": "gen2",
    "t2vzero": "t2vzero",
    "consisti2v": "consisti2v",
    # the shared data's later generators (its unseen-family split)
    "animateanything": "modelscope",  # fine-grained image animation fine-tuned from ModelScope T2V
    "cinemo": "opensora",             # image animation on Latte's architecture
    "kandinskyvideo": "kandinskyvideo",
    "vchitect2": "vchitect2",
    "anyv2v": "anyv2v",               # video editing with an I2VGen-XL backbone
    "tokenflow": "tokenflow",         # video editing with a Stable Diffusion image model
    "flatten": "flatten",             # video editing with a Stable Diffusion image model
}


def family_of(generator: str) -> str:
    """The family of a generator name (case-insensitive); a name not in the table is its own family."""
    g = str(generator).strip().lower()
    return GENERATOR_FAMILIES.get(g, g or "unknown")
