"""Detectors that score fixed-length normalised windows and average them over a clip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vidprov.clip import Clip
from vidprov.detector.base import ClipDetector
from vidprov.detector.windows import LEGACY_PRESET, LEGACY_RESIZE_IN, Window, WindowSpec, iter_windows


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
            and n.get("preset", LEGACY_PRESET) == spec.preset
            and n.get("resize_in", LEGACY_RESIZE_IN) == spec.resize_in
            and clip.num_frames == spec.num_frames and clip.height == clip.width == spec.size)


# The constructor parameters that make up a detector's WindowSpec (shared by every windowed detector).
WINDOW_PARAMS = ("window_size", "window_fps", "window_frames", "crf", "preset", "resize_in", "window_chunk",
                 "max_windows")


class WindowedDetector(ClipDetector):
    """Subclasses implement window_proba(list of window clips) -> (n,) P(generated)."""

    window_size: int = 256
    window_fps: float = 8.0
    window_frames: int = 16
    crf: int | None = 23
    preset: str = "ultrafast"
    resize_in: str = "rgb24"
    window_chunk: int = 4
    max_windows: int = 4

    @property
    def spec(self) -> WindowSpec:
        return WindowSpec(size=self.window_size, fps=self.window_fps, num_frames=self.window_frames,
                          crf=self.crf, preset=self.preset, resize_in=self.resize_in,
                          chunk=self.window_chunk, max_windows=self.max_windows)

    def clip_windows(self, clip: Clip) -> list[Window]:
        if is_normalized_window(clip, self.spec):
            return [Window(0.0, clip.num_frames / clip.fps, clip)]
        return list(iter_windows(clip, self.spec))

    def window_proba(self, windows: Sequence[Clip], luma: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """luma: stats.luma of each window when the caller has it (the fused model computes it once)."""
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
