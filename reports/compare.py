"""Compare two or more runs, each against the first (the baseline), with verdicts that know the
noise of each number (reports/verdicts.py says how), as HTML and Markdown, or as a CI gate.

    python -m reports.compare results/A results/B [results/C ...] [--out reports/compare_A_B]
    python -m reports.compare BASELINE CURRENT --gate   # exit 1 on a regression beyond noise

Reads only the results folders (profiles, metrics JSONs with per-seed values and cards, the
training run.json, preflight.json); every recorded setting that differs is listed, and a quality
number whose protocol differs (num_gen, extractor, …) gets no better/worse verdict.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import pandas as pd

from benchmarks.profiling import registry as measures
from benchmarks.quality import registry
from common.cli import OneLineParser, UsageError, check_writable_dir, run, setup_logging
from common.io import atomic_write_text
from reports import verdicts as V
from reports.columns import sig
from reports.html import details, page, table_html
from reports.runs import Run, load_run, setting_diffs

log = logging.getLogger("pixbench.compare")
COLUMNS = ["what", "item", "baseline", "current", "Δ", "verdict", "why"]
FMT = sig(4)


def _row(what, item, a, b, verdict, why="") -> dict:
    delta = b - a if isinstance(a, int | float) and isinstance(b, int | float) else None
    return {
        "what": what,
        "item": item,
        "baseline": a,
        "current": b,
        "Δ": delta,
        "verdict": verdict,
        "why": why,
    }


def exact_rows(a: Run, b: Run) -> list[dict]:
    """Params and MACs of every profile both runs have: any difference is `changed`."""
    rows = []
    for key in sorted(set(a.profiles) & set(b.profiles), key=str):
        pa, pb = a.profiles[key], b.profiles[key]
        for field in ("params", "macs", "macs_paper_convention"):
            if field in pa or field in pb:
                va, vb = pa.get(field), pb.get(field)
                rows.append(_row(field, f"{key[0]} @ {key[1]} px", va, vb, V.exact(va, vb)))
    for key in sorted(set(a.profiles) ^ set(b.profiles), key=str):
        side = "baseline" if key in a.profiles else "current"
        rows.append(_row("profile", f"{key[0]} @ {key[1]} px", None, None, f"only in {side}"))
    return rows


def _stats(entry: dict) -> dict[str | None, dict]:
    """A metric's result entry by mode (None: not per mode)."""
    return {None: entry} if "mean" in entry else dict(entry)


def _stat(s: dict) -> V.Stat:
    return V.Stat(s["mean"], s.get("std"), len(s.get("per_seed") or [s["mean"]]))


def _pm(s: V.Stat) -> str:
    n = f" (n={s.n})" if s.n > 1 else " (1 seed)"
    return (f"{FMT(s.mean)} ± {FMT(s.spread)}" if s.spread is not None else FMT(s.mean)) + n


def quality_rows(a: Run, b: Run) -> list[dict]:
    """Every metric both runs computed for the same (dataset, model): mean ± per-seed std,
    judged by verdicts.quality unless the protocols differ (then `not comparable: …`)."""
    from reports.runs import incomparable_quality

    rows = []
    for d, m in sorted(set(a.metrics) & set(b.metrics)):
        blocked = incomparable_quality(a, b, d, m)
        ma, mb = a.metrics[(d, m)]["metrics"], b.metrics[(d, m)]["metrics"]
        for name in [n for n in ma if n in mb]:
            sa, sb = _stats(ma[name]), _stats(mb[name])
            for mode in [x for x in sa if x in sb]:
                key = registry.result_key(name, mode)
                info = registry.key_info(key, None)
                x, y = _stat(sa[mode]), _stat(sb[mode])
                if blocked:
                    verdict, why = blocked, "a different protocol measures a different number"
                elif info is None:
                    verdict, why = "not judged", "metric not registered in this checkout"
                else:
                    verdict = V.quality(x, y, info.lower_is_better)
                    why = f"{'lower' if info.lower_is_better else 'higher'} is better; " + (
                        f"noise band ±{V.NOISE_K:g}·√(std_a² + std_b²)"
                    )
                label = info.label if info else key
                row = _row(label, f"{d}/{m}", x.mean, y.mean, verdict, why)
                row.update(baseline=_pm(x), current=_pm(y))
                rows.append(row)
    return rows


