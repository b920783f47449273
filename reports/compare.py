"""Compare two or more runs, each against the first (the baseline), with verdicts that know the
noise of each number (reports/compare_rules.py says how), as HTML and Markdown, or as a CI gate.

    python -m reports.compare results/A results/B [results/C ...] [--out reports/compare_A_B]
    python -m reports.compare BASELINE CURRENT --gate   # exit 1 on a regression beyond noise
    python -m reports.compare BASELINE CURRENT --gate --allow-missing   # a partial run passes

Reads only the results folders (profiles, metrics JSONs with per-seed values and cards, the
training run.json, preflight.json); every recorded setting that differs is listed, and a quality
number whose protocol differs (num_gen, extractor, …) gets no better/worse verdict. Whatever
the baseline has and the current run lacks is `missing in new run` and fails the gate: a run
that crashed half-way is not a pass.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.profiling import registry as measure_registry
from benchmarks.quality import registry
from common.cli import OneLineParser, UsageError, check_writable_dir, run, setup_logging
from reports import compare_rules as V
from reports.collect import RunResults, load_results
from reports.compare_page import FMT, provenance_frame, regressions, summary_line, write
from reports.runs import giga, incomparable_quality, machine, setting_diffs

__all__ = ["compare", "main", "provenance_frame", "regressions"]


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _row(what, item, a, b, verdict, why="") -> dict:
    delta = b - a if _number(a) and _number(b) else None
    return {
        "what": what,
        "item": item,
        "baseline": a,
        "current": b,
        "Δ": delta,
        "verdict": verdict,
        "why": why,
    }


def exact_rows(a: RunResults, b: RunResults) -> list[dict]:
    """Params and MACs of every profile both runs have: any difference is `changed`."""
    rows = []
    for key in sorted(set(a.profiles) & set(b.profiles), key=str):
        pa, pb = a.profiles[key], b.profiles[key]
        for field in ("params", "macs", "macs_paper_convention"):
            if field in pa or field in pb:
                va, vb = pa.get(field), pb.get(field)
                rows.append(_row(field, f"{key[0]} @ {key[1]} px", va, vb, V.exact(va, vb)))
    for key in sorted(set(a.profiles) ^ set(b.profiles), key=str):
        gone = key in a.profiles
        why = f"no profile/{key[0]}_{key[1]}.json in {(b if gone else a).name}"
        verdict = V.MISSING if gone else V.NEW
        rows.append(_row("profile", f"{key[0]} @ {key[1]} px", None, None, verdict, why))
    return rows


def _stats(entry: dict) -> dict[str | None, dict]:
    """A metric's result entry by mode (None: not per mode)."""
    return {None: entry} if "mean" in entry else dict(entry)


def _stat(s: dict) -> V.Stat:
    return V.Stat(s["mean"], s.get("std"), len(s.get("per_seed") or [s["mean"]]))


def _pm(s: V.Stat) -> str:
    n = f" (n={s.n})" if s.n > 1 else " (1 seed)"
    return (f"{FMT(s.mean)} ± {FMT(s.spread)}" if s.spread is not None else FMT(s.mean)) + n


def quality_rows(a: RunResults, b: RunResults) -> list[dict]:
    """Every metric both runs computed for the same (dataset, model): mean ± per-seed std,
    judged by compare_rules.quality unless the protocols differ (then `not comparable: …`)."""
    rows = []
    for d, m in sorted(set(a.quality) ^ set(b.quality)):
        gone = (d, m) in a.quality
        why = f"no metrics/{d}_{m}.json in {(b if gone else a).name}"
        rows.append(_row("metrics", f"{d}/{m}", None, None, V.MISSING if gone else V.NEW, why))
    for d, m in sorted(set(a.quality) & set(b.quality)):
        blocked = incomparable_quality(a, b, d, m)
        ma, mb = a.quality[(d, m)]["metrics"], b.quality[(d, m)]["metrics"]
        for name in [n for n in ma if n not in mb]:
            rows.append(_row(name, f"{d}/{m}", None, None, V.MISSING, "not in the new run's file"))
        for name in [n for n in ma if n in mb]:
            sa, sb = _stats(ma[name]), _stats(mb[name])
            for mode in [x for x in sa if x not in sb]:
                key = registry.result_key(name, mode)
                rows.append(_row(key, f"{d}/{m}", None, None, V.MISSING, "mode not in new run"))
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
    lo, hi = row.get("ci95_lo_ms"), row.get("ci95_hi_ms")
    if measure_registry.known(lo) and measure_registry.known(hi):
        return (hi - lo) / 2
    return row.get("iqr_ms")


def _timings(run: RunResults) -> dict:
    """(model, res, batch) -> (Stat of median ms with its spread, device, valid, the row) per
    timed row (the row for its load and noisy flag, compare_rules.timed_under_load)."""
    lat = measure_registry.get("latency")
    out = {}
    for (m, r), p in run.profiles.items():
        for row in lat.rows(p):
            out[(m, r, row["batch"])] = (
                V.Stat(row["median_ms"], _spread(row)),
                row["device"],
                bool(row.get(measure_registry.VALID, True)),
                row,
            )
    return out


