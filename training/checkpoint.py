"""Training checkpoints: one self-describing file per snapshot, written atomically, and the
resume logic (what a snapshot holds, how a run continues from one).

A checkpoint is a plain dict of tensors and plain Python values, so it loads with
`torch.load(weights_only=True)` (no pickled classes, no code execution on load). The `meta`
entry says how to rebuild the generator (`models.build(meta["model"], **meta["build_kwargs"])`),
which is all `load_generator` needs; everything else is there to resume training exactly:
weights, optimizers, step, images seen, path-length mean, the process RNG states of every rank
and (fp16) the loss scalers. This code reads format version 1 as `training_state` writes it;
any other file (another version, or an older layout) is refused in one line naming it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from common import settings
from common.cli import UsageError, first_line
from common.io import atomic_output, torch_load_failure, why_not_a_file
from common.layout import SNAPSHOTS, TrainDir

from .errors import TrainingError

log = logging.getLogger("pixbench.train")

FORMAT_NAME = "pixbench-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(UsageError):
    """A missing, unreadable or non-pixbench checkpoint; the message is one line (exit 2)."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write `state` (plus the format marker) to `path` via a same-directory temp file and
    os.replace, so a crash mid-write leaves the previous file untouched and no temp file behind."""
    path = Path(path)
    _check_plain(state, "state")
    payload = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **state}
    try:
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            torch.save(payload, f)
    except RuntimeError:  # torch's writer reports a full disk as an "enforce fail"
        free = shutil.disk_usage(path.parent).free
        need = sum(t.numel() * t.element_size() for t in _tensors(payload))
        if free >= need:
            raise
        raise OSError(
            errno.ENOSPC,
            f"no space left on {path.parent} for checkpoint {path.name} "
            f"(~{need / 1e6:.0f} MB needed, {free / 1e6:.0f} MB free)",
        ) from None
    return path


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _tensors(v)


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(obj, where: str) -> None:
    """Refuse to write what weights_only=True could not read back (e.g. a str subclass such as
    torch.__version__, a Path or a numpy array): fail at save time, not at the next load."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_plain(key, f"{where} key")
            _check_plain(value, f"{where}[{key!r}]")
    elif type(obj) in (list, tuple):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]")
    elif type(obj) not in _PLAIN and not isinstance(obj, torch.Tensor):
        raise TypeError(
            f"{where} is a {type(obj).__name__}; checkpoints hold only tensors and plain Python values"
        )


