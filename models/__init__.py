"""pixbench model zoo: `from models import build, build_discriminator, available`, plus what each
generator's registration declares (`display_name`, `arch_keys`, `recipe`, `resolutions`, `info`).
A new generator: see models/README.md."""

from . import cips, discriminator, inr_gan, pixelfolder, stylegan2  # noqa: F401  (register themselves)
from .official import load_official
from .registry import (
    COMMON_ARCH_KEYS,
    BuildError,
    ModelInfo,
    arch_keys,
    available,
    build,
    build_discriminator,
    check_build,
    display_name,
    info,
    recipe,
    resolutions,
)

__all__ = [
    "COMMON_ARCH_KEYS",
    "BuildError",
    "ModelInfo",
    "arch_keys",
    "available",
    "build",
    "build_discriminator",
    "check_build",
    "display_name",
    "info",
    "load_official",
    "recipe",
    "resolutions",
]
