"""Precision and recall exactly as NVIDIA `pr50k3_full` (Kynkäänniemi et al. 2019)."""

from ..manifold import dtype_note, precision_recall, real_radii, tensor_of
from ..registry import MANIFOLD, register_metric


@register_metric(
    "pr",
    features=MANIFOLD,
    outputs=["precision", "recall"],
    protocol_images=50000,
    lower_is_better=False,
    protocol="NVIDIA pr50k3_full: k-NN radius incl. self, a probe is inside if <= (k = card k)",
    card=lambda ctx: {
        "k": ctx.options.k,
        "rule": "radius = (k+1)-th smallest cdist incl. self, probe inside if <=",
        "dtype": dtype_note(ctx.device),
    },
    min_images=lambda o: o.k + 1,
)
def pr(real, gen, ctx):
    k, block, device = ctx.options.k, ctx.options.pr_block, ctx.device
    radii = real_radii(real, k, block, device)
    return precision_recall(tensor_of(real, device), tensor_of(gen, device), k, radii, block, block)
