"""The fused ensemble: member detectors and a logistic stacker on their logits, fitted on scores the
members gave to groups they never saw (so its weights and calibration are honest).

stacking="oof" (default, as the training command): every member is trained on all groups, and the stacker
on out-of-fold scores from `oof_folds` group folds (members refitted per fold: (folds + 1) x the fits).
stacking="holdout": members are trained on 1 - holdout of the groups and the stacker on the rest; one fit
each, but with ~150 clips the stacker then rests on a few dozen clips and can drop a good member.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidprov.clip import Clip
from vidprov.detector.feature_model import FeatureDetector
from vidprov.detector.persist import load_folder, read_kind, save_folder
from vidprov.detector.registry import register
from vidprov.detector.spacetime import SpacetimeDetector
from vidprov.detector.temporal import luma as window_luma
from vidprov.detector.trees import LinearModel
from vidprov.detector.windowed import WINDOW_PARAMS, WindowedDetector, WindowScore
from vidprov.detector.windows import with_legacy_window

log = logging.getLogger(__name__)
MEMBER_TYPES = {"features": FeatureDetector, "spacetime": SpacetimeDetector, "global": SpacetimeDetector}
# Members that are another view of a type: their defaults, below any member_params given.
MEMBER_DEFAULTS = {"global": {"view": "global", "crop": 64, "epochs": 30, "arch": "resnet10t", "batch_size": 32}}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@register("fused")
class FusedDetector(WindowedDetector):
    def __init__(self, members: tuple[str, ...] = ("features", "spacetime"), holdout: float = 0.25,
                 stacking: str = "oof", oof_folds: int = 3, member_params: dict | None = None, window_size: int = 256, window_fps: float = 8.0,
                 window_frames: int = 16, crf: int | None = 23, preset: str = "ultrafast",
                 resize_in: str = "rgb24", window_chunk: int = 4, max_windows: int = 4, seed: int = 0):
        self.members = members
        self.holdout = holdout
        if stacking not in ("oof", "holdout"):
            raise ValueError(f"unknown stacking {stacking!r}; valid: ['holdout', 'oof']")
        self.stacking = stacking
        self.oof_folds = oof_folds
        self.member_params = member_params
        self.window_size = window_size
        self.window_fps = window_fps
        self.window_frames = window_frames
        self.crf = crf
        self.preset = preset
        self.resize_in = resize_in
        self.window_chunk = window_chunk
        self.max_windows = max_windows
        self.seed = seed

    @classmethod
    def tiny_kwargs(cls) -> dict:
        """A seconds-fast configuration for contract tests."""
        tiny = {"features": FeatureDetector.tiny_kwargs(), "spacetime": SpacetimeDetector.tiny_kwargs(),
                "global": {**SpacetimeDetector.tiny_kwargs(), "crop": 16}}
        spec = dict(window_size=64, window_frames=8, max_windows=1)
        return dict(member_params={k: {a: b for a, b in v.items() if a not in spec} for k, v in tiny.items()}, **spec)

    def _new_member(self, name: str):
        if name not in MEMBER_TYPES:
            raise ValueError(f"unknown fused member {name!r}; valid: {sorted(MEMBER_TYPES)}")
        spec = {k: getattr(self, k) for k in WINDOW_PARAMS}
        return MEMBER_TYPES[name](**{**spec, "seed": self.seed, **MEMBER_DEFAULTS.get(name, {}),
                                      **(self.member_params or {}).get(name, {})})

    def holdout_mask(self, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed + 1)
        held = np.zeros(len(y), bool)
        for c in (0, 1):
            gs = np.unique(groups[y == c])
            rng.shuffle(gs)
            k = max(1, int(round(self.holdout * len(gs)))) if len(gs) >= 3 else 0
            held |= np.isin(groups, gs[:k]) & (y == c)
        return held

    def fit(self, clips: Sequence[Clip], y, groups=None) -> FusedDetector:
        y = self._check_fit_input(clips, y)
        groups = np.arange(len(clips)) if groups is None else np.asarray(groups)
        if self.stacking == "oof":
            folds = self._oof_folds(y, groups)
            if folds:
                z = np.full((len(y), len(self.members)), np.nan)
                for k, (tr, te) in enumerate(folds):
                    log.info("fused: out-of-fold members %d/%d", k + 1, len(folds))
                    for j, name in enumerate(self.members):
                        m = self._new_member(name).fit([clips[i] for i in tr], y[tr], groups[tr])
                        z[te, j] = _logit(m.predict_proba([clips[i] for i in te])[:, 1])
                self.members_ = [self._new_member(n).fit(clips, y, groups) for n in self.members]
                return self._fit_stacker(z, y)
            log.warning("fused: too few groups for out-of-fold stacking; using a holdout split")
        held = self.holdout_mask(y, groups)
        fit_idx = np.flatnonzero(~held) if held.any() else np.arange(len(y))
        cal_idx = np.flatnonzero(held) if held.any() else fit_idx
        self.members_ = []
        for name in self.members:
            m = self._new_member(name).fit([clips[i] for i in fit_idx], y[fit_idx], groups[fit_idx])
            self.members_.append(m)
        z = np.column_stack([_logit(m.predict_proba([clips[i] for i in cal_idx])[:, 1]) for m in self.members_])
        return self._fit_stacker(z, y[cal_idx])

    def _oof_folds(self, y: np.ndarray, groups: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Group folds whose training parts hold both classes in >= 2 groups; [] when there are too few."""
        from sklearn.model_selection import StratifiedGroupKFold

        n = min(self.oof_folds, len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1])))
        if n < 2:
            return []
        cv = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=self.seed)
        folds = list(cv.split(np.zeros(len(y)), y, groups))
        ok = all(len(np.unique(groups[tr][y[tr] == c])) >= 2 for tr, _ in folds for c in (0, 1))
        return folds if ok else []

    def _fit_stacker(self, z: np.ndarray, y: np.ndarray) -> FusedDetector:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1.0).fit(z, y)
        d = z.shape[1]
        self.stacker_ = LinearModel(np.zeros(d), np.ones(d), lr.coef_.ravel().copy(), float(lr.intercept_[0]))
        return self

    def fit_members(self, members: Sequence[WindowedDetector], z_holdout: np.ndarray, y_holdout: np.ndarray):
        """Assemble from members trained elsewhere and their held-out window probabilities."""
        self.members_ = list(members)
        return self._fit_stacker(_logit(np.asarray(z_holdout)), np.asarray(y_holdout))

    def window_proba(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> np.ndarray:
        luma = luma if luma is not None else [window_luma(w.frames) for w in windows]  # once for all members
        z = np.column_stack([_logit(m.window_proba(windows, luma=luma)) for m in self.members_])
        return 1.0 / (1.0 + np.exp(-self.stacker_.raw(z)))

    def score_windows(self, windows, explain: int = 0, luma: Sequence[np.ndarray] | None = None) -> list[WindowScore]:
        luma = luma if luma is not None else [window_luma(w.clip.frames) for w in windows]
        per_member = [m.score_windows(windows, explain=explain, luma=luma) for m in self.members_]
        z = np.column_stack([_logit(np.array([s.p_generated for s in ms])) for ms in per_member])
        p = 1.0 / (1.0 + np.exp(-self.stacker_.raw(z)))
        out = []
        for i, w in enumerate(windows):
            drivers = [d for ms in per_member for d in ms[i].drivers]
            for k, name in enumerate(self.members):
                drivers.append((f"model:{name}", float(self.stacker_.coef[k] * z[i, k])))
            drivers.sort(key=lambda d: -abs(d[1]))
            out.append(WindowScore(w.start_s, w.end_s, float(p[i]), drivers[: max(explain, 0) + len(self.members)]))
        return out

    def save(self, folder) -> None:
        folder = Path(folder)
        for name, m in zip(self.members, self.members_, strict=True):
            m.save(folder / name)
        save_folder(folder, "fused", {"params": self.get_params(), "stacker": self.stacker_.json()},
                    self.stacker_.tensors("stacker"))

    @classmethod
    def load(cls, folder, device: str | None = None) -> FusedDetector:
        folder = Path(folder)
        config, tensors = load_folder(folder, "fused")
        params = with_legacy_window(config["params"])
        params["members"] = tuple(params["members"])
        det = cls(**params)
        det.members_ = []
        for name in det.members:
            kind = read_kind(folder / name)
            typ = MEMBER_TYPES[kind]
            det.members_.append(typ.load(folder / name, device=device) if kind == "spacetime" else typ.load(folder / name))
        det.stacker_ = LinearModel.from_saved(tensors, "stacker", config["stacker"])
        return det


def load_detector(folder, device: str | None = None) -> WindowedDetector:
    """Load any saved vidprov detector folder by the kind recorded in its config."""
    kind = read_kind(folder)
    if kind == "fused":
        return FusedDetector.load(folder, device=device)
    if kind == "spacetime":
        return SpacetimeDetector.load(folder, device=device)
    if kind == "features":
        return FeatureDetector.load(folder)
    if kind == "backbone":
        from vidprov.detector.backbone_model import BackboneDetector

        return BackboneDetector.load(folder, device=device)
    from vidprov.detector.persist import DetectorFileError

    raise DetectorFileError(f"{folder}: unknown detector kind {kind!r}")
