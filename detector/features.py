"""One place that turns a normalised clip into a named feature vector, family by family."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vidprov.clip import Clip
from vidprov.color import luma
from vidprov.detector.frequency import frequency_features
from vidprov.detector.reconstruction import Reconstruct, latent_features
from vidprov.detector.temporal import temporal_features

FAMILIES = ("temporal", "frequency", "latent")
# Bumped whenever a feature's definition changes, so cached feature files are not reused across it.
# 2: frequency/noise statistics on every second frame (half the cost on the scan path).
FEATURE_VERSION = 2


@dataclass
class FeatureConfig:
    """Which families to compute. 'latent' needs a VAE (vae_family); without one it is skipped."""

    families: tuple[str, ...] = ("temporal", "frequency")
    vae_family: str | None = None
    latent_scales: tuple[float, ...] = (1.0, 0.5)
    exclude: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        bad = sorted(set(self.families) - set(FAMILIES))
        if bad:
            raise ValueError(f"unknown feature families {bad}; valid: {list(FAMILIES)}")
        self.families = tuple(self.families)
        self.latent_scales = tuple(float(s) for s in self.latent_scales)
        self.exclude = tuple(self.exclude)


def family_of(name: str) -> str:
    if name.startswith("latent_"):
        return "latent"
    if name.startswith(("spec_", "peak_", "resid_")):
        return "frequency"
    return "temporal"


def extract(clip: Clip, config: FeatureConfig, reconstruct: Reconstruct | None = None,
            y: np.ndarray | None = None) -> dict[str, float]:
    """y: the clip's luma (vidprov.color.luma) when the caller already computed it."""
    feats: dict[str, float] = {}
    if y is None and {"temporal", "frequency"} & set(config.families):
        y = luma(clip.frames)
    if "temporal" in config.families:
        feats.update(temporal_features(clip, y=y))
    if "frequency" in config.families:
        feats.update(frequency_features(clip, y=y))
    if "latent" in config.families:
        if reconstruct is None:
            raise ValueError("the 'latent' feature family needs a VAE; none was given")
        feats.update(latent_features(clip, reconstruct, config.latent_scales, name=config.vae_family or "vae"))
    for name in config.exclude:
        feats.pop(name, None)
    return feats


def to_matrix(rows: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    """Stack feature dicts in the order of `names`; non-finite values become 0 (checked upstream)."""
    x = np.array([[r.get(n, np.nan) for n in names] for r in rows], dtype=np.float64)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
