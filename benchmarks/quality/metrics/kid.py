"""KID: clean-fid's unbiased kernel distance (cubic polynomial MMD²) over random subsets, with a
conservative 95 % interval from disjoint blocks (distances.kid_estimate)."""

from ..distances import (
    KID_CI_BLOCKS,
    KID_CI_METHOD,
    KID_CI_MIN_BLOCK,
    kid_estimate,
)
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
        "subset_rng": "numpy RandomState seeded with the evaluation seed (clean-fid's draws)",
        "ci95": {
            "method": KID_CI_METHOD,
            "blocks": KID_CI_BLOCKS,
            "min_block_images": KID_CI_MIN_BLOCK,
            "max_block_images": ctx.options.kid_subset_size,
            "note": (
                f"{KID_CI_BLOCKS} disjoint block pairs (fewer when a block would hold fewer "
                f"than {KID_CI_MIN_BLOCK} images; none below 2), each an independent unbiased "
                "MMD² estimate; value ± t(0.975, B-1)·sqrt(s_blocks²/B + s_subsets²/subsets). "
                "Conservative for the full-set value: never narrower than its own interval "
                "(as wide to first order when blocks cover both sets, wider when capped or "
                "when the distributions are equal)"
            ),
        },
    },
)
def kid(real, gen, ctx):
    o = ctx.options
    return kid_estimate(gen.array, real.array, o.kid_subsets, o.kid_subset_size, seed=ctx.seed)
