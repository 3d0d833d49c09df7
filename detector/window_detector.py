"""Detectors that score fixed-length normalised windows and average them over a clip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vidprov.clip import Clip
from vidprov.detector.base import ClipDetector
from vidprov.detector.persist import DetectorFileError
from vidprov.detector.windows import Window, WindowSpec, iter_windows


@dataclass
class WindowScore:
    start_s: float
    end_s: float
    p_generated: float
    drivers: list[tuple[str, float]] = field(default_factory=list)  # (feature, signed log-odds share)


def is_normalized_window(clip: Clip, spec: WindowSpec) -> bool:
    """True when the clip already is one window prepared with `spec` (e.g. by the harness)."""
    n = clip.meta.get("normalized")
    if not isinstance(n, dict):
        return False
    size = n.get("size")
    size_ok = size == spec.size or (isinstance(size, (list, tuple)) and list(size) == [spec.size, spec.size])
    return (size_ok and n.get("fps") == spec.fps and n.get("crf") == spec.crf
            and n.get("preset") == spec.preset
            and clip.num_frames == spec.num_frames and clip.height == clip.width == spec.size)


# The windows a detector is trained and scans on unless told otherwise: the defaults, at most 4 per clip.
DETECTOR_WINDOW = WindowSpec(max_windows=4)
# The seconds-fast window of the detectors' tiny_kwargs (contract tests).
TINY_WINDOW = WindowSpec(size=64, num_frames=8, max_windows=1)


class WindowedDetector(ClipDetector):
    """Subclasses take `window: WindowSpec` in their constructor and implement
    window_proba(list of window clips) -> (n,) P(generated)."""

    window: WindowSpec = DETECTOR_WINDOW

    @property
    def spec(self) -> WindowSpec:
        return self.window

    def saved_params(self) -> dict:
        """get_params() as config.json stores them: the window as a plain dict."""
        return {**self.get_params(deep=False), "window": self.window.to_dict()}

    @staticmethod
    def params_from_saved(params: dict) -> dict:
        """The constructor arguments of a saved config's params."""
        if not isinstance(params.get("window"), dict):
            raise DetectorFileError("this detector was saved in a format without a window description; retrain it "
                                    "with `vidprov detector train`")
        try:
            return {**params, "window": WindowSpec.from_dict(params["window"])}
        except ValueError as exc:
            raise DetectorFileError(f"unreadable window description: {exc}") from exc

    def clip_windows(self, clip: Clip) -> list[Window]:
        if is_normalized_window(clip, self.spec):
            return [Window(0.0, clip.num_frames / clip.fps, clip)]
        return list(iter_windows(clip, self.spec))

    def window_proba(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """luma: vidprov.color.luma of each window when the caller has it (the fused model computes it once)."""
        raise NotImplementedError

    def predict_proba(self, clips: Sequence[Clip]) -> np.ndarray:
        out = np.empty((len(clips), 2))
        for i, clip in enumerate(clips):
            p = float(np.mean(self.window_proba([w.clip for w in self.clip_windows(clip)])))
            out[i] = (1.0 - p, p)
        return out

    def score_windows(self, windows: Sequence[Window], explain: int = 0,
                      luma: Sequence[np.ndarray] | None = None) -> list[WindowScore]:
        """Per-window scores; explain > 0 adds the top features behind each score where supported."""
        probs = self.window_proba([w.clip for w in windows], luma=luma)
        return [WindowScore(w.start_s, w.end_s, float(p)) for w, p in zip(windows, probs, strict=True)]

    @staticmethod
    def _check_fit_input(clips, y) -> np.ndarray:
        y = np.asarray(y).astype(np.int64).ravel()
        if len(clips) != len(y):
            raise ValueError(f"got {len(clips)} clips but {len(y)} labels")
        if set(np.unique(y)) - {0, 1} or len(np.unique(y)) < 2:
            raise ValueError("labels must be 0 (real) and 1 (generated), with both present")
        return y
