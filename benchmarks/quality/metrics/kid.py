"""KID: clean-fid's unbiased kernel distance (cubic polynomial MMD²) over random subsets."""

from ..distances import kernel_distance
from ..registry import POOL, Output, register_metric


@register_metric(
    "kid",
    features=POOL,
    outputs=[Output("kid", "KID", generic="kd", generic_label="kernel distance")],
    protocol_images=50000,
    lower_is_better=True,
    protocol="clean-fid KID: unbiased MMD² with kernel (x.y/d+1)^3, mean over random subsets",
    card=lambda ctx: {
        "subsets": ctx.options.kid_subsets,
        "max_subset_size": ctx.options.kid_subset_size,
        "kernel": "(x.y/d+1)^3",
        "subset_rng": "numpy seeded with the evaluation seed",
    },
)
def kid(real, gen, ctx):
    o = ctx.options
    return kernel_distance(gen.array, real.array, o.kid_subsets, o.kid_subset_size, seed=ctx.seed)
