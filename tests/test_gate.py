"""The CI gate (benchmarks.gate): the committed baseline covers the grid and passes on a
clean tree; a model the baseline has never seen is listed as new and passes, so registering a
model as the README says keeps the test command green; drift of a model the baseline knows
(a layer made wider) still fails, a MAC change within 0.1 % does not; `--update` says what
it wrote."""

from __future__ import annotations

import json

import pytest

import models
from benchmarks.gate import __main__ as gate_cli
from benchmarks.gate import check
from common.cli import run
from models import registry

AVAILABLE = models.available()


@pytest.fixture
def small_baseline(tmp_path):
    path = tmp_path / "baseline.json"
    check.write_baseline(path, check.measure_all(check.current_grid((64,))), (64,))
    return path


@pytest.fixture
def new_model(monkeypatch):
    """A newly registered generator (PixelFolder's builder under a name the baseline lacks)."""
    monkeypatch.setitem(registry._GENERATORS, "zz_new", registry._GENERATORS["pixelfolder"])
    return "generator/zz_new@64"


@pytest.fixture
def wider_stylegan2(monkeypatch):
    """A change to a known model: StyleGAN2's 64-px layers 16 channels wider."""
    import models.stylegan2 as sg2

    real = sg2.stylegan_channels

    def wider(*args, **kwargs):
        ch = real(*args, **kwargs)
        return {**ch, 64: ch[64] + 16}

    monkeypatch.setattr(sg2, "stylegan_channels", wider)


def test_a_new_model_is_listed_as_new_and_passes(small_baseline, new_model, capsys):
    status, drifts = check.run_check(small_baseline)
    assert status == 0
    assert [(d.key, d.status) for d in drifts] == [(new_model, check.NEW)]
    assert drifts[0].current == check.measure("generator", "zz_new", 64)["params"]
    assert run(gate_cli.main, ["--baseline", str(small_baseline)]) == 0
    out = capsys.readouterr()
    assert new_model in out.out and "new" in out.out
    assert "1 new model(s) not in the baseline yet" in out.out and "generator/zz_new" in out.out
    assert "drift" not in out.err


def test_drift_of_a_known_model_fails_beside_a_new_one(
    small_baseline, new_model, wider_stylegan2, capsys
):
    assert run(gate_cli.main, ["--baseline", str(small_baseline)]) == 1
    out = capsys.readouterr()
    table = out.out.split("new model(s)")[0]
    assert "generator/stylegan2@64" in table and "changed" in table and new_model in table
    assert "drift(s) against" in out.err and "--update" in out.err
    failing = check.failures(check.run_check(small_baseline)[1])
    assert {d.key for d in failing} == {"generator/stylegan2@64"}
    assert {"params", "macs"} <= {d.field for d in failing}


def test_a_new_entry_of_a_known_model_and_a_gone_entry_fail():
    base = {"generator/a@64": {"params": 1}, "generator/gone@64": {"params": 2}}
    current = {
        "generator/a@64": {"params": 1, "macs": 0, "macs_paper_convention": 0, "macs_fir": 0},
        "generator/a@256": {"params": 3},
        "generator/b@64": {"params": 4},
    }
    base["generator/a@64"].update(macs=0, macs_paper_convention=0, macs_fir=0)
    drifts = check.compare(base, current)
    assert {d.key: d.status for d in drifts} == {
        "generator/a@256": "new resolution of a known model",
        "generator/b@64": check.NEW,
        "generator/gone@64": "not measured any more",
    }
    assert [d.key for d in check.failures(drifts)] == ["generator/a@256", "generator/gone@64"]
    assert check.summarize(drifts) == {
        "new": ["generator/a@256", "generator/b@64"],
        "changed": [],
        "removed": ["generator/gone@64"],
    }


def test_update_says_what_it_wrote(small_baseline, new_model, wider_stylegan2, capsys):
    assert run(gate_cli.main, ["--baseline", str(small_baseline), "--update"]) == 0
    lines = capsys.readouterr().out.splitlines()
    entries = json.loads(small_baseline.read_text())["entries"]
    assert len(entries) == 6 and new_model in entries
    assert lines[0] == f"wrote 6 entries to {small_baseline}: 1 new, 1 changed, 0 removed"
    assert lines[1:] == [f"  new: {new_model}", "  changed: generator/stylegan2@64"]
    assert check.run_check(small_baseline) == (0, [])


def test_update_without_a_baseline_counts_every_entry_as_new(tmp_path, capsys):
    path = tmp_path / "fresh" / "baseline.json"
    assert run(gate_cli.main, ["--baseline", str(path), "--update"]) == 0
    n = len(json.loads(path.read_text())["entries"])
    head = capsys.readouterr().out.splitlines()[0]
    assert head == f"wrote {n} entries to {path}: {n} new, 0 changed, 0 removed"


# ------------------------------------------------------------- the committed baseline, drift


def test_check_passes_on_clean_tree():
    status, drifts = check.run_check(check.DEFAULT_BASELINE)
    assert status == 0, check.format_table(drifts)


def test_committed_baseline_covers_the_grid():
    entries = json.loads(check.DEFAULT_BASELINE.read_text())["entries"]
    for name in AVAILABLE:
        for r in check.GENERATOR_RESOLUTIONS:
            if r in models.resolutions(name):
                assert check.entry_key("generator", name, r) in entries
    assert "discriminator/stylegan2@256" in entries


def test_check_fails_when_a_layer_gets_wider(small_baseline, monkeypatch, capsys):
    import models.stylegan2 as sg2

    real = sg2.stylegan_channels

    def wider(*args, **kwargs):
        ch = real(*args, **kwargs)
        return {**ch, 64: ch[64] + 16}

    monkeypatch.setattr(sg2, "stylegan_channels", wider)
    assert run(gate_cli.main, ["--baseline", str(small_baseline)]) == 1
    out = capsys.readouterr().out
    assert "generator/stylegan2@64" in out and "params" in out and "changed" in out
    assert "pixelfolder" not in out and "cips" not in out


def test_check_reports_new_models(small_baseline, monkeypatch):
    """A model the baseline never saw is listed as new and passes (tests/test_gate.py)."""
    builder = registry._GENERATORS["pixelfolder"]
    monkeypatch.setitem(registry._GENERATORS, "zz_new_model", builder)
    status, drifts = check.run_check(small_baseline)
    assert status == 0
    assert [(d.key, d.status) for d in drifts] == [("generator/zz_new_model@64", check.NEW)]


def test_check_update_then_clean(small_baseline, monkeypatch):
    import models.stylegan2 as sg2

    real = sg2.stylegan_channels
    monkeypatch.setattr(sg2, "stylegan_channels", lambda *a, **k: {**real(*a, **k), 64: 1024})
    assert run(gate_cli.main, ["--baseline", str(small_baseline), "--update"]) == 0
    assert json.loads(small_baseline.read_text())["generator_resolutions"] == [64]
    assert check.run_check(small_baseline)[0] == 0
    assert not list(small_baseline.parent.glob(".*.tmp"))


def test_check_macs_tolerance():
    base = {
        "k": {"params": 10, "macs": 1_000_000, "macs_paper_convention": 1_000_000, "macs_fir": 0}
    }
    close = {"k": {**base["k"], "macs": 1_000_900}}
    far = {"k": {**base["k"], "macs": 1_001_100}}
    assert check.compare(base, close) == []
    assert [d.field for d in check.compare(base, far)] == ["macs"]
    assert [d.field for d in check.compare(base, {"k": {**base["k"], "params": 11}})] == ["params"]
