"""The report's speed explanations from hand-made profiles (tests/report_results.py's results
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
from tests.report_results import build_results

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


def _more_batches(lat: dict, macs: float) -> None:
    """Batch sizes 2 and 8 beside the fixture's 1 and 4 at 64 px: four per model, what a
    throughput-against-batch line needs (batch b at 0.8 b times batch 1's median)."""
    one = lat["by_batch"]["1"]
    for b in (2, 8):
        ms = one["median_ms"] * 0.8 * b
        lat["by_batch"][str(b)] = {
            **one,
            "median_ms": ms,
            "images_per_s": b / (ms / 1e3),
            "achieved_macs_per_s": macs * b / (ms / 1e3),
        }


VARIANT_MS = {"pixelfolder": 9.0, "cips": 14.0, "stylegan2": 11.0}  # the trained variant, 64 px


def _variant_latency(doc: dict) -> None:
    """A batch-1 timing of the trained variant itself, at the resolution it was evaluated at."""
    ms = VARIANT_MS[doc["model"]]
    info = {"device": "cpu", "device_name": "Intel(R) Xeon(R) Processor", "threads": 2}
    row = {"median_ms": ms, "ci95_ms": [ms * 0.95, ms * 1.1], "valid": True}
    doc.update(resolution=64, latency={"device_info": info, "by_batch": {"1": row}})


def _augment(root) -> None:
    """Roofline keys on every latency row, 256-px batch-1 latency and blocks for each model,
    four batch sizes at 64 px, quality evaluated at 64 px, and each trained variant timed
    there too (the quality-vs-latency plot pairs only timings of the evaluated network)."""
    lay = Layout(root)
    profiles = {}
    for path in sorted(root.rglob("*.json")):
        doc = json.loads(path.read_text())
        if path.parent.name == "profile_variant":
            _variant_latency(doc)
        elif doc.get("schema") == "pixbench.efficiency/1":
            m, r = doc["model"], doc["resolution"]
            if r == 256:
                lat = json.loads(json.dumps(doc_64[m]["latency"]))
                lat["by_batch"] = {"1": {**lat["by_batch"]["1"], "median_ms": MS_256[m]}}
                row = lat["by_batch"]["1"]
                row["achieved_macs_per_s"] = doc["macs"] / (row["median_ms"] / 1e3)
                row["images_per_s"] = 1e3 / row["median_ms"]
                doc["latency"] = lat
                doc["blocks"] = _blocks(m, doc["macs"])
            else:
                _more_batches(doc["latency"], doc["macs"])
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
    names = ("roofline", "time_vs_macs_by_block_256", "pareto_quality_vs_latency")
    for name in (*names, "throughput_vs_batch"):
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
        "whole forward (latency row)",
    ]
    # one forward time per row: the blocks' shares of the hooked forward scaled onto the
    # latency row's median, so they add up to it (float sums of four terms: 1e-9 relative)
    assert pf.block_ms.iloc[-1] == MS_256["pixelfolder"]
    assert pf.block_ms.iloc[:-1].sum() == pytest.approx(MS_256["pixelfolder"], rel=1e-9)
    assert pf.block_ms.iloc[:-1].tolist() == pytest.approx(
        (MS_256["pixelfolder"] * pf.share_time.iloc[:-1]).tolist(), rel=1e-9
    )
    assert pf.hooked_over_plain.iloc[-1] == pytest.approx(101.0 / MS_256["pixelfolder"])
    md = (full.parent / "blocks.md").read_text()
    assert "Share of time (%)" in md and "Time (share × forward median) (ms) ↓" in md


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
    """The bare folder times the full-width models only (batch 1 and 4 at 64 px): no roofline,
    no same-variant latency to pair quality with, too few batch sizes for a throughput line."""
    bare, _ = reports
    page = bare.read_text()
    assert "roofline of the timing device, models at 64 and 256 px: not drawn, no profile" in page
    assert "latency of the same variant: not drawn, no trained variant was timed" in page
    assert "not drawn, throughput against batch needs ≥ 4 batch sizes per model at a " in page
    assert "this run timed 1, 4 at 64 px (profile.latency lists them)" in page
    for name in ("roofline", "pareto_quality_vs_latency", "throughput_vs_batch"):
        assert not (bare.parent / "plots" / f"{name}.png").exists(), name


def test_quality_is_paired_only_with_the_same_variants_latency(reports):
    """The Pareto plot's latencies are the trained variants' own timings (VARIANT_MS with their
    95 % CI), never the full-width models' 64-px medians of the same folder."""
    _, full = reports
    drawn = pd.read_csv(full.parent / "plots" / "pareto_quality_vs_latency.csv")
    by = drawn.set_index("model")
    for m, ms in VARIANT_MS.items():
        assert (by.loc[m, "ms"], by.loc[m, "lo"], by.loc[m, "hi"]) == (ms, ms * 0.95, ms * 1.1)
    assert by.fd_proxy_clean.notna().all() and set(by.resolution) == {64}


