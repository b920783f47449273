"""CMMD (Jayasumana et al. 2024, "Rethinking FID"): maximum mean discrepancy between CLIP
ViT-L/14@336px image embeddings (L2-normalized) under a Gaussian RBF kernel with σ = 10, scaled
by 1000, as google-research/cmmd's distance.py defines it: the biased (V-statistic, minimum
variance) estimator of Gretton et al. 2012 Eq. 5, i.e. every one of the n² pairs in each kernel
mean, the i = j terms included. It is therefore >= 0 and biased upwards by O(1/n) at small n.

The arithmetic is ours: float64 on the metric device, in row blocks (50k x 50k kernel matrices
never exist at once); the reference uses float32 JAX and whole matrices. The three kernel means
are each ~0.99 and CMMD is 1000x their small difference, so float64 keeps ~11 significant
digits of it. The net is part of the metric's definition: CLIP with every extractor, the result
always `cmmd` (benchmarks/quality/vit_nets.py: weights, preprocessing)."""

from __future__ import annotations

import numpy as np
import torch

from ..registry import Features, Output, register_metric

SIGMA = 10.0  # RBF bandwidth of the paper and its reference code
SCALE = 1000.0  # the reference's readability factor
BLOCK_ELEMENTS = 1 << 25  # kernel entries per block (256 MiB of float64)

CLIP = Features(
    "clip",
    False,
    "CLIP ViT-L/14@336px image embeddings (768-D, L2-normalized) of images PIL-bicubic resized "
    "to 336x336 (google-research/cmmd)",
    net="clip",
)


def kernel_mean(x, y, sigma: float = SIGMA, device="cpu", block: int | None = None) -> float:
    """mean over all (i, j) of exp(-|x_i - y_j|² / (2 σ²)), in float64, `block` rows of x at a
    time; |x_i - y_j|² = |x_i|² + |y_j|² - 2 x_i.y_j as in the reference."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64, device=device)
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64, device=device)
    gamma = 1.0 / (2.0 * sigma**2)
    x_sq, y_sq = (x * x).sum(1), (y * y).sum(1)
    block = block or max(1, BLOCK_ELEMENTS // max(1, len(y)))
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, len(x), block):
        xb = x[start : start + block]
        d2 = x_sq[start : start + block, None] + y_sq[None, :] - 2.0 * (xb @ y.T)
        total += torch.exp(-gamma * d2).sum()
    return float(total) / (len(x) * len(y))


def mmd(x, y, sigma: float = SIGMA, scale: float = SCALE, device="cpu", k_xx=None, k_yy=None):
    """scale * (k_xx + k_yy - 2 k_xy), the biased MMD² estimate (kernel means as above; pass
    k_xx / k_yy when already known)."""
    k_xx = kernel_mean(x, x, sigma, device) if k_xx is None else k_xx
    k_yy = kernel_mean(y, y, sigma, device) if k_yy is None else k_yy
    return scale * (k_xx + k_yy - 2.0 * kernel_mean(x, y, sigma, device))


@register_metric(
    "cmmd",
    features=CLIP,
    outputs=[Output("cmmd", "CMMD")],
    lower_is_better=True,
    default=False,  # opt-in: its weights file cannot ship offline (see vit_nets.py)
    protocol="CMMD: 1000 x biased MMD² of CLIP ViT-L/14@336px embeddings, Gaussian RBF σ=10 "
    "(google-research/cmmd)",
    card=lambda ctx: {
        "net": "OpenAI CLIP ViT-L/14@336px (ViT-L-14-336px.pt), projected image embedding",
        "preprocessing": "centre crop, PIL bicubic to 336x336 on uint8, /255, CLIP mean/std, "
        "embedding L2-normalized",
        "kernel": f"exp(-|x-y|² / (2 σ²)), σ = {SIGMA:g}",
        "scale": SCALE,
        "estimator": "biased V-statistic (all n² pairs incl. i = j), as google-research/cmmd",
        "arithmetic": "float64, row blocks",
    },
)
def cmmd(real, gen, ctx):
    device = ctx.device
    k_xx = real.memo("cmmd_k_xx", lambda: kernel_mean(real.array, real.array, device=device))
    return mmd(real.array, gen.array, device=device, k_xx=k_xx)
