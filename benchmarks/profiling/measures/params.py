"""Parameters: total, mapping/synthesis split and per top-level module (buffers excluded)."""

from .. import counting
from ..registry import Column, register_measure


@register_measure(
    "params",
    label="Parameters",
    unit="",
    lower_is_better=True,
    protocol="trainable parameters of the generator as built (buffers excluded), mapping network "
    "included; exact count",
    keys=["params", "params_mapping", "params_synthesis", "params_by_module"],
    columns=[
        Column("params", "Params", fmt="int", variant=True),
        # millions to the paper's 2 decimals: the unit Table 1 and B print
        Column("params_M", "Params", "M", key="params", scale=1e-6, fmt="fixed2", plot=True),
    ],
)
def params(ctx):
    return counting.count_params(ctx.generator())
