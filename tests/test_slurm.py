"""Scale-out, tested on a real Slurm cluster: the README's cluster command, verbatim apart from the
edits it tells the user to make, runs every rule of a small workflow as a Slurm job on a one-node
cluster (Debian's slurmctld/slurmd/munge, tests/slurm_cluster.py) without accounting; a rule the
cluster can never hold stops the run before anything is submitted, in one line; and a training
job on a CUDA host asks Slurm for its GPUs exactly once (mock sbatch, no cluster needed).

The cluster tests skip, saying why, where no cluster can be had (not root, no apt-get). Every wait
is bounded: the daemons are stopped by PID and a workflow past its timeout is killed. The checks
of workflow.slurm_check that need no cluster are in test_slurm_check.py."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import copy_repo
from tests.slurm_cluster import Unavailable, slurm_cluster

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "workflow/profiles/slurm/profile.yaml"

README_COMMAND = (
    "snakemake --workflow-profile workflow/profiles/slurm --configfile config/paper.yaml"
)

RULES = {  # every rule kind that runs a command (`all` only collects)
    "prepare_dataset",
    "profile",
    "profile_variant",
    "train",
    "quality",
    "quality_curve",
    "stages",
    "nearest",
    "claims",
    "report",
}

WORKFLOW_TIMEOUT_S = 420

JOB_MEM_MB = 600  # per job on the test node (tests/slurm_cluster.py declares 4000 MB)

# Beyond the README's edits, only waits: job status first checked 2 s after a submission (the
# plugin's defaults suit jobs of hours; it adds 10 s to the wait after every check that finds no
# job finished, so the first check decides most of a short job's latency; MinJobAge 300 s is
# still far above it) and outputs on a local disk.
QUICK = {
    "slurm-init-seconds-before-status-checks": 2,
    "seconds-between-status-checks": 2,
    "latency-wait": 5,
}


def small_config(path: Path, run: str, device: str = "cpu", gpus: int = 1) -> Path:
    """tests/workflow/tiny.yaml cut to one model, one profiled resolution and one metric seed:
    every rule kind still runs (timed profile included), one job each: ten Slurm jobs instead
    of the whole tiny run's."""
    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    cfg["run"], cfg["device"] = run, device
    cfg["train"].update(gpus=gpus, snap_kimg=cfg["train"]["kimg"])  # snapshots: start and end
    cfg["models"] = {"stylegan2": cfg["models"]["stylegan2"]}
    cfg["profile"] = {
        "resolutions": [64],
        "latency": [{"resolution": 64, "batch_sizes": [1]}],
        "latency_warmup": 0,
        "latency_repeats": 1,
        "latency_max_time": 0.0,
        "fvcore_max_resolution": 0,
        "variants": [],  # the grid would time four more forwards series at 64 px
    }
    cfg["quality"].update(metrics=["fid"], seeds=[0], num_gen=32, num_real=64)
    path.write_text(yaml.safe_dump(cfg))
    return path


def fit_profile(repo: Path, cpus: int, mem_mb: int, gres: bool, **settings) -> dict:
    """The README's edits to the Slurm profile, as a user of a small cluster makes them: every
    job sized to fit a node (CPUs, memory, shorter times), GPUs only where the nodes have them;
    `settings` are further profile keys (the test's shorter status-check waits)."""
    path = repo / PROFILE
    profile = yaml.safe_load(path.read_text())
    for res in [profile["default-resources"], *profile["set-resources"].values()]:
        res.update(mem_mb=mem_mb, runtime=10)
        if "cpus_per_task" in res:
            res["cpus_per_task"] = cpus
        if not gres:
            res.pop("gres", None)
    profile.update(settings)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return profile


def run_bounded(argv, cwd: Path, env: dict, timeout: float, log: Path):
    """Run to the end or kill its whole session after `timeout` s; output goes to `log`, so no
    pipe held by a leftover grandchild can block. Returns (exit code, output, seconds)."""
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            pytest.fail(f"{argv[2:5]} ran past {timeout} s; log: {log.read_text()[-3000:]}")
    return code, log.read_text(), time.monotonic() - start


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm", numbered=True)
    root.chmod(0o755)  # munged wants a socket folder others can traverse
    with contextlib.ExitStack() as stack:
        try:
            c = stack.enter_context(slurm_cluster(root))
        except Unavailable as exc:
            pytest.skip(f"no Slurm cluster here: {exc}")
        yield c


