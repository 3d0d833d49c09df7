"""vidprov: an open toolkit for AI-video provenance research."""

from vidprov.clip import Clip, InvalidClipError
from vidprov.errors import (
    CorruptVideoError,
    NotAVideoError,
    UnsupportedVideoError,
    VideoError,
    VideoTooLargeError,
    VidprovError,
)
from vidprov.io import encode_video, iter_frames, probe, read_video, reencode, write_frames, write_video
from vidprov.limits import DEFAULT_LIMITS, Limits
from vidprov.manifest import Manifest
from vidprov.normalize import normalize

__version__ = "0.1.0"

# The product-level entry points live in the layers above core; resolve them lazily so that
# `import vidprov` stays light (no torch/diffusers until they are used).
_LAZY = {
    "scan": ("vidprov.provenance", "scan"),
    "Scanner": ("vidprov.provenance", "Scanner"),
    "ScanReport": ("vidprov.provenance", "ScanReport"),
    "generate": ("vidprov.generator", "generate"),
    "verify": ("vidprov.provenance", "verify"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'vidprov' has no attribute {name!r}")

__all__ = [
    "Clip",
    "InvalidClipError",
    "VidprovError",
    "VideoError",
    "NotAVideoError",
    "CorruptVideoError",
    "VideoTooLargeError",
    "UnsupportedVideoError",
    "read_video",
    "iter_frames",
    "write_video",
    "write_frames",
    "encode_video",
    "reencode",
    "probe",
    "normalize",
    "Manifest",
    "Limits",
    "DEFAULT_LIMITS",
    "__version__",
]