def _spread(row: dict) -> float | None:
    """How well a row's median is known: half its 95 % CI where the profile has one (how far
    the median itself may be off), else its IQR (older profiles: the spread of the times)."""
    ci = row.get("ci95_ms")
    return (ci[1] - ci[0]) / 2 if ci else row.get("iqr_ms")


def _timings(run: Run) -> dict:
    """(model, res, batch) -> (Stat of median ms with its spread, device, valid) per timed row."""
    lat = measures.get("latency")
    out = {}
    for (m, r), p in run.profiles.items():
        for row in lat.rows(p):
            out[(m, r, row["batch"])] = (
                V.Stat(row["median_ms"], _spread(row)),
                row["device"],
                bool(row.get(measures.VALID, True)),
            )
    return out


def _reference(ta: dict, tb: dict, key) -> tuple | None:
    """Another model timed at the same size and batch in both runs (alphabetically first)."""
    others = sorted(k for k in ta if k in tb and k[1:] == key[1:] and k[0] != key[0])
    return others[0] if others else None


def latency_rows(a: Run, b: Run) -> list[dict]:
    """Median latency per (model, resolution, batch): raw on the same device; across devices
    only as a ratio to a reference model timed in both runs, else refused."""
    ta, tb = _timings(a), _timings(b)
    rows = []
    for key in sorted(set(ta) & set(tb)):
        (x, dev_a, ok_a), (y, dev_b, ok_b) = ta[key], tb[key]
        item = f"{key[0]} @ {key[1]} px, batch {key[2]}"
        if not (ok_a and ok_b):
            rows.append(
                _row("latency (ms)", item, x.mean, y.mean, "not comparable: invalid timing")
            )
            continue
        if dev_a == dev_b:
            why = (
                f"same device; noise band ±max(CI half-width or IQR, {V.LATENCY_FLOOR:.0%} "
                "of baseline)"
            )
            rows.append(_row("latency (ms)", item, x.mean, y.mean, V.latency(x, y), why))
            continue
        ref = _reference(ta, tb, key)
        if ref is None:
            why = f"{dev_a} vs {dev_b}; no model timed in both runs to normalise by"
            rows.append(
                _row("latency (ms)", item, x.mean, y.mean, "not comparable: different devices", why)
            )
            continue
        rx, ry = V.ratio(x, ta[ref][0]), V.ratio(y, tb[ref][0])
        why = f"different devices: raw ms not compared; ratio to {ref[0]} within each run"
        rows.append(_row(f"latency ÷ {ref[0]}", item, rx.mean, ry.mean, V.latency(rx, ry), why))
    return rows


def compare(a: Run, b: Run) -> dict:
    """Everything one pair says: provenance, differing settings, and the verdict rows."""
    return {
        "runs": (a, b),
        "settings": setting_diffs(a, b),
        "exact": exact_rows(a, b),
        "quality": quality_rows(a, b),
        "latency": latency_rows(a, b),
    }


def regressions(result: dict) -> list[dict]:
    """The rows that fail the gate: worse beyond noise, or an exact count changed."""
    rows = result["exact"] + result["quality"] + result["latency"]
    return [r for r in rows if V.fails_gate(r["verdict"])]


def frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("baseline", "current", "Δ"):
        df[col] = [v if isinstance(v, str) else FMT(v) if v is not None else "" for v in df[col]]
    return df.rename(columns={"what": "Number", "item": "Of", "verdict": "Verdict", "why": "Rule"})


def provenance_frame(a: Run, b: Run) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"": "folder", "baseline": str(a.root), "current": str(b.root)},
            {"": "device", "baseline": a.device, "current": b.device},
            {"": "config sha256", "baseline": a.config_sha256, "current": b.config_sha256},
            {"": "code version", "baseline": a.code_version, "current": b.code_version},
        ]
    )


def settings_frame(diffs) -> pd.DataFrame:
    return pd.DataFrame(
        [{"setting": k, "baseline": str(x), "current": str(y)} for k, x, y in diffs],
        columns=["setting", "baseline", "current"],
    )


