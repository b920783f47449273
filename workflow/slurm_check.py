"""Fail fast on Slurm: before the first sbatch, compare what each job asks for with the nodes of
the partition it is sent to, and stop with one line per rule that no node can ever hold.

Why: Slurm does not say "never". A job asking for more CPUs, memory or GPUs than any node of its
partition has stays pending forever (Reason=PartitionConfig), and with EnforcePartLimits=ALL the
submission fails with the executor plugin's bare `More processors requested than permitted`,
naming neither the rule nor the setting to change. The resources come from the Slurm profile
(workflow/profiles/slurm/profile.yaml), so the line points there.

What is compared, per job (the arguments snakemake-executor-plugin-slurm 2.x gives sbatch):

* CPUs: `cpus_per_task` (else `cpus_per_gpu` x GPUs, else the rule's threads) x `tasks`;
* memory: `mem_mb`, or `mem_mb_per_cpu` x CPUs;
* GPUs: the count in `gres` (`gpu:8`, `gpu:a100:8`) or the plugin's own `gpu` resource (both at
  once is reported too: the job would ask for its GPUs twice);
* time: `runtime` (minutes) against the partition's time limit;

against `sinfo` (each node's CPUs, RealMemory, GRES; each partition's time limit; the default
partition for jobs naming none). A job fits when one node of one of its partitions holds all of
it. Partition limits that sinfo does not show per node (MaxCPUsPerNode, MaxMemPerNode, QOS) are
not read; multi-node jobs (`nodes` > 1) are not used by this workflow and are compared as one node.
The workflow calls `check` at start-up when the executor is `slurm` (workflow/rules/common.smk).

Then `watch` follows the run's jobs in squeue for the rest of the run (a daemon thread of the
submitting Snakemake), because the executor plugin is silent where a user needs a word:

* a job pending longer than PENDING_NOTE_S (env PIXBENCH_PENDING_NOTE_S) is reported with
  Slurm's reason (`squeue %r`: nodes DOWN, Resources, Priority, ...), and again when the reason
  changes; the plugin itself says nothing until the job ends;
* a job that ends failed is reported at once, naming its Slurm log and that log's error line
  (`srun: error: Task launch ... failed`): without accounting the plugin can only say "Detailed
  failure reason unavailable", and the rule log it names is empty when the job died at start.

Each line names the job by rule and wildcards, which squeue shows only in the comment column:
the plugin names every job of a run by one run id, which its status queries need.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROFILE = "workflow/profiles/slurm/profile.yaml"
SINFO = ["sinfo", "--noheader", "--Node", "--format=%P|%n|%c|%m|%G|%l"]
SINFO_TIMEOUT_S = 30


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: int
    minutes: int | None  # the partition's time limit; None: infinite


@dataclass(frozen=True)
class Request:
    rule: str
    partitions: tuple[str, ...]  # empty: the cluster's default partition
    cpus: int
    mem_mb: int | None
    gpus: int
    minutes: int | None
    gpus_twice: str = ""  # "gres gpu:8 and gpu=8" when both are set

    def describe(self) -> str:
        parts = [_count(self.cpus, "CPU")]
        if self.mem_mb is not None:
            parts.append(f"{self.mem_mb} MB")
        parts.append(_count(self.gpus, "GPU"))
        if self.minutes is not None:
            parts.append(f"{self.minutes} min")
        return ", ".join(parts)


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


class SinfoError(RuntimeError):
    """sinfo could not be run or read; the message is one line."""


def parse_minutes(text: str) -> int | None:
    """A Slurm time limit (`infinite`, `UNLIMITED`, `[D-]HH:MM:SS`, `MM:SS`, `MM`) in minutes,
    rounded up; None when there is no limit."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    days, _, clock = text.rpartition("-")
    fields = [int(f) for f in clock.split(":")]
    if len(fields) == 1:  # minutes
        seconds = fields[0] * 60
    elif len(fields) == 2:  # minutes:seconds
        seconds = fields[0] * 60 + fields[1]
    else:
        seconds = fields[0] * 3600 + fields[1] * 60 + fields[2]
    seconds += int(days or 0) * 86400
    return -(-seconds // 60)


def gres_gpus(gres: str) -> int:
    """The GPU count in a GRES string: `gpu:8`, `gpu:a100:4(S:0-1)`, `gpu:2,mps:100`, `gpu`
    (one), `(null)` (none)."""
    total = 0
    for entry in re.split(r",(?![^(]*\))", gres or ""):
        entry = re.sub(r"\(.*\)$", "", entry.strip())
        fields = entry.split(":")
        if fields[0] != "gpu":
            continue
        count = re.match(r"\d+", fields[-1]) if len(fields) > 1 else None
        total += int(count.group()) if count else 1
    return total


def parse_sinfo(text: str) -> tuple[dict[str, list[Node]], str | None]:
    """`sinfo --Node --format=%P|%n|%c|%m|%G|%l` → nodes per partition, and the default partition
    (sinfo marks it with `*`)."""
    partitions: dict[str, list[Node]] = {}
    default = None
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 6:
            raise SinfoError(f"unexpected sinfo line {line!r}")
        part, name, cpus, mem, gres, limit = (f.strip() for f in fields)
        if part.endswith("*"):
            part = default = part[:-1]
        node = Node(
            name,
            int(cpus),
            int(re.match(r"\d+", mem).group()),
            gres_gpus(gres),
            parse_minutes(limit),
        )
        partitions.setdefault(part, []).append(node)
    return partitions, default


def _int(resources: Mapping, key: str) -> int | None:
    """An integer resource, None when unset or not evaluated yet (Snakemake's `<TBD>`)."""
    value = resources.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def request_of(rule: str, resources: Mapping, threads: int) -> Request:
    """What sbatch will be asked for, the way the Slurm executor plugin builds its arguments."""
    gres = resources.get("gres") or ""
    gres_count = gres_gpus(gres) if isinstance(gres, str) else 0
    plugin_gpus = _int(resources, "gpu") or 0
    gpus = gres_count + plugin_gpus
    twice = f"gres {gres} and gpu={plugin_gpus}" if gres_count and plugin_gpus else ""
    per_task = _int(resources, "cpus_per_task")
    per_gpu = _int(resources, "cpus_per_gpu")
    if per_task is not None:
        cpus = max(1, per_task)
    elif gpus and per_gpu and per_gpu > 0:
        cpus = per_gpu * gpus
    else:
        cpus = max(1, threads)
    cpus *= _int(resources, "tasks") or 1
    per_cpu = _int(resources, "mem_mb_per_cpu")
    mem = per_cpu * cpus if per_cpu else _int(resources, "mem_mb")
    partition = resources.get("slurm_partition") or ""
    names = tuple(p for p in re.split(r"[,\s]+", str(partition)) if p)
    return Request(rule, names, cpus, mem, gpus, _int(resources, "runtime"), twice)


def fits(req: Request, node: Node) -> bool:
    return (
        req.cpus <= node.cpus
        and (req.mem_mb is None or req.mem_mb <= node.mem_mb)
        and req.gpus <= node.gpus
        and (req.minutes is None or node.minutes is None or req.minutes <= node.minutes)
    )


def _largest(nodes: list[Node]) -> str:
    limits = {n.minutes for n in nodes}
    limit = "infinite" if None in limits else f"{max(limits)} min"
    return (
        f"{_count(max(n.cpus for n in nodes), 'CPU')}, {max(n.mem_mb for n in nodes)} MB, "
        f"{_count(max(n.gpus for n in nodes), 'GPU')}, time limit {limit}"
    )


def problem(req: Request, partitions: dict[str, list[Node]], default: str | None) -> str | None:
    """One line when `req` can never run on this cluster, else None."""
    where = f"rule {req.rule!r} asks for"
    if req.gpus_twice:
        return f"slurm: {where} its GPUs twice ({req.gpus_twice}): keep one in {PROFILE}"
    names = req.partitions or ((default,) if default else ())
    if not names:
        return (
            f"slurm: {where} no partition and the cluster marks none as default: "
            f"set slurm_partition in {PROFILE}"
        )
    if not any(p in partitions for p in names):
        return (
            f"slurm: {where} partition {','.join(names)!r}, which this cluster does not have "
            f"(partitions: {', '.join(sorted(partitions))}); edit slurm_partition in {PROFILE}"
        )
    nodes = [n for p in names if p in partitions for n in partitions[p]]
    if any(fits(req, n) for n in nodes):
        return None
    return (
        f"slurm: {where} {req.describe()} on partition {','.join(names)!r}, but no node there "
        f"has that (largest: {_largest(nodes)}); lower it in {PROFILE} or pick another partition"
    )


def problems(requests: Iterable[Request], partitions, default) -> list[str]:
    """One line per rule with a job that can never run (its first such job), by rule name."""
    lines: dict[str, str] = {}
    for req in requests:
        if req.rule not in lines:
            line = problem(req, partitions, default)
            if line:
                lines[req.rule] = line
    return [lines[rule] for rule in sorted(lines)]


def read_cluster(run: Callable = subprocess.run) -> tuple[dict[str, list[Node]], str | None]:
    """The cluster's nodes per partition, from sinfo (bounded by a timeout: never hangs)."""
    try:
        out = run(SINFO, capture_output=True, text=True, timeout=SINFO_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SinfoError(f"sinfo could not run: {exc}") from None
    if out.returncode:
        detail = (out.stderr or out.stdout).strip().splitlines() or ["no output"]
        raise SinfoError(f"sinfo failed: {detail[0]}")
    partitions, default = parse_sinfo(out.stdout)
    if not partitions:
        raise SinfoError("sinfo lists no partitions")
    return partitions, default


def check(jobs: Iterable, run: Callable = subprocess.run) -> list[str]:
    """Problem lines for Snakemake jobs (anything with .rule.name, .resources, .threads); local
    jobs (rule `all`, localrules) are not submitted and are skipped."""
    try:
        partitions, default = read_cluster(run)
    except SinfoError as exc:
        return [f"slurm: cannot check the jobs against the cluster: {exc}"]
    requests = (
        request_of(job.rule.name, job.resources, job.threads)
        for job in jobs
        if not getattr(job, "is_local", False)
    )
    return problems(requests, partitions, default)


# ------------------------------------------------------------------ following the run's jobs

PENDING_NOTE_S = 300  # a job pending longer than this gets a line with Slurm's reason
FAILED_STATES = {
    "BOOT_FAIL",
    "CANCELLED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "TIMEOUT",
}
SQUEUE_JOBS = ["squeue", "--noheader", "--states=all", "--format=%i|%T|%r|%k|%Z"]


def job_label(comment: str) -> str:
    """`rule_train_wildcards_faces_stylegan2` (the plugin's comment) → `train faces_stylegan2`."""
    m = re.fullmatch(r"rule_(.+?)(?:_wildcards_(.+))?", comment.strip())
    return " ".join(p for p in m.groups() if p) if m else comment.strip() or "?"


def slurm_log(job_id: str, workdir: str, run: Callable = subprocess.run) -> str | None:
    """The job's Slurm log: its StdOut as slurmctld knows it, else the plugin's default place."""
    try:
        out = run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                  timeout=SINFO_TIMEOUT_S)  # fmt: skip
        m = re.search(r"\bStdOut=(\S+)", out.stdout or "")
        if m and "%" not in m.group(1):
            return m.group(1)
    except (OSError, subprocess.TimeoutExpired):
        pass
    found = glob.glob(
        f"{glob.escape(workdir)}/.snakemake/slurm_logs/**/{job_id}.log", recursive=True
    )
    return found[0] if found else None


_SLURM_ERROR = re.compile(r"(srun|slurmstepd|slurmd|sbatch): error\b")


def log_reason(path: str | None) -> str:
    """The line of a Slurm log that says why the job failed: Slurm's own first error line
    (`srun: error: Task launch ... failed`, `slurmstepd: error: ... DUE TO TIME LIMIT`), else the
    last line with `error` in it, else the last line; a missing or empty log says so."""
    if not path:
        return "no Slurm log found"
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines()]
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    lines = [ln for ln in lines if ln]
    slurm = [ln for ln in lines if _SLURM_ERROR.match(ln)]
    if slurm:
        return slurm[0]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["(empty)"])[-1]


