"""The report's speed explanations from hand-made profiles (tests/test_report_render.py's results
folder, plus the keys the roofline, time-by-block and 256-px latency add): the roofline plot,
the time-by-block table and share plot, the quality-vs-latency Pareto plot and the speed-claim
rows; and, from the same folder without those keys, one line per figure saying why it is not
drawn."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks.claims.__main__ import to_csv
from benchmarks.claims.verdicts import claim_rows
from common.layout import Layout
from tests.test_report_render import build_results

PEAK, BW = 40e9, 10e9


def _roof(lat: dict, macs: float) -> None:
    lat["roof"].update(
        peak_macs_per_s=PEAK,
        peak_kernel="conv3x3 channels-last",
        bandwidth_bytes_per_s=BW,
        bandwidth_kernel="stream triad",
    )
    for row in lat["by_batch"].values():
        intensity = 30.0
        attainable = min(PEAK, BW * intensity)
        row.update(
            intensity_macs_per_byte=intensity,
            attainable_macs_per_s=attainable,
            utilization=row["achieved_macs_per_s"] / attainable,
            ci95_ms=[row["median_ms"] * 0.97, row["median_ms"] * 1.04],
            noisy=False,
            valid=True,
            invalid_reason=None,
        )


def _blocks(model: str, macs: float) -> dict:
    names = ["mapping", "stage 0 (16 px)", "stage 1 (64 px)", "stage 2 (256 px)"]
    share_m = [0.0001, 0.05, 0.25, 0.6999]
    share_t = [0.01, 0.1, 0.3, 0.59]
    rows = [
        {
            "block": n,
            "modules": [n],
            "macs": m * macs,
            "ms": 100 * t,
            "q1_ms": 95 * t,
            "q3_ms": 105 * t,
            "share_macs": m,
            "share_time": t,
        }
        for n, m, t in zip(names, share_m, share_t, strict=True)
    ]
    return {
        "batch": 1,
        "resolution": 256,
        "rows": rows,
        "rest_macs": 0,
        "whole_ms": 101.0,
        "whole_q1_ms": 99.0,
        "whole_q3_ms": 104.0,
        "sum_ms": 100.0,
        "tail_ms": 0.01,
    }


def _augment(root) -> None:
    """Roofline keys on every latency row, 256-px batch-1 latency and blocks for each model,
    quality evaluated at 64 px (where the full-width models are timed)."""
    lay = Layout(root)
    profiles = {}
    for path in sorted(root.rglob("*.json")):
        doc = json.loads(path.read_text())
        if doc.get("schema") == "pixbench.efficiency/1":
            m, r = doc["model"], doc["resolution"]
            if r == 256:
                lat = json.loads(json.dumps(doc_64[m]["latency"]))
                lat["by_batch"] = {"1": {**lat["by_batch"]["1"], "median_ms": MS_256[m]}}
                row = lat["by_batch"]["1"]
                row["achieved_macs_per_s"] = doc["macs"] / (row["median_ms"] / 1e3)
                row["images_per_s"] = 1e3 / row["median_ms"]
                doc["latency"] = lat
                doc["blocks"] = _blocks(m, doc["macs"])
            if "latency" in doc:
                _roof(doc["latency"], doc["macs"])
            profiles[(m, r)] = doc
        elif doc.get("schema") == "pixbench.quality/1":
            doc["generator"]["resolution"] = 64
        path.write_text(json.dumps(doc))
    lay.path("claims_csv").write_text(to_csv(claim_rows(profiles, {})))


MS_256 = {"pixelfolder": 400.0, "cips": 5600.0, "stylegan2": 900.0}
doc_64: dict = {}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    from reports.render import render

    base = tmp_path_factory.mktemp("speed")
    bare, cfg = build_results(base / "bare")
    full, _ = build_results(base / "full")
    for path in sorted(full.rglob("*.json")):
        doc = json.loads(path.read_text())
        if doc.get("schema") == "pixbench.efficiency/1" and doc["resolution"] == 64:
            doc_64[doc["model"]] = doc
    _augment(full)
    return render(bare, base / "r_bare", cfg), render(full, base / "r_full", cfg)


def test_figures_render_from_profiles_with_the_keys(reports):
    _, full = reports
    plots = full.parent / "plots"
    for name in ("roofline", "time_vs_macs_by_block_256", "pareto_quality_vs_latency"):
        assert (plots / f"{name}.png").exists() and (plots / f"{name}.svg").exists(), name
    page = full.read_text()
    assert "not drawn" not in page
    blocks = pd.read_csv(full.parent / "blocks.csv")
    assert {"block", "block_ms", "share_macs", "share_time", "block_GMACs"} <= set(blocks.columns)
    pf = blocks[blocks.model == "pixelfolder"]
    assert list(pf.block) == [
        "mapping",
        "stage 0 (16 px)",
        "stage 1 (64 px)",
        "stage 2 (256 px)",
        "whole forward (hooked)",
    ]
    assert pf.plain_forward_ms.iloc[-1] == MS_256["pixelfolder"]
    md = (full.parent / "blocks.md").read_text()
    assert "Share of time (%)" in md and "Time, median (ms) ↓" in md


def test_speed_claims_in_the_report(reports):
    _, full = reports
    claims = pd.read_csv(full.parent.parent / "full" / "claims.csv")
    speed = claims[claims.unit == "× speed"]
    assert len(speed) == 3
    cips = speed[speed.claim.str.contains("CIPS")].iloc[0]
    assert cips.measured.startswith("14.00×") and "cpu (Intel(R) Xeon(R) Processor" in cips.measured
    assert cips.verdict == "not reproduced" and "0.9" not in cips.verdict
    assert "of its attainable" in cips.explanation
    inr = speed[speed.claim.str.contains("INR-GAN")].iloc[0]
    assert inr.verdict == "not measured"
    assert "7.06×" in full.read_text()


def test_missing_keys_give_one_line_each(reports):
    bare, _ = reports
    page = bare.read_text()
    assert "roofline of the timing device, models at 64 and 256 px: not drawn, no profile" in page
    assert "against measured latency (Pareto front): not drawn, no valid batch-1 latency" in page
    assert not (bare.parent / "plots" / "roofline.png").exists()
