"""Who made each generator in the shared data, and the split that stands in for unseen generators.

A family holds models that share weights or architecture (fine-tunes, distillations, plug-ins), so
holding out one member while training on its sibling would not test generalisation. The unseen-family
split follows ../shared/data/README.md: its later generators and later real sources test a detector
trained on the earlier ones, a stand-in for the generators of next year.
"""

from __future__ import annotations

import numpy as np

from vidprov.manifest import Manifest

GENERATOR_FAMILIES: dict[str, str] = {
    # ModelScope T2V (VideoFusion UNet3D) and its descendants
    "modelscope": "modelscope",
    "zeroscope": "modelscope",       # fine-tune of ModelScope T2V
    "instructvideo": "modelscope",   # reward fine-tune of ModelScope T2V
    "motiondirector": "modelscope",  # motion LoRAs on ModelScope T2V
    "videolcm": "modelscope",        # consistency distillation of ModelScope T2V
    "tft2v": "modelscope",           # TF-T2V, same Alibaba codebase and UNet
    "show1": "modelscope",           # pixel keyframes, but final frames from ZeroScope latent upscaling
    "animateanything": "modelscope",  # fine-grained image animation fine-tuned from ModelScope T2V
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
    "cinemo": "opensora",             # image animation on Latte's architecture
    # LaVie and its descendants
    "lavie": "lavie",
    "seine": "lavie",                 # LaVie-based transition/prediction model
    "vlogger": "lavie",               # ShowMaker built on LaVie/SEINE
    # independent: their own family
    "gen2": "gen2",
    "t2vzero": "t2vzero",
    "consisti2v": "consisti2v",
    "kandinskyvideo": "kandinskyvideo",
    "vchitect2": "vchitect2",
    "anyv2v": "anyv2v",               # video editing with an I2VGen-XL backbone
    "tokenflow": "tokenflow",         # video editing with a Stable Diffusion image model
    "flatten": "flatten",             # video editing with a Stable Diffusion image model
}

# ../shared/data/README.md, "Unseen-family protocol": generators and real-clip source repositories
# that were added to the data after the first 24 generators and 67 real clips.
UNSEEN_GENERATORS = ("kandinskyvideo", "vchitect2", "animateanything", "cinemo", "anyv2v", "tokenflow", "flatten")
UNSEEN_REAL_SOURCES = ("Track-Anything", "Depth-Anything", "Segment-and-Track-Anything", "ProPainter", "AnyV2V",
                       "Motion-I2V", "mmpose")


def family_of(generator: str) -> str:
    g = str(generator).strip().lower()
    return GENERATOR_FAMILIES.get(g, g or "unknown")


def _source_repo(source: str) -> str:
    """'github:owner/Repo@commit' -> 'Repo'."""
    return str(source).split("@")[0].rsplit("/", 1)[-1]


def unseen_family_split(manifest: Manifest) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) masks: test = clips of the unseen generators and real clips of the unseen sources;
    train = the other generated and real clips. Hard negatives (animation, synthetic) are in neither.
    Groups never straddle: a training clip that shares a group with a test clip is dropped."""
    df = manifest.df
    gen = df["generator"].astype(str).str.lower().isin(UNSEEN_GENERATORS) & (df["label"] == "generated")
    source = df["source"] if "source" in df else df["path"].map(lambda _: "")
    real = source.map(_source_repo).isin(UNSEEN_REAL_SOURCES) & (df["label"] == "real")
    test = (gen | real).to_numpy()
    train = df["label"].isin(["generated", "real"]).to_numpy() & ~test
    train &= ~df["group"].isin(set(df.loc[test, "group"])).to_numpy()
    return train, test
