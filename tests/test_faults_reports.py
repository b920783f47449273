"""Faults end in one line at the summaries' and the workflow's entry points (benchmarks.claims,
benchmarks.gate, reports.render, workflow.config, workflow.preflight), run as `python -m ...`
like the workflow runs them: an output they cannot write, an unreadable / corrupt input or
config, or a full stdout is ONE line on stderr, a non-zero exit and nothing left behind; a
failing re-run keeps the previous outputs. Harness and inputs as in test_faults_stages.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults import PROC, check_fault, one_line, run_module

ROOT = Path(__file__).resolve().parents[1]


# (id, module, argv from (inputs, out folder), text the one line must contain)
CASES = [
    # benchmarks.claims
    (
        "claims-truncated-profile",
        "benchmarks.claims",
        lambda m, o: ["--profiles", m["truncated_json"], "--out-csv", o / "c.csv"],
        lambda m: m["truncated_json"],
    ),
    (
        "claims-binary-profile",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["junk_json"],
            "--out-csv",
            o / "c.csv",
            "--out-md",
            o / "c.md",
        ],
        lambda m: m["junk_json"],
    ),
    (
        "claims-truncated-metrics",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["profiles"],
            "--metrics",
            m["bad_metrics"],
            "--out-csv",
            o / "c.csv",
        ],
        lambda m: m["bad_metrics"] / "faces_pixelfolder.json",
    ),
    (
        "claims-csv-under-file",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["profiles"],
            "--out-csv",
            m["file"] / "sub" / "c.csv",
            "--out-md",
            o / "c.md",
        ],
        lambda m: m["file"],
    ),
    (
        "claims-md-in-proc",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["profiles"],
            "--out-csv",
            o / "c.csv",
            "--out-md",
            f"{PROC}/c.md",
        ],
        lambda m: PROC,
    ),
    # benchmarks.gate
    (
        "gate-truncated-baseline",
        "benchmarks.gate",
        lambda m, o: ["--baseline", m["truncated_json"]],
        lambda m: m["truncated_json"],
    ),
    (
        "gate-binary-baseline",
        "benchmarks.gate",
        lambda m, o: ["--baseline", m["junk_json"]],
        lambda m: m["junk_json"],
    ),
    (
        "gate-update-under-file",
        "benchmarks.gate",
        lambda m, o: ["--update", "--baseline", m["file"] / "sub" / "b.json"],
        lambda m: m["file"],
    ),
    # reports.render
    (
        "render-out-under-file",
        "reports.render",
        lambda m, o: [
            "--results",
            m["empty_results"],
            "--out",
            m["file"] / "sub",
            "--config",
            m["tiny"],
        ],
        lambda m: m["file"],
    ),
    (
        "render-out-in-proc",
        "reports.render",
        lambda m, o: ["--results", m["empty_results"], "--out", PROC, "--config", m["tiny"]],
        lambda m: PROC,
    ),
    (
        "render-truncated-result",
        "reports.render",
        lambda m, o: ["--results", m["results"], "--out", o / "report", "--config", m["tiny"]],
        lambda m: m["results"] / "metrics" / "faces_pixelfolder.json",
    ),
    (
        "render-binary-config",
        "reports.render",
        lambda m, o: ["--results", m["results"], "--out", o / "report", "--config", m["junk_yaml"]],
        lambda m: m["junk_yaml"],
    ),
    # common.settings
    (
        "settings-binary-config",
        "workflow.config",
        lambda m, o: [m["junk_yaml"]],
        lambda m: m["junk_yaml"],
    ),
    (
        "settings-config-is-a-folder",
        "workflow.config",
        lambda m, o: [m["root"]],
        lambda m: m["root"],
    ),
    # workflow.preflight
    (
        "preflight-out-under-file",
        "workflow.preflight",
        lambda m, o: [ROOT / "config" / "default.yaml", "--out", m["file"] / "sub" / "p.json"],
        lambda m: m["file"],
    ),
    (
        "preflight-out-in-proc",
        "workflow.preflight",
        lambda m, o: [ROOT / "config" / "default.yaml", "--out", f"{PROC}/p.json"],
        lambda m: PROC,
    ),
    (
        "preflight-binary-config",
        "workflow.preflight",
        lambda m, o: [m["junk_yaml"], "--out", o / "p.json"],
        lambda m: m["junk_yaml"],
    ),
    (
        "preflight-no-config",
        "workflow.preflight",
        lambda m, o: ["--out", o / "p.json"],
        lambda m: "config",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fault_is_one_line_and_leaves_nothing(case, inputs, tmp_path):
    check_fault(case, inputs, tmp_path)


def test_full_stdout_is_one_line(inputs):
    """A command whose output is stdout (workflow.config) fails in one line when stdout cannot be
    written (/dev/full), also when the text fits in the buffer and only fails at exit."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        res = run_module("workflow.config", [ROOT / "config" / "default.yaml"], stdout=full)
    line = one_line(res, "error:")
    assert "No space left on device" in line and res.returncode == 1


def test_failed_stage_keeps_previous_outputs(inputs, tmp_path):
    """A failing re-run leaves the outputs of a previous good run as they were."""
    out = tmp_path / "c.csv"
    out.write_text("previous\n")
    res = run_module(
        "benchmarks.claims", ["--profiles", inputs["truncated_json"], "--out-csv", out]
    )
    one_line(res, inputs["truncated_json"])
    assert out.read_text() == "previous\n" and sorted(os.listdir(tmp_path)) == ["c.csv"]
