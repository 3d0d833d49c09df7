"""Evaluation protocols: which clips train a detector and which test it.

Every protocol yields Folds (train rows, test rows, a name). Labels: 1 = generated; real camera
clips and the hard negatives (label 'animation' / 'synthetic': human-made CGI, test cards) are 0.

- unseen (unseen-family): train on the shared data's earlier generators and real sources, test on its
  later generators and later real sources (vidprov.lineage.unseen_family_split); the protocol models
  are selected and reported on first.
- in-dist: Manifest.group_split after merging groups that share content (same prompt); no clip
  group in two splits.
- logo (leave-one-generator-family-out): train on the train split minus one family's clips,
  test on the test split's negatives plus every clip of the held-out family (which no training
  clip shares a family with, so using all of them leaks nothing).
- cross: train on manifest A (all of it), test on manifest B (all of it).
- robust: the in-dist fold; the harness scores its test split under every perturbation.
- unseen-robust: the unseen fold, its test split scored under every perturbation (robustness on
  generators and real sources no training clip came from).

Thresholds (accuracy/F1 at 0.5 on the calibrated probability) come from training clips only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidprov.errors import VidprovError
from vidprov.lineage import family_of, unseen_family_split
from vidprov.manifest import Manifest

PROTOCOLS = ("unseen", "logo", "in-dist", "cross", "robust", "unseen-robust")
# Protocols whose test split is scored under the perturbation grid (the others: clean clips only).
PERTURBED_PROTOCOLS = ("robust", "unseen-robust")
NEGATIVE_HARD = ("animation", "synthetic")

class ProtocolError(VidprovError):
    """A protocol cannot be built from the given data (no test clips, unknown protocol...)."""


def binary_labels(manifest: Manifest) -> np.ndarray:
    return manifest.labels(positive="generated")


@dataclass
class Fold:
    protocol: str
    name: str  # "test split", held-out family, "A->B"
    train: Manifest
    test: Manifest
    split: str  # what the test clips are, for every reported number

    def describe(self) -> str:
        yt, ye = binary_labels(self.train), binary_labels(self.test)
        return (f"{self.protocol}/{self.name}: train {len(yt)} clips ({yt.sum()} generated), "
                f"test {len(ye)} clips ({ye.sum()} generated)")


# ../shared/data: Show-1's comparison clips of Gen-2, ModelScope and ZeroScope share prompts by index
# (gen2_comparison_gen2_03, modelscope_comparison_ms_03, zeroscope_comparison_zs_03 show one prompt).
_COMPARISON = re.compile(r"_comparison_(?:gen2|ms|zs)_(\d+)$")


def merge_shared_content(manifest: Manifest) -> Manifest:
    """Put clips that show the same content in one group before splitting: clips with the same
    non-empty prompt, and the shared data's same-prompt comparison clips. Groups are unioned, so
    a clip's whole original group moves with it."""
    df = manifest.df.copy()
    parent: dict[str, str] = {g: g for g in df["group"]}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    def union(groups) -> None:
        roots = sorted({find(g) for g in groups})
        for r in roots[1:]:
            parent[r] = roots[0]

    for _, part in df[df["prompt"].str.strip() != ""].groupby(df["prompt"].str.strip().str.lower()):
        union(part["group"])
    keys = df["path"].map(lambda p: _COMPARISON.search(Path(p).stem))
    for _, part in df[keys.notna()].groupby(keys[keys.notna()].map(lambda m: m.group(1))):
        union(part["group"])
    merged = df["group"].map(find)
    if (merged != df["group"]).any():
        df["group"] = merged
        return Manifest(df, root=manifest.root)
    return manifest


def ensure_split(manifest: Manifest, *, test_size: float = 0.3, seed: int = 0) -> Manifest:
    """Keep an existing train/test split column (checked for group leaks), else make a group split
    after merging groups that share content (merge_shared_content)."""
    splits = set(manifest.df["split"])
    if {"train", "test"} <= splits and splits <= {"train", "val", "test"}:
        manifest.check_no_group_leak()
        return manifest
    out = merge_shared_content(manifest).group_split(test_size=test_size, seed=seed)
    out.check_no_group_leak()
    return out


