"""Tables of a run (pandas DataFrames), each written as CSV (data) and Markdown (reading)."""

from __future__ import annotations

import pandas as pd

import models
from benchmarks.claims.paper import TABLE1, TABLE2, TABLE2_METRICS
from benchmarks.quality import registry
from reports import columns
from reports.collect import RunResults

G = 1e9
M = 1e6
MIB = 2**20


def efficiency_table(res: RunResults) -> pd.DataFrame:
    rows = []
    for p in res.profiles:
        act = p.get("activation_bytes", {})
        rows.append(
            {
                "model": p["model"],
                "resolution": p["resolution"],
                "params": p["params"],
                "params_M": p["params"] / M,
                "GMACs": p["macs"] / G,
                "GMACs_paper_convention": p["macs_paper_convention"] / G,
                "GMACs_fir": p["macs_fir"] / G,
                "train_saved_MiB": act.get("train_saved", float("nan")) / MIB,
                "inference_peak_MiB": act.get("inference_peak_live", float("nan")) / MIB,
                "counter_max_rel_diff": p.get("counter_agreement", {}).get("max_rel_diff"),
            }
        )
    return pd.DataFrame(rows).sort_values(["resolution", "model"]).reset_index(drop=True)


def scaling_table(res: RunResults) -> pd.DataFrame:
    t = efficiency_table(res)
    return t[["model", "resolution", "params", "GMACs", "GMACs_paper_convention", "GMACs_fir",
              "train_saved_MiB", "inference_peak_MiB"]]  # fmt: skip


def _validity(b: dict, lat: dict) -> tuple[bool, str | None]:
    """A row's validity as the profiler judged it; a profile from before roof tracking is judged
    here on the one rule it allows (utilization above 1 is impossible)."""
    if "valid" in b:
        return bool(b["valid"]), b.get("invalid_reason")
    if not b["utilization"] < 1:
        return False, f"utilization {b['utilization']:.2f} > 1 (roof not tracked in this profile)"
    return True, None


def latency_table(res: RunResults) -> pd.DataFrame:
    """One row per timed batch size; `valid` False (with `invalid_reason`) for a row whose
    figures are not results (benchmarks.profiling.timing.Roof.check_row)."""
    rows = []
    for p in res.profiles:
        lat = p.get("latency")
        if not lat:
            continue
        info, roof = lat["device_info"], lat.get("roof", {})
        for batch, b in lat["by_batch"].items():
            valid, why = _validity(b, lat)
            rows.append(
                {
                    "model": p["model"],
                    "resolution": p["resolution"],
                    "batch": int(batch),
                    "median_ms": b["median_ms"],
                    "iqr_ms": b["iqr_ms"],
                    "images_per_s": b["images_per_s"],
                    "achieved_GMAC_per_s": b["achieved_macs_per_s"] / G,
                    "utilization_vs_matmul": b["utilization"],
                    "matmul_GMAC_per_s": lat["matmul_macs_per_s"] / G,
                    "roof_min_GMAC_per_s": roof.get("min_macs_per_s", float("nan")) / G,
                    "roof_max_GMAC_per_s": roof.get("max_macs_per_s", float("nan")) / G,
                    "roof_spread": roof.get("spread", float("nan")),
                    "valid": valid,
                    "invalid_reason": why,
                    "device": f"{info['device']} ({info['device_name']}, {info['threads']} threads)",
                }
            )
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values(["resolution", "model", "batch"]).reset_index(drop=True)


def valid_latency(lat: pd.DataFrame) -> pd.DataFrame:
    """Only the rows whose figures are results."""
    return lat if lat.empty else lat[lat["valid"].astype(bool)]


def quality_table(res: RunResults) -> pd.DataFrame:
    """One row per (dataset, model); one numeric column per result key (`fd_proxy_clean`, never
    `fid`, for proxy features: the names the metric registry gave them), the mean over seeds,
    and `<key>_std` beside it when several seeds were evaluated."""
    rows = []
    for (dataset, model), q in sorted(res.quality.items()):
        row = {
            "dataset": dataset,
            "model": model,
            "variant": res.runs.get((dataset, model), {}).get("variant", ""),
            "kimg": q["generator"].get("kimg"),
            "extractor": q["card"]["extractor"],
        }
        for name, value in q["metrics"].items():
            stats = (
                {name: value} if "mean" in value else {f"{name}_{m}": s for m, s in value.items()}
            )
            for key, stat in stats.items():  # per-mode metrics: one entry per FID protocol
                row[key] = stat["mean"]
                if stat.get("std") is not None:
                    row[f"{key}_std"] = stat["std"]
        variant = res.variants.get((dataset, model))
        if variant:
            row["GMACs_of_variant"] = variant["macs"] / G
            row["params_of_variant"] = variant["params"]
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
    prof = {p["model"]: p for p in res.profiles if p["resolution"] == resolution}
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


def paper_table2(res: RunResults) -> pd.DataFrame:
    """Paper Table 2 beside what this run measured, with the measured metric's real name."""
    rows = []
    for model, paper in TABLE2.items():
        row = {"model": model}
        for key, num in paper.items():
            row[f"paper_{key}"] = num.value
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
    the CSV's machine names for every metric column."""
    if df is None or df.empty:
        return "_no data_\n"
    md = columns.display(name, df).to_markdown(index=False, disable_numparse=True) + "\n"
    keys = columns.legend(df)
    if keys:
        md += "\nColumns (CSV name = shown name: protocol):\n\n"
        md += "".join(f"- `{col}` = {label}: {proto}\n" for col, label, proto in keys)
    return md
