"""A new knob is one dataclass field: added to a section of common/settings.py with its default
and help line, it is a flag of the stage's entry point, passed by the rule, checked once, and
its value reaches the stage, with nothing else edited. Done here in a copy of the repository:
through the real workflow for the `train:` section (the one with the longest way to travel:
config → rule → torchrun-ready CLI → training loop → run.json), and for the `profile:` section
as far as the innermost use of its knobs (config → the rule's planned command → profiling CLI →
measure → timing.time_adaptive, which takes the section whole)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from common import sections, settings
from common.cli import OneLineParser
from tests.helpers import copy_repo

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = '    hparams: dict = opt(factory=dict, help="every model\'s HParams (--hparam)"'
TOY_FIELD = '    toy_knob: int = opt(3, help="a knob added by a test", minimum=0)\n'
PROFILE_ANCHOR = "    fvcore_max_resolution: int = opt(\n"  # a field of settings.Profile
# the profiling CLI with a spy on the latency measure's timing function: what section it gets
SPY = """import json, sys
from benchmarks.profiling import __main__ as cli
from benchmarks.profiling.measures import latency
seen, real = [], latency.time_adaptive
def spy(fn, device, p, **kw):
    seen.append(p.toy_knob)
    return real(fn, device, p, **kw)
latency.time_adaptive = spy
rc = cli.main(sys.argv[2:])
open(sys.argv[1], "w").write(json.dumps({"rc": rc, "seen": seen}))
"""


def test_every_section_round_trips_through_its_flags():
    """What a rule passes (to_argv) is read back as the same section (add_flags + from_args)."""
    examples = [
        settings.Train(kimg=2.5, snap_kimg=None, channels_last=True, compile="inductor"),
        settings.Dataset(source="embedded:default", resolution=32, max_images=7),
        settings.Profile(latency=[settings.Latency(64, [1, 4])], min_time=0.5),
        settings.Quality(metrics=["fid"], seeds=[0, 3], num_real=None, truncation=0.5),
    ]
    for section in examples:
        parser = OneLineParser(prog="x")
        sections.add_flags(parser, type(section))  # workflow-scoped fields (hparams) are no flags
        args = parser.parse_args(sections.to_argv(section))
        assert sections.from_args(type(section), args) == section


def test_a_new_train_knob_is_one_field_and_reaches_the_loop(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    settings_py = repo / "common" / "settings.py"
    text = settings_py.read_text()
    assert ANCHOR in text
    settings_py.write_text(text.replace(ANCHOR, TOY_FIELD + ANCHOR, 1))

    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    cfg["models"] = {"stylegan2": cfg["models"]["stylegan2"]}
    cfg["train"].update(kimg=0.016, snap_kimg=None, toy_knob=7)
    (repo / "knob.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/tiny/train/faces/stylegan2/checkpoints/final.pt"
    cmd = [sys.executable, "-m", "snakemake", target, "--cores", "1", "--configfile", "knob.yaml"]
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]

    run = json.loads((repo / "results/tiny/train/faces/stylegan2/run.json").read_text())
    assert run["train"]["toy_knob"] == 7  # the loop holds the section whole and records it
    assert run["train"]["kimg"] == 0.016

    # the same field is a checked flag of the entry point, with its default and help
    helptext = subprocess.run(
        [sys.executable, "-m", "training.train", "--help"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "--toy-knob" in helptext and "a knob added by a test (default: 3)" in helptext
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train",
            "--model",
            "stylegan2",
            "--data",
            "x.zip",
            "--out",
            "o",
            "--toy-knob",
            "-1",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: command line: --toy-knob: -1 is less than the minimum of 0"


def _planned_profile_argv(repo: Path, config: str, target: str) -> list[str]:
    """The profiling CLI's arguments of the job `snakemake -n -p` plans for `target`."""
    cmd = [sys.executable, "-m", "snakemake", target, "-n", "-p", "--cores", "1"]
    out = subprocess.run(
        [*cmd, "--configfile", config], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in (out.stdout + out.stderr).splitlines() if "-m benchmarks.profiling" in x)
    words = shlex.split(line)
    argv = words[words.index("benchmarks.profiling") + 1 :]
    return argv[: argv.index(">")] if ">" in argv else argv


def test_a_new_profile_knob_reaches_the_timing_function(tmp_path):
    """A toy `profile:` field set in the config travels the workflow's way (the command the
    profile rule plans, not run by snakemake: the job's other measures are not what is tested)
    and is a field of the section the latency measure hands to timing.time_adaptive."""
    repo = copy_repo(tmp_path / "repo")
    settings_py = repo / "common" / "settings.py"
    text = settings_py.read_text()
    assert text.count(PROFILE_ANCHOR) == 1
    settings_py.write_text(text.replace(PROFILE_ANCHOR, TOY_FIELD + PROFILE_ANCHOR))
    (repo / "spy.py").write_text(SPY)

    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    cfg["models"] = {"stylegan2": cfg["models"]["stylegan2"]}
    cfg["profile"] = {  # one timed 32-px job, as short as the section allows
        "resolutions": [32],
        "latency": [{"resolution": 32, "batch_sizes": [1]}],
        "latency_warmup": 0,
        "latency_repeats": 1,
        "latency_max_time": 0.0,
        "fvcore_max_resolution": 0,
        "variants": [],
        "toy_knob": 7,
    }
    (repo / "knob.yaml").write_text(yaml.safe_dump(cfg))
    argv = _planned_profile_argv(repo, "knob.yaml", "results/tiny/profile/stylegan2_32.json")
    assert argv[argv.index("--toy-knob") + 1] == "7"  # the rule passes the new field as a flag
    argv[argv.index("--out") + 1] = str(tmp_path / "profile.json")

    seen = tmp_path / "seen.json"
    cmd = [sys.executable, "spy.py", str(seen), *argv]
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(seen.read_text()) == {"rc": 0, "seen": [7]}  # one timed batch size
    assert (tmp_path / "profile.json").exists()
