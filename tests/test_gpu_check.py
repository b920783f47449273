"""The GPU check is a workflow config (config/gpu-check.yaml), not a script of its own: where no
GPU is, its config loads (device cuda is refused only by the pre-flight check, when the workflow
executes), the workflow plans exactly one 256-px profile job per model through the normal rules
and layout names, then the claims and the report, and nothing else (no datasets: no training or
quality jobs); each profile command parses with the real parser into the batches the check
times; and the report renders from a results folder that has no datasets."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

from benchmarks.claims.__main__ import to_csv, to_markdown
from benchmarks.claims.verdicts import claim_rows
from benchmarks.profiling import __main__ as profiling_cli
from common import sections, settings
from common.layout import Layout, results_root
from tests.report_results import MODELS, _latency, _profile, _write
from workflow import config as run_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config/gpu-check.yaml"
RES, BATCHES = 256, [1, 16]  # what docs/gpu-check.md says the check times


def test_config_is_profile_only_and_restates_no_default():
    raw = yaml.safe_load(CONFIG.read_text())
    cfg = run_config.load(CONFIG)  # registry and size checks too; no GPU needed to plan
    assert cfg.device == "cuda" and cfg.datasets == {}
    assert sorted(cfg.models) == sorted(["pixelfolder", "cips", "stylegan2", "inr_gan"])
    assert all(not m.build for m in cfg.models.values())  # full official widths
    p = cfg.profile
    assert p.resolutions == [RES] and p.batch_sizes_at(RES) == BATCHES
    assert p.fvcore_max_resolution == 0
    assert p.variants == settings.defaults(settings.Profile)["variants"]  # the default grid
    assert p.batch_sizes_at(p.variants_at.resolution)  # ... where a job times, so it runs
    defaults = settings.defaults(settings.Profile)
    assert not [k for k, v in raw["profile"].items() if defaults.get(k, object()) == v]


def _dry_run(tmp_path: Path) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "-p"]
    cmd += ["--forceall", "--cores", "2", "--configfile", str(CONFIG)]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _commands(stdout: str, module: str) -> list[list[str]]:
    """The argv after `python -m <module>` of every planned shell command that runs it, up to
    its output redirection."""
    found = []
    for line in stdout.splitlines():
        words = shlex.split(line.removeprefix("Shell command: "))
        if "-m" in words and words[words.index("-m") + 1] == module:
            argv = words[words.index("-m") + 2 :]
            found.append(argv[: argv.index(">")] if ">" in argv else argv)
    return found


def test_dry_run_plans_profiles_claims_and_report_only(tmp_path):
    stdout = _dry_run(tmp_path)
    stats = stdout[stdout.index("Job stats:") :].split("\n\n")[0]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", stats, re.M))
    assert jobs == {"profile": "4", "claims": "1", "report": "1", "all": "1", "total": "7"}
    assert "test_cuda" not in stdout  # production rules run no test files
    lay = Layout(results_root("gpu-check"))
    planned = Counter()
    for argv in _commands(stdout, "benchmarks.profiling"):
        args = profiling_cli.parse_args(argv)
        prof = sections.from_args(settings.Profile, args)
        assert args.device == "cuda" and int(args.resolution) == RES
        assert prof.batch_sizes_at(RES) == BATCHES and prof.fvcore_max_resolution == 0
        assert Path(args.out) == lay.path("profile", model=args.model, res=RES)  # <model>_256
        planned[args.model] += 1
    assert planned == Counter({m: 1 for m in ("pixelfolder", "cips", "stylegan2", "inr_gan")})
    (claims,) = _commands(stdout, "benchmarks.claims")
    assert "--metrics" not in claims  # no datasets, so no metrics folder to read
    assert claims[claims.index("--profiles") + 1] == str(lay.folder("profile"))
    assert len(_commands(stdout, "reports.render")) == 1


def test_report_renders_without_datasets(tmp_path):
    """A profile-only results folder (profiles at 256 px, claims from them, no metrics, no
    training) renders: the quality sections say there is no data instead of failing."""
    from reports.render import render

    lay = Layout(tmp_path / "results")
    profiles = {}
    for model in MODELS:
        prof = _profile(model, RES)
        prof["latency"] = _latency(model, prof["macs"])
        profiles[(model, RES)] = prof
        _write(lay.path("profile", model=model, res=RES), prof)
    rows = claim_rows(profiles, None)
    lay.path("claims_csv").write_text(to_csv(rows))
    lay.path("claims_md").write_text(to_markdown(rows))
    cfg = settings.as_dict(run_config.load(CONFIG))
    html = render(lay.root, tmp_path / "report", cfg)
    assert html.is_file() and "gpu-check" in html.read_text()
    assert "_no data_" in (tmp_path / "report/quality.md").read_text()
    assert (tmp_path / "report/latency.csv").is_file()


PRODUCTION = ("common", "data", "models", "training", "benchmarks", "reports", "workflow")


def test_no_production_code_runs_test_files():
    """The CUDA tests are a command the user runs (docs/gpu-check.md); no module or rule starts
    pytest (benchmarks/suites are pytest suites themselves, run by hand, so they are skipped)."""
    files = [ROOT / "Snakefile"]
    for package in PRODUCTION:
        files += [*(ROOT / package).rglob("*.py"), *(ROOT / package).rglob("*.smk")]
    runs_pytest = re.compile(r"""-m pytest|["']pytest["']|tests/test_\w+\.py["']""")
    offenders = [
        str(f.relative_to(ROOT))
        for f in files
        if "suites" not in f.parts and runs_pytest.search(f.read_text(encoding="utf-8"))
    ]
    assert not offenders
