"""Detection metrics with bootstrap confidence intervals, at video level and frame level.

Scores are P(generated) (or any score where higher means "more likely generated");
labels are 1 = generated, 0 = real (hard negatives such as animation count as 0).

    m = evaluate(y, scores, seed=0)                  # video level: one score per clip
    m = evaluate(y_frames, s_frames, clip_ids=ids)   # frame level: CIs resample whole clips
    m["roc_auc"].value, m["roc_auc"].lo, m["roc_auc"].hi

The bootstrap is stratified by class (positives and negatives are resampled separately, so
every replicate has both classes) and clustered by clip: frames of one clip always travel
together, because frames of one clip are not independent evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vidprov.errors import VidprovError

METRICS = ("roc_auc", "average_precision", "eer", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct", "accuracy", "f1", "ece")


class MetricsInputError(VidprovError, ValueError):
    """Labels/scores that cannot be scored (shape mismatch, NaN, one class only, ...)."""


@dataclass(frozen=True)
class MetricValue:
    """A point estimate with its bootstrap confidence interval and the counts it rests on."""

    name: str
    value: float
    lo: float
    hi: float
    n: int  # scored items (clips at video level, frames at frame level)
    n_clips: int
    n_pos: int  # positive clips
    n_neg: int  # negative clips

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.name}={self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}] (n={self.n_clips} clips)"


# -- point metrics ---------------------------------------------------------------------------
def _check(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise MetricsInputError(f"{len(y)} labels but {len(s)} scores")
    if not np.isfinite(s).all():
        raise MetricsInputError(f"{int((~np.isfinite(s)).sum())} scores are NaN or infinite")
    if not np.isin(y, (0, 1)).all():
        raise MetricsInputError(f"labels must be 0/1, got values {sorted(set(y.tolist()))[:5]}")
    return y, s


def roc_curve(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), one point per distinct score, starting at (0, 0); like sklearn's
    with drop_intermediate=False, reimplemented because the bootstrap calls it thousands of times."""
    y, s = _check(y_true, y_score)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    n_pos, n_neg = tps[-1], fps[-1]
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.full(len(tps) + 1, np.nan)
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.full(len(fps) + 1, np.nan)
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def roc_auc(y_true, y_score) -> float:
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return float(np.trapezoid(tpr, fpr))


def average_precision(y_true, y_score) -> float:
    """Step-wise area under precision-recall (sklearn's definition, no interpolation)."""
    y, s = _check(y_true, y_score)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def eer(y_true, y_score) -> float:
    """Equal error rate: where the false positive rate equals the false negative rate."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    fnr = 1 - tpr
    diff = fpr - fnr  # rises from -1 to +1 along the curve
    i = int(np.argmax(diff >= 0))
    if i == 0 or diff[i] == 0:
        return float(fpr[i])
    # Linear interpolation between the two operating points that bracket the crossing.
    w = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def tpr_at_fpr(y_true, y_score, target_fpr: float) -> float:
    """Best true positive rate whose false positive rate does not exceed target_fpr (conservative:
    with fewer than 1/target_fpr negatives this is the TPR at zero false positives)."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    ok = fpr <= target_fpr + 1e-12
    return float(tpr[ok].max())


def threshold_at_fpr(y_true, y_score, target_fpr: float) -> float:
    """The lowest score threshold whose FPR on (y_true, y_score) is <= target_fpr; tune this on
    training/validation clips only, never on the test split."""
    fpr, _, thr = roc_curve(y_true, y_score)
    ok = np.flatnonzero(fpr <= target_fpr + 1e-12)
    return float(thr[ok[-1]])


def accuracy(y_true, y_score, threshold: float = 0.5) -> float:
    y, s = _check(y_true, y_score)
    return float(np.mean((s >= threshold) == (y == 1)))


def f1(y_true, y_score, threshold: float = 0.5) -> float:
    y, s = _check(y_true, y_score)
    pred = s >= threshold
    tp = np.sum(pred & (y == 1))
    denom = pred.sum() + y.sum()
    return float(2 * tp / denom) if denom else 0.0


