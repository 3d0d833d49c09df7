"""The detector's own evaluation of the feature model on cached features (fast: no re-decoding):
group-CV, leave-one-generator-family-out, per source format. The harness (`vidprov bench detector`)
is the reference; this exists so that every design choice here could be checked quickly.

Lineage families group generators that share a backbone or decoder, so that holding a family out
really tests an unseen generator (holding out zeroscope alone while modelscope trains would not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vidprov.detector.dataset import DEFAULT_CACHE, feature_matrix, window_table
from vidprov.detector.feature_model import FeatureDetector
from vidprov.detector.features import FeatureConfig
from vidprov.detector.windows import WindowSpec
from vidprov.lineage import family_of
from vidprov.manifest import Manifest


def lineage(generator: str) -> str:
    """The generator's family (vidprov.lineage); real clips are 'real'."""
    return family_of(generator) if generator else "real"


def _clip_auc(table: pd.DataFrame, p: np.ndarray) -> tuple[float, pd.DataFrame]:
    from vidprov.benchmarks.metrics import roc_auc

    agg = table.assign(p=p).groupby("clip").agg(p=("p", "mean"), y=("y", "first"),
                                                 source_format=("source_format", "first"),
                                                 generator=("generator", "first"))
    y = agg["y"].to_numpy()
    return (roc_auc(y, agg["p"].to_numpy()) if 0 < y.sum() < len(y) else float("nan")), agg


def evaluate_features(data: Path, classifier: str = "gb", folds: int = 5, seed: int = 0,
                      cache: Path = DEFAULT_CACHE, augment: int = 1, max_windows: int = 4,
                      crf: int | None = 23, progress: bool = True, window_size: int = 256,
                      preset: str = "ultrafast", resize_in: str = "rgb24",
                      window_chunk: int = 4) -> dict:
    from sklearn.model_selection import StratifiedGroupKFold

    from vidprov.benchmarks.metrics import roc_auc

    manifest = Manifest.read(data)
    spec = WindowSpec(size=window_size, preset=preset, resize_in=resize_in, chunk=window_chunk,
                      max_windows=max_windows, crf=crf)
    table, failed = window_table(manifest, spec, cache, augment=augment, seed=seed, progress=progress)
    x, names = feature_matrix(table, spec, FeatureConfig(), cache, augment=augment, seed=seed, progress=progress)
    table = table.reset_index(drop=True)
    y, groups = table["y"].to_numpy(), table["group"].to_numpy()
    orig = (table["aug"] == 0).to_numpy()
    model = FeatureDetector(classifier=classifier, seed=seed, window_size=window_size, preset=preset,
                            resize_in=resize_in, window_chunk=window_chunk)

    # Group CV: clip-level out-of-fold scores on original (non-augmented) windows.
    oof = np.full(len(y), np.nan)
    for tr, te in StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y, groups):
        m = FeatureDetector(**model.get_params()).fit_features(x[tr], y[tr], groups[tr], names)
        oof[te] = m.proba_features(x[te])
    cv_auc, agg = _clip_auc(table[orig], oof[orig])
    fmt = agg["source_format"].eq("gif")
    per_format = {}
    for kind, mask in (("gif", fmt), ("video", ~fmt)):
        sel = ((agg["y"] == 1) & mask) | (agg["y"] == 0)
        per_format[f"generated_{kind}_vs_all_real"] = roc_auc(agg.loc[sel, "y"], agg.loc[sel, "p"])
        both = mask
        if agg.loc[both, "y"].nunique() == 2:
            per_format[f"{kind}_only"] = roc_auc(agg.loc[both, "y"], agg.loc[both, "p"])

    # Leave one lineage family out: train on everything else, test on that family vs held-out real groups.
    fam = table["generator"].map(lineage)
    real_groups = np.unique(groups[y == 0])
    rng = np.random.default_rng(seed)
    logo = {}
    for family in sorted(fam[y == 1].unique()):
        # Real clips are split by group too: a fifth of the real groups are held out with each family.
        test_real = rng.choice(real_groups, size=max(2, len(real_groups) // 5), replace=False)
        te = (fam == family).to_numpy() | np.isin(groups, test_real)
        tr = ~te
        m = FeatureDetector(**model.get_params()).fit_features(x[tr], y[tr], groups[tr], names)
        p = m.proba_features(x[te & orig])
        auc, _ = _clip_auc(table[te & orig], p)
        logo[family] = auc
    importances = dict(sorted(FeatureDetector(**model.get_params()).fit_features(x, y, groups, names)
                              .importances_.items(), key=lambda kv: -kv[1]))
    return {
        "data": str(data), "classifier": classifier, "window": {"size": window_size, "preset": preset, "resize_in": resize_in,
                                                            "chunk": window_chunk},
        "n_windows": int(len(y)), "failed": failed,
        "group_cv_auc": cv_auc, "per_format": per_format, "logo_auc": logo,
        "logo_mean": float(np.nanmean(list(logo.values()))), "logo_min": float(np.nanmin(list(logo.values()))),
        "importances": importances,
    }


def print_evaluation(res: dict, console) -> None:
    from rich.table import Table

    console.print(f"group-CV AUC: [bold]{res['group_cv_auc']:.3f}[/bold]  per format: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in res["per_format"].items()))
    t = Table("held-out family", "AUC")
    for k, v in res["logo_auc"].items():
        t.add_row(k, f"{v:.3f}")
    console.print(t)
    console.print(f"leave-one-family-out mean {res['logo_mean']:.3f}, min {res['logo_min']:.3f}")
    console.print("top features: " + ", ".join(f"{k} {v:.3f}" for k, v in list(res["importances"].items())[:8]))
