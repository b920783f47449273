# Shared names for every rule file: the typed config (defaults filled in, plug-in names checked
# against their registries) and the results layout.
import json
import shlex
import sys

sys.path.insert(0, workflow.basedir)  # the project's packages, whatever the working directory
from workflow.run_paths import export_pythonpath

export_pythonpath(workflow.basedir)  # ... and for every `python -m` a job or handler starts

from common import sections, settings, strict_yaml
from common.cli import UsageError, format_overrides
from common.layout import Layout, reports_root, results_root
from workflow import config as run_config

try:
    strict_yaml.check_files(workflow.configfiles)  # duplicate keys, alias bombs: with their lines
    CFG = run_config.load(config)
except UsageError as exc:  # one line, before any job is planned
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

RESULTS = results_root(CFG.run)
REPORTS = reports_root(CFG.run)
L = Layout(RESULTS)
try:  # a read-only working directory, or a file where the run's folders go: one line
    from workflow import run_paths

    run_paths.check_writable_workdir(workflow.basedir)
    run_paths.check_folders(L.pattern("logs"), REPORTS)
except UsageError as exc:
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
PY = shlex.quote(sys.executable)  # the interpreter snakemake runs under (the project's venv)
DEVICE = CFG.device
DATASETS = list(CFG.datasets)
MODELS = list(CFG.models)


def _cuda_visible():
    if DEVICE == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


# Jobs that use the accelerator claim `gpu_slots`; cap it with --resources gpu_slots=N (the default
# profile does) so they never share a device. Not `gpu`: that is the Slurm executor plugin's own
# resource (it becomes sbatch --gpus), and a job would then ask Slurm for its GPUs twice.
GPU_JOB = 1 if _cuda_visible() else 0

# Threads of a job that wants the whole machine (timing, metrics): --cores locally (Snakemake caps
# threads at it anyway). A cluster executor runs without --cores, where `workflow.cores` stops the
# run before anything is submitted; there the Slurm profile sizes the job (cpus_per_task), and
# inside the job Snakemake runs with --cores all, the CPUs the job may use, so threads follow.
ALL_CORES = workflow.resource_settings.cores or 1


def check_cluster():
    """Under the Slurm executor, stop before the first sbatch when a job can never run there: one
    line per rule, what it asks for and the largest node (workflow/slurm_check.py). Called by
    the start-up handler (preflight.smk): Snakemake names its executor only once it executes."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return
    from workflow import slurm_check

    lines = slurm_check.check(workflow.dag.needrun_jobs())
    for line in lines:
        print(line, file=sys.stderr)
    if lines:
        raise SystemExit(1)
    # then follow the jobs: a long wait says Slurm's reason, a failure names its Slurm log
    run_id = getattr(getattr(workflow.scheduler, "_executor", None), "run_uuid", None)
    every = workflow.remote_execution_settings.seconds_between_status_checks or 10
    slurm_check.watch(run_id, every)  # the jobs run in the working directory (sbatch -D)




wildcard_constraints:
    model="|".join(MODELS),
    dataset="|".join(DATASETS),
    res=r"\d+",


def cli(**values):
    """Shell-quoted `--flag value` for every value that is set; lists become comma lists. A value
    left unset (None) means the entry point's default, which is the same typed default."""
    args = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        else:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            args += [flag, text]
    return " ".join(shlex.quote(a) for a in args)


def section_args(section, exclude=()):
    """A typed config section whole, as the flags its stage's entry point generates from it."""
    return " ".join(shlex.quote(a) for a in sections.to_argv(section, exclude))


def overrides(flag, mapping):
    return " ".join(shlex.quote(a) for a in format_overrides(flag, mapping))


def profiles():
    """Every full-width profile: each model at each configured resolution it can be built at."""
    import models

    pairs = [(m, r) for m in MODELS for r in CFG.profile.resolutions]
    return [L.pattern("profile").format(model=m, res=r) for m, r in pairs if r in models.resolutions(m)]


def every(key, **fixed):
    """Every path of a layout key over the run's models and datasets."""
    names = {"model": MODELS, "dataset": DATASETS, **fixed}
    pattern = L.pattern(key)
    return expand(pattern, **{k: v for k, v in names.items() if "{" + k + "}" in pattern})


def settings_stamp(rule, **values):
    """An input function: the job's settings stamp (workflow/job_settings.py), written when the
    settings differ, so a changed setting re-runs the job without Snakemake's own metadata (a
    copied results folder). `values` are what the job's results depend on, settings only, never
    paths; a callable value is called with the job's wildcards."""
    from workflow import job_settings

    def stamp(wc):
        found = {k: v(wc) if callable(v) else v for k, v in values.items()}
        job = "_".join(str(v) for _, v in sorted(wc.items())) or "run"
        return job_settings.stamp(L.path("settings", rule=rule, job=job), found, workflow.dryrun)

    return stamp
