"""Tables of a run (pandas DataFrames), each written as CSV (data) and Markdown (reading).

The efficiency, scaling and latency tables are the registered efficiency measures' columns
(benchmarks/profiling/registry.py): a per-profile measure adds its columns to the efficiency and
scaling tables (one row per model × resolution), a row measure (latency) fills a table of its own
(one row per record, e.g. per timed batch size). Nothing here names a measure's keys.
"""

from __future__ import annotations

import pandas as pd

import models
from benchmarks.claims.paper import TABLE1, TABLE2, TABLE2_METRICS
from benchmarks.profiling import registry as measure_registry
from benchmarks.profiling.device_roof import with_device_roofs
from benchmarks.quality import registry
from reports import columns
from reports.collect import RunResults

G = 1e9
M = 1e6
KEYS = ["model", "resolution"]


def _frame(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    """Rows sorted by resolution, then model (stable: a row measure's order stays)."""
    df = pd.DataFrame(rows, columns=KEYS + cols)
    return df.sort_values(["resolution", "model"], kind="stable").reset_index(drop=True)


def profile_table(res: RunResults, table: str) -> pd.DataFrame:
    """One row per profile: model, resolution, then every measure column declared for `table`
    ("efficiency" or "scaling"); a profile without a measure's keys has empty cells there."""
    cols = [c for c in measure_registry.columns(table) if c.role != "status"]
    rows = [
        {"model": p["model"], "resolution": p["resolution"], **{c.name: c.value(p) for c in cols}}
        for p in res.profiles.values()
    ]
    return _frame(rows, [c.name for c in cols])


def efficiency_table(res: RunResults) -> pd.DataFrame:
    return profile_table(res, "efficiency")


def scaling_table(res: RunResults) -> pd.DataFrame:
    return profile_table(res, "scaling")


def row_table(res: RunResults, measure: measure_registry.Measure) -> pd.DataFrame:
    """One row per record of a row measure (`measure.rows(profile)`), its columns in order; a
    record's `valid` False (with `invalid_reason`) marks figures that are not results."""
    rows = [  # one roofline per device for the whole run
        {"model": p["model"], "resolution": p["resolution"], **r}
        for p in with_device_roofs(res.profiles.values())
        for r in measure_registry.table_rows(measure.name, p)
    ]
    if not rows:
        return pd.DataFrame()
    return _frame(rows, [c.name for c in measure.columns])


def latency_table(res: RunResults) -> pd.DataFrame:
    """One row per timed batch size (benchmarks/profiling/measures/latency.py); `valid` False
    (with `invalid_reason`) for a row whose figures are not results, `noisy` True (with
    `noisy_reason`) for one whose CI stayed wider than its target."""
    return row_table(res, measure_registry.get("latency"))


def valid_latency(lat: pd.DataFrame) -> pd.DataFrame:
    """Only the rows whose figures are results."""
    return lat if lat.empty else lat[lat[measure_registry.VALID].astype(bool)]


def quality_table(res: RunResults) -> pd.DataFrame:
    """One row per (dataset, model); one numeric column per result key (`fd_proxy_clean`, never
    `fid`, for proxy features: the names the metric registry gave them), the mean over seeds,
    `<key>_std` beside it when several seeds were evaluated, `<key>_ci_lo`/`_ci_hi` where the
    metric gives its own 95 % interval, and the N and seeds every number rests on."""
    rows = []
    for (dataset, model), q in sorted(res.quality.items()):
        row = {
            "dataset": dataset,
            "model": model,
            "variant": res.train_meta.get((dataset, model), {}).get("variant", ""),
            "kimg": q["generator"].get("kimg"),
            "extractor": q["card"]["extractor"],
            "n_gen": q["card"].get("num_gen"),
            "n_real": q["card"].get("num_real"),
            "seeds": ", ".join(map(str, q["card"].get("seeds") or [])),
        }
        for name, value in q["metrics"].items():
            stats = (
                {name: value} if "mean" in value else {f"{name}_{m}": s for m, s in value.items()}
            )
            for key, stat in stats.items():  # per-mode metrics: one entry per FID protocol
                row[key] = stat["mean"]
                if stat.get("std") is not None:
                    row[f"{key}_std"] = stat["std"]
                if stat.get("ci95"):  # a metric's own interval (KID: disjoint subsets)
                    row[f"{key}_ci_lo"], row[f"{key}_ci_hi"] = stat["ci95"]
        variant = res.variants.get((dataset, model))
        if variant:  # the cost of the network that produced these numbers
            for c in measure_registry.columns():
                if c.variant:
                    row[c.name + columns.VARIANT] = c.value(variant)
        rows.append(row)
    return pd.DataFrame(rows)


def _best_speed(lat: pd.DataFrame, model: str, resolution: int) -> str:
    if lat.empty:
        return ""
    mine = lat[(lat.model == model) & (lat.resolution == resolution)]
    if mine.empty:
        return ""
    ok = valid_latency(mine)
    if ok.empty:
        return "no valid timing (see Latency)"
    best = ok.loc[ok.images_per_s.idxmax()]
    return f"{best.images_per_s:.3g} (batch {best.batch}, {best.device})"


def _absent(model: str) -> str:
    return "not profiled in this run" if model in models.available() else "not implemented"


def paper_table1(res: RunResults, resolution: int = 256) -> pd.DataFrame:
    """Paper Table 1 (256×256) beside our counts and our measured speed."""
    prof = {p["model"]: p for p in res.profiles.values() if p["resolution"] == resolution}
    lat = latency_table(res)
    rows = []
    for model, paper in TABLE1.items():
        p = prof.get(model)
        speed = _best_speed(lat, model, resolution)
        rows.append(
            {
                "model": model,
                "params_M_paper": paper["params_m"].value,
                "params_M_ours": round(p["params"] / M, 2) if p else _absent(model),
                "GMACs_paper": paper["gmacs"].value,
                "GMACs_ours_true": round(p["macs"] / G, 3) if p else "",
                "GMACs_ours_paper_convention": round(p["macs_paper_convention"] / G, 3)
                if p
                else "",
                "img_per_s_paper": paper["speed_img_s"].value,
                "img_per_s_ours": speed or ("not timed at this size" if p else ""),
            }
        )
    return pd.DataFrame(rows)


def _our_protocol(res: RunResults, model: str) -> str:
    """Our numbers' setting in a few words, so a small-N FID on other data is not read as the
    paper's (50k images, FFHQ/LSUN, NVIDIA's legacy resize)."""
    for (dataset, m), q in res.quality.items():
        card = q.get("card") or {}
        if m == model:
            modes = "/".join(card.get("modes") or []) or "no"
            return (
                f"{dataset}, N = {card.get('num_gen')} gen / {card.get('num_real')} real, "
                f"{modes} mode →"
            )
    return "not evaluated →"


def paper_table2(res: RunResults) -> pd.DataFrame:
    """Paper Table 2 beside what this run measured, with the measured metric's real name."""
    rows = []
    for model, paper in TABLE2.items():
        row = {"model": model}
        for key, num in paper.items():
            row[f"paper_{key}"] = num.value
        # a marker column between the paper's numbers and ours: a proxy FD never sits next to
        # the paper's FID as if it were one
        row["ours_protocol"] = "PROXY features →" if res.proxy else _our_protocol(res, model)
        for (dataset, m), q in res.quality.items():
            if m != model:
                continue
            for name, value in q["summary"].items():
                info = registry.key_info(name, None)
                if info is not None and info.metric in TABLE2_METRICS:
                    row[f"ours_{dataset}_{name}"] = round(value, 4)
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, name: str = "") -> str:
    """The table as a reader sees it (columns.display), then a key from the human names back to
    the CSV's machine names for every metric and measure column, with how it was measured."""
    if df is None or df.empty:
        return "_no data_\n"
    md = columns.display(name, df).to_markdown(index=False, disable_numparse=True) + "\n"
    keys = columns.legend(df)
    if keys:
        md += "\nColumns (CSV name = shown name: protocol):\n\n"
        for pairs, proto in keys:
            md += "- " + "; ".join(f"`{col}` = {label}" for col, label in pairs) + f": {proto}\n"
    return md
