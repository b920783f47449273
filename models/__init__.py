"""pixbench model zoo: `from models import build, build_discriminator, available`."""

from . import cips, discriminator, inr_gan, pixelfolder, stylegan2  # noqa: F401  (register themselves)
from .official import load_official
from .registry import available, build, build_discriminator, recipe, resolutions

__all__ = ["available", "build", "build_discriminator", "load_official", "recipe", "resolutions"]
