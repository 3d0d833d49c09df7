"""The fused ensemble: member detectors and a logistic stacker on their logits, fitted on scores the
members gave to groups they never saw (so its weights and calibration are honest).

Every member is trained on all groups, and the stacker on out-of-fold scores from `oof_folds` group folds
(members refitted per fold: (folds + 1) x the fits). With too few groups for that, members are trained on
1 - holdout of the groups and the stacker on the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from vidprov import color
from vidprov.clip import Clip
from vidprov.detector.exported_models import LinearModel
from vidprov.detector.feature_model import FeatureDetector
from vidprov.detector.persist import load_folder, read_kind, save_folder
from vidprov.detector.registry import register
from vidprov.detector.spacetime import SpacetimeDetector
from vidprov.detector.window_detector import DETECTOR_WINDOW, TINY_WINDOW, WindowedDetector, WindowScore
from vidprov.detector.windows import WindowSpec

log = logging.getLogger(__name__)
MEMBER_TYPES = {"features": FeatureDetector, "spacetime": SpacetimeDetector, "global": SpacetimeDetector}
# Members that are another view of a type: their defaults, below any member_params given.
MEMBER_DEFAULTS = {"global": {"view": "global", "crop": 64, "epochs": 30, "arch": "resnet10t", "batch_size": 32}}


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped to [1e-4, 1 - 1e-4] first: the stacker's inputs."""
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


class MemberTrainer(Protocol):
    """How FusedDetector.fit_stacked fits a member on some training rows and scores others: over clips
    (ClipMembers), or over the windows and features the training command has cached."""

    def fit(self, name: str, rows: np.ndarray) -> WindowedDetector: ...

    def proba(self, member: WindowedDetector, rows: np.ndarray) -> np.ndarray: ...


class ClipMembers:
    """Members fitted on, and scoring, whole clips (rows are clip indices)."""

    def __init__(self, fused: FusedDetector, clips: Sequence[Clip], y: np.ndarray, groups: np.ndarray):
        self.fused, self.clips, self.y, self.groups = fused, clips, y, groups

    def fit(self, name: str, rows: np.ndarray) -> WindowedDetector:
        return self.fused.new_member(name).fit([self.clips[i] for i in rows], self.y[rows], self.groups[rows])

    def proba(self, member: WindowedDetector, rows: np.ndarray) -> np.ndarray:
        return member.predict_proba([self.clips[i] for i in rows])[:, 1]


@register("fused")
class FusedDetector(WindowedDetector):
    def __init__(self, members: tuple[str, ...] = ("features", "spacetime"), holdout: float = 0.25,
                 oof_folds: int = 3, member_params: dict | None = None, window: WindowSpec = DETECTOR_WINDOW,
                 seed: int = 0):
        self.members = members
        self.holdout = holdout
        self.oof_folds = oof_folds
        self.member_params = member_params
        self.window = window
        self.seed = seed

    @classmethod
    def tiny_kwargs(cls) -> dict:
        """A seconds-fast configuration for contract tests."""
        tiny = {"features": FeatureDetector.tiny_kwargs(), "spacetime": SpacetimeDetector.tiny_kwargs(),
                "global": {**SpacetimeDetector.tiny_kwargs(), "crop": 16}}
        return dict(member_params={k: {a: b for a, b in v.items() if a != "window"} for k, v in tiny.items()},
                    window=TINY_WINDOW)

    def new_member(self, name: str) -> WindowedDetector:
        """An unfitted member of this type, with this model's window, seed and member parameters."""
        if name not in MEMBER_TYPES:
            raise ValueError(f"unknown fused member {name!r}; valid: {sorted(MEMBER_TYPES)}")
        return MEMBER_TYPES[name](**{"window": self.window, "seed": self.seed, **MEMBER_DEFAULTS.get(name, {}),
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
        return self.fit_stacked(ClipMembers(self, clips, y, groups), y, groups)

    def fit_stacked(self, trainer: MemberTrainer, y, groups, stack_rows: np.ndarray | None = None,
                    extra: Callable[[list], tuple[np.ndarray, np.ndarray]] | None = None) -> FusedDetector:
        """Fit the members and the stacker on training rows (clips, or windows the caller has cached) that
        `trainer` fits members on and scores; every fit in the package goes through here.

        stack_rows: the rows whose out-of-fold scores the stacker learns from (default all; the training
        command leaves out augmented copies). extra(members) -> (member probabilities, labels) of held-out
        rows outside the training data, added to the stacker's inputs. Afterwards stack_rows_ holds the rows
        the stacker saw and stack_proba_ their member probabilities from members that never saw them."""
        y, groups = np.asarray(y), np.asarray(groups)
        stack_rows = np.arange(len(y)) if stack_rows is None else np.asarray(stack_rows)
        folds = self._oof_folds(y, groups)
        if folds:
            p = np.full((len(y), len(self.members)), np.nan)
            for k, (tr, te) in enumerate(folds):
                log.info("fused: out-of-fold members %d/%d", k + 1, len(folds))
                for j, name in enumerate(self.members):
                    p[te, j] = trainer.proba(trainer.fit(name, tr), te)
            self.members_ = [trainer.fit(n, np.arange(len(y))) for n in self.members]
            self.stack_rows_ = stack_rows
        else:
            log.warning("fused: too few groups for out-of-fold stacking; using a holdout split")
            held = self.holdout_mask(y, groups)
            fit_idx = np.flatnonzero(~held) if held.any() else np.arange(len(y))
            self.members_ = [trainer.fit(n, fit_idx) for n in self.members]
            cal_idx = np.flatnonzero(held) if held.any() else fit_idx
            self.stack_rows_ = np.intersect1d(cal_idx, stack_rows)
            p = np.full((len(y), len(self.members)), np.nan)
            p[self.stack_rows_] = np.column_stack([trainer.proba(m, self.stack_rows_) for m in self.members_])
        self.stack_proba_ = p[self.stack_rows_]
        z, yz = self.stack_proba_, y[self.stack_rows_]
        if extra is not None:
            pe, ye = extra(self.members_)
            z, yz = np.concatenate([z, pe]), np.concatenate([yz, ye])
        return self._fit_stacker(logit(z), yz)

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

    def stack(self, member_proba: np.ndarray) -> np.ndarray:
        """P(generated) from the members' probabilities, one column per member."""
        return 1.0 / (1.0 + np.exp(-self.stacker_.raw(logit(np.asarray(member_proba)))))

    def window_proba(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> np.ndarray:
        luma = luma if luma is not None else [color.luma(w.frames) for w in windows]  # once for all members
        return self.stack(np.column_stack([m.window_proba(windows, luma=luma) for m in self.members_]))

    def score_windows(self, windows, explain: int = 0, luma: Sequence[np.ndarray] | None = None) -> list[WindowScore]:
        luma = luma if luma is not None else [color.luma(w.clip.frames) for w in windows]
        per_member = [m.score_windows(windows, explain=explain, luma=luma) for m in self.members_]
        z = np.column_stack([logit(np.array([s.p_generated for s in ms])) for ms in per_member])
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
        save_folder(folder, "fused", {"params": self.saved_params(), "stacker": self.stacker_.json()},
                    self.stacker_.tensors("stacker"))

    @classmethod
    def load(cls, folder, device: str | None = None) -> FusedDetector:
        folder = Path(folder)
        config, tensors = load_folder(folder, "fused")
        params = cls.params_from_saved(config["params"])
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