@pytest.fixture(scope="module")
def repo(cluster, tmp_path_factory):
    """A copy of the project whose Slurm profile carries the README's edits for the test node."""
    repo = copy_repo(tmp_path_factory.mktemp("slurm_repo") / "repo")
    fit_profile(repo, cpus=1, mem_mb=JOB_MEM_MB, gres=False, **QUICK)
    return repo


def _snakemake(config: Path, *extra: str) -> list[str]:
    """The README's command with the run's config in place of config/paper.yaml."""
    argv = README_COMMAND.replace("config/paper.yaml", str(config)).split()
    # extra arguments (targets) go first: --configfile takes every word after it
    return [sys.executable, "-m", argv[0], *extra, *argv[1:]]


@pytest.mark.slow
def test_readme_command_runs_every_rule_as_a_slurm_job(cluster, repo, tmp_path):
    assert README_COMMAND in (ROOT / "README.md").read_text()
    # no accounting on this cluster: sacct fails, so the profile's squeue is what tracks the jobs
    assert cluster.sh("sacct", "--noheader").returncode != 0
    config = small_config(tmp_path / "slurm.yaml", run="slurm")
    code, log, seconds = run_bounded(
        _snakemake(config), repo, cluster.env, WORKFLOW_TIMEOUT_S, tmp_path / "snakemake.log"
    )
    assert code == 0, log[-4000:]
    print(f"\nworkflow under Slurm: {seconds:.0f} s")
    assert (repo / "reports" / "slurm" / "report.html").exists()

    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)
    jobs = cluster.jobs()
    for job_id in submitted:
        print(job_id, *jobs.get(job_id, ("?", "?")))
    assert len(set(submitted)) == len(submitted) == len(RULES), log[-3000:]  # one job per rule
    states = {job_id: jobs[job_id][0] for job_id in submitted}
    assert set(states.values()) == {"COMPLETED"}, states
    ran = {re.match(r"rule_(.+?)(_wildcards_.*)?$", jobs[j][1]).group(1) for j in submitted}
    assert ran == RULES


def _stopped_before_submitting(cluster, repo: Path, config: str, log: Path) -> list[str]:
    """Run the README's command; it must fail within seconds, having submitted nothing, and its
    `slurm:` lines are returned."""
    before = set(cluster.jobs())
    code, out, seconds = run_bounded(_snakemake(config), repo, cluster.env, 120, log)
    lines = [line for line in out.splitlines() if line.startswith("slurm: ")]
    print(f"\nstopped in {seconds:.1f} s:", *lines, sep="\n")
    assert code != 0 and lines, out[-3000:]
    assert "has been submitted" not in out and set(cluster.jobs()) == before
    assert "total number of cores" not in out  # `threads: workflow.cores` needs no --cores now
    assert seconds < 60
    return lines


@pytest.mark.slow
def test_jobs_the_cluster_cannot_hold_stop_the_run_in_one_line_each(cluster, tmp_path):
    """The profile as shipped (sized for the paper: 16-128 GB, 8 GPUs for training) and the
    README's command verbatim, on the small test node: nothing can run, and each rule says so."""
    repo = copy_repo(tmp_path / "repo")
    lines = _stopped_before_submitting(cluster, repo, "config/paper.yaml", tmp_path / "paper.log")
    named = {re.match(r"slurm: rule '(\w+)'", line).group(1) for line in lines}
    assert len(lines) == len(named) and named == RULES
    largest = f"largest: {cluster.cpus} CPUs, {cluster.mem_mb} MB, 0 GPUs, time limit infinite"
    train = next(line for line in lines if "'train'" in line)
    assert "asks for 32 CPUs, 128000 MB, 8 GPUs, 4320 min on partition 'gpu'" in train
    assert largest in train

    # sized for the node, but for one rule: that rule alone, in one line
    profile = fit_profile(repo, cpus=1, mem_mb=JOB_MEM_MB, gres=False)
    profile["set-resources"]["train"]["cpus_per_task"] = too_many = cluster.cpus * 16
    (repo / PROFILE).write_text(yaml.safe_dump(profile, sort_keys=False))
    config = small_config(tmp_path / "big.yaml", run="slurm_too_big")
    lines = _stopped_before_submitting(cluster, repo, str(config), tmp_path / "big.log")
    assert len(lines) == 1 and lines[0].startswith(
        f"slurm: rule 'train' asks for {too_many} CPUs, {JOB_MEM_MB} MB, 0 GPUs, 10 min on "
        f"partition 'gpu', but no node there has that ({largest})"
    ), lines


