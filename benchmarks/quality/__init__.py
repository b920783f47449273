"""Sample-quality metrics of a generator against a prepared dataset, with a metric card.

Every metric is one registered function (benchmarks/quality/metrics/, table in registry.py);
FID and KID come from clean-fid's building blocks in both `clean` and `legacy_tensorflow` mode,
precision/recall follow NVIDIA's `pr50k3_full` exactly, density/coverage follow Naeem et al.;
all of them are computed from the same uint8-quantized samples. See README.md here.

    python -m benchmarks.quality --checkpoint CKPT --data DATA.zip --metrics fid,kid,pr,dc \\
        --num-gen 50000 --seeds 0,1,2 --extractor inception --out results/metrics/x.json

Python: `evaluate(G, "data.zip", quality)` with the typed section, e.g.
`settings.Quality(metrics=["fid", "pr"], num_gen=1000, extractor="proxy")`. The registry (`from
benchmarks.quality import registry`) and `feature_sets(plan(quality))` answer without loading any
network.
"""

from . import extractors, metrics, registry  # noqa: F401  (the built-ins register themselves)
from .errors import QualityError

_LAZY = {  # the heavy parts (clean-fid, the nets) load on first use, not with the registry
    "evaluate": "evaluation",
    "SCHEMA": "evaluation",
    "plan": "planning",
    "Plan": "planning",
    "feature_sets": "planning",
    "FeatureSetInfo": "planning",
    "load_checkpoint": "generators",
    "load_official_generator": "generators",
}

__all__ = ["QualityError", "registry", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