def expected_calibration_error(y_true, y_prob, n_bins: int = 10) -> float:
    """ECE of P(generated) over equal-width bins: sum_b |B|/n * |mean(y in b) - mean(p in b)|.
    Only meaningful for probabilities in [0, 1]."""
    y, p = _check(y_true, y_prob)
    if p.min() < 0 or p.max() > 1:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    conf = np.bincount(bins, weights=p, minlength=n_bins)
    acc = np.bincount(bins, weights=y, minlength=n_bins)
    nz = count > 0
    return float(np.sum(np.abs(acc[nz] - conf[nz])) / len(p))


def calibration_curve(y_true, y_prob, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, fraction positive, count) per non-empty equal-width bin, for reliability plots."""
    y, p = _check(y_true, y_prob)
    bins = np.minimum((np.clip(p, 0, 1) * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    nz = count > 0
    conf = np.bincount(bins, weights=p, minlength=n_bins)[nz] / count[nz]
    frac = np.bincount(bins, weights=y, minlength=n_bins)[nz] / count[nz]
    return conf, frac, count[nz]


def point_metrics(y_true, y_score, *, threshold: float = 0.5) -> dict[str, float]:
    """Every metric in METRICS as a float (NaN where a class is missing)."""
    y, s = _check(y_true, y_score)
    return _point_unchecked(y, s, threshold)


def _point_unchecked(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    """point_metrics on validated arrays: one sort serves AUC, AP, EER and the TPRs, because the
    bootstrap calls this thousands of times per report."""
    nan = float("nan")
    out = dict.fromkeys(("roc_auc", "average_precision", "eer", "tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct"), nan)
    n_pos = int(y.sum())
    if 0 < n_pos < len(y):
        order = np.argsort(-s, kind="mergesort")
        ys, ss = y[order], s[order]
        last_of_tie = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]
        tps = np.cumsum(ys)[last_of_tie]
        fps = (last_of_tie + 1) - tps
        tpr = np.r_[0.0, tps / n_pos]
        fpr = np.r_[0.0, fps / (len(y) - n_pos)]
        gap = fpr - (1 - tpr)
        i = int(np.argmax(gap >= 0))
        if i == 0 or gap[i] == 0:
            out["eer"] = float(fpr[i])
        else:
            w = -gap[i - 1] / (gap[i] - gap[i - 1])
            out["eer"] = float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))
        out["roc_auc"] = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)
        out["tpr_at_fpr_1pct"] = float(tpr[fpr <= 0.01 + 1e-12].max())
        out["tpr_at_fpr_0.1pct"] = float(tpr[fpr <= 0.001 + 1e-12].max())
        precision = tps / (last_of_tie + 1)
        out["average_precision"] = float(np.sum(np.diff(np.r_[0.0, tps / n_pos]) * precision))
    pred = s >= threshold
    out["accuracy"] = float(np.mean(pred == (y == 1)))
    denom = pred.sum() + n_pos
    out["f1"] = float(2 * np.sum(pred & (y == 1)) / denom) if denom else 0.0
    if s.min() < 0 or s.max() > 1:
        out["ece"] = nan
    else:
        bins = np.minimum((s * 10).astype(np.int64), 9)
        count = np.bincount(bins, minlength=10)
        gap_b = np.abs(np.bincount(bins, weights=y, minlength=10) - np.bincount(bins, weights=s, minlength=10))
        out["ece"] = float(gap_b[count > 0].sum() / len(s))
    return out


# -- bootstrap -------------------------------------------------------------------------------
def _clip_table(y, clip_ids) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Unique clips, their label, and the item indices belonging to each."""
    if clip_ids is None:
        idx = np.arange(len(y))
        return idx, y, [np.array([i]) for i in idx]
    ids = np.asarray(clip_ids)
    if len(ids) != len(y):
        raise MetricsInputError(f"{len(y)} labels but {len(ids)} clip ids")
    uniq, inverse = np.unique(ids, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(uniq))]
    labels = np.array([y[m[0]] for m in members])
    for m, lab in zip(members, labels, strict=True):
        if (y[m] != lab).any():
            raise MetricsInputError("frames of one clip carry different labels")
    return uniq, labels, members