# A node that dies while launching a job's task: what srun prints then (slurmd killed during
# launch). Only the first launch of the test fails (mkdir is atomic); later ones are the real srun.
FLAKY_SRUN = """#!/bin/sh
if mkdir "{marks}/failed-once" 2>/dev/null; then
  echo "srun: error: Task launch for StepId=$SLURM_JOB_ID.0 failed on node localhost: \\
Communication connection failure" >&2
  exit 1
fi
exec {srun} "$@"
"""

LAUNCH_FAILED = (
    r"slurm: job (\d+) \(prepare_dataset faces\) FAILED; Slurm log (\S+): srun: error: Task "
    r"launch for StepId=\1\.0 failed on node localhost: Communication connection failure"
)


@pytest.mark.slow
def test_a_job_that_fails_at_launch_names_its_slurm_log_and_is_retried(cluster, repo, tmp_path):
    """Issue 27, case 7: the failure is reported naming the Slurm log and the line in it that
    says why (the rule's own log is empty: the job never started), and the profile's `retries:`
    submits it once more, so a transient launch failure does not stop the run."""
    assert yaml.safe_load((repo / PROFILE).read_text())["retries"] == 1
    bin_dir = tmp_path / "flaky"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FLAKY_SRUN.format(marks=tmp_path, srun=cluster.root / "bin/srun"))
    (bin_dir / "srun").chmod(0o755)
    env = {**cluster.env, "PATH": f"{bin_dir}:{cluster.env['PATH']}"}
    config = small_config(tmp_path / "launch.yaml", run="slurm_launch")
    target = "results/slurm_launch/data/faces.zip"
    code, log, _ = run_bounded(_snakemake(config, target), repo, env, 300, tmp_path / "s.log")
    assert code == 0 and (repo / target).exists(), log[-4000:]  # the retry ran it
    lines = [line for line in log.splitlines() if line.startswith("slurm: job ")]
    print("", *lines, sep="\n")
    assert len(lines) == 1, log[-4000:]
    found = re.fullmatch(LAUNCH_FAILED, lines[0])
    assert found, lines
    job, slurm_log = found.groups()
    assert Path(repo / slurm_log).name == f"{job}.log" and ".snakemake/slurm_logs/" in slurm_log
    assert "Task launch" in (repo / slurm_log).read_text()
    assert len(re.findall(r"has been submitted with SLURM jobid", log)) == 2


def _wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"no {what} within {timeout} s; log: {log.read_text()[-3000:]}")


