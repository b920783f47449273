# Shared names for every rule file: the typed config (defaults filled in, plug-in names checked
# against their registries) and the results layout.
import json
import shlex
import sys

sys.path.insert(0, workflow.basedir)  # the project's packages, whatever the working directory

from common import sections, settings
from common.cli import UsageError, format_overrides
from common.layout import Layout, reports_root, results_root
from workflow import config as run_config

try:
    CFG = run_config.load(config)
except UsageError as exc:  # one line, before any job is planned
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

RESULTS = results_root(CFG.run)
REPORTS = reports_root(CFG.run)
L = Layout(RESULTS)
PY = shlex.quote(sys.executable)  # the interpreter snakemake runs under (the project's venv)
DEVICE = CFG.device
DATASETS = list(CFG.datasets)
MODELS = list(CFG.models)


def _cuda_visible():
    if DEVICE == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


# Jobs that use the accelerator claim `gpu`; cap it with --resources gpu=N (the profiles do).
GPU_JOB = 1 if _cuda_visible() else 0


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

    return [L.pattern("profile").format(model=m, res=r) for m in MODELS
            for r in CFG.profile.resolutions if r in models.resolutions(m)]  # fmt: skip


def every(key, **fixed):
    """Every path of a layout key over the run's models and datasets."""
    names = {"model": MODELS, "dataset": DATASETS, **fixed}
    pattern = L.pattern(key)
    return expand(pattern, **{k: v for k, v in names.items() if "{" + k + "}" in pattern})
