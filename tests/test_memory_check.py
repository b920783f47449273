"""Issue 30 case 4, the memory half: a batch whose activations cannot fit is refused before any
work, by the training CLI and at workflow start (the pre-flight check), with the estimate in the
one line. Free memory is made small with monkeypatch, so the test does not depend on this
machine's RAM; the estimate itself is the profile's (models.activations) and is recomputed here
from that function, not copied."""

from __future__ import annotations

import pytest
import torch

from common import settings
from common.cli import UsageError
from models.activations import activation_bytes
from tests.helpers import TINY
from training import memory_check
from training.train import main as train_main
from workflow import preflight
from workflow.machine_check import check_memory

MIB = 2**20


def test_the_estimate_is_the_profiles_and_scales_with_images(monkeypatch):
    per = activation_bytes("stylegan2", 32, **TINY)["train_saved"]
    monkeypatch.setattr(memory_check, "free_memory", lambda device: per * 10)
    cpu = torch.device("cpu")
    assert memory_check.memory_problem("stylegan2", 32, TINY, 10, cpu) is None
    why = memory_check.memory_problem("stylegan2", 32, TINY, 11, cpu)
    assert why and f"{per / MIB:.1f} MiB per image" in why and "of 10 or less" in why, why


def test_training_refuses_a_batch_that_cannot_fit_before_any_run_folder(
    dataset,
    tmp_path,
    monkeypatch,
):
    monkeypatch.setattr(memory_check, "free_memory", lambda device: 1 * MIB)
    out = tmp_path / "run"
    argv = ["--model", "stylegan2", "--data", str(dataset), "--out", str(out)]
    argv += ["--device", "cpu", "--batch", "8", "--kimg", "1"]
    argv += [f"--build={k}={v}" for k, v in TINY.items()]
    with pytest.raises(UsageError, match=r"^--batch 8: 8 images per forward need at least"):
        train_main(argv)
    assert not out.exists()


def test_preflight_names_each_model_that_cannot_fit(monkeypatch):
    cfg = settings.load(
        {
            "run": "mem",
            "device": "cpu",
            "models": {"stylegan2": {"build": TINY}, "pixelfolder": {"build": TINY}},
            "datasets": {"faces": {"source": "embedded:default", "resolution": 32}},
            "train": {"batch": 16},
        }
    )
    per = activation_bytes("stylegan2", 32, **TINY)["train_saved"]
    monkeypatch.setattr(memory_check, "free_memory", lambda device: per * 8)
    by = {i.name: i for i in check_memory(cfg)}
    assert by["stylegan2@32"].problem and "16 images per forward" in by["stylegan2@32"].detail
    assert "train.micro_batch" in by["stylegan2@32"].fix
    monkeypatch.setattr(memory_check, "free_memory", lambda device: 2**40)
    report = preflight.preflight(cfg, skip=("datasets", "weights", "disk"))
    assert report["ok"], report
