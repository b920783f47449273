"""What a training step updates: G, D (same width), G_ema and their Adam optimizers."""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch

from .errors import TrainingError
from .sampler import sample_ws


class Networks(NamedTuple):
    """g_params/d_params are the trainable (not frozen) parameters, the ones optimised and
    all-reduced."""

    G: torch.nn.Module
    D: torch.nn.Module
    G_ema: torch.nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    g_params: list
    d_params: list


def variant_label(build: dict, model: str) -> str:
    """'official architecture', or 'narrow variant (...)' naming the keys that shrink it: the
    build overrides `model`'s registration declares as architecture keys."""
    from models import arch_keys

    keys = arch_keys(model)
    shrunk = {k: v for k, v in build.items() if k in keys}
    if not shrunk:
        return "official architecture"
    return "narrow variant (" + ", ".join(f"{k}={v}" for k, v in sorted(shrunk.items())) + ")"


def discriminator_kwargs(resolution: int, build: dict) -> dict:
    """D follows G's width, so a narrow variant is trained against an equally narrow critic."""
    return {"resolution": resolution, "width": build.get("width", 1.0)}


def build_networks(model, resolution, build, hp, device):
    """G, D, G_ema, and the names of parameters frozen as unreachable."""
    from models import build as build_generator
    from models import build_discriminator

    try:
        G = build_generator(model, resolution=resolution, **build).to(device).train()
        D = build_discriminator(**discriminator_kwargs(resolution, build)).to(device).train()
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"cannot build {model}@{resolution} with {build}: {exc}") from None
    if hp.mixing > 0 and not G.supports_mixing:
        raise TrainingError(f"{model} does not support style mixing; pass --hparam mixing=0")
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    return G, D, G_ema, freeze_unreachable(G, D, device)


def make_networks(model, resolution, build, hp, device) -> tuple[Networks, list[str]]:
    """Networks and Adam optimizers for `model`, plus the names of the frozen parameters."""
    G, D, G_ema, frozen = build_networks(model, resolution, build, hp, device)
    g_params = [p for p in G.parameters() if p.requires_grad]
    d_params = [p for p in D.parameters() if p.requires_grad]
    opt_G = make_optimizer(g_params, hp, hp.g_reg_interval)
    opt_D = make_optimizer(d_params, hp, hp.d_reg_interval)
    return Networks(G, D, G_ema, opt_G, opt_D, g_params, d_params), frozen


def make_optimizer(params, hp: dict, interval: int) -> torch.optim.Adam:
    """Adam with the lazy-regularisation correction c = interval / (interval + 1)."""
    c = interval / (interval + 1)
    return torch.optim.Adam(params, lr=hp.lr * c, betas=(hp.beta1**c, hp.beta2**c))


def freeze_unreachable(G, D, device) -> list[str]:
    """Freeze parameters no loss can reach (PixelFolder keeps `posfolders.0.conv_merge` for
    checkpoint compatibility). Found by one probe backward, so no model is special-cased;
    frozen tensors stay in every state dict but are neither optimised nor all-reduced."""
    ws = sample_ws(G, 2, torch.Generator().manual_seed(0), 0.0, device)
    D(G.synthesis(ws, noise_mode="random")).sum().backward()
    frozen = []
    for prefix, net in (("G", G), ("D", D)):
        for name, p in net.named_parameters():
            if p.requires_grad and p.grad is None:
                p.requires_grad_(False)
                frozen.append(f"{prefix}.{name}")
        net.zero_grad(set_to_none=True)
    return frozen
