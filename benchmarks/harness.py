"""Run detectors through protocols and perturbations; return per-clip scores and metric rows.

    result = run_benchmark(manifest, [registered("d3")], BenchConfig(protocols=("in-dist", "robust")),
                           cache_dir="bench-cache")
    result.metrics   # one row per detector x protocol x fold x perturbation x subset x level x metric
    result.scores    # one row per scored clip

Resumable: fitted detectors are saved under cache_dir/models/<key> and scores under
cache_dir/scores/<key>/<perturbation>.json, keyed by detector identity + training clips (hashes
and labels) + normalisation + perturbation + clip hash; a re-run only computes what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vidprov import metrics as M
from vidprov.atomic import atomic_write_json as _atomic_json
from vidprov.benchmarks.clipstore import ClipStore, NormConfig
from vidprov.benchmarks.plugins import DetectorSpec
from vidprov.benchmarks.protocols import (
    NEGATIVE_HARD,
    PERTURBED_PROTOCOLS,
    Fold,
    binary_labels,
    build_folds,
    family_of,
)
from vidprov.cache import key as cache_key
from vidprov.errors import VidprovError
from vidprov.manifest import Manifest
from vidprov.perturb import ROBUSTNESS_GRID
from vidprov.perturb import get as get_perturbation

log = logging.getLogger(__name__)


@dataclass
class BenchConfig:
    norm: NormConfig = field(default_factory=NormConfig)
    protocols: tuple[str, ...] = ("in-dist",)
    perturbations: tuple[str, ...] = ROBUSTNESS_GRID  # used by the robust and unseen-robust protocols
    test_size: float = 0.3
    seed: int = 0
    n_boot: int = 1000
    threshold: float = 0.5
    logo_families: tuple[str, ...] | None = None
    batch_size: int = 16

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BenchResult:
    metrics: pd.DataFrame
    scores: pd.DataFrame
    skipped: list[dict]
    folds: list[dict]
    timings: list[dict]


def _train_key(spec: DetectorSpec, fold: Fold, store: ClipStore, cfg: BenchConfig) -> str:
    rows = sorted(zip((store.hash(r) for r in fold.train), binary_labels(fold.train).tolist(), strict=True))
    return f"{spec.name}-{cache_key(spec.fingerprint(), rows, cfg.norm.key(), cfg.seed)}"


def _fit_or_load(spec: DetectorSpec, fold: Fold, train_clips, y, key: str, cache: Path | None):
    det = spec.factory()
    folder = cache / "models" / key if cache else None
    if folder is not None and (folder / "config.json").is_file() and hasattr(type(det), "load"):
        try:
            return type(det).load(folder), 0.0, True
        except VidprovError as exc:
            log.warning("cached model %s unusable (%s); refitting", folder, exc)
    t = time.monotonic()
    det.fit(train_clips, y)
    fit_s = time.monotonic() - t
    if folder is not None and hasattr(det, "save"):
        det.save(folder)
    return det, fit_s, False


def _score(det, clips) -> tuple[np.ndarray, list[list[float]] | None]:
    """Clip probabilities, and per-frame ones for detectors that have them (frame-level metrics)."""
    if hasattr(det, "predict_with_frames"):
        proba, frames = det.predict_with_frames(clips)
    else:
        proba = det.predict_proba(clips)
        frames = det.frame_scores(clips) if hasattr(det, "frame_scores") else None
    p = np.asarray(proba, np.float64)[:, 1]
    return p, [np.asarray(f, np.float64).tolist() for f in frames] if frames is not None else None


def run_benchmark(manifest: Manifest, specs: list[DetectorSpec], cfg: BenchConfig, *,
                  test_manifest: Manifest | None = None, cache_dir: str | os.PathLike | None = None,
                  progress=None) -> BenchResult:
    """progress: an optional rich.progress.Progress to show decode / fit / score bars on."""
    cache = Path(cache_dir) if cache_dir else None
    folds = build_folds(list(cfg.protocols), manifest, test_manifest=test_manifest,
                        logo_families=list(cfg.logo_families) if cfg.logo_families else None,
                        test_size=cfg.test_size, seed=cfg.seed)
    stores = {id(manifest): ClipStore(manifest, cfg.norm, cache, seed=cfg.seed)}
    if test_manifest is not None:
        stores[id(test_manifest)] = ClipStore(test_manifest, cfg.norm, cache, seed=cfg.seed)

    # Decode + normalise every clip once (cached on disk), and drop the ones that cannot be read.
    skipped: list[dict] = []
    bad: set[str] = set()
    for store in stores.values():
        rows = list(store.manifest)
        task = progress.add_task("decode + normalise", total=len(rows)) if progress else None
        for f in store.load_all(rows, progress, task):
            bad.add(f["path"])
            skipped.append({"what": "clip", "path": f["path"], "reason": f["error"]})

    def store_of(m: Manifest) -> ClipStore:
        # Fold manifests are subsets of one of the inputs: find the store that knows their paths.
        for s in stores.values():
            if s.manifest.root == m.root and set(m.df["path"]) <= set(s.manifest.df["path"]):
                return s
        raise VidprovError("internal: fold clips belong to no input manifest")

    score_rows, timings = [], []
    for fold in folds:
        fold.train = fold.train.subset(~fold.train.df["path"].isin(bad).to_numpy())
        fold.test = fold.test.subset(~fold.test.df["path"].isin(bad).to_numpy())
    for spec in specs:
        for fold in folds:
            tr_store, te_store = store_of(fold.train), store_of(fold.test)
            key = _train_key(spec, fold, tr_store, cfg)
            train_rows = list(fold.train)
            y_train = binary_labels(fold.train)
            try:
                clips = [tr_store.clean(r) for r in train_rows]
                if progress:
                    fit_task = progress.add_task(f"fit {spec.name} [{fold.protocol}/{fold.name}]", total=None)
                det, fit_s, cached = _fit_or_load(spec, fold, clips, y_train, key, cache)
                if progress:
                    progress.update(fit_task, total=1, completed=1)
            except VidprovError as exc:
                log.warning("%s on %s/%s skipped: %s", spec.name, fold.protocol, fold.name, exc)
                skipped.append({"what": "detector", "detector": spec.name, "protocol": fold.protocol,
                                "fold": fold.name, "reason": str(exc)})
                continue
            timings.append({"detector": spec.name, "protocol": fold.protocol, "fold": fold.name,
                            "fit_s": round(fit_s, 2), "fit_cached": cached, "n_train": len(train_rows)})
            perts = cfg.perturbations if fold.protocol in PERTURBED_PROTOCOLS else ("none",)
            test_rows = list(fold.test)
            for pname in perts:
                pert = get_perturbation(pname)
                t0 = time.monotonic()
                try:
                    scored = _score_fold(det, pert, test_rows, te_store, key, cache, cfg, progress,
                                         f"score {spec.name} [{fold.protocol}/{fold.name}] {pert.name}")
                except VidprovError as exc:
                    skipped.append({"what": "detector", "detector": spec.name, "protocol": fold.protocol,
                                    "fold": fold.name, "perturbation": pert.name, "reason": str(exc)})
                    continue
                timings.append({"detector": spec.name, "protocol": fold.protocol, "fold": fold.name,
                                "perturbation": pert.name, "score_s": round(time.monotonic() - t0, 2),
                                "n_test": len(test_rows)})
                for row, (p, frames) in zip(test_rows, scored, strict=True):
                    score_rows.append({
                        "detector": spec.name, "protocol": fold.protocol, "fold": fold.name,
                        "perturbation": pert.name, "split": fold.split, "path": row["path"],
                        "clip_hash": te_store.hash(row), "label": row["label"],
                        "y": int(row["label"] == "generated"), "generator": row["generator"],
                        "family": family_of(row["generator"]) if row["label"] == "generated" else "",
                        "source_format": row["source_format"], "score": p,
                        "frame_scores": frames,
                    })
    scores = pd.DataFrame(score_rows)
    metrics = compute_metrics(scores, n_boot=cfg.n_boot, seed=cfg.seed, threshold=cfg.threshold,
                              progress=progress)
    return BenchResult(metrics, scores, skipped, [{"protocol": f.protocol, "fold": f.name, "split": f.split,
                                                    "describe": f.describe()} for f in folds], timings)


def _score_fold(det, pert, rows, store: ClipStore, key: str, cache: Path | None, cfg: BenchConfig,
                progress, title: str) -> list[tuple[float, list[float] | None]]:
    path = cache / "scores" / key / f"{cfg.norm.key()}__{pert.name.replace(':', '_')}.json" if cache else None
    known: dict = json.loads(path.read_text()) if path is not None and path.is_file() else {}
    todo = [r for r in rows if store.hash(r) not in known]
    task = progress.add_task(title, total=len(rows), completed=len(rows) - len(todo)) if progress else None
    for i in range(0, len(todo), cfg.batch_size):
        batch = todo[i : i + cfg.batch_size]
        clips = [store.perturbed(r, pert) for r in batch]
        p, frames = _score(det, clips)
        for j, r in enumerate(batch):
            known[store.hash(r)] = [float(p[j]), frames[j] if frames is not None else None]
        if path is not None:
            _atomic_json(path, known)  # after every batch: an interrupted run resumes here
        if progress:
            progress.advance(task, len(batch))
    return [tuple(known[store.hash(r)]) for r in rows]


# -- metrics over subsets -------------------------------------------------------------------------
def subsets(df: pd.DataFrame, *, per_generator: bool = True):
    """(name, mask) pairs: every metric is also reported per source format and (per_generator)
    per generator, so that a shortcut cannot hide inside an average."""
    gen = df["label"] == "generated"
    real = df["label"] == "real"
    hard = df["label"].isin(NEGATIVE_HARD)
    yield "all", np.ones(len(df), bool)
    if hard.any():
        yield "real_vs_generated", (gen | real).to_numpy()
        yield "hard_negatives_vs_generated", (gen | hard).to_numpy()
    gif = df["source_format"] == "gif"
    yield "format=gif", gif.to_numpy()
    yield "format=video", (~gif).to_numpy()
    for g in sorted(df.loc[gen, "generator"].unique()) if per_generator else []:
        yield f"generator={g}", ((gen & (df["generator"] == g)) | real).to_numpy()


def compute_metrics(scores: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, threshold: float = 0.5,
                    progress=None) -> pd.DataFrame:
    if scores.empty:
        return pd.DataFrame()
    keys = ["detector", "protocol", "fold", "perturbation"]
    groups = list(scores.groupby(keys, sort=False))
    task = progress.add_task("metrics + bootstrap CIs", total=len(groups)) if progress else None
    rows = []
    for (det, proto, fold, pert), df in groups:
        df = df.reset_index(drop=True)
        base = {"detector": det, "protocol": proto, "fold": fold, "perturbation": pert, "split": df["split"].iloc[0]}
        # Per generator only on clean clips: the robustness grid x 24 generators would be noise.
        for name, mask in subsets(df, per_generator=pert == "none"):
            part = df[mask]
            if part.empty:
                continue
            vals = M.evaluate(part["y"], part["score"], n_boot=n_boot, seed=seed, threshold=threshold)
            rows += _rows(base, name, "video", vals)
            has_frames = part["frame_scores"].map(lambda f: f is not None and len(f) > 0).all()
            if has_frames and name in ("all", "real_vs_generated"):
                fv = M.evaluate_frames([np.asarray(f) for f in part["frame_scores"]], part["y"].to_numpy(),
                                       n_boot=n_boot, seed=seed, threshold=threshold)
                rows += _rows(base, name, "frame", fv)
        if progress:
            progress.advance(task)
    return pd.DataFrame(rows)


def _rows(base: dict, subset: str, level: str, vals: dict[str, M.MetricValue]) -> list[dict]:
    return [{**base, "subset": subset, "level": level, "metric": m, "value": v.value, "ci_low": v.lo,
             "ci_high": v.hi, "n_clips": v.n_clips, "n_pos": v.n_pos, "n_neg": v.n_neg, "n_items": v.n}
            for m, v in vals.items()]