def bootstrap_indices(y, clip_ids=None, *, n_boot: int = 1000, seed: int = 0) -> list[np.ndarray]:
    """Item indices for each bootstrap replicate: clips resampled with replacement within each
    class (stratified), every frame of a drawn clip included (clustered)."""
    y = np.asarray(y).astype(np.int64).ravel()
    _, labels, members = _clip_table(y, clip_ids)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    out = []
    for _ in range(n_boot):
        drawn = np.r_[rng.choice(pos, len(pos)) if len(pos) else pos, rng.choice(neg, len(neg)) if len(neg) else neg]
        out.append(np.concatenate([members[c] for c in drawn]) if clip_ids is not None else drawn)
    return out


def bootstrap_auc(y_true, y_score, *, other=None, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> dict:
    """ROC AUC with a class-stratified bootstrap CI; with `other` (another model's scores of the same
    items), also the paired difference AUC(y_score) - AUC(other), its CI drawn from the same replicates so
    that the two models' shared luck on a replicate cancels."""
    y, s = _check(y_true, y_score)
    o = _check(y, other)[1] if other is not None else None
    auc = roc_auc(y, s)
    out = {"auc": auc, "n_generated": int(y.sum()), "n_real": int(len(y) - y.sum())}
    boots, diffs = [], []
    for idx in bootstrap_indices(y, n_boot=n_boot, seed=seed):
        a = roc_auc(y[idx], s[idx])
        boots.append(a)
        if o is not None:
            diffs.append(a - roc_auc(y[idx], o[idx]))
    alpha = (1 - ci) / 2
    out["auc_ci"] = [float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))]
    if o is not None:
        out["other_auc"] = roc_auc(y, o)
        out["diff"] = auc - out["other_auc"]
        out["diff_ci"] = [float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1 - alpha))]
    return out


def evaluate(
    y_true: Sequence[int],
    y_score: Sequence[float],
    *,
    clip_ids: Sequence | None = None,
    threshold: float = 0.5,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    metrics: Sequence[str] = METRICS,
) -> dict[str, MetricValue]:
    """Metrics with percentile bootstrap CIs.

    Video level: one (label, score) per clip, clip_ids=None. Frame level: one per frame with
    clip_ids naming each frame's clip; the bootstrap then resamples clips, not frames.
    n_boot=0 gives point estimates with lo = hi = NaN.
    """
    y, s = _check(y_true, y_score)
    if len(y) == 0:
        raise MetricsInputError("nothing to score: no labels")
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise MetricsInputError(f"unknown metrics {unknown}; valid: {', '.join(METRICS)}")
    _, labels, _ = _clip_table(y, clip_ids)
    n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
    point = point_metrics(y, s, threshold=threshold)
    reps = np.full((n_boot, len(metrics)), np.nan)
    for b, idx in enumerate(bootstrap_indices(y, clip_ids, n_boot=n_boot, seed=seed)):
        vals = _point_unchecked(y[idx], s[idx], threshold)
        reps[b] = [vals[m] for m in metrics]
    alpha = (1 - ci) / 2
    out = {}
    for j, m in enumerate(metrics):
        col = reps[:, j][np.isfinite(reps[:, j])]
        lo, hi = (np.quantile(col, [alpha, 1 - alpha]) if len(col) else (np.nan, np.nan))
        out[m] = MetricValue(m, point[m], float(lo), float(hi), len(y), len(labels), n_pos, n_neg)
    return out


def evaluate_frames(
    frame_scores: Sequence[np.ndarray], clip_labels: Sequence[int], **kw
) -> dict[str, MetricValue]:
    """Frame-level metrics from one score array per clip (clip i has label clip_labels[i])."""
    if len(frame_scores) != len(clip_labels):
        raise MetricsInputError(f"{len(frame_scores)} clips of frame scores but {len(clip_labels)} labels")
    scores = np.concatenate([np.asarray(f, np.float64).ravel() for f in frame_scores])
    ids = np.concatenate([np.full(len(np.ravel(f)), i) for i, f in enumerate(frame_scores)])
    y = np.asarray(clip_labels, np.int64)[ids]
    return evaluate(y, scores, clip_ids=ids, **kw)


def metric_fn(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """A single metric as f(y, score), for callers that want one number without the bootstrap."""
    if name not in METRICS:
        raise MetricsInputError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}")
    return lambda y, s: point_metrics(y, s)[name]
