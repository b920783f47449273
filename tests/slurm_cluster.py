"""A real one-node Slurm cluster for tests/test_slurm.py, built from Debian's packages.

Why by hand: CI containers have no systemd and no cgroups, and the test must never touch the
machine's own /etc/slurm or /etc/munge. So munged, slurmctld and slurmd are started in the
background from a temporary folder (their own key, socket, slurm.conf, state, pid and log files;
SLURM_CONF points every Slurm command at it), on free ports, and stopped by PID when the test ends,
whatever way it ends. Every wait is bounded. `Unavailable` says why a cluster cannot be had
(not root, no apt-get, install failed, daemons did not come up); the test skips with it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
PROGRAMS = [
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "srun",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
]
SBIN = ("/usr/sbin", "/sbin", "/usr/bin")
NODE = "localhost"
NODE_MEM_MB = 4000  # what slurm.conf declares (SlurmdParameters=config_overrides: not checked)
MIN_JOB_AGE_S = 300  # finished jobs stay in squeue this long (the profile's status command)
APT_TIMEOUT_S = 600
START_TIMEOUT_S = 60

SLURM_CONF = """\
ClusterName=pixbench
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
EnforcePartLimits=ALL
MinJobAge={min_job_age}
ReturnToService=2
SlurmdParameters=config_overrides
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=cpu Nodes={node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={node} MaxTime=INFINITE State=UP
"""


class Unavailable(RuntimeError):
    """No cluster here, and why (one line)."""


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None
    )


def ensure_packages() -> None:
    """Debian's Slurm and munge, installed with apt-get when missing (root only)."""
    if all(_which(p) for p in PROGRAMS):
        return
    missing = ", ".join(p for p in PROGRAMS if not _which(p))
    if os.geteuid() != 0:
        raise Unavailable(f"Slurm is not installed ({missing}) and installing it needs root")
    if not shutil.which("apt-get"):
        raise Unavailable(f"Slurm is not installed ({missing}) and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        try:
            out = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"{' '.join(cmd)} took over {APT_TIMEOUT_S} s") from None
        if out.returncode:
            tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
            raise Unavailable(f"{' '.join(cmd)} failed: {tail[0]}")
    if not all(_which(p) for p in PROGRAMS):
        raise Unavailable("Slurm still missing after apt-get install")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """The daemons of one test cluster under `root`; `env` runs Slurm commands against it."""

    def __init__(self, root: Path, cpus: int):
        self.root, self.cpus, self.mem_mb = root, cpus, NODE_MEM_MB
        conf, bin_dir = root / "slurm.conf", root / "bin"
        self.env = {
            **os.environ,
            "SLURM_CONF": str(conf),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        }
        self.procs: dict[str, subprocess.Popen] = {}

    def write_config(self) -> None:
        for sub in ("munge", "state", "spool"):
            (self.root / sub).mkdir(mode=0o755, parents=True, exist_ok=True)
        key = self.root / "munge" / "key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        conf = SLURM_CONF.format(
            host=socket.gethostname().split(".")[0],
            root=self.root,
            node=NODE,
            cpus=self.cpus,
            mem_mb=self.mem_mb,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            min_job_age=MIN_JOB_AGE_S,
        )
        (self.root / "slurm.conf").write_text(conf)
        # The jobstep plugin runs each job through an inner srun with every SLURM_* variable but
        # the job's identity removed, SLURM_CONF included: srun would then look for
        # /etc/slurm/slurm.conf. This cluster's lives here, so the jobs' srun is told where.
        srun = self.root / "bin" / "srun"
        srun.parent.mkdir(exist_ok=True)
        srun.write_text(
            f'#!/bin/sh\nSLURM_CONF={self.root}/slurm.conf exec {_which("srun")} "$@"\n'
        )
        srun.chmod(0o755)

    def _daemon(self, name: str, argv: list[str]) -> None:
        with open(self.root / f"{name}.out", "wb") as log:  # the daemon keeps its own handle
            self.procs[name] = subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start(self) -> None:
        self.write_config()
        m = self.root / "munge"
        self._daemon(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={m}/socket",
                f"--key-file={m}/key",
                f"--pid-file={m}/pid",
                f"--log-file={m}/log",
                f"--seed-file={m}/seed",
            ],
        )
        self._wait(lambda: (m / "socket").exists(), "munged socket")
        self._daemon("slurmctld", [_which("slurmctld"), "-D", "-i"])
        self._daemon("slurmd", [_which("slurmd"), "-D", "-N", NODE])
        self._wait(lambda: self.node_states() == {"idle"}, "node idle in sinfo")

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise Unavailable(f"{dead[0]} exited: {self.tail(dead[0])}")
            if ready():
                return
            time.sleep(0.5)
        raise Unavailable(f"no {what} after {START_TIMEOUT_S} s: {self.tail('slurmctld')}")

    def node_states(self) -> set[str]:
        return set(self.sh("sinfo", "--noheader", "--Node", "--format=%T").stdout.split())

    def tail(self, name: str) -> str:
        path = self.root / f"{name}.out"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return lines[-1] if lines else "no output"

    def sh(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster (never hangs: `timeout` seconds)."""
        try:
            return subprocess.run(
                argv, env=self.env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", f"{argv[0]} timed out")

    def jobs(self) -> dict[str, tuple[str, str]]:
        """Every job slurmctld still knows (MinJobAge): id → (state, comment). The executor
        plugin puts `rule_<name>[_wildcards_...]` in each job's comment."""
        out = self.sh("squeue", "--states=all", "--noheader", "--format=%i|%T|%k").stdout
        rows = (line.split("|", 2) for line in out.splitlines() if line.count("|") >= 2)
        return {i.strip(): (state.strip(), comment.strip()) for i, state, comment in rows}

    def stop(self) -> None:
        """Cancel what still runs, then end each daemon by its PID: TERM, then KILL."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.sh("scancel", "--full", f"--user={getpass.getuser()}", timeout=10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(
                s in ("RUNNING", "COMPLETING") for s, _ in self.jobs().values()
            ):
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextlib.contextmanager
def slurm_cluster(root: Path, cpus: int | None = None) -> Iterator[Cluster]:
    """A running one-node cluster with partitions `cpu` (default) and `gpu`; always stopped."""
    ensure_packages()
    cluster = Cluster(root, cpus or max(4, os.cpu_count() or 4))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