def _load(a: RunResults, b: RunResults, rows: tuple[dict, dict]) -> tuple[str, str] | None:
    """(verdict, why) for a pair of timed rows either of which ran under load or is noisy; the
    more loaded side names the verdict, the why says which run and what the profiler said."""
    found = [(V.timed_under_load(r), run, r) for run, r in zip((a, b), rows, strict=True)]
    found = [f for f in found if f[0]]
    if not found:
        return None
    found.sort(key=lambda f: -(V.load_share(f[2]) or 0.0))
    why = "; ".join(f"{run.name}: {r.get('noisy_reason') or what}" for what, run, r in found)
    return f"{V.NOT_COMPARABLE}: {found[0][0]}", why


def _reference(ta: dict, tb: dict, key) -> tuple | None:
    """Another model timed validly and not under load at the same size and batch in both runs,
    on the same device as `key` within each run (alphabetically first)."""
    others = sorted(
        k
        for k in ta
        if k in tb and k[1:] == key[1:] and k[0] != key[0]
        if all(
            t[k][1] == t[key][1] and t[k][2] and not V.timed_under_load(t[k][3]) for t in (ta, tb)
        )
    )
    return others[0] if others else None


def _peak(fp: dict) -> V.Stat | None:
    roof = fp.get("roof") or {}
    if not roof.get("peak_macs_per_s"):
        return None
    lo, hi = roof["peak_range_macs_per_s"]
    return V.Stat(roof["peak_macs_per_s"], hi - lo)


def other_machine(a: RunResults, b: RunResults, device: str) -> str | None:
    """Why two runs' timings on one device label still come from different machines (their
    fingerprints' kernel peaks differ beyond spread, compare_rules.same_machine), or None. Without
    a fingerprint on either side (older profiles) the label alone decides, as before."""
    fa, fb = machine(a, device), machine(b, device)
    pa, pb = (_peak(fp) if fp else None for fp in (fa, fb))
    if pa is None or pb is None or V.same_machine(pa, pb):
        return None
    return f"different machines (peak {giga(pa.mean)} vs {giga(pb.mean)} GMAC/s)"


def latency_rows(a: RunResults, b: RunResults) -> list[dict]:
    """Median latency per (model, resolution, batch): raw on the same machine; across devices
    or machines (same label, fingerprint peaks apart) the raw row says why it is not compared
    and, when a reference model was timed in both runs, a ratio row to it is judged."""
    ta, tb = _timings(a), _timings(b)
    rows = []
    for key in sorted(set(ta) - set(tb)):
        item = f"{key[0]} @ {key[1]} px, batch {key[2]}"
        why = f"no timed row in {b.name}"
        rows.append(_row("latency (ms)", item, ta[key][0].mean, None, V.MISSING, why))
    for key in sorted(set(ta) & set(tb)):
        (x, dev_a, ok_a, row_a), (y, dev_b, ok_b, row_b) = ta[key], tb[key]
        item = f"{key[0]} @ {key[1]} px, batch {key[2]}"
        if not (ok_a and ok_b):
            rows.append(
                _row("latency (ms)", item, x.mean, y.mean, "not comparable: invalid timing")
            )
            continue
        loaded = _load(a, b, (row_a, row_b)) if x.mean != y.mean else None
        if loaded:  # the same measurement (a profile not re-run) is identical whatever its load
            rows.append(_row("latency (ms)", item, x.mean, y.mean, *loaded))
            continue
        apart = "different devices" if dev_a != dev_b else other_machine(a, b, dev_a)
        if apart is None:
            why = (
                f"same machine; noise band ±max(CI half-width or IQR, {V.LATENCY_FLOOR:.0%} "
                "of baseline)"
            )
            rows.append(_row("latency (ms)", item, x.mean, y.mean, V.latency(x, y), why))
            continue
        ref = _reference(ta, tb, key)
        seen = f"{dev_a} vs {dev_b}" if dev_a != dev_b else dev_a
        why = f"{seen}; " + (
            f"raw ms not compared: ratio to {ref[0]} within each run below"
            if ref
            else "no model timed in both runs to normalise by"
        )
        rows.append(_row("latency (ms)", item, x.mean, y.mean, f"not comparable: {apart}", why))
        if ref:
            rx, ry = V.ratio(x, ta[ref][0]), V.ratio(y, tb[ref][0])
            why = f"{apart}: ratio to {ref[0]} within each run"
            rows.append(_row(f"latency ÷ {ref[0]}", item, rx.mean, ry.mean, V.latency(rx, ry), why))
    return rows


def compare(a: RunResults, b: RunResults) -> dict:
    """Everything one pair says: provenance, differing settings, and the verdict rows."""
    return {
        "runs": (a, b),
        "settings": setting_diffs(a, b),
        "exact": exact_rows(a, b),
        "quality": quality_rows(a, b),
        "latency": latency_rows(a, b),
    }


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m reports.compare", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="results/<run> folders; the first is the baseline")
    p.add_argument("--out", help="folder for compare.html and compare.md")
    p.add_argument("--gate", action="store_true", help="exit 1 on a regression beyond noise")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="with --gate: what the baseline has and the current run lacks does not fail it",
    )
    args = p.parse_args(argv)
    setup_logging(quiet=args.gate)
    if len(args.runs) < 2:
        raise UsageError("give at least two results folders (baseline first)")
    loaded = [load_results(r) for r in args.runs]  # no config: every file on disk
    if args.out:
        check_writable_dir(args.out)
    results = [compare(loaded[0], b) for b in loaded[1:]]
    if args.out:
        write(results, Path(args.out))
    for r in results:
        print(summary_line(r, args.allow_missing))
    failed = any(regressions(r, args.allow_missing) for r in results)
    return 1 if args.gate and failed else 0


if __name__ == "__main__":
    raise SystemExit(run(main))
