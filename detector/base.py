"""The estimator contract every detector follows (scikit-learn style, on Clips)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from vidprov.clip import Clip


class ClipDetector(ClassifierMixin, BaseEstimator, ABC):
    """fit(clips, y) -> self; predict_proba(clips) -> (n, 2) with column 1 = P(generated).

    Learned state ends in '_'. Training-free detectors still implement fit (to set thresholds or
    simply to mark themselves fitted). save(dir)/load(dir) use safetensors + JSON, never pickle.
    """

    classes_ = np.array([0, 1])

    @abstractmethod
    def fit(self, clips: Sequence[Clip], y: Sequence[int]) -> ClipDetector:
        """Learn from clips with labels (1 = generated); return self."""

    @abstractmethod
    def predict_proba(self, clips: Sequence[Clip]) -> np.ndarray:
        """(n, 2) probabilities; column 1 is P(generated)."""

    def predict(self, clips: Sequence[Clip], threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(clips)[:, 1] >= threshold).astype(np.int64)