@pytest.mark.slow
def test_a_job_pending_on_a_down_node_says_why_and_squeue_names_its_rule(cluster, repo, tmp_path):
    """Issue 27, cases 8 and 9: with the only node DOWN, the pending job is reported after the
    stated time (PIXBENCH_PENDING_NOTE_S, here 5 s) with the reason squeue gives for it; the
    README's squeue command shows the workflow's name and the job's rule and wildcards; once
    the node is back, the run completes."""
    readme = (ROOT / "README.md").read_text()
    squeue = re.search(r"`(squeue --me --format=\"[^`]+\")`", readme).group(1)
    env = {**cluster.env, "PIXBENCH_PENDING_NOTE_S": "5"}
    config = small_config(tmp_path / "down.yaml", run="slurm_down")
    argv = _snakemake(config, "results/slurm_down/data/faces.zip")
    log = tmp_path / "s.log"
    down = ["scontrol", "update", "NodeName=localhost", "State=DOWN", "Reason=test-maintenance"]
    assert cluster.sh(*down).returncode == 0
    proc = None
    try:
        with open(log, "w") as out:
            proc = subprocess.Popen(
                argv, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        pattern = r"slurm: job (\d+) \(prepare_dataset faces\) pending for [\d.]+ min: (.+)"
        found = _wait_for(lambda: re.search(pattern, log.read_text()), 180, "pending line", log)
        job, reason = found.groups()
        print("\n" + found.group(0))
        said = cluster.sh("squeue", "--noheader", f"--jobs={job}", "--format=%r").stdout.strip()
        assert reason.startswith(said) and said not in ("", "None"), (reason, said)
        rows = cluster.sh(*shlex.split(squeue)).stdout
        print(rows)
        row = next(r for r in rows.splitlines() if r.split()[0] == job)
        assert "pixbench_" in row and "rule_prepare_dataset_wildcards_faces" in row, rows
    finally:
        cluster.sh("scontrol", "update", "NodeName=localhost", "State=RESUME")
        if proc is not None:
            try:
                proc.wait(timeout=240)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()[-4000:]


MOCKS = {
    # sbatch records its arguments and refuses, so the run stops right after the first submission
    "sbatch": 'printf "%s\\n" "$@" > "$MOCK_DIR/sbatch.args"; echo "mock: refused" >&2; exit 1',
    "sinfo": 'echo "gpu|gpu01|64|512000|gpu:8|infinite"; echo "cpu*|cpu01|64|512000|(null)|infinite"',
    "scontrol": 'echo "MinJobAge = 300 sec"',
    "squeue": "exit 0",
    "sacct": "exit 1",
    "sacctmgr": "exit 1",
    "sshare": "exit 0",
}

CUDA_HOST = "import torch\ntorch.cuda.is_available = lambda: True\n"  # sitecustomize


def test_a_training_job_on_a_cuda_host_asks_slurm_for_its_gpus_once(tmp_path):
    """The profile's `gres: gpu:8` is the only GPU request: the workflow's own GPU_JOB resource
    (gpu_slots) must not become the plugin's `gpu` (sbatch --gpus) as well. The submit host is
    made a CUDA host (torch.cuda.is_available() true, so GPU_JOB is 1), and sbatch is a mock."""
    repo = copy_repo(tmp_path / "repo")
    fit_profile(
        repo,
        cpus=8,
        mem_mb=16000,
        gres=True,
        **{"latency-wait": 1, "slurm-init-seconds-before-status-checks": 1},
    )
    bin_dir, site = tmp_path / "bin", tmp_path / "site"
    bin_dir.mkdir()
    site.mkdir()
    for name, body in MOCKS.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(stat.S_IRWXU)
    (site / "sitecustomize.py").write_text(CUDA_HOST)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MOCK_DIR": str(bin_dir),
        "PYTHONPATH": str(site),
    }
    env.pop("SLURM_CONF", None)
    config = small_config(tmp_path / "gpu.yaml", run="gpu", device="cuda", gpus=8)
    dataset = repo / "results" / "gpu" / "data" / "faces.zip"
    dataset.parent.mkdir(parents=True)
    dataset.touch()  # prepared already, and only training may run: it is the first submission
    target = "results/gpu/train/faces/stylegan2/checkpoints/final.pt"
    argv = _snakemake(config, target, "--allowed-rules", "train")
    code, log, _ = run_bounded(argv, repo, env, 180, tmp_path / "snakemake.log")
    args = (bin_dir / "sbatch.args").read_text().splitlines()
    assert code != 0 and "mock: refused" in log, log[-3000:]
    assert "gpu_slots=8" in log  # GPU_JOB was 1: the job holds the local GPU-exclusivity resource
    gpu_args = [a for a in args if a.startswith(("--gres", "--gpus", "-G"))]
    assert gpu_args == ["--gres=gpu:8"], args
    assert "-p" in args and args[args.index("-p") + 1] == "gpu"