def _need_both(m: Manifest, what: str) -> None:
    y = binary_labels(m)
    if len(y) == 0 or y.min() == y.max():
        raise ProtocolError(f"{what} needs both generated and non-generated clips, has {len(y)} clips, "
                            f"{int(y.sum())} generated")


def in_distribution(manifest: Manifest) -> Fold:
    train, test = manifest.where(split=["train", "val"]), manifest.where(split="test")
    _need_both(train, "in-dist training split")
    _need_both(test, "in-dist test split")
    return Fold("in-dist", "test split", train, test, "in-dist test split")


def leave_one_family_out(manifest: Manifest, *, families: list[str] | None = None,
                         min_clips: int = 2) -> Iterator[Fold]:
    df = manifest.df
    fam = df["generator"].map(family_of).where(df["label"] == "generated", "")
    counts = fam[fam != ""].value_counts()
    chosen = families or sorted(counts.index[counts >= min_clips])
    unknown = sorted(set(chosen) - set(counts.index))
    if unknown:
        raise ProtocolError(f"no generated clips of families {unknown}; present: {', '.join(sorted(counts.index))}")
    is_train = df["split"].isin(["train", "val"]).to_numpy()
    is_test_neg = (df["split"].eq("test") & df["label"].ne("generated")).to_numpy()
    for f in chosen:
        held = (fam == f).to_numpy()
        train = manifest.subset(is_train & ~held)
        test = manifest.subset(is_test_neg | held)
        _need_both(train, f"logo fold {f} training set")
        yield Fold("logo", f, train, test, f"held-out family {f} + test-split negatives")


def unseen_family(manifest: Manifest) -> Fold:
    train, test = unseen_family_split(manifest)
    if not test.any():
        raise ProtocolError("the unseen protocol needs the shared data's later generators and real sources "
                            "(vidprov.lineage.UNSEEN_GENERATORS / UNSEEN_REAL_SOURCES); none are in this manifest")
    fold = Fold("unseen", "later families", manifest.subset(train), manifest.subset(test),
                "unseen generators + unseen real sources")
    _need_both(fold.train, "unseen-family training set")
    _need_both(fold.test, "unseen-family test set")
    return fold


def cross_dataset(train_manifest: Manifest, test_manifest: Manifest, *, name: str = "A->B") -> Fold:
    _need_both(train_manifest, "cross-dataset training manifest")
    _need_both(test_manifest, "cross-dataset test manifest")
    return Fold("cross", name, train_manifest, test_manifest, f"all of test manifest ({name})")


def robustness(manifest: Manifest) -> Fold:
    fold = in_distribution(manifest)
    fold.protocol = "robust"
    return fold


def build_folds(protocols: list[str], manifest: Manifest, *, test_manifest: Manifest | None = None,
                logo_families: list[str] | None = None, test_size: float = 0.3, seed: int = 0) -> list[Fold]:
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown:
        raise ProtocolError(f"unknown protocols {unknown}; valid: {', '.join(PROTOCOLS)}, all")
    split = ensure_split(manifest, test_size=test_size, seed=seed)
    folds: list[Fold] = []
    for p in protocols:
        if p == "unseen":
            folds.append(unseen_family(manifest))
        elif p == "in-dist":
            folds.append(in_distribution(split))
        elif p == "robust":
            folds.append(robustness(split))
        elif p == "unseen-robust":
            fold = unseen_family(manifest)
            fold.protocol = "unseen-robust"
            folds.append(fold)
        elif p == "logo":
            folds += list(leave_one_family_out(split, families=logo_families))
        elif p == "cross":
            if test_manifest is None:
                raise ProtocolError("the cross protocol needs a second manifest (--test-data)")
            folds.append(cross_dataset(manifest, test_manifest))
    return folds


def subsample(manifest: Manifest, n: int, *, seed: int = 0) -> Manifest:
    """At most n clips, drawn by whole groups and proportionally per label (for --quick)."""
    if len(manifest) <= n:
        return manifest
    rng = np.random.default_rng(seed)
    df = manifest.df
    keep: list[str] = []
    for _, part in df.groupby("label"):
        target = max(1, round(n * len(part) / len(df)))
        groups = np.array(sorted(part["group"].unique()))
        rng.shuffle(groups)
        taken = 0
        for g in groups:
            if taken >= target:
                break
            keep.append(g)
            taken += int((part["group"] == g).sum())
    return manifest.subset(df["group"].isin(keep).to_numpy())
