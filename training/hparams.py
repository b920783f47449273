"""The effective hyper-parameters of a run: HParams defaults ⊕ the model's recipe ⊕ a named
preset (optional) ⊕ the user's.

`common.settings.HParams` is the one home of the defaults (the StyleGAN2 recipe); a model
registers only what its official training changes (`models.recipe`), so a newly registered
model trains with the defaults. A preset (training.presets) is for settings the official
recipes were not tuned for; `off_recipe` names what it and the user changed."""

from __future__ import annotations

from common import settings
from common.cli import UsageError

from .errors import TrainingError
from .presets import preset_hparams


def resolve_hparams(
    model: str,
    overrides: dict | None = None,
    where: str = "--hparam",
    *,
    preset: str | None = None,
    resolution: int | None = None,
    batch: int | None = None,
) -> settings.HParams:
    """The hyper-parameters `model` trains with, typed (the loss, the optimisers and the EMA read
    `hp.r1_gamma`, never a string key): HParams defaults ⊕ the model's recipe ⊕ the named
    `preset` at this resolution and batch (training.presets) ⊕ `overrides`. An unknown key or a
    value out of its range is a one-line TrainingError naming `where` the overrides came from."""
    from models import available, recipe

    if model not in available():
        raise TrainingError(f"unknown model {model!r}; available: {', '.join(available())}")
    if preset is not None and (resolution is None or batch is None):
        raise ValueError("a preset needs the resolution and the global batch")
    hp = settings.defaults(settings.HParams)
    layers = [(f"models.recipe({model!r})", recipe(model))]
    if preset is not None:
        layers.append((f"preset {preset!r}", preset_hparams(preset, resolution, batch)))
    for source, extra in (*layers, (where, overrides or {})):
        unknown = sorted(set(extra) - set(hp))
        if unknown:
            raise TrainingError(
                f"{source}: unknown hyper-parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(hp))}"
            )
        hp.update(extra)
    try:  # the merged values against HParams' ranges (lr > 0, 0 <= mixing <= 1, finite, ...)
        return settings.validate(hp, settings.HParams, where=where)
    except UsageError as exc:
        raise TrainingError(str(exc)) from None


def off_recipe(model: str, hp: settings.HParams) -> dict:
    """{key: {"official": value, "used": value}} for every hyper-parameter `hp` sets away from
    the model's official recipe (HParams defaults ⊕ its registered recipe): what run.json
    records and the report's run box shows, so a preset or an override is never silent."""
    official = settings.as_dict(resolve_hparams(model))
    used = settings.as_dict(hp)
    return {k: {"official": official[k], "used": v} for k, v in used.items() if official[k] != v}
