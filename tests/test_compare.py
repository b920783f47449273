"""Comparing runs (reports.compare) on two real miniature runs that differ in one setting
(quality.num_gen), made once for the module: the first with the workflow's own targets, the
second through the workflow's `compare` rule; the CI gate on a re-run within noise (passes) and
on tampered copies (fails); a copied results folder re-runs what a changed setting affects. The
verdict rules on hand-made numbers are in test_compare_rules.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.cli import run
from reports import compare
from reports import compare_rules as V
from reports.collect import load_results
from reports.runs import config_sha256, run_device
from tests.helpers import compare_gate, copy_repo

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
METRICS = "metrics/faces_stylegan2.json"
PROFILE = "profile/stylegan2_64.json"


# --------------------------------------------------------------------------- two real runs
def _config(num_gen: int) -> dict:
    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    cfg["run"] = "cur"
    cfg["models"] = {"stylegan2": cfg["models"]["stylegan2"]}
    cfg["train"].update(kimg=0.016, snap_kimg=None)
    cfg["profile"] = {
        "resolutions": [64],
        "latency": [{"resolution": 64, "batch_sizes": [1]}],
        "latency_repeats": 2,
        "variants": [],  # no speed-variant grid: nothing here compares one
    }
    cfg["quality"].update(metrics=["fid", "pr"], num_gen=num_gen, num_real=64, seeds=[0, 1])
    return cfg


def _snakemake(repo: Path, num_gen: int, *targets: str) -> None:
    (repo / "cfg.yaml").write_text(yaml.safe_dump(_config(num_gen)))
    cmd = [*SNAKEMAKE, *targets, "--cores", "2", "--configfile", "cfg.yaml"]
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """results/base (num_gen 32), then results/cur re-evaluated with num_gen 48 and compared
    with base by the workflow's compare rule (only quality and compare re-run)."""
    repo = copy_repo(tmp_path_factory.mktemp("compare") / "repo")
    _snakemake(repo, 32, f"results/cur/{METRICS}", f"results/cur/{PROFILE}")
    _set_timing_valid(repo / "results/cur" / PROFILE, True)
    shutil.copytree(repo / "results/cur", repo / "results/base")
    _snakemake(repo, 48, "reports/cur/compare_base/compare.html")
    return repo


def _set_timing_valid(path: Path, valid: bool) -> None:
    """Whether a timed row is a result depends on the machine it ran on (its load, its thread
    count; docs/roofline.md), which these tests are not about: the fixture's rows are declared
    valid, and one test declares a row invalid on purpose."""
    doc = json.loads(path.read_text())
    for row in doc["latency"]["by_batch"].values():
        row.update(valid=valid, invalid_reason=None if valid else "roof moved 40 % (test)")
        row.update(noisy=False, noisy_reason=None)  # and quiet: load is tested on its own
        row.setdefault("load", {})["cpu_busy_other"] = 0.0
    path.write_text(json.dumps(doc))


def _copy(src: Path, dst: Path, edit=None, path: str = METRICS) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("train", "cache", "data"))
    if edit:
        doc = json.loads((dst / path).read_text())
        edit(doc)
        (dst / path).write_text(json.dumps(doc))
    return dst


@pytest.mark.slow
def test_the_workflow_compare_names_the_differing_setting(runs):
    md = (runs / "reports/cur/compare_base/compare.md").read_text()
    html = (runs / "reports/cur/compare_base/compare.html").read_text()
    assert "quality[faces/stylegan2].num_gen |         32 |        48" in md.replace("  ", "  ")
    assert "not comparable: num_gen differs" in md and "table" in html
    assert "identical" in md.split("### Params")[1].split("### Quality")[0]
    a, b = load_results(runs / "results/base"), load_results(runs / "results/cur")
    result = compare.compare(a, b)
    assert {r["verdict"] for r in result["exact"]} == {V.IDENTICAL}
    assert {r["verdict"] for r in result["quality"]} == {"not comparable: num_gen differs"}
    assert [r["verdict"] for r in result["latency"]] == [V.IDENTICAL]  # profiles not re-run
    assert run_device(a) == run_device(b) and config_sha256(a) != config_sha256(b)
    assert compare_gate(runs / "results/base", runs / "results/cur") == 0  # nothing judged worse


@pytest.mark.slow
def test_gate_passes_a_rerun_within_noise(runs, tmp_path):
    def wobble(doc):
        for stat in doc["metrics"]["precision_proxy"], doc["metrics"]["fd_proxy"]["clean"]:
            stat["per_seed"] = [v * 1.01 for v in stat["per_seed"]]
            stat["mean"] *= 1.01

    def slower(doc):
        doc["latency"]["by_batch"]["1"]["median_ms"] *= 1.05

    cur = _copy(runs / "results/base", tmp_path / "rerun", wobble)
    slower_doc = json.loads((cur / PROFILE).read_text())
    slower(slower_doc)
    (cur / PROFILE).write_text(json.dumps(slower_doc))
    result = compare.compare(load_results(runs / "results/base"), load_results(cur))
    assert V.NOISE in {r["verdict"] for r in result["quality"]}
    assert [r["verdict"] for r in result["latency"]] == [V.NOISE]
    assert compare_gate(runs / "results/base", cur) == 0


