"""The training fast path taken from the profiler's speed-variant grid (`train.speed_variant:
auto`), or the one the `train:` section sets (`fixed`, the default).

Why the grid decides: it times each variant against eager fp32 in one job, with a speed-up
interval and an output-error bound (benchmarks/profiling/speed_variants.py), on the device the
run trains on. A variant it judges `fast and faithful` there is one the loop may take; of those,
the one with the largest speed-up. What the grid times is an eval forward of the full-width
model, not a training step: its gain on a step is not measured here, so the record names the
grid row (speed-up and interval) it came from and the reader can weigh it.

Where nothing qualifies (every variant `no gain`, `inconclusive`, skipped or beyond its bound,
or the grid timed another device) the run trains in eager fp32 and says why. A resumed run
keeps the choice its checkpoint recorded, whatever the grid says now: exact resume.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from common import settings
from common.io import sha256_file
from common.provenance import device_info, device_label

from .errors import TrainingError

EAGER = "eager"
FAITHFUL = "fast and faithful"  # the grid's verdict (benchmarks.profiling.speed_variants)
# The grid's variants that have a training counterpart, as `train:` fields. CUDA graphs replay
# one fixed forward, so a training step (new graphs every pass) has none.
TRAIN_FIELDS = {
    "channels_last": {"channels_last": True},
    "compile": {"compile": "inductor"},
    "bf16": {"precision": "bf16"},
    "fp16": {"precision": "fp16"},
    "tf32": {"tf32": True},
}
assert set(TRAIN_FIELDS) <= set(settings.SPEED_VARIANTS), TRAIN_FIELDS
_CHOSEN_BY_GRID = sorted({k for fields in TRAIN_FIELDS.values() for k in fields})


def conflicts(cfg: settings.Train) -> str | None:
    """Why `auto` cannot run with this section (a fast-path field set by hand), else None."""
    if cfg.speed_variant != "auto":
        return None
    default = settings.Train()
    set_by_hand = [k for k in _CHOSEN_BY_GRID if getattr(cfg, k) != getattr(default, k)]
    if not set_by_hand:
        return None
    return (
        f"train.speed_variant auto picks {', '.join(_CHOSEN_BY_GRID)} itself, but "
        f"{', '.join(f'{k}={getattr(cfg, k)}' for k in set_by_hand)} is set; unset it, or use "
        "speed_variant fixed"
    )


def read_grid(path) -> dict:
    """The `variants` section of a profile JSON; one-line TrainingErrors for a missing file, a
    file that is not a profile, and a profile without a grid."""
    path = Path(path)
    try:
        profile = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainingError(
            f"--speed-grid {str(path)!r} does not exist; give the profile JSON of this model at "
            "profile.variants_at (python -m benchmarks.profiling ... --out FILE)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"--speed-grid {str(path)!r} is not readable JSON ({exc})") from None
    section = profile.get("variants") if isinstance(profile, dict) else None
    if not isinstance(section, dict) or not isinstance(section.get("rows"), list):
        raise TrainingError(
            f"--speed-grid {str(path)!r} has no speed-variant grid; profile the model at "
            "profile.variants_at with profile.variants set"
        )
    return {"model": profile.get("model"), **section}


def pick(path, model: str, device) -> dict:
    """The fastest `fast and faithful` variant with a training counterpart in the grid at
    `path`, for `model` on `device` (a torch.device): its record for run.json."""
    grid = read_grid(path)
    if grid["model"] != model:
        raise TrainingError(
            f"--speed-grid {str(path)!r} is the profile of {grid['model']}, not of {model}"
        )
    mine, theirs = device_info(device), grid.get("device_info") or {}
    here, there = device_label(mine), device_label(theirs)
    record = {
        "mode": "auto",
        "variant": EAGER,
        "grid": str(path),
        "grid_sha256": sha256_file(path),
        "grid_device": there,
        "grid_at": f"{grid.get('resolution')} px, batch {grid.get('batch')}",
    }
    if _kind(mine) != _kind(theirs):  # threads may differ: a speed-up ratio carries over
        return {**record, "why": f"the grid timed {there}; this run trains on {here}"}
    faithful = [
        r for r in grid["rows"] if r.get("verdict") == FAITHFUL and r.get("variant") in TRAIN_FIELDS
    ]
    if not faithful:
        seen = "; ".join(f"{r.get('variant')}: {r.get('verdict')}" for r in grid["rows"][1:])
        return {**record, "why": f"no variant is fast and faithful here ({seen or 'none timed'})"}
    best = max(faithful, key=lambda r: (r["speedup"], (r.get("speedup_ci95") or [0])[0]))
    return {
        **record,
        "variant": best["variant"],
        "speedup": best["speedup"],
        "speedup_ci95": best.get("speedup_ci95"),
        "why": f"the fastest of {len(faithful)} fast and faithful variant(s) in the grid",
    }


def _kind(info: dict) -> tuple:
    """The device type and its name (a GPU model, a CPU model string): what a grid's verdicts
    are about. Thread counts differ between a timed profile job and a training job."""
    return str(info.get("device", "")).split(":")[0], info.get("device_name")


def resolve(
    cfg: settings.Train, grid, model: str, device, state: dict | None
) -> tuple[settings.Train, dict]:
    """(the section the run trains with, what decided it, for run.json `numerics`).

    `fixed`: the section as given. `auto`: a resumed checkpoint's recorded choice, else `pick`
    from the grid at `grid`; the chosen variant's `train:` fields replace the defaults."""
    if cfg.speed_variant != "auto":
        return cfg, {"mode": "fixed"}
    if problem := conflicts(cfg):
        raise TrainingError(problem)
    saved = ((state or {}).get("meta") or {}).get("numerics", {}).get("speed_variant") or {}
    if saved.get("mode") == "auto":
        choice = {**saved, "kept_from": "the resumed checkpoint"}
    elif grid is None:
        raise TrainingError(
            "train.speed_variant auto needs --speed-grid PATH: the model's profile JSON at "
            "profile.variants_at (the workflow passes it)"
        )
    else:
        choice = pick(grid, model, device)
    return dataclasses.replace(cfg, **TRAIN_FIELDS.get(choice["variant"], {})), choice


def summary(choice: dict | None) -> str | None:
    """One line for the report's run box and the training log; None for a fixed section."""
    if not choice or choice.get("mode") != "auto":
        return None
    if choice["variant"] == EAGER:
        return f"speed variant auto: eager fp32 ({choice.get('why')})"
    lo, hi = choice.get("speedup_ci95") or (None, None)
    ci = f" [{lo:.2f}–{hi:.2f}]" if lo is not None else ""
    return (
        f"speed variant auto: {choice['variant']}, {choice['speedup']:.2f}×{ci} over eager in "
        f"the grid ({choice.get('grid_at')}, {choice.get('grid_device')})"
    )