def test_throughput_draws_only_resolutions_with_four_batch_sizes(reports):
    """64 px has batches 1, 2, 4, 8 (drawn); 256 px has batch 1 only (left out, and said so).
    The whiskers are the latency table's 95 % CI turned into images/s: b ÷ (CI high in s) is the
    low rate, b ÷ (CI low in s) the high one (the same floats, so equal)."""
    _, full = reports
    drawn = pd.read_csv(full.parent / "plots" / "throughput_vs_batch.csv")
    assert set(drawn.resolution) == {64} and set(drawn.batch) == {1, 2, 4, 8}
    lat = pd.read_csv(full.parent / "latency.csv")
    lat = lat[lat.valid & (lat.resolution == 64)].set_index(["model", "batch"])
    for _, r in drawn.iterrows():
        row = lat.loc[(r.model, r.batch)]
        assert r.images_per_s_lo == r.batch * 1e3 / row.ci95_hi_ms
        assert r.images_per_s_hi == r.batch * 1e3 / row.ci95_lo_ms
        assert r.images_per_s_lo < r.images_per_s < r.images_per_s_hi
    svg = (full.parent / "plots" / "throughput_vs_batch.svg").read_text()
    legend = svg.split('<g id="legend')[-1]
    assert "64 px" in legend and "256 px" not in legend  # no entry for a line not drawn


def test_headline_counts_inconclusive_and_orders_quality(reports):
    """The rendered headline counts inconclusive claims apart, and orders the models' quality by
    the per-seed rule: the fixture's two seeds per model (mean ± 15 %) give t_{0.975,1} = 12.7
    wide intervals, so no pair separates."""
    _, full = reports
    head = full.read_text().split("id='headline'")[1].split("</div>")[0]
    assert " were inconclusive, " in head
    assert "Quality ordering on fd_proxy_clean" in head
    assert "not separable at N = 64 (seeds 0, 1)" in head
    md = (full.parent / "headline.md").read_text()
    assert "not separable at N = 64 (seeds 0, 1)" in md
    claims = (full.parent / "claims.md").read_text()
    assert "ln(CI high ÷ median)" in claims  # how the shown speed intervals were made
    assert "ln(CI high ÷ median)" in full.read_text().split("Paper claims vs measured</h2>")[1]


def test_one_utilization_per_row_on_the_device_roofline(tmp_path):
    """Two jobs on one device whose kernels reached different peaks (40 and 80 GMAC/s): the
    latency table, the roofline plot's points and the speed claim's explanation all give each
    row its utilization against the device's best roofs, min(80 GMAC/s, 10 GB/s × 30 MAC/B) =
    80 GMAC/s (exact arithmetic on the same floats, so equal to the printed digits)."""
    from benchmarks.claims import speed
    from reports import tables
    from reports.collect import RunResults
    from reports.speed_plots import roofline_points

    info = {"device": "cpu", "device_name": "Test CPU", "threads": 2}
    profiles = {}
    for m, ms, peak in (("pixelfolder", 400.0, 40e9), ("cips", 5600.0, 80e9)):
        macs = {"pixelfolder": 23.74e9, "cips": 222.9e9}[m]
        row = {
            "median_ms": ms,
            "ci95_ms": [ms * 0.99, ms * 1.01],
            "iqr_ms": ms * 0.02,
            "repeats": 9,
            "achieved_macs_per_s": macs / (ms / 1e3),
            "images_per_s": 1e3 / ms,
            "intensity_macs_per_byte": 30.0,
            "attainable_macs_per_s": peak,  # the job's own: what the report must not show
            "utilization": macs / (ms / 1e3) / peak,
            "valid": True,
            "noisy": False,
        }
        roof = {"peak_macs_per_s": peak, "peak_kernel": "conv", "bandwidth_bytes_per_s": BW}
        lat = {"device_info": info, "matmul_macs_per_s": peak, "roof": roof, "by_batch": {"1": row}}
        profiles[(m, 256)] = {
            "model": m,
            "resolution": 256,
            "macs": macs,
            "macs_paper_convention": macs,
            "latency": lat,
        }
    res = RunResults(root=tmp_path, config={}, profiles=profiles)
    lat = tables.latency_table(res).set_index("model")
    points = roofline_points(res)[0].set_index("model")
    expl = speed.speed_row(profiles, "cips").explanation
    for m, name in (("pixelfolder", "PixelFolder"), ("cips", "CIPS")):
        p = profiles[(m, 256)]["latency"]["by_batch"]["1"]
        util = p["achieved_macs_per_s"] / min(80e9, BW * 30.0)
        assert lat.loc[m, "utilization_vs_attainable"] == util
        assert lat.loc[m, "attainable_GMAC_per_s"] == min(80e9, BW * 30.0) / 1e9
        assert lat.loc[m, "peak_GMAC_per_s"] == 80.0
        assert points.loc[m, "utilization"] == util
        assert f"{name} at {util:.2f} of its attainable 80 GMAC/s" in expl
    assert lat.loc["pixelfolder", "job_peak_GMAC_per_s"] == 40.0
