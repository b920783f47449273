"""Name → builder. Adding a model = one file that decorates its class with `@register(name)`
plus one import line in `models/__init__.py`; everything else iterates over `available()`.

A generator may register its training recipe: the hyper-parameters its official code changes
from the StyleGAN2 defaults of `common.settings.HParams` (e.g. StyleGAN2's style mixing)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_GENERATORS: dict[str, Callable[..., nn.Module]] = {}
_DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {}
_RECIPES: dict[str, dict] = {}


def register(name: str, kind: str = "generator", recipe: dict | None = None):
    table = _GENERATORS if kind == "generator" else _DISCRIMINATORS

    def deco(builder):
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = builder
        builder.registry_name = name
        if kind == "generator":
            _RECIPES[name] = dict(recipe or {})
        return builder

    return deco


def resolutions(name: str) -> tuple[int, ...]:
    """The output resolutions generator `name` can be built at."""
    return tuple(_lookup(_GENERATORS, name, "model").resolutions)


def recipe(name: str) -> dict:
    """The hyper-parameters the model's official training changes from the defaults."""
    _lookup(_GENERATORS, name, "model")
    return dict(_RECIPES[name])


def available() -> list[str]:
    return sorted(_GENERATORS)


def _lookup(table, name, kind):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; available: {', '.join(sorted(table))}")
    return table[name]


def build(name: str, resolution: int = 256, compile: bool = False, **overrides) -> nn.Module:
    """Build generator `name`. Overrides (all models): width (channel multiplier on every layer),
    z_dim (latent = style size), n_mlp (mapping depth), modconv_mode; plus model-specific ones."""
    G = _lookup(_GENERATORS, name, "model")(resolution=resolution, **overrides)
    G.registry_name = name
    G.build_kwargs = {"resolution": resolution, **overrides}
    if compile:
        G.enable_compile()
    return G


def build_discriminator(resolution: int = 256, name: str = "stylegan2", **overrides) -> nn.Module:
    return _lookup(_DISCRIMINATORS, name, "discriminator")(resolution=resolution, **overrides)
