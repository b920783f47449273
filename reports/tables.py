"""Tables of a run (pandas DataFrames), each written as CSV (data) and Markdown (reading)."""

from __future__ import annotations

import pandas as pd

from benchmarks.claims.paper import TABLE1, TABLE2, TABLE2_METRICS
from benchmarks.quality import registry
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


def latency_table(res: RunResults) -> pd.DataFrame:
    rows = []
    for p in res.profiles:
        lat = p.get("latency")
        if not lat:
            continue
        info = lat["device_info"]
        for batch, b in lat["by_batch"].items():
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
                    "device": f"{info['device']} ({info['device_name']}, {info['threads']} threads)",
                }
            )
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values(["resolution", "model", "batch"]).reset_index(drop=True)


def _fmt_stat(stat: dict) -> str:
    if stat.get("std") is None:
        return f"{stat['mean']:.4g}"
    return f"{stat['mean']:.4g} ± {stat['std']:.2g}"


def quality_table(res: RunResults) -> pd.DataFrame:
    """One row per (dataset, model); metric columns carry the names the metric code gave them
    (`fd_proxy_clean`, never `fid`, for proxy features)."""
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
            if "mean" in value:
                row[name] = _fmt_stat(value)
            else:  # one entry per FID protocol
                for mode, stat in value.items():
                    row[f"{name}_{mode}"] = _fmt_stat(stat)
        variant = res.variants.get((dataset, model))
        if variant:
            row["GMACs_of_variant"] = variant["macs"] / G
            row["params_of_variant"] = variant["params"]
        rows.append(row)
    return pd.DataFrame(rows)


def paper_table1(res: RunResults, resolution: int = 256) -> pd.DataFrame:
    """Paper Table 1 (256×256) beside our counts and our measured speed."""
    prof = {p["model"]: p for p in res.profiles if p["resolution"] == resolution}
    lat = latency_table(res)
    rows = []
    for model, paper in TABLE1.items():
        p = prof.get(model)
        speed = ""
        if not lat.empty:
            mine = lat[(lat.model == model) & (lat.resolution == resolution)]
            if not mine.empty:
                best = mine.loc[mine.images_per_s.idxmax()]
                speed = f"{best.images_per_s:.3g} (batch {best.batch}, {best.device})"
        rows.append(
            {
                "model": model,
                "params_M_paper": paper["params_m"].value,
                "params_M_ours": round(p["params"] / M, 2) if p else "not implemented",
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


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    if df is None or df.empty:
        return "_no data_\n"
    return df.to_markdown(index=False, floatfmt=floatfmt) + "\n"
