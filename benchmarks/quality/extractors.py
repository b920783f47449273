"""The registered feature extractors: which net (benchmarks/quality/nets.py) computes each kind
of feature, and how their results are named. Adding one = one `register_extractor` call here
plus its net in `nets.NETS`."""

from .registry import MANIFOLD, POOL, Extractor, register_extractor

register_extractor(
    Extractor(
        "inception",
        nets={POOL.name: "inception", MANIFOLD.name: "vgg16"},
        label="Inception-v3 (NVIDIA TorchScript) for FID/KID, NVIDIA VGG16 for P/R/D/C",
        comparable=True,
    )
)
register_extractor(
    Extractor(
        "proxy",
        nets={POOL.name: "proxy", MANIFOLD.name: "proxy"},
        label="PROXY random conv net - NOT Inception/VGG16, not comparable to published numbers",
        comparable=False,
        suffix="_proxy",
    )
)
