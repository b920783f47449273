"""Name → builder, and what the rest of pixbench needs to know about each model. Adding a model =
one file that decorates its class with `@register(name)` plus one import line in
`models/__init__.py`; everything else iterates over `available()` and asks here (see
models/README.md for the contract a generator meets).

A registration carries every model-specific fact that lives outside the network itself, so no
other package keeps a table keyed by model name:

- `recipe`: the hyper-parameters its official training changes from the StyleGAN2 defaults of
  `common.settings.HParams` (e.g. StyleGAN2's style mixing);
- `display_name`: how reports and claims spell it (the paper's spelling); defaults to the name;
- `arch_keys`: the build overrides, beyond the common `COMMON_ARCH_KEYS`, that change its size
  (a run that sets one trains a "narrow variant", not the official architecture).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import nn

from common.cli import UsageError

COMMON_ARCH_KEYS = ("width", "z_dim", "n_mlp")  # every generator accepts and shrinks by these


@dataclass(frozen=True)
class ModelInfo:
    """What a generator's registration declares (see `register`)."""

    name: str
    display_name: str
    arch_keys: tuple[str, ...]  # COMMON_ARCH_KEYS first, then the model's own
    recipe: Mapping = field(default_factory=lambda: MappingProxyType({}))  # read-only


_GENERATORS: dict[str, Callable[..., nn.Module]] = {}
_DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, ModelInfo] = {}


def register(
    name: str,
    kind: str = "generator",
    recipe: dict | None = None,
    display_name: str | None = None,
    arch_keys: tuple[str, ...] = (),
):
    """Class decorator adding a generator (or, with kind="discriminator", a discriminator).

    recipe: training hyper-parameters that differ from `common.settings.HParams` (default none).
    display_name: the model's name in reports and claims (default: `name`).
    arch_keys: build overrides besides width/z_dim/n_mlp that shrink the network (default none).
    """
    table = _GENERATORS if kind == "generator" else _DISCRIMINATORS
    if isinstance(arch_keys, str):  # ("rank") is a str: iterating it would register letters
        raise TypeError(f"{name}: arch_keys is a tuple of build keys, e.g. ({arch_keys!r},)")

    def deco(builder):
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = builder
        builder.registry_name = name
        if kind == "generator":
            own = tuple(k for k in arch_keys if k not in COMMON_ARCH_KEYS)
            _INFO[name] = ModelInfo(
                name,
                display_name or name,
                COMMON_ARCH_KEYS + own,
                MappingProxyType(dict(recipe or {})),
            )
        return builder

    return deco


def info(name: str) -> ModelInfo:
    """Everything generator `name`'s registration declares."""
    _lookup(_GENERATORS, name, "model")
    return _INFO.get(name) or ModelInfo(name, name, COMMON_ARCH_KEYS)  # a bare table entry


def display_name(name: str) -> str:
    """How reports and claims spell generator `name` (e.g. 'PixelFolder')."""
    return info(name).display_name


def arch_keys(name: str) -> tuple[str, ...]:
    """The build overrides that change generator `name`'s architecture (its registration's)."""
    return info(name).arch_keys


def resolutions(name: str) -> tuple[int, ...]:
    """The output resolutions generator `name` can be built at."""
    return tuple(_lookup(_GENERATORS, name, "model").resolutions)


def recipe(name: str) -> dict:
    """The hyper-parameters the model's official training changes from the defaults."""
    return dict(info(name).recipe)


def available() -> list[str]:
    return sorted(_GENERATORS)


def _lookup(table, name, kind):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; available: {', '.join(sorted(table))}")
    return table[name]


# value rules of the build overrides every generator accepts (a model's own keys: its checks)
_POSITIVE_INT = ("z_dim", "n_mlp")


class BuildError(UsageError):
    """A build override the generator does not accept, or a value it cannot mean."""


def check_build(name: str, overrides: dict) -> dict:
    """One-line BuildError for a key `name`'s constructor does not take (a typo such as
    `widht`) or a value that cannot mean anything (width ≤ 0 or not finite, z_dim < 1, ...),
    so a config fails at workflow start instead of training a silently different network."""
    builder = _lookup(_GENERATORS, name, "model")
    params = inspect.signature(builder.__init__).parameters
    accepted = [k for k in params if k not in ("self", "resolution")]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key, value in overrides.items():
        if key not in accepted and not takes_any:
            raise BuildError(
                f"build override {key!r} is not accepted by {name}; accepted: {', '.join(accepted)}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise BuildError(f"build override {key}={value} of {name} must be finite")
    width = overrides.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, int | float) or not width > 0:
        raise BuildError(f"build override width={width!r} of {name} must be a number > 0")
    _check_width_builds_channels(name, width)
    for key in _POSITIVE_INT:
        value = overrides.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BuildError(f"build override {key}={value!r} of {name} must be an integer >= 1")
    return overrides


def _check_width_builds_channels(name: str, width: float) -> None:
    """Refuse a width at which even the widest layer rounds to zero channels. Layers are scaled
    in steps of 16 channels with a floor of 16 (models.base.scale_width), so below that point
    every layer sits on the floor and the network is the same whatever the width written: a
    `1.0e-9` (a slipped exponent, most likely) would train and be reported as "width 1e-09"
    while every layer has 16 channels. Refused rather than clamped, since no single effective
    width describes the result; the floor on some layers only (the narrow high-resolution ones
    of a width-0.0625 variant) is the documented rounding and stays allowed."""
    from .base import scale_width, stylegan_channels

    widest = max(stylegan_channels(2, 1.0).values())  # 512: every generator scales from it
    if int(round(widest * width / 16)) == 0:
        raise BuildError(
            f"build override width={width:g} of {name} would give every layer 0 channels (the "
            f"widest, {widest}, rounds to 0 in steps of 16; the {scale_width(widest, width)}-"
            f"channel floor only hides it); use a width of at least {16 / widest:g}"
        )


def build(name: str, resolution: int = 256, compile: bool = False, **overrides) -> nn.Module:
    """Build generator `name`. Overrides (all models): width (channel multiplier on every layer),
    z_dim (latent = style size), n_mlp (mapping depth), modconv_mode; plus model-specific ones."""
    check_build(name, overrides)
    G = _lookup(_GENERATORS, name, "model")(resolution=resolution, **overrides)
    G.registry_name = name
    G.build_kwargs = {"resolution": resolution, **overrides}
    if compile:
        G.enable_compile()
    return G


def build_discriminator(resolution: int = 256, name: str = "stylegan2", **overrides) -> nn.Module:
    return _lookup(_DISCRIMINATORS, name, "discriminator")(resolution=resolution, **overrides)
