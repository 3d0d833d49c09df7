"""The backbone detector: what frozen ImageNet networks see in a window, read by a linear head.

Each window's frames go through MobileNetV2 and EfficientNet-Lite0 (frozen, `vidprov.backbones`).
Per network and chosen stage, every channel's spatial mean and standard deviation are averaged
over the frames (appearance statistics: texture at the middle stages, scene and style at the last
ones); the frames' path through the last stage's feature space adds six numbers of temporal
geometry (speed, acceleration and turning of the trajectory). A standardised logistic regression,
calibrated on out-of-fold scores, turns the vector into P(generated).

Appearance statistics of pretrained networks transfer to generators that training never saw far
better than hand-built temporal and frequency features (benchmarks/RESULTS.md, "Detector"); a
linear head keeps 200-300 training clips from being memorised, and makes every score decompose
exactly into per-signal log-odds, which is the evidence a scan reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidprov.backbones.imagenet import CHANNELS
from vidprov.clip import Clip
from vidprov.detector.persist import load_folder, save_folder
from vidprov.detector.registry import register
from vidprov.detector.trees import LinearModel, calibrator_from_state, calibrator_state, fit_calibrator
from vidprov.detector.windowed import WindowedDetector, WindowScore

NETWORKS = ("mobilenet_v2", "efficientnet_lite0")
TRAJECTORY = ("speed", "speed_spread", "acceleration", "acceleration_spread", "turning", "turning_spread")

# What each signal group means, for the evidence a scan reports.
SIGNALS = {
    "texture": "mid-level texture statistics of pretrained image networks",
    "scene": "scene- and style-level statistics of pretrained image networks",
    "motion": "temporal geometry: how the networks' view of the scene moves from frame to frame",
}


def _signal_of(name: str) -> str:
    if name.startswith("traj."):
        return "motion"
    stage = int(name.split(".")[1][1:])
    return "texture" if stage < 4 else "scene"


def trajectory_geometry(embedding: np.ndarray) -> np.ndarray:
    """(T, D) per-frame embedding -> speed, acceleration and turning of its path (mean and spread)."""
    e = embedding - embedding.mean(axis=0, keepdims=True)
    v, a = np.diff(e, axis=0), np.diff(e, n=2, axis=0)
    nv, na = np.linalg.norm(v, axis=1), np.linalg.norm(a, axis=1)
    if len(v) < 2:
        cos = np.zeros(1)
        na = np.zeros(1)
    else:
        cos = (v[1:] * v[:-1]).sum(axis=1) / (nv[1:] * nv[:-1] + 1e-8)
    return np.array([np.log1p(nv.mean()), np.log1p(nv.std()), np.log1p(na.mean()), np.log1p(na.std()),
                     cos.mean(), cos.std()])


@register("backbone")
class BackboneDetector(WindowedDetector):
    """stages: which of each network's six stages feed the head (0 = 1/4 resolution ... 5 = 1/32).
    frame_stride: every how-many-th window frame goes through the networks (the statistics are
    averages, so 4 of 16 frames cost a quarter and score the same within the protocols' noise).
    trajectory: add the temporal-geometry numbers. C: inverse L2 strength of the logistic head."""

    def __init__(self, stages: tuple[int, ...] = (3, 4, 5), frame_stride: int = 4, trajectory: bool = True,
                 C: float = 0.1, calibration: str = "sigmoid", cv: int = 5, seed: int = 0,
                 window_size: int = 224, window_fps: float = 8.0, window_frames: int = 16, crf: int | None = 23,
                 preset: str = "ultrafast", resize_in: str = "rgb24", window_chunk: int = 4, max_windows: int = 4,
                 device: str | None = None):
        self.stages = stages
        self.frame_stride = frame_stride
        self.trajectory = trajectory
        self.C = C
        self.calibration = calibration
        self.cv = cv
        self.seed = seed
        self.window_size = window_size
        self.window_fps = window_fps
        self.window_frames = window_frames
        self.crf = crf
        self.preset = preset
        self.resize_in = resize_in
        self.window_chunk = window_chunk
        self.max_windows = max_windows
        self.device = device

    @classmethod
    def tiny_kwargs(cls) -> dict:
        return {"window_size": 64, "window_frames": 8, "max_windows": 1, "cv": 2}

    # -- features ------------------------------------------------------------------------
    def _networks(self):
        nets = getattr(self, "_nets", None)
        if nets is None:
            import torch

            from vidprov import backbones

            device = torch.device(self.device) if self.device else torch.device("cpu")
            nets = {n: backbones.create(n).to(device) for n in NETWORKS}
            self._nets = nets
        return nets

    def feature_names(self) -> list[str]:
        names = []
        for net in NETWORKS:
            channels = CHANNELS[net]
            for stat in ("mean", "std"):
                for s in self.stages:
                    names += [f"{net}.s{s}.{stat}.{c}" for c in range(channels[s])]
            if self.trajectory:
                names += [f"traj.{net}.{t}" for t in TRAJECTORY]
        return names

    def window_features(self, windows: Sequence[Clip]) -> np.ndarray:
        from vidprov.backbones.imagenet import stage_statistics

        nets = self._networks()
        rows = []
        for w in windows:
            frames = w.frames[:: self.frame_stride]
            parts = []
            for net in NETWORKS:
                per_frame = stage_statistics(nets[net], frames)  # (T, 2 * sum(C)): means then stds
                channels = CHANNELS[net]
                offsets = np.cumsum([0, *channels])
                total = offsets[-1]
                for half in (0, total):
                    parts += [per_frame[:, half + offsets[s] : half + offsets[s + 1]].mean(axis=0) for s in self.stages]
                if self.trajectory:
                    last = per_frame[:, offsets[-2] : offsets[-1]]  # last stage's channel means per frame
                    parts.append(trajectory_geometry(last))
            rows.append(np.concatenate(parts))
        return np.nan_to_num(np.stack(rows).astype(np.float64))

    # -- training ------------------------------------------------------------------------
    def fit(self, clips: Sequence[Clip], y, groups=None) -> BackboneDetector:
        y = self._check_fit_input(clips, y)
        groups = np.arange(len(clips)) if groups is None else np.asarray(groups)
        x = np.stack([self.window_features([w.clip for w in self.clip_windows(c)]).mean(axis=0) for c in clips])
        return self.fit_features(x, y, groups)

    def _fit_head(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray) -> LinearModel:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x)
        head = LogisticRegression(C=self.C, max_iter=5000).fit(scaler.transform(x), y, sample_weight=sample_weight)
        return LinearModel.from_sklearn(scaler, head)

    def fit_features(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> BackboneDetector:
        """Fit on precomputed clip features (rows of window_features averaged over a clip's windows)."""
        from sklearn.model_selection import StratifiedGroupKFold

        from vidprov.detector.weighting import balanced_weights

        x, y, groups = np.asarray(x, np.float64), np.asarray(y, np.int64), np.asarray(groups)
        weights = balanced_weights(y, groups)
        n_splits = min(self.cv, len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1])))
        oof = np.full(len(y), np.nan)
        if n_splits >= 2:
            folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=self.seed)
            for tr, te in folds.split(x, y, groups):
                oof[te] = self._fit_head(x[tr], y[tr], weights[tr]).raw(x[te])
        self.model_ = self._fit_head(x, y, weights)
        if np.isnan(oof).any():  # too few groups to cross-validate: calibrate in-sample
            oof = self.model_.raw(x)
        self.calibrator_ = fit_calibrator(self.calibration, oof, y)
        self.oof_scores_ = oof
        self.feature_names_ = self.feature_names()
        return self

    # -- scoring -------------------------------------------------------------------------
    def proba_features(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator_(self.model_.raw(np.asarray(x, np.float64)))

    def window_proba(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> np.ndarray:
        return self.proba_features(self.window_features(windows))

    def signal_contributions(self, x: np.ndarray) -> dict[str, float]:
        """Log-odds of the head's raw score per signal group (they sum to raw minus the intercept)."""
        contrib = self.model_.contributions(x)
        out = dict.fromkeys(SIGNALS, 0.0)
        for name, c in zip(self.feature_names_, contrib, strict=True):
            out[_signal_of(name)] += float(c)
        return {k: v for k, v in out.items() if k != "motion" or self.trajectory}

    def score_windows(self, windows, explain: int = 0, luma: Sequence[np.ndarray] | None = None) -> list[WindowScore]:
        x = self.window_features([w.clip for w in windows])
        probs = self.proba_features(x)
        out = []
        for w, p, xi in zip(windows, probs, x, strict=True):
            drivers = []
            if explain:
                drivers = sorted(self.signal_contributions(xi).items(), key=lambda kv: -abs(kv[1]))[:explain]
            out.append(WindowScore(w.start_s, w.end_s, float(p), drivers))
        return out

    @staticmethod
    def describe_signal(name: str) -> str:
        return SIGNALS.get(name, name)

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder) -> None:
        cal_meta, cal_tensors = calibrator_state(self.calibrator_, "cal")
        params = {k: v for k, v in self.get_params().items() if k != "device"}
        config = {"params": params, "model": self.model_.json(), "calibrator": cal_meta,
                  "n_features": len(self.feature_names_)}
        save_folder(folder, "backbone", config, {**self.model_.tensors("model"), **cal_tensors})

    @classmethod
    def load(cls, folder, device: str | None = None) -> BackboneDetector:
        config, tensors = load_folder(folder, "backbone")
        params = dict(config["params"])
        params["stages"] = tuple(params["stages"])
        det = cls(**params, device=device)
        det.model_ = LinearModel.from_saved(tensors, "model", config["model"])
        det.calibrator_ = calibrator_from_state(config["calibrator"], tensors, "cal")
        det.feature_names_ = det.feature_names()
        if len(det.feature_names_) != len(det.model_.coef):
            from vidprov.detector.persist import DetectorFileError

            raise DetectorFileError(f"{folder}: {len(det.model_.coef)} weights for {len(det.feature_names_)} features")
        return det

