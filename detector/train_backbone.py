"""`vidprov detector train --model backbone`: protocol figures first, then the shipped fit.

The backbone detector's features are cached per clip, so every protocol refits only the linear head:
unseen-family (train on the shared data's earlier generators and real sources, test on the later
ones), leave-one-family-out over every generator family, and a group split for the in-distribution
figure, each with a stratified bootstrap CI, and the unseen-family test again after an H.264 CRF 35
re-encode. The shipped model is then fitted on every labelled clip; its threshold sits at
TARGET_FPR of the out-of-fold scores of the real and hard-negative clips.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from vidprov.atomic import atomic_write, atomic_write_json
from vidprov.cache import key, load_arrays, save_arrays
from vidprov.detector.backbone_model import BackboneDetector
from vidprov.errors import VidprovError
from vidprov.lineage import family_of, unseen_family_split
from vidprov.manifest import Manifest
from vidprov.metrics import bootstrap_auc, roc_auc, threshold_at_fpr

log = logging.getLogger(__name__)
TARGET_FPR = 0.02
LOGO_NEGATIVE_FOLDS = 5


def _clip_key(path: Path, model: BackboneDetector, crf35: bool) -> str:
    st = path.stat()
    params = {k: v for k, v in model.saved_params().items() if k not in ("C", "cv", "seed", "device", "calibration")}
    return key(str(path.resolve()), st.st_size, st.st_mtime_ns, params, crf35)


def _windows(model: BackboneDetector, path: Path, crf35: bool) -> list:
    from vidprov.detector.windows import iter_windows

    if not crf35:
        return [w.clip for w in iter_windows(path, model.spec)]
    from vidprov.io import read_video, reencode

    # As served: read at 360 px over the analysed span, then re-encoded at CRF 35.
    span = model.spec.max_windows * model.spec.window_s + 0.5
    clip = reencode(read_video(path, size=360, duration_s=span), crf=35)
    return [w.clip for w in iter_windows(clip, model.spec)]


def clip_features(model: BackboneDetector, manifest: Manifest, cache: Path, *, crf35: bool = False,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(n_clips, n_features) mean window features, and a mask of the clips that could be read."""
    from tqdm import tqdm

    cache = Path(cache) / "backbone"
    cache.mkdir(parents=True, exist_ok=True)
    rows, ok = [], []
    desc = "backbone features" + (" (CRF 35)" if crf35 else "")
    for row in tqdm(list(manifest), desc=desc, disable=not progress, unit="clip"):
        path = manifest.abspath(row["path"])
        try:
            f = cache / f"{_clip_key(path, model, crf35)}.npz"
            saved = load_arrays(f)
            if saved is not None:
                x = saved["x"]
            else:
                x = model.window_features(_windows(model, path, crf35)).mean(axis=0)
                save_arrays(f, x=x)
        except (OSError, ValueError, VidprovError) as exc:
            log.warning("%s: skipped (%s)", path, exc)
            rows.append(None)
            ok.append(False)
            continue
        rows.append(x)
        ok.append(True)
    width = next((len(r) for r in rows if r is not None), 0)
    x = np.stack([r if r is not None else np.zeros(width) for r in rows]) if rows else np.zeros((0, 0))
    return x, np.array(ok, bool)


def _labels(manifest: Manifest) -> np.ndarray:
    return (manifest.df["label"] == "generated").to_numpy().astype(np.int64)


def _fit_predict(model: BackboneDetector, x: np.ndarray, y: np.ndarray, groups: np.ndarray,
                 train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, BackboneDetector]:
    from sklearn.base import clone

    m = clone(model).fit_features(x[train], y[train], groups[train])
    return m.proba_features(x[test]), m


def logo_folds(manifest: Manifest, *, min_clips: int = 2, seed: int = 0):
    """(family, train mask, test mask): the family's clips plus one fold of the real groups as test;
    training never sees that family or any group of the test clips."""
    df = manifest.df
    y = _labels(manifest)
    groups = df["group"].to_numpy()
    fam = np.where(y == 1, df["generator"].map(family_of), "")
    neg_groups = np.array(sorted(set(groups[(df["label"] == "real").to_numpy()])))
    np.random.default_rng(seed).shuffle(neg_groups)
    fold_of = {g: i % LOGO_NEGATIVE_FOLDS for i, g in enumerate(neg_groups)}
    families = sorted(f for f in set(fam) - {""} if (fam == f).sum() >= min_clips)
    for i, f in enumerate(families):
        held = fam == f
        neg = np.array([fold_of.get(g, -1) == i % LOGO_NEGATIVE_FOLDS for g in groups]) & (df["label"] == "real").to_numpy()
        test = held | neg
        train = ~np.isin(groups, list(set(groups[test]))) & ~held
        yield f, train, test


