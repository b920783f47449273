"""workflow.slurm_check without a cluster: the executor plugin is part of the environment, sinfo
and the rules' requests are read as the plugin submits them, a request no node can hold is one
line naming the rule, the request and the nodes, and the watch reports a long wait once per
reason and a failed job with its Slurm log. (The real one-node cluster runs in test_slurm.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from workflow import slurm_check

ROOT = Path(__file__).resolve().parents[1]


def test_the_executor_plugin_is_part_of_the_environment():
    """The README's command needs the plugin; requirements.txt pins it (environment.yml follows,
    tests/test_environment.py)."""
    pins = (ROOT / "requirements.txt").read_text().split()
    assert any(p.startswith("snakemake-executor-plugin-slurm==") for p in pins)


SINFO = "cpu*|c1|4|8000|(null)|infinite\ngpu|g1|8|64000|gpu:a100:2(S:0-1),mps:100|2-00:00:00\n"


def test_sinfo_and_requests_are_read_as_the_plugin_submits_them():
    parts, default = slurm_check.parse_sinfo(SINFO)
    assert default == "cpu" and parts["gpu"][0] == slurm_check.Node("g1", 8, 64000, 2, 2880)
    assert slurm_check.parse_minutes("1:30:00") == 90 and slurm_check.parse_minutes("45") == 45
    req = slurm_check.request_of("t", {"cpus_per_gpu": 3, "gres": "gpu:2", "mem_mb_per_cpu": 10}, 1)
    assert (req.cpus, req.mem_mb, req.gpus, req.partitions) == (6, 60, 2, ())
    assert slurm_check.request_of("q", {"runtime": "<TBD>"}, 4).cpus == 4


@pytest.mark.parametrize(
    "resources,words",
    [
        ({"cpus_per_task": 5}, ["rule 'r' asks for 5 CPUs", "partition 'cpu'", "largest: 4 CPUs"]),
        ({"slurm_partition": "gpu", "gres": "gpu:4"}, ["4 GPUs", "largest: 8 CPUs, 64000 MB, 2"]),
        ({"slurm_partition": "gpu", "runtime": 3000}, ["3000 min", "time limit 2880 min"]),
        ({"slurm_partition": "big"}, ["partition 'big'", "does not have (partitions: cpu, gpu)"]),
        ({"gres": "gpu:1", "gpu": 1}, ["its GPUs twice (gres gpu:1 and gpu=1)"]),
    ],
)
def test_a_request_no_node_can_hold_is_one_line_naming_rule_request_and_node(resources, words):
    parts, default = slurm_check.parse_sinfo(SINFO)
    lines = slurm_check.problems([slurm_check.request_of("r", resources, 1)] * 2, parts, default)
    assert len(lines) == 1 and all(w in lines[0] for w in words), lines
    fitting = slurm_check.request_of("r", {"slurm_partition": "gpu,cpu", "gres": "gpu:2"}, 8)
    assert slurm_check.problems([fitting], parts, default) == []


def test_the_watch_reports_a_long_wait_once_per_reason_and_a_failure_with_its_log(tmp_path):
    """The squeue rows of one run, polled three times on a fake clock (no cluster): a job of
    another working directory is ignored, a pending job is reported only past the stated wait
    and then only when its reason changes, a failed job once, with its Slurm log's error line."""
    log = tmp_path / ".snakemake/slurm_logs/rule_train/faces_cips/7.log"
    log.parent.mkdir(parents=True)
    log.write_text("Building DAG of jobs...\nsrun: error: Task launch for StepId=7.0 failed\n")
    polls = iter(
        [
            "5|PENDING|Priority|rule_quality_wildcards_faces_cips|{w}\n9|PENDING|x|rule_a|/else",
            "5|PENDING|Priority|rule_quality_wildcards_faces_cips|{w}\n7|FAILED|NonZeroExitCode|"
            "rule_train_wildcards_faces_cips|{w}",
            "5|PENDING|ReqNodeNotAvail, UnavailableNodes:n1|rule_quality_wildcards_faces_cips|{w}"
            "\n7|FAILED|NonZeroExitCode|rule_train_wildcards_faces_cips|{w}",
        ]
    )
    now = [0.0]

    def run(argv, **_):
        if argv[0] == "scontrol":  # StdOut unknown: the plugin's default place is searched
            return subprocess.CompletedProcess(argv, 1, "", "")
        return subprocess.CompletedProcess(argv, 0, next(polls).format(w=tmp_path), "")

    watch = slurm_check.Watch("run-id", str(tmp_path), 60, run=run, clock=lambda: now[0])
    assert watch.poll() == []
    now[0] = 61.0
    assert watch.poll() == [
        "slurm: job 5 (quality faces_cips) pending for 1.0 min: Priority",
        f"slurm: job 7 (train faces_cips) FAILED; Slurm log {log}: srun: error: Task launch for "
        "StepId=7.0 failed",
    ]
    assert watch.poll() == [
        "slurm: job 5 (quality faces_cips) pending for 1.0 min: ReqNodeNotAvail, "
        "UnavailableNodes:n1 (sinfo -R says why nodes are down)"
    ]
