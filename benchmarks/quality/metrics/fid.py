"""FID: Fréchet distance between Gaussians fitted to pool features, one value per resize mode."""

from ..distances import frechet_distance
from ..registry import POOL, Output, register_metric


@register_metric(
    "fid",
    features=POOL,
    outputs=[Output("fid", "FID", generic="fd", generic_label="Fréchet distance")],
    protocol_images=50000,
    lower_is_better=True,
    protocol="Fréchet distance of pool-feature mean/covariance (clean-fid building blocks)",
    card=lambda ctx: {
        "fd_method": "eigenvalues of F S2 F^T with S1 = F^T F (pivoted Cholesky), float64"
    },
)
def fid(real, gen, ctx):
    return frechet_distance(*gen.stats(), *real.stats())
