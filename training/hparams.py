"""The effective hyper-parameters of a run: HParams defaults ⊕ the model's recipe ⊕ the user's.

`common.settings.HParams` is the one home of the defaults (the StyleGAN2 recipe); a model
registers only what its official training changes (`models.recipe`), so a newly registered
model trains with the defaults."""

from __future__ import annotations

from common import settings
from common.cli import UsageError

from .errors import TrainingError


def resolve_hparams(model: str, overrides: dict | None = None, where: str = "--hparam") -> dict:
    """The hyper-parameters `model` trains with; an unknown key or a value out of its range is
    a one-line TrainingError naming `where` the overrides came from."""
    from models import available, recipe

    if model not in available():
        raise TrainingError(f"unknown model {model!r}; available: {', '.join(available())}")
    hp = settings.defaults(settings.HParams)
    for source, extra in ((f"models.recipe({model!r})", recipe(model)), (where, overrides or {})):
        unknown = sorted(set(extra) - set(hp))
        if unknown:
            raise TrainingError(
                f"{source}: unknown hyper-parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(hp))}"
            )
        hp.update(extra)
    try:  # the merged values against HParams' ranges (lr > 0, 0 <= mixing <= 1, finite, ...)
        settings.validate(hp, settings.HParams, where=where)
    except UsageError as exc:
        raise TrainingError(str(exc)) from None
    return hp
