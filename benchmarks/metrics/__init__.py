"""Building blocks of `benchmarks.quality`: distances, k-NN manifold metrics, feature nets,
feature extraction and caching. See benchmarks/QUALITY.md for the protocol."""

from .distances import feature_stats, frechet_distance, kernel_distance
from .errors import QualityError
from .extractors import FeatureSpec, ProxyNet, load_nets
from .features import FeatureCache, extract, quantize
from .manifold import manifold_metrics

__all__ = [
    "FeatureCache",
    "FeatureSpec",
    "ProxyNet",
    "QualityError",
    "extract",
    "feature_stats",
    "frechet_distance",
    "kernel_distance",
    "load_nets",
    "manifold_metrics",
    "quantize",
]