def publish_alias(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Make `dst` (e.g. the final checkpoint) an atomic hard link to `src`, copying if links fail."""
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a pixbench checkpoint (weights_only=True); CheckpointError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} {why_not_a_file(path)}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever torch.load hits in a file that is not ours
        raise CheckpointError(
            f"{str(path)!r} is not a readable pixbench checkpoint: {torch_load_failure(exc)}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{str(path)!r} is not a pixbench checkpoint (no {FORMAT_NAME!r} marker)"
        )
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {state.get('format_version')!r}; "
            f"this code reads version {FORMAT_VERSION}"
        )
    return state


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """Newest snapshot (highest step) in a run directory or in its checkpoints folder itself,
    else None (common.layout names them)."""
    directory = Path(directory)
    found = [*TrainDir(directory).snapshots(), *SNAPSHOTS.find(directory)]
    return max(found, key=lambda p: (SNAPSHOTS.step(p.name), p), default=None)


def load_generator(path, which: str = "G_ema", device="cpu"):
    """Rebuild the generator stored in checkpoint `path` → (G in eval mode, meta dict).

    `which` is "G_ema" (the one to evaluate) or "G" (the raw training weights). `meta` holds
    model, resolution, overrides, build_kwargs, kimg, step, dataset {path, sha256, ...}, variant.
    """
    from models import build  # late import: reading a checkpoint's meta should not need models

    if which not in ("G_ema", "G"):
        raise CheckpointError(f"which={which!r} is not stored in checkpoints; use 'G_ema' or 'G'")
    state = load_checkpoint(path)
    meta = state.get("meta")
    if (
        not isinstance(meta, dict)
        or not {"model", "build_kwargs"} <= meta.keys()
        or which not in state
    ):
        raise CheckpointError(f"checkpoint {str(path)!r} lacks meta or {which!r}")
    try:
        G = build(meta["model"], **meta["build_kwargs"])
        G.load_state_dict(state[which])
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"cannot rebuild {meta['model']!r} from {str(path)!r}: {first_line(exc)[:200]}"
        ) from None
    G = G.to(device).eval().requires_grad_(False)
    return G, dict(meta)


# --------------------------------------------------------------------------------- resume


def rng_states() -> dict:
    """Process RNG states as plain tensors/lists (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            *map(float, np_state[2:]),
        ],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def restore_rng_states(s: dict) -> None:
    torch.set_rng_state(s["torch_cpu"])
    if (
        s["torch_cuda"]
        and torch.cuda.is_available()
        and len(s["torch_cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(s["torch_cuda"])
    name, keys, pos, has_gauss, cached = s["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), cached))
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))


def find_resume(resume, out: Path) -> Path | None:
    """`--resume`: None/'none' → fresh; 'auto' → newest snapshot in `out` (else fresh); a
    directory → its newest snapshot; a file → itself."""
    if resume in (None, "", "none"):
        return None
    if resume == "auto":
        path = latest_checkpoint(out)
        if path is None:
            log.info("--resume auto: no checkpoint in %s, starting fresh", out)
        return path
    path = Path(resume)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise CheckpointError(f"--resume {str(resume)!r}: no checkpoint in that directory")
        return found
    if not path.is_file():
        raise CheckpointError(f"--resume {str(resume)!r}: the checkpoint {why_not_a_file(path)}")
    return path


class Resume(NamedTuple):
    """Where a run starts: the checkpoint (or None) and the build overrides and seed it fixes."""

    path: Path | None
    state: dict | None
    build: dict
    seed: int


def open_resume(resume, out: Path, model: str, resolution: int, build: dict, seed: int) -> Resume:
    """Load the checkpoint `resume` names and check it is this run's; a resumed run takes its
    build overrides and seed from the checkpoint (so they need not be repeated)."""
    path = find_resume(resume, out)
    if path is None:
        return Resume(None, None, build, seed)
    state = load_checkpoint(path)
    check_resumable(state, path)
    state[SOURCE] = str(path)  # for restore_training_state's message; never saved again
    old = state["meta"]
    if (old["model"], old["resolution"]) != (model, resolution):
        raise TrainingError(
            f"checkpoint {str(path)!r} is {old['model']}@{old['resolution']}, "
            f"not {model}@{resolution}"
        )
    if build and build != old["overrides"]:
        raise TrainingError(f"checkpoint was built with {old['overrides']}, not {build}")
    return Resume(path, state, dict(old["overrides"]), int(old["seed"]))


RESUME_ENTRIES = ("G", "D", "G_ema", "opt_G", "opt_D", "loop", "rng", "scalers")
SOURCE = "_resumed_from"  # the file a resumed state was read from (open_resume)
RESUME_META = ("model", "resolution", "overrides", "seed", "step", "nimg", "hparams", "micro_batch")


def check_resumable(state: dict, path) -> None:
    """Refuse, in one line naming the file, a checkpoint without everything `training_state`
    writes (one written before per-process RNG states, micro-batches and loss scalers were
    saved): resuming it would silently change the run's maths."""
    meta = state.get("meta") if isinstance(state.get("meta"), dict) else {}
    missing = [k for k in RESUME_ENTRIES if k not in state]
    missing += [f"meta.{k}" for k in RESUME_META if k not in meta]
    if "rng" in state and not isinstance(state["rng"], list):
        missing.append("per-process rng list")
    if missing:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has an older layout (no {', '.join(missing)}); "
            "this code cannot resume it: start a fresh run"
        )


def training_state(
    meta: dict, nets, step: int, nimg: int, pl_mean, rngs: list, scalers: dict | None = None
) -> dict:
    """Everything a resumed run needs to continue bit-exactly (see restore_training_state):
    `rngs` holds every rank's process RNG states (rank order), `scalers` the fp16 GradScalers."""
    return {
        "meta": {**meta, "step": step, "nimg": nimg, "kimg": nimg / 1000, "time": time.time()},
        "G": nets.G.state_dict(),
        "D": nets.D.state_dict(),
        "G_ema": nets.G_ema.state_dict(),
        "opt_G": nets.opt_G.state_dict(),
        "opt_D": nets.opt_D.state_dict(),
        "loop": {"pl_mean": float(pl_mean)},
        "rng": list(rngs),
        "scalers": dict(scalers or {}),
    }


def restore_training_state(nets, state: dict, hp: dict, d) -> tuple[int, int, float]:
    """Load weights and optimizers into `nets` and this rank's process RNG states → (step,
    images seen, path-length mean).

    Rank r takes the checkpoint's rank-r RNG states. On a different number of processes there
    is no such mapping: the states are left as seeded from the run's seed, with a warning. That
    fallback changes no training draw (they are keyed by (seed, step, micro-batch), see
    training.sampler), so the run goes on with the same maths if the micro-batch is unchanged.
    """
    for key in ("G", "D", "G_ema", "opt_G", "opt_D"):
        try:
            getattr(nets, key).load_state_dict(state[key])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            # tensors of other shapes or names than the model these overrides build: the file
            # is not this run's, like a checkpoint quality/stages/nearest cannot rebuild
            where = state.get(SOURCE, "the checkpoint")
            said = "; ".join(line.strip() for line in str(exc).splitlines()[:2] if line.strip())
            raise CheckpointError(
                f"cannot resume from {where!r}: its {key} does not fit the "
                f"{state['meta']['model']!r} built with {state['meta']['overrides']} "
                f"({(said or first_line(exc))[:240]}); resume a checkpoint of this run or start fresh"
            ) from None
    rngs = state["rng"]
    if len(rngs) == d.world_size:
        restore_rng_states(rngs[d.rank])
    elif d.is_main:
        log.warning(
            "the checkpoint holds the RNG states of %d process(es), this run has %d: "
            "they start from the seed instead",
            len(rngs),
            d.world_size,
        )
    if state["meta"]["hparams"] != settings.as_dict(hp):
        log.warning("hyper-parameters differ from the checkpoint's %s", state["meta"]["hparams"])
    meta = state["meta"]
    return int(meta["step"]), int(meta["nimg"]), float(state["loop"]["pl_mean"])


def checkpoint_micro_batch(meta: dict) -> int:
    """The micro-batch a checkpoint's run used (a resumed run keeps it, see check_resumable)."""
    return int(meta["micro_batch"])


def remove_stale_temps(run_dir: Path) -> list[Path]:
    """Delete temp files a killed checkpoint write left in checkpoints/ (atomic_output names
    them `.NAME.*`; a reader never picks them: only snapshot names carry a step)."""
    stale = sorted(TrainDir(run_dir).checkpoints.glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
        log.info("removed %s (left by an interrupted checkpoint write)", path)
    return stale


def prune_snapshots(run_dir: Path, keep: int | None) -> None:
    """Delete all but the newest `keep` snapshots (None keeps them all)."""
    for old in TrainDir(run_dir).snapshots()[: -keep if keep else 0]:
        old.unlink()