SECTIONS = (
    ("exact", "Params and MACs (exact counts: any difference is a change)"),
    ("quality", "Quality (mean ± per-seed std over seeds)"),
    ("latency", "Latency (median ms, same device only; else normalised)"),
)
RULES = (
    "Verdicts are current against baseline. Params/MACs: identical or changed. Quality: within "
    f"noise when |Δ| ≤ {V.NOISE_K:g}·√(std_a² + std_b²) of the per-seed values, else better or "
    "worse by the metric's registered direction; one seed: not judged; a differing protocol "
    "setting (num_gen, num_real, extractor, truncation, noise mode, dataset): not comparable. "
    f"Latency: within noise when |Δ| ≤ max(s_a, s_b, {V.LATENCY_FLOOR:.0%} of the baseline "
    "median), s the half-width of a median's 95 % CI (its IQR in older profiles); different devices: only ratios to a model timed in both runs. The rules are "
    "explained in reports/verdicts.py of the pixbench repository (README: Compare runs)."
)


def _verdict_class(row) -> str:
    v = str(row["Verdict"])
    return "verdict-failed" if V.fails_gate(v) else "verdict-held" if v == V.BETTER else ""


def pair_html(result: dict) -> list[tuple[str, str]]:
    a, b = result["runs"]
    diffs = result["settings"]
    head = table_html(provenance_frame(a, b))
    head += (
        f"<p class='note'>{len(diffs)} recorded setting{'s' if len(diffs) != 1 else ''} differ.</p>"
    )
    if diffs:
        head += details("settings that differ", table_html(settings_frame(diffs)))
    parts = [(f"{b.name} against {a.name}: provenance and settings", head)]
    for key, title in SECTIONS:
        parts.append(
            (f"{b.name} vs {a.name}: {title}", table_html(frame(result[key]), _verdict_class))
        )
    return parts


def pair_markdown(result: dict) -> str:
    a, b = result["runs"]
    md = f"## {b.name} against {a.name}\n\n" + provenance_frame(a, b).to_markdown(index=False)
    md += "\n\n### Settings that differ\n\n"
    diffs = settings_frame(result["settings"])
    md += diffs.to_markdown(index=False) if len(diffs) else "_none_"
    for key, title in SECTIONS:
        table = frame(result[key])
        md += f"\n\n### {title}\n\n" + (table.to_markdown(index=False) if len(table) else "_none_")
    return md + "\n"


def summary_line(result: dict) -> str:
    a, b = result["runs"]
    bad = regressions(result)
    text = f"{b.name} vs {a.name}: {len(bad)} regression(s)"
    return text + "".join(f"\n  {r['what']} of {r['item']}: {r['verdict']}" for r in bad)


def write(results: list[dict], out: Path) -> None:
    """report.html and compare.md in `out`, both written atomically."""
    names = " vs ".join(r["runs"][1].name for r in results)
    title = f"pixbench comparison: {names} against {results[0]['runs'][0].name}"
    top = f"<div class='banner'>{html.escape(RULES)}</div>"
    body = [s for r in results for s in pair_html(r)]
    atomic_write_text(out / "compare.html", page(title, top, body))
    md = f"# {title}\n\n{RULES}\n\n" + "\n".join(pair_markdown(r) for r in results)
    atomic_write_text(out / "compare.md", md)
    log.info("wrote %s", out / "compare.html")


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m reports.compare", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="results/<run> folders; the first is the baseline")
    p.add_argument("--out", help="folder for compare.html and compare.md")
    p.add_argument("--gate", action="store_true", help="exit 1 on a regression beyond noise")
    args = p.parse_args(argv)
    setup_logging(quiet=args.gate)
    if len(args.runs) < 2:
        raise UsageError("give at least two results folders (baseline first)")
    loaded = [load_run(r) for r in args.runs]
    if args.out:
        check_writable_dir(args.out)
    results = [compare(loaded[0], b) for b in loaded[1:]]
    if args.out:
        write(results, Path(args.out))
    for r in results:
        print(summary_line(r))
    failed = any(regressions(r) for r in results)
    return 1 if args.gate and failed else 0


if __name__ == "__main__":
    raise SystemExit(run(main))
