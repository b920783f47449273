# Stage 0: the pre-flight check (workflow/preflight.py): the datasets, metric weights, GPUs and disk
# space the config needs, checked when the workflow starts executing, before any job runs; each
# missing thing is one line on stderr with its fix, and the workflow stops (exit 1). It writes
# results/<run>/preflight.json; a later invocation with the same config skips the check.
#
# Why a start-up handler and not a rule that other rules take as an input: with the check as an
# ancient() input of the first stages, Snakemake (9.x) plans only the check after a config change
# and masks the params change of every job below it (the stale-results bug of
# snakemake/snakemake#4166), so a new quality setting needed a second invocation. As a handler it
# is in no job's inputs, and each rule's own params decide what re-runs.
# Under a cluster executor the handler runs on the submitting host, which has no GPUs: the GPU
# and memory checks are then left to the executor's own resources (--skip gpus,memory).
import subprocess
from pathlib import Path


def run_preflight():
    out = L.path("preflight")
    log = Path(L.log("preflight"))
    log.parent.mkdir(parents=True, exist_ok=True)
    from common import invocation

    # the resolved config, which the pre-flight check and the report read (common.invocation)
    config_file = invocation.write_config(L.path("config"), settings.as_dict(CFG))
    cmd = [sys.executable, "-m", "workflow.preflight", str(config_file), "--if-changed",
           "--out", str(out),
           "--config-name", ", ".join(map(str, workflow.configfiles)) or "the config"]
    if not workflow.local_exec:
        cmd += ["--skip", "gpus,memory"]  # the submit host is not the machine that trains
    with open(log, "w") as stdout:
        code = subprocess.run(cmd, stdout=stdout).returncode
    if code:
        raise SystemExit(code)


onstart:
    check_cluster()  # common.smk: jobs a Slurm cluster can never run, before any sbatch
    run_preflight()
    # the command, config files and commit the report names (common/invocation.py)
    from common import invocation

    invocation.record(L.path("invocation"), sys.argv, workflow.configfiles, Path.cwd())
