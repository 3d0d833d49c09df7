"""Safety limits applied to every video read, so hostile input cannot exhaust memory or time."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 4 * 1024**3
    max_pixels: int = 8192 * 4352  # a little over 8K UHD
    max_frames: int = 20_000
    max_duration_s: float = 4 * 3600.0
    max_decoded_bytes: int = 8 * 1024**3

    def with_(self, **changes) -> Limits:
        return replace(self, **changes)


def _from_env() -> Limits:
    # VIDPROV_MAX_FRAMES=100 etc. let operators tighten limits without code changes.
    kwargs = {}
    for name, typ in (
        ("max_file_bytes", int),
        ("max_pixels", int),
        ("max_frames", int),
        ("max_duration_s", float),
        ("max_decoded_bytes", int),
    ):
        value = os.environ.get(f"VIDPROV_{name.upper()}")
        if value:
            kwargs[name] = typ(value)
    return Limits(**kwargs)


DEFAULT_LIMITS = _from_env()