def protocol_figures(model: BackboneDetector, manifest: Manifest, x: np.ndarray, x35: np.ndarray | None,
                     ok: np.ndarray, reference: dict[str, np.ndarray] | None = None,
                     extra: np.ndarray | None = None) -> dict:
    """Unseen-family, leave-one-family-out and in-distribution figures of `model`'s recipe. `extra`
    marks training-only clips (e.g. vidprov's own): never tested, never a held-out family, and
    dropped from a fold's training side when they share a group with its test clips."""
    y, groups = _labels(manifest), manifest.df["group"].to_numpy()
    extra = np.zeros(len(y), bool) if extra is None else extra

    def fold(train, test):
        test = test & ok & ~extra
        train = (train | extra) & ok & ~np.isin(groups, list(set(groups[test])))
        return train, test

    out: dict = {}
    train, test = fold(*unseen_family_split(manifest))
    if test.any() and train.any():
        p, m = _fit_predict(model, x, y, groups, train, test)
        oof = m.calibrator_(m.oof_scores_)
        thr = _threshold(y[train], oof)
        ref = None
        if reference is not None:
            ref = np.array([reference.get(path, np.nan) for path in manifest.df["path"][test]])
            ref = None if np.isnan(ref).any() else ref
        fig = bootstrap_auc(y[test], p, other=ref)
        fig["threshold"] = thr
        fig["tpr_at_threshold"] = float((p[y[test] == 1] >= thr).mean())
        fig["fpr_at_threshold"] = float((p[y[test] == 0] >= thr).mean())
        gens = manifest.df["generator"][test].to_numpy()
        fig["tpr_per_generator"] = {g: float((p[(gens == g) & (y[test] == 1)] >= thr).mean())
                                    for g in sorted(set(gens[y[test] == 1]))}
        if x35 is not None:
            fig["crf35"] = bootstrap_auc(y[test], m.proba_features(x35[test]))
        out["unseen"] = fig
    logo = {}
    for f, tr, te in logo_folds(manifest.subset(~extra)):
        tr, te = fold(_widen(tr, extra), _widen(te, extra))
        if len(set(y[tr])) < 2 or len(set(y[te])) < 2:
            continue
        p, _ = _fit_predict(model, x, y, groups, tr, te)
        logo[f] = {"auc": roc_auc(y[te], p), "n_generated": int(y[te].sum())}
    if logo:
        aucs = [v["auc"] for v in logo.values()]
        out["logo"] = {"mean": float(np.mean(aucs)), "min": float(np.min(aucs)),
                       "worst": min(logo, key=lambda k: logo[k]["auc"]), "families": logo}
    split = manifest.subset(~extra).group_split(test_size=0.25, seed=model.seed).df["split"].to_numpy()
    tr, te = fold(_widen(split != "test", extra), _widen(split == "test", extra))
    p, m = _fit_predict(model, x, y, groups, tr, te)
    out["in_dist"] = bootstrap_auc(y[te], p)
    if x35 is not None:
        out["in_dist"]["crf35"] = bootstrap_auc(y[te], m.proba_features(x35[te]))
    return out


