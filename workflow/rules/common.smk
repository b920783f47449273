# Shared names and helpers for every rule file.
import json
import shlex
import sys

RUN = config["run"]
RESULTS = f"results/{RUN}"
REPORTS = f"reports/{RUN}"
LOGS = f"{RESULTS}/logs"
PY = shlex.quote(sys.executable)  # the interpreter snakemake runs under (the project's venv)

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
PROFILE_RES = config["profile"]["resolutions"]
LATENCY = {e["resolution"]: e["batch_sizes"] for e in config["profile"].get("latency", [])}
DEVICE = config.get("device", "auto")


def _cuda_visible():
    if DEVICE == "cpu":
        return False
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


# Jobs that use the accelerator claim `gpu`; cap it with --resources gpu=N (the profiles do).
GPU_JOB = 1 if _cuda_visible() else 0


wildcard_constraints:
    model="|".join(MODELS),
    dataset="|".join(DATASETS),
    res=r"\d+",


def overrides_args(mapping):
    """{'width': 0.125} -> "--override width=0.125" (shell-quoted)."""
    return " ".join(f"--override {shlex.quote(f'{k}={v}')}" for k, v in mapping.items())


def train_dir(dataset, model):
    return f"{RESULTS}/train/{dataset}/{model}"
