"""The feature detector: hand-crafted temporal/frequency(/latent) features -> gradient boosting ->
calibration fitted on group-cross-validated (out-of-fold) scores."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vidprov.clip import Clip
from vidprov.detector.exported_models import (
    LinearModel,
    TreeEnsemble,
    calibrator_from_state,
    calibrator_state,
    fit_calibrator,
)
from vidprov.detector.features import FeatureConfig, extract, family_of, to_matrix
from vidprov.detector.persist import load_folder, save_folder
from vidprov.detector.reconstruction import load_vae
from vidprov.detector.registry import register
from vidprov.detector.weighting import balanced_weights
from vidprov.detector.window_detector import DETECTOR_WINDOW, TINY_WINDOW, WindowedDetector, WindowScore
from vidprov.detector.windows import WindowSpec

log = logging.getLogger(__name__)


@register("features")
class FeatureDetector(WindowedDetector):
    """classifier: 'gb' (GradientBoostingClassifier) or 'logreg' (standardised logistic regression).
    calibration: 'isotonic' or 'sigmoid', fitted on out-of-fold scores of `cv` group folds."""

    def __init__(self, classifier: str = "gb", n_estimators: int = 300, max_depth: int = 2,
                 learning_rate: float = 0.05, subsample: float = 0.8, C: float = 0.3,
                 calibration: str = "isotonic", cv: int = 5,
                 families: tuple[str, ...] = ("temporal", "frequency"), exclude: tuple[str, ...] = (),
                 vae_family: str | None = None, latent_scales: tuple[float, ...] = (0.25, 0.5),
                 window: WindowSpec = DETECTOR_WINDOW, seed: int = 0):
        self.classifier = classifier
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.C = C
        self.calibration = calibration
        self.cv = cv
        self.families = families
        self.exclude = exclude
        self.vae_family = vae_family
        self.latent_scales = latent_scales
        self.window = window
        self.seed = seed

    @classmethod
    def tiny_kwargs(cls) -> dict:
        """A seconds-fast configuration for contract tests."""
        return dict(n_estimators=20, cv=2, window=TINY_WINDOW)

    # -- features ----------------------------------------------------------------------
    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(families=tuple(self.families), vae_family=self.vae_family,
                             latent_scales=tuple(self.latent_scales), exclude=tuple(self.exclude))

    def _reconstruct(self):
        """The latent family's VAE reconstruction; a fitted model insists on the exact VAE it learned from."""
        if "latent" not in self.families:
            return None
        if getattr(self, "_vae", None) is None:
            from vidprov.detector.persist import DetectorFileError

            handle = load_vae(self.vae_family)
            if handle is None:
                raise DetectorFileError("this detector uses latent features but no vidprov VAE is available")
            learned = getattr(self, "vae_fingerprint_", None)
            if learned is not None and handle.fingerprint != learned:
                raise DetectorFileError(
                    f"this detector learned from VAE weights {learned} but the {handle.family} VAE installed now is "
                    f"{handle.fingerprint}: retrain it (vidprov detector train --families ...,latent)")
            self._vae = handle
        return self._vae.reconstruct

    def vae_reconstruction(self):
        """(reconstruct, VAE fingerprint) of the latent family, or (None, None) without it: what a caller that
        computes this model's features itself (the training command's cache) needs."""
        reconstruct = self._reconstruct()
        return reconstruct, (self._vae.fingerprint if reconstruct else None)

    def _remember_vae(self) -> None:
        if "latent" in self.families:
            self._reconstruct()
            self.vae_fingerprint_ = self._vae.fingerprint

    def window_features(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> list[dict[str, float]]:
        rec = self._reconstruct()
        ys = luma if luma is not None else [None] * len(windows)
        return [extract(w, self.feature_config, rec, y=y) for w, y in zip(windows, ys, strict=True)]

    # -- training ----------------------------------------------------------------------
    def fit(self, clips: Sequence[Clip], y, groups=None) -> FeatureDetector:
        y = self._check_fit_input(clips, y)
        groups = np.arange(len(clips)) if groups is None else np.asarray(groups)
        rows, yw, gw = [], [], []
        for clip, label, g in zip(clips, y, groups, strict=True):
            feats = self.window_features([w.clip for w in self.clip_windows(clip)])
            rows += feats
            yw += [label] * len(feats)
            gw += [g] * len(feats)
        names = sorted(rows[0])
        return self.fit_features(to_matrix(rows, names), np.array(yw), np.array(gw), names)

    def _fit_raw(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray):
        if self.classifier == "gb":
            from sklearn.ensemble import GradientBoostingClassifier

            gb = GradientBoostingClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                            learning_rate=self.learning_rate, subsample=self.subsample,
                                            random_state=self.seed).fit(x, y, sample_weight=sample_weight)
            return TreeEnsemble.from_sklearn(gb), gb.feature_importances_
        if self.classifier == "logreg":
            from sklearn.linear_model import LogisticRegression
            from sklearn.preprocessing import StandardScaler

            sc = StandardScaler().fit(x)
            lr = LogisticRegression(C=self.C, max_iter=2000).fit(sc.transform(x), y, sample_weight=sample_weight)
            model = LinearModel.from_sklearn(sc, lr)
            return model, np.abs(model.coef) / (np.abs(model.coef).sum() + 1e-12)
        raise ValueError(f"classifier must be 'gb' or 'logreg', got {self.classifier!r}")

    def fit_features(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, names: Sequence[str]) -> FeatureDetector:
        """Fit on a precomputed window-feature matrix (the training command caches features)."""
        from sklearn.model_selection import StratifiedGroupKFold

        x, y, groups = np.asarray(x, np.float64), np.asarray(y, np.int64), np.asarray(groups)
        weights = balanced_weights(y, groups)
        n_splits = min(self.cv, len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1])))
        oof = np.full(len(y), np.nan)
        if n_splits >= 2:
            folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.seed)
            for tr, te in folds.split(x, y, groups):
                model, _ = self._fit_raw(x[tr], y[tr], weights[tr])
                oof[te] = model.raw(x[te])
        self.model_, imp = self._fit_raw(x, y, weights)
        if np.isnan(oof).any():  # too few groups for cross-validation: calibrate in-sample
            oof = self.model_.raw(x)
        self.calibrator_ = fit_calibrator(self.calibration, oof, y)
        self._remember_vae()
        self.oof_scores_ = oof
        self.feature_names_ = list(names)
        self.importances_ = {n: float(v) for n, v in zip(names, imp, strict=True)}
        return self

    # -- scoring -----------------------------------------------------------------------
    def proba_features(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator_(self.model_.raw(np.asarray(x, np.float64)))

    def window_proba(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> np.ndarray:
        return self.proba_features(to_matrix(self.window_features(windows, luma), self.feature_names_))

    def score_windows(self, windows, explain: int = 0, luma: Sequence[np.ndarray] | None = None) -> list[WindowScore]:
        rows = self.window_features([w.clip for w in windows], luma)
        x = to_matrix(rows, self.feature_names_)
        probs = self.proba_features(x)
        out = []
        for w, p, xi in zip(windows, probs, x, strict=True):
            drivers = []
            if explain:
                contrib = self.model_.contributions(xi)
                top = np.argsort(-np.abs(contrib))[:explain]
                drivers = [(self.feature_names_[j], float(contrib[j])) for j in top]
            out.append(WindowScore(w.start_s, w.end_s, float(p), drivers))
        return out

    def family_importance(self) -> dict[str, float]:
        fam: dict[str, float] = {}
        for n, v in self.importances_.items():
            fam[family_of(n)] = fam.get(family_of(n), 0.0) + v
        return fam

    # -- persistence -------------------------------------------------------------------
    def save(self, folder) -> None:
        cal_meta, cal_tensors = calibrator_state(self.calibrator_, "cal")
        tensors = {**self.model_.tensors("model"), **cal_tensors}
        config = {"params": self.saved_params(), "feature_names": self.feature_names_,
                  "model": self.model_.json(), "calibrator": cal_meta, "importances": self.importances_,
                  "vae_fingerprint": getattr(self, "vae_fingerprint_", None)}
        save_folder(folder, "features", config, tensors)

    @classmethod
    def load(cls, folder) -> FeatureDetector:
        config, tensors = load_folder(folder, "features")
        params = cls.params_from_saved(config["params"])
        params["families"], params["exclude"] = tuple(params["families"]), tuple(params["exclude"])
        # Models saved before latent_scales was a parameter used FeatureConfig's former default.
        params["latent_scales"] = tuple(params.get("latent_scales", (1.0, 0.5)))
        det = cls(**params)
        model_cls = TreeEnsemble if params["classifier"] == "gb" else LinearModel
        det.model_ = model_cls.from_saved(tensors, "model", config["model"])
        det.calibrator_ = calibrator_from_state(config["calibrator"], tensors, "cal")
        det.feature_names_ = list(config["feature_names"])
        det.importances_ = dict(config["importances"])
        if config.get("vae_fingerprint"):
            det.vae_fingerprint_ = config["vae_fingerprint"]
        return det


@register("features_latent")
def features_latent(**kwargs) -> FeatureDetector:
    """The feature detector with the latent family added: reconstruction error through vidprov's LTX VAE."""
    return FeatureDetector(**{"families": ("temporal", "frequency", "latent"), "vae_family": "ltx", **kwargs})


features_latent.tiny_kwargs = lambda: {**FeatureDetector.tiny_kwargs(), "latent_scales": (0.5,)}