@dataclass
class Watch:
    """What the run's jobs have been seen doing (one poll at a time: `poll`)."""

    name: str | None  # the plugin's run id (every job's --job-name); None: all of this user's
    workdir: str
    pending_note_s: float = PENDING_NOTE_S
    run: Callable = subprocess.run
    clock: Callable = time.monotonic
    first_pending: dict = field(default_factory=dict)  # job id → when first seen pending
    told: dict = field(default_factory=dict)  # job id → the last state/reason reported

    def poll(self) -> list[str]:
        """One squeue; the lines to print now."""
        argv = SQUEUE_JOBS + ([f"--name={self.name}"] if self.name else [f"--user={os.getuid()}"])
        try:
            out = self.run(argv, capture_output=True, text=True, timeout=SINFO_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return []  # a slow controller: the plugin's own status checks say so
        lines = []
        for row in (out.stdout or "").splitlines():
            fields = row.split("|")
            if len(fields) != 5:
                continue
            job, state, reason, comment, workdir = (f.strip() for f in fields)
            if os.path.realpath(workdir) != os.path.realpath(self.workdir):
                continue  # another workflow of this user
            lines += self._seen(job, state, reason, job_label(comment))
        return lines

    def _seen(self, job: str, state: str, reason: str, what: str) -> list[str]:
        if state == "PENDING":
            waited = self.clock() - self.first_pending.setdefault(job, self.clock())
            if waited < self.pending_note_s or self.told.get(job) == reason:
                return []
            self.told[job] = reason
            hint = " (sinfo -R says why nodes are down)" if "node" in reason.lower() else ""
            return [f"slurm: job {job} ({what}) pending for {waited / 60:.1f} min: {reason}{hint}"]
        if state in FAILED_STATES and self.told.get(job) != state:
            self.told[job] = state
            log = slurm_log(job, self.workdir, self.run)
            return [f"slurm: job {job} ({what}) {state}; Slurm log {log}: {log_reason(log)}"]
        return []


def watch(name: str | None, every_s: float, workdir: str | None = None) -> threading.Thread:
    """Follow the run's jobs (in `workdir`, default the working directory) every `every_s`
    seconds from a daemon thread, which ends with the Snakemake process."""
    note = float(os.environ.get("PIXBENCH_PENDING_NOTE_S", PENDING_NOTE_S))
    w = Watch(name, workdir or os.getcwd(), note)

    def loop():
        while True:
            time.sleep(every_s)
            for line in w.poll():
                print(line, file=sys.stderr, flush=True)

    thread = threading.Thread(target=loop, name="slurm-watch", daemon=True)
    thread.start()
    return thread
