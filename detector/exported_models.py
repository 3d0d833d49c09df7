"""Fitted scikit-learn models exported to plain arrays, so they save as safetensors + JSON and load
without pickle: gradient-boosted trees, a standard scaler + logistic regression, and isotonic
calibration. Each exported object predicts exactly like the estimator it came from (tests check)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TreeEnsemble:
    """Additive regression trees: raw = bias + scale * sum_k tree_k(x). Arrays are (n_trees, n_nodes)
    padded with leaves; feature < 0 marks a leaf."""

    feature: np.ndarray  # int32
    threshold: np.ndarray  # float64
    left: np.ndarray  # int32
    right: np.ndarray  # int32
    value: np.ndarray  # float64
    bias: float
    scale: float

    @classmethod
    def from_sklearn(cls, gb) -> TreeEnsemble:
        """Export a fitted binary GradientBoostingClassifier."""
        trees = [est[0].tree_ for est in gb.estimators_]
        n_nodes = max(t.node_count for t in trees)
        k = len(trees)
        feature = np.full((k, n_nodes), -2, np.int32)
        threshold = np.zeros((k, n_nodes))
        left = np.full((k, n_nodes), -1, np.int32)
        right = np.full((k, n_nodes), -1, np.int32)
        value = np.zeros((k, n_nodes))
        for i, t in enumerate(trees):
            n = t.node_count
            feature[i, :n] = t.feature
            threshold[i, :n] = t.threshold
            left[i, :n] = t.children_left
            right[i, :n] = t.children_right
            value[i, :n] = t.value[:, 0, 0]
        # The initial raw prediction (log-odds of the prior) is constant; read it off the model.
        zeros = np.zeros((1, gb.n_features_in_))
        raw0 = float(gb._raw_predict_init(zeros).ravel()[0])
        return cls(feature, threshold, left, right, value, raw0, float(gb.learning_rate))

    def raw(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        n, k = len(x), len(self.feature)
        node = np.zeros((n, k), np.int64)
        trees = np.arange(k)[None, :]
        rows = np.arange(n)[:, None]
        for _ in range(self.feature.shape[1]):
            f = self.feature[trees, node]
            leaf = f < 0
            if leaf.all():
                break
            go_left = x[rows, np.maximum(f, 0)] <= self.threshold[trees, node]
            nxt = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(leaf, node, nxt)
        return self.bias + self.scale * self.value[trees, node].sum(axis=1)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature share of raw(x) for one row (Saabas path attribution): each split moves the
        prediction from a node's value to its child's, and that change is credited to the split
        feature. bias + sum(root values) * scale + contributions.sum() == raw(x)."""
        x = np.asarray(x, np.float64).ravel()
        out = np.zeros(len(x))
        for k in range(len(self.feature)):
            node = 0
            while self.feature[k, node] >= 0:
                f = self.feature[k, node]
                child = self.left[k, node] if x[f] <= self.threshold[k, node] else self.right[k, node]
                out[f] += self.scale * (self.value[k, child] - self.value[k, node])
                node = child
        return out

    def tensors(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{k}": getattr(self, k) for k in ("feature", "threshold", "left", "right", "value")}

    def json(self) -> dict:
        return {"bias": self.bias, "scale": self.scale}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], prefix: str, meta: dict) -> TreeEnsemble:
        return cls(*(tensors[f"{prefix}.{k}"] for k in ("feature", "threshold", "left", "right", "value")),
                   bias=float(meta["bias"]), scale=float(meta["scale"]))


@dataclass
class LinearModel:
    """(x - mean) / scale @ coef + intercept: a StandardScaler + LogisticRegression pipeline."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_sklearn(cls, scaler, logreg) -> LinearModel:
        return cls(scaler.mean_.copy(), scaler.scale_.copy(), logreg.coef_.ravel().copy(), float(logreg.intercept_[0]))

    def raw(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.coef + self.intercept

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature share of raw(x) for one row: coefficient times standardised value."""
        return (np.asarray(x, np.float64).ravel() - self.mean) / self.scale * self.coef

    def tensors(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.scale": self.scale, f"{prefix}.coef": self.coef}

    def json(self) -> dict:
        return {"intercept": self.intercept}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], prefix: str, meta: dict) -> LinearModel:
        return cls(tensors[f"{prefix}.mean"], tensors[f"{prefix}.scale"], tensors[f"{prefix}.coef"],
                   float(meta["intercept"]))


@dataclass
class Isotonic:
    """A fitted IsotonicRegression (out_of_bounds='clip'): piecewise-linear through its knots."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> Isotonic:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
        return cls(iso.X_thresholds_.astype(np.float64), iso.y_thresholds_.astype(np.float64))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        # Keep probabilities off exactly 0/1 so that downstream logits stay finite.
        return np.clip(np.interp(np.asarray(scores, np.float64), self.x, self.y), 1e-3, 1 - 1e-3)

    def tensors(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.x": self.x, f"{prefix}.y": self.y}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], prefix: str) -> Isotonic:
        return cls(tensors[f"{prefix}.x"], tensors[f"{prefix}.y"])


@dataclass
class Platt:
    """Sigmoid calibration p = 1 / (1 + exp(-(a * s + b))), fitted by logistic regression."""

    a: float
    b: float

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> Platt:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=100.0).fit(np.asarray(scores, np.float64).reshape(-1, 1), labels)
        return cls(float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        z = np.clip(self.a * np.asarray(scores, np.float64) + self.b, -30, 30)
        return np.clip(1.0 / (1.0 + np.exp(-z)), 1e-4, 1 - 1e-4)

    def json(self) -> dict:
        return {"a": self.a, "b": self.b}


def fit_calibrator(kind: str, scores: np.ndarray, labels: np.ndarray):
    if kind == "isotonic":
        return Isotonic.fit(scores, labels)
    if kind == "sigmoid":
        return Platt.fit(scores, labels)
    raise ValueError(f"calibration must be 'isotonic' or 'sigmoid', got {kind!r}")


def calibrator_state(cal, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    if isinstance(cal, Isotonic):
        return {"kind": "isotonic"}, cal.tensors(prefix)
    return {"kind": "sigmoid", **cal.json()}, {}


def calibrator_from_state(meta: dict, tensors: dict[str, np.ndarray], prefix: str):
    if meta["kind"] == "isotonic":
        return Isotonic.from_saved(tensors, prefix)
    return Platt(float(meta["a"]), float(meta["b"]))
