"""Checkpoints: this code reads format version 1 as training writes it, and refuses anything
older (another version, or a version-1 file of an older layout) in one line naming the file,
instead of guessing what the older file meant."""

from __future__ import annotations

import pytest
import torch

from training.checkpoint import (
    FORMAT_NAME,
    CheckpointError,
    check_resumable,
    load_checkpoint,
    load_generator,
    open_resume,
    save_checkpoint,
)

META = {
    "model": "cips",
    "resolution": 32,
    "overrides": {},
    "seed": 0,
    "step": 2,
    "nimg": 16,
    "hparams": {},
    "micro_batch": 4,
    "build_kwargs": {"resolution": 32},
}


def current_state() -> dict:
    """What `training_state` writes (values are placeholders: only the layout matters here)."""
    nets = {k: {} for k in ("G", "D", "G_ema", "opt_G", "opt_D")}
    return {"meta": dict(META), **nets, "loop": {"pl_mean": 0.0}, "rng": [{}], "scalers": {}}


def one_line_naming(info, path) -> str:
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_the_current_layout_is_resumable():
    check_resumable(current_state(), "x.pt")


@pytest.mark.parametrize(
    "older,what",
    [
        (lambda s: s.update(rng={"torch_cpu": torch.zeros(1)}), "per-process rng list"),
        (lambda s: s["meta"].pop("micro_batch"), "meta.micro_batch"),
        (lambda s: s.pop("scalers"), "scalers"),
    ],
)
def test_an_older_layout_is_refused_in_one_line(tmp_path, older, what):
    state = current_state()
    older(state)
    path = save_checkpoint(tmp_path / "ckpt-00000002.pt", state)
    with pytest.raises(CheckpointError, match="older layout") as info:
        open_resume(str(path), tmp_path, "cips", 32, {}, 0)
    assert what in one_line_naming(info, path)


def test_an_older_format_version_is_refused_in_one_line(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": FORMAT_NAME, "format_version": 0, **current_state()}, path)
    with pytest.raises(CheckpointError, match="format version 0") as info:
        load_checkpoint(path)
    one_line_naming(info, path)


def test_a_generator_without_build_kwargs_is_refused_in_one_line(tmp_path):
    state = current_state()
    del state["meta"]["build_kwargs"]
    path = save_checkpoint(tmp_path / "final.pt", state)
    with pytest.raises(CheckpointError, match="lacks meta") as info:
        load_generator(path)
    one_line_naming(info, path)
