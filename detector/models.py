"""Importing this module registers the built-in detectors with vidprov.detector.create."""

from vidprov.detector.backbone_model import BackboneDetector
from vidprov.detector.feature_model import FeatureDetector
from vidprov.detector.fused import FusedDetector, load_detector
from vidprov.detector.spacetime import SpacetimeDetector

__all__ = ["BackboneDetector", "FeatureDetector", "FusedDetector", "SpacetimeDetector", "load_detector"]