@pytest.mark.slow
def test_gate_fails_a_tampered_baseline(runs, tmp_path, capsys):
    def params(doc):
        doc["params"] += 1

    def fd_worse(doc):
        stat = doc["metrics"]["fd_proxy"]["clean"]
        stat["per_seed"] = [v - 100 for v in stat["per_seed"]]  # baseline far better
        stat["mean"] -= 100

    base = runs / "results/base"
    tampered = _copy(base, tmp_path / "params", params, PROFILE)
    assert compare_gate(tampered, base) == 1
    assert "params of stylegan2 @ 64 px: changed" in capsys.readouterr().out
    assert compare_gate(_copy(base, tmp_path / "fd", fd_worse), base) == 1
    assert "[clean] of faces/stylegan2: worse" in capsys.readouterr().out


@pytest.mark.slow
def test_different_devices_refuse_raw_latency_and_normalise_when_they_can(runs, tmp_path):
    def other_cpu(doc):
        doc["latency"]["device_info"]["device_name"] = "Another CPU"

    base = runs / "results/base"
    cur = _copy(base, tmp_path / "other", other_cpu, PROFILE)
    rows = compare.latency_rows(load_results(base), load_results(cur))
    assert rows[0]["verdict"] == "not comparable: different devices"
    b2 = _copy(base, tmp_path / "b2")
    c2 = _copy(cur, tmp_path / "c2")
    for folder in (b2, c2):  # a second model timed in each run: compare ratios instead
        twin = json.loads((folder / PROFILE).read_text())
        twin["model"] = "cips"
        (folder / "profile/cips_64.json").write_text(json.dumps(twin))
    rows = compare.latency_rows(load_results(b2), load_results(c2))
    assert rows[0]["verdict"] == "not comparable: different devices"  # the raw row says why
    assert rows[1]["what"] == "latency ÷ stylegan2" and rows[1]["verdict"] == V.IDENTICAL


@pytest.mark.slow
def test_an_invalid_timing_is_not_compared(runs, tmp_path):
    base = runs / "results/base"
    cur = _copy(base, tmp_path / "invalid")
    _set_timing_valid(cur / PROFILE, False)
    rows = compare.latency_rows(load_results(base), load_results(cur))
    assert [r["verdict"] for r in rows] == ["not comparable: invalid timing"]
    assert not V.fails_gate(rows[0]["verdict"])


def test_a_folder_that_is_not_a_run_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run(compare.main, [str(tmp_path / "empty"), str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a pixbench results folder" in err
    assert run(compare.main, [str(tmp_path / "nope"), str(tmp_path)]) == 2


# --------------------------------------------------------------------------- stale results
def _plan(repo: Path, num_gen: int, run_name: str) -> set[str]:
    """The rules a dry run plans for the compare targets of run `run_name` with `num_gen`."""
    cfg = _config(num_gen)
    cfg["run"] = run_name
    (repo / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"results/{run_name}/{METRICS}", f"results/{run_name}/{PROFILE}"]
    cmd = [*SNAKEMAKE, "-n", *targets, "--cores", "2", "--configfile", "cfg.yaml"]
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    if "Nothing to be done" in out.stdout + out.stderr:
        return set()
    stats = out.stdout.split("Job stats:")[1].split("total")[0]
    return {line.split()[0] for line in stats.splitlines()[3:] if line.strip()}


@pytest.mark.slow
def test_a_copied_results_folder_re_runs_what_a_changed_setting_affects(runs, tmp_path):
    """Issue 27 cases 5-6: a results folder copied into a new clone (no `.snakemake/`) with
    `quality.num_gen` changed planned "Nothing to be done". Copied with its file times (as
    `cp -a` does), into another clone and under a new run name, the unchanged settings plan
    nothing and the changed one plans the quality job alone: no training, no profiling."""
    clone = copy_repo(tmp_path / "clone")
    assert not (clone / ".snakemake").exists()
    for name in ("cur", "gen"):
        shutil.copytree(runs / "results/cur", clone / f"results/{name}")  # copy2 keeps the times
        stamp = clone / f"results/{name}/settings/quality/faces_stylegan2.json"
        before = stamp.read_bytes(), stamp.stat().st_mtime_ns
        assert _plan(clone, 48, name) == set(), name  # what results/cur was made with
        assert _plan(clone, 64, name) == {"quality"}, name
        assert (stamp.read_bytes(), stamp.stat().st_mtime_ns) == before  # a dry run wrote nothing
