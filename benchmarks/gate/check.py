"""CI regression gate for model cost: recompute params and MACs (through the profile's own
measures), compare with the committed baseline, fail on any drift of a model the baseline knows.

    python -m benchmarks.gate            # exit 0 clean or only new models, 1 drift, 2 bad input
    python -m benchmarks.gate --update   # rewrite benchmarks/gate/baseline.json after a reviewed change

Drift = any parameter difference, or MACs (true, paper convention or FIR) off by more than
0.1 %. The grid is every registered generator at the baseline's resolutions plus the
discriminator(s). A model with no entry at all in the baseline is listed as "new" with its
numbers and passes: registering a model (README "Add your own model") must not turn the test
command red, and there is nothing to drift from yet; `--update` starts gating it. A known model
that gains or loses an entry, and an entry whose model is no longer registered, fail like drift:
they change what the baseline promised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

import models
from benchmarks.profiling import counting
from benchmarks.profiling.profile import profile
from common.cli import UsageError, check_writable
from common.io import read_json, write_json
from common.settings import Profile

log = logging.getLogger("pixbench.gate")

DEFAULT_BASELINE = Path(__file__).with_name("baseline.json")
GENERATOR_RESOLUTIONS = (64, 256, 1024)
DISCRIMINATORS = {"stylegan2": (256,)}  # registry name → resolutions
MACS_REL_TOL = 0.001
FIELDS = ("params", "macs", "macs_paper_convention", "macs_fir")


NEW = "new"  # status of an entry whose model the baseline has never seen: listed, not failed


@dataclass
class Drift:
    key: str
    field: str
    baseline: int | None
    current: int | None
    status: str

    @property
    def rel(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return (self.current - self.baseline) / max(abs(self.baseline), 1)


def entry_key(kind: str, name: str, resolution: int) -> str:
    return f"{kind}/{name}@{resolution}"


# the measures whose keys the gate compares (FIELDS), run through the profile like any job
GATED_MEASURES = ("params", "macs", "fir")


def measure(kind: str, name: str, resolution: int) -> dict:
    """Params and MACs of one model on the meta device. A generator is profiled by the same
    `profile(...)` a profile job runs, latency off and only the gated measures, so the gate
    checks the numbers the report shows; a discriminator, which has no profile, is counted by
    the same counting functions those measures call."""
    head = {"kind": kind, "model": name, "resolution": resolution}
    if kind == "generator":
        prof = profile(
            name,
            resolution,
            Profile(),
            latency=False,
            counters=(counting.PRIMARY,),
            only=GATED_MEASURES,
        )
        return {**head, **{f: prof[f] for f in FIELDS}}
    with torch.device("meta"):
        m = models.build_discriminator(resolution, name=name).eval()
    x = counting.example_input(m)
    true, paper = counting.count_macs(m, x, "true"), counting.count_macs(m, x, "paper")
    return {
        **head,
        "params": counting.count_params(m)["params"],
        "macs": true.macs,
        "macs_paper_convention": paper.macs,
        "macs_fir": true.fir,
    }


def current_grid(resolutions=GENERATOR_RESOLUTIONS) -> list[tuple[str, str, int]]:
    grid = [
        ("generator", n, r)
        for n in models.available()
        for r in resolutions
        if r in models.resolutions(n)
    ]
    grid += [("discriminator", n, r) for n, rs in DISCRIMINATORS.items() for r in rs]
    return grid


def measure_all(grid) -> dict[str, dict]:
    return {entry_key(*g): measure(*g) for g in tqdm(grid, desc="check", unit="model", leave=False)}


def compare(
    baseline: dict[str, dict], current: dict[str, dict], tol: float = MACS_REL_TOL
) -> list[Drift]:
    """Every difference, in `current`'s order: entries of models the baseline does not know get
    status NEW (see `failures`), every other difference is drift."""
    known = {model_of(k) for k in baseline}
    drifts = []
    for key, cur in current.items():
        base = baseline.get(key)
        if base is None:
            status = "new resolution of a known model" if model_of(key) in known else NEW
            drifts.append(Drift(key, "params", None, cur["params"], status))
            continue
        for f in FIELDS:
            b, c = base.get(f), cur[f]
            if f == "params" and b != c:
                drifts.append(Drift(key, f, b, c, "changed"))
            elif f != "params" and (b is None or abs(c - b) > tol * max(abs(b), 1)):
                drifts.append(Drift(key, f, b, c, "changed"))
    for key in sorted(baseline.keys() - current.keys()):
        drifts.append(
            Drift(key, "params", baseline[key].get("params"), None, "not measured any more")
        )
    return drifts


def model_of(key: str) -> str:
    """'generator/toy@64' → 'generator/toy'."""
    return key.rpartition("@")[0]


def failures(drifts: list[Drift]) -> list[Drift]:
    """The drifts that fail the gate: all but the entries of new models."""
    return [d for d in drifts if d.status != NEW]


def summarize(drifts: list[Drift]) -> dict[str, list[str]]:
    """{"new": keys, "changed": keys, "removed": keys}: what an update writes differently."""
    out: dict[str, list[str]] = {"new": [], "changed": [], "removed": []}
    for d in drifts:
        kind = "new" if d.baseline is None else "removed" if d.current is None else "changed"
        if d.key not in out[kind]:
            out[kind].append(d.key)
    return out


def format_table(drifts: list[Drift]) -> str:
    head = ("entry", "field", "baseline", "current", "change", "status")
    rows = [head]

    def fmt(v):
        return "—" if v is None else f"{v:,}"

    for d in drifts:
        rel = "—" if d.rel is None else f"{100 * d.rel:+.3f} %"
        rows.append((d.key, d.field, fmt(d.baseline), fmt(d.current), rel, d.status))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def load_baseline(path: Path) -> dict:
    try:
        data = read_json(path)
        return data["entries"], tuple(data.get("generator_resolutions", GENERATOR_RESOLUTIONS))
    except FileNotFoundError:
        raise UsageError(f"baseline {str(path)!r} not found; create it with --update") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"baseline {str(path)!r} is unreadable: {e}") from None


def write_baseline(path: Path, entries: dict, resolutions=GENERATOR_RESOLUTIONS) -> None:
    data = {
        "about": "expected params and MACs (batch 1; MACs = true dense conv/linear MACs without FIR) per "
        "model × resolution; regenerate with `python -m benchmarks.gate --update`",
        "macs_rel_tolerance": MACS_REL_TOL,
        "generator_resolutions": list(resolutions),
        "torch": torch.__version__,
        "entries": dict(sorted(entries.items())),
    }
    write_json(path, data)


def run_check(baseline_path=DEFAULT_BASELINE, update: bool = False) -> tuple[int, list[Drift]]:
    """Exit status (0: clean or only new models / 1: drift) and every difference found (new
    models included, see `failures`). With update=True: rewrite the baseline, return 0 and the
    differences it accepted (all entries count as new when there was no readable baseline)."""
    if not update:
        entries, resolutions = load_baseline(baseline_path)
        drifts = compare(entries, measure_all(current_grid(resolutions)))
        return (1 if failures(drifts) else 0), drifts
    check_writable(baseline_path)
    old, resolutions = {}, GENERATOR_RESOLUTIONS
    if Path(baseline_path).exists():  # keep the grid the baseline was made with
        old, resolutions = load_baseline(baseline_path)
    current = measure_all(current_grid(resolutions))
    write_baseline(Path(baseline_path), current, resolutions)
    return 0, compare(old, current)
