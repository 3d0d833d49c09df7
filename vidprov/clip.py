"""Clip: the unit every part of vidprov passes around."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidprov.errors import VidprovError


class InvalidClipError(VidprovError, ValueError):
    """A Clip was built from values that break its contract."""


@dataclass(frozen=True, eq=False)
class Clip:
    """A video clip in memory.

    frames: uint8 array (T, H, W, 3), RGB. fps: frames per second (> 0).
    meta: free-form metadata (source, label, generator, prompt, seed, ...).
    """

    frames: np.ndarray
    fps: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray):
            raise InvalidClipError(f"Clip.frames must be a numpy array, got {type(f).__name__}")
        if f.dtype != np.uint8:
            raise InvalidClipError(f"Clip.frames must be uint8, got {f.dtype}")
        if f.ndim != 4 or f.shape[-1] != 3:
            raise InvalidClipError(f"Clip.frames must have shape (T, H, W, 3), got {f.shape}")
        if min(f.shape[:3]) < 1:
            raise InvalidClipError(f"Clip.frames must be non-empty, got shape {f.shape}")
        try:
            fps = float(self.fps)
        except (TypeError, ValueError) as exc:
            raise InvalidClipError(f"Clip.fps must be a number, got {self.fps!r}") from exc
        if not np.isfinite(fps) or fps <= 0:
            raise InvalidClipError(f"Clip.fps must be a positive finite number, got {self.fps!r}")
        object.__setattr__(self, "fps", fps)
        if not isinstance(self.meta, dict):
            raise InvalidClipError(f"Clip.meta must be a dict, got {type(self.meta).__name__}")
        # Frames are shared, not copied; freezing the view stops accidental in-place edits.
        if f.flags.writeable:
            f = f.view()
            f.flags.writeable = False
            object.__setattr__(self, "frames", f)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def replace(self, *, frames: np.ndarray | None = None, fps: float | None = None, **meta: Any) -> Clip:
        """A new Clip with frames/fps swapped and meta updated (the original is untouched)."""
        return Clip(
            frames=self.frames if frames is None else frames,
            fps=self.fps if fps is None else fps,
            meta={**self.meta, **meta},
        )

    def __repr__(self) -> str:
        keys = ", ".join(sorted(self.meta)) or "-"
        return f"Clip(T={self.num_frames}, H={self.height}, W={self.width}, fps={self.fps:g}, meta keys: {keys})"