def _widen(mask: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """A mask over the non-extra clips -> one over all clips (extra clips False)."""
    out = np.zeros(len(extra), bool)
    out[~extra] = mask
    return out


def _threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The lowest score that at most TARGET_FPR of the held-out real clips reach."""
    return float(np.clip(threshold_at_fpr(y, scores, TARGET_FPR), 0.05, 0.999))


def train_backbone(data: Path, out: Path, model: BackboneDetector, cache: Path, *, command: str = "",
                   crf35: bool = True, compare: str | None = "handcrafted", progress: bool = True,
                   extra_train: Path | None = None) -> dict:
    """extra_train: a manifest of clips added to every training side only (vidprov's own generated
    clips, aligned reconstructions of real clips...)."""
    t0 = time.time()
    manifest = Manifest.read(data)
    manifest = manifest.subset(manifest.df["label"].isin(["generated", "real", "animation", "synthetic"]).to_numpy())
    n_main = len(manifest)
    if extra_train is not None:
        manifest = manifest.concat(Manifest.read(extra_train))
    extra = np.arange(len(manifest)) >= n_main
    x, ok = clip_features(model, manifest, cache, progress=progress)
    x35 = None
    if crf35:  # only clips that some protocol tests
        x35_main, ok35 = clip_features(model, manifest.subset(~extra), cache, crf35=True, progress=progress)
        x35 = np.zeros_like(x)
        x35[~extra] = x35_main
        ok[~extra] &= ok35
    reference = _reference_scores(compare, manifest, progress) if compare else None
    figures = protocol_figures(model, manifest, x, x35, ok, reference, extra)
    y, groups = _labels(manifest), manifest.df["group"].to_numpy()
    final = model.fit_features(x[ok], y[ok], groups[ok])
    oof = final.calibrator_(final.oof_scores_)
    threshold = _threshold(y[ok], oof)
    gen_oof = oof[y[ok] == 1]
    real_below = float(min(np.quantile(gen_oof, 0.05), threshold))
    out = Path(out)
    final.save(out)
    card = {"kind": "backbone", "threshold": threshold, "real_below": real_below, "target_fpr": TARGET_FPR,
            "params": {k: v for k, v in final.saved_params().items() if k != "device"},
            "data": str(data), "extra_train": str(extra_train) if extra_train else None,
            "extra_clips": int(extra.sum()), "clips": int(ok.sum()), "failed": [str(p) for p in manifest.df["path"][~ok]],
            "metrics": figures, "compared_with": compare, "command": command,
            "train_seconds": round(time.time() - t0, 1)}
    atomic_write_json(out / "card.json", card, sort_keys=True)
    atomic_write(out / "MODEL_CARD.md", lambda tmp: Path(tmp).write_text(model_card_markdown(card)))
    return card


def _reference_scores(model_name: str, manifest: Manifest, progress: bool) -> dict[str, float]:
    """Clip scores of another detector (a shipped name or folder) on the unseen-family test clips."""
    from tqdm import tqdm

    from vidprov.detector.scan import Scanner

    scanner = Scanner(model_name, max_windows=4)
    _, test = unseen_family_split(manifest)
    scores = {}
    rows = manifest.df[test]
    for path in tqdm(rows["path"], desc=f"scoring with {model_name}", disable=not progress, unit="clip"):
        rep = scanner.safe_scan(manifest.abspath(path))
        if rep.p_generated is not None:
            scores[path] = rep.p_generated
    return scores


def _ci(fig: dict) -> str:
    lo, hi = fig["auc_ci"]
    return f"{fig['auc']:.3f} ({lo:.3f}-{hi:.3f})"


def model_card_markdown(card: dict) -> str:
    m, p = card["metrics"], card.get("params", {})
    lines = ["# vidprov backbone detector: model card", "",
             "Frozen ImageNet MobileNetV2 + EfficientNet-Lite0 appearance statistics and feature-trajectory "
             "geometry, read by a standardised logistic regression (vidprov.detector.backbone_model). "
             "The networks are not fine-tuned; only the linear head and its sigmoid calibration are learned.", "",
             "## Training", "",
             f"- Command: `{card['command']}` ({card['train_seconds']:.0f} s on a 2-core CPU), seed {p.get('seed', 0)}.",
             f"- Data: all {card['clips'] - card.get('extra_clips', 0)} clips of `{card['data']}` (labels from its manifest; animation and "
             "synthetic hard negatives count as not generated)"
             + (f", plus {card['extra_clips']} training-only clips from `{card['extra_train']}`" if card.get("extra_clips") else "")
             + ". Every figure below comes from refits of the same recipe on splits that never share a source group.",
             f"- Threshold {card['threshold']:.3f}: at most {card['target_fpr']:.0%} of out-of-fold real scores reach it; "
             f"below {card['real_below']:.3f} the verdict is 'likely real', between the two 'uncertain'.",
             "", "## Generators it never saw (AUC, 95% bootstrap CI)", ""]
    if "unseen" in m:
        u = m["unseen"]
        lines.append(f"- Unseen-family protocol (train on the first 24 families and 67 real clips, test on the 7 later "
                     f"families and 22 later real sources; {u['n_generated']} generated / {u['n_real']} real test clips): "
                     f"**{_ci(u)}**; at the fold's threshold TPR {u['tpr_at_threshold']:.2f}, FPR {u['fpr_at_threshold']:.2f}")
        if "crf35" in u:
            lines.append(f"- the same after H.264 CRF 35: {_ci(u['crf35'])}")
        if "diff" in u:
            lo, hi = u["diff_ci"]
            lines.append(f"- against `{card['compared_with']}` (shipped under that name) on the same clips: "
                         f"{u['other_auc']:.3f}; paired difference {u['diff']:+.3f} ({lo:+.3f} to {hi:+.3f})")
        if u.get("tpr_per_generator"):
            lines.append("- TPR at the fold's threshold per unseen generator: "
                         + ", ".join(f"{g} {v:.2f}" for g, v in sorted(u["tpr_per_generator"].items())))
    if "logo" in m:
        lg = m["logo"]
        lines.append(f"- Leave-one-family-out over {len(lg['families'])} families: mean **{lg['mean']:.3f}**, "
                     f"min {lg['min']:.3f} ({lg['worst']})")
        lines += ["", "| held-out family | generated clips | AUC |", "|---|---|---|"]
        lines += [f"| {f} | {v['n_generated']} | {v['auc']:.3f} |" for f, v in sorted(lg["families"].items())]
    if "in_dist" in m:
        lines += ["", "## In distribution (group split, for reference)", "", f"- AUC {_ci(m['in_dist'])}"]
        if "crf35" in m["in_dist"]:
            lines.append(f"- after H.264 CRF 35: {_ci(m['in_dist']['crf35'])}")
    lines += ["", "## Limits", "",
              "- Trained on a few hundred clips of 2023-2024 generators; a 'likely real' score is not proof of "
              "authenticity, and new generators can score as real.",
              "- It reads appearance (texture, scene statistics) more than motion: heavy compression, tiny or very "
              "short clips, animation and screen recordings are outside what it was built for.",
              "- It does not recognise vidprov's own generators unless trained with them (`--extra-train`)."]
    return "\n".join(lines) + "\n"
