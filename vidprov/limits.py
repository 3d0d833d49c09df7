"""Safety limits applied to every video read, so hostile input cannot exhaust memory or time.

The defaults are sized for a server that reads strangers' uploads on a 2-core, 24 GB machine:
every read of one file stays within about 1.5 GB of resident memory and a minute of wall clock.
Each limit is checked before the memory or time it guards is spent (from headers where they tell,
otherwise per decoded frame). Operators change them with VIDPROV_<NAME> environment variables.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

from vidprov.errors import VideoTooLargeError


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 2 * 1024**3
    # 1920x1088 (1080p): a 4K frame costs a scan ~2.1 GB and a 1440p frame ~1.7 GB (decoder and encoder
    # frame buffers, float luma), over the 1.5 GB one file may take on the 2-core, 24 GB machine.
    max_pixels: int = 1920 * 1088
    max_frames: int = 20_000
    max_duration_s: float = 4 * 3600.0
    # Frames a read may hold at once (read_video's array): reserved up front, never grown past this.
    max_decoded_bytes: int = 768 * 1024**2
    # Pixels decoded per file (width x height x frames, skipped frames included: decoding them is the cost).
    max_decoded_pixels: int = 10_000_000_000
    # Wall-clock budget of one read (or of one scan of a file, which shares it between its reads).
    max_seconds: float = 30.0
    # time.monotonic() after which reads stop; set by started(), not by users.
    deadline: float | None = None

    def with_(self, **changes) -> Limits:
        return replace(self, **changes)

    def started(self) -> Limits:
        """These limits with the wall-clock budget running from now (kept if it already runs)."""
        if self.deadline is not None:
            return self
        return replace(self, deadline=time.monotonic() + self.max_seconds)

    def check_time(self, name: str) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise VideoTooLargeError(
                f"{name}: took longer than the time limit of {self.max_seconds:.0f} s (VIDPROV_MAX_SECONDS)")


_ENV_FIELDS = (
    ("max_file_bytes", int),
    ("max_pixels", int),
    ("max_frames", int),
    ("max_duration_s", float),
    ("max_decoded_bytes", int),
    ("max_decoded_pixels", int),
    ("max_seconds", float),
)


def _from_env() -> Limits:
    # VIDPROV_MAX_FRAMES=100 etc. let operators tighten limits without code changes.
    kwargs = {}
    for name, typ in _ENV_FIELDS:
        value = os.environ.get(f"VIDPROV_{name.upper()}")
        if value:
            try:
                kwargs[name] = typ(float(value)) if typ is int else typ(value)
            except ValueError as exc:
                raise ValueError(f"VIDPROV_{name.upper()}={value!r} is not a number") from exc
    return Limits(**kwargs)


DEFAULT_LIMITS = _from_env()


class DecodeBudget:
    """Counts one read's decoded pixels and watches its clock; call frame() for every decoded frame."""

    def __init__(self, limits: Limits, name: str):
        self.limits = limits.started()
        self.name = name
        self.pixels = 0

    def check_plan(self, width: int, height: int, frames: int | None) -> None:
        """Refuse a read whose header already shows it would decode more pixels than allowed."""
        if frames and width * height * frames > self.limits.max_decoded_pixels:
            raise VideoTooLargeError(
                f"{self.name}: {width}x{height} x {frames} frames would decode more than "
                f"{self.limits.max_decoded_pixels:.3g} pixels (VIDPROV_MAX_DECODED_PIXELS)")

    def frame(self, width: int, height: int) -> None:
        if width * height > self.limits.max_pixels:
            raise VideoTooLargeError(
                f"{self.name}: frame size {width}x{height} exceeds the limit of {self.limits.max_pixels} pixels per frame")
        self.pixels += width * height
        if self.pixels > self.limits.max_decoded_pixels:
            raise VideoTooLargeError(
                f"{self.name}: decoded more than {self.limits.max_decoded_pixels:.3g} pixels "
                "(VIDPROV_MAX_DECODED_PIXELS); pass max_frames or raise the limit")
        self.limits.check_time(self.name)
