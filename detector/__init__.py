"""vidprov.detector: real vs AI-generated video."""

from vidprov.detector.base import ClipDetector
from vidprov.detector.registry import available, create, factory, register

__all__ = ["ClipDetector", "available", "create", "factory", "register"]
