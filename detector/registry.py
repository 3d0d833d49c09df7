"""Build detectors by name (timm-style). Components register with @register("name")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vidprov.errors import VidprovError

_REGISTRY: dict[str, Callable[..., Any]] = {}


class UnknownDetectorError(VidprovError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register(name: str) -> Callable:
    """Class decorator: make `create(name)` build this detector."""

    def deco(factory):
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"detector {name!r} registered twice")
        _REGISTRY[name] = factory
        factory.registry_name = name
        return factory

    return deco


def _load_builtin() -> None:
    # Importing the module runs the @register decorators of vidprov's own detectors. Other layers
    # register theirs themselves (vidprov.benchmarks.baselines.register_baselines).
    import vidprov.detector.models  # noqa: F401


def factory(name: str) -> Callable[..., Any]:
    """The registered factory of `name` (its tiny_kwargs, when it has them, build a test-sized model)."""
    _load_builtin()
    if name not in _REGISTRY:
        raise UnknownDetectorError(f"unknown detector {name!r}; available: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return _REGISTRY[name]


def available() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def create(name: str, **kwargs: Any):
    """Build a registered detector; an unknown name lists the valid ones."""
    return factory(name)(**kwargs)
