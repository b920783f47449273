"""Density and coverage (Naeem et al. 2020) from the same features as precision/recall."""

from ..manifold import density_coverage, dtype_note, real_radii, tensor_of
from ..registry import MANIFOLD, register_metric


def _k(options) -> int:
    return options.k if options.k_dc is None else options.k_dc


@register_metric(
    "dc",
    features=MANIFOLD,
    outputs=["density", "coverage"],
    lower_is_better=False,
    protocol="Naeem et al. 2020: real k-NN radii (k = card k_dc), strict <",
    card=lambda ctx: {
        "k_dc": _k(ctx.options),
        "rule": "Naeem et al. 2020, strict <, real radii with k_dc",
        "dtype": dtype_note(ctx.device),
    },
    min_images=lambda o: _k(o) + 1,
)
def dc(real, gen, ctx):
    k, block, device = _k(ctx.options), ctx.options.pr_block, ctx.device
    radii = real_radii(real, k, block, device)
    return density_coverage(tensor_of(real, device), tensor_of(gen, device), k, radii, block, block)
