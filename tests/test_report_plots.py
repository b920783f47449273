"""The report's plots carry their uncertainty and can be traced: every plot has its numbers as
CSV beside its PNG and SVG and the page links both; quality bars take their whiskers from the
quality table (the seeds' std, or the metric's own 95 % CI); the claims chart draws the speed
claims' intervals; throughput against batch is drawn only from 4 batch sizes up, else the page
says why; figures fit the page's width; the duplicate quality-vs-training-cost plot is gone."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image

from tests.report_results import build_results

CONTENT_PX = 1168  # the report body's 1200 px less its 1em padding each side


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from reports.render import render

    base = tmp_path_factory.mktemp("plots")
    results, cfg = build_results(base / "results")
    return render(results, base / "report", cfg)


def test_every_plot_has_its_data_and_links_and_fits_the_page(rendered):
    plots = rendered.parent / "plots"
    page = rendered.read_text()
    pngs = sorted(plots.glob("*.png"))
    assert len(pngs) >= 6
    for png in pngs:
        name = png.stem
        assert png.with_suffix(".svg").exists() and png.with_suffix(".csv").exists(), name
        assert not pd.read_csv(png.with_suffix(".csv")).empty, name
        line = (
            f"<p class='files'>Plot: <a href=\"plots/{name}.svg\">SVG</a> · "
            f'<a href="plots/{name}.csv">data</a></p>'
        )
        assert line in page, name
        with Image.open(png) as im:  # shown at its own size, not scaled down with its text
            assert im.width <= CONTENT_PX, (name, im.width)
    assert not (plots / "quality_vs_training_cost.png").exists()  # the training plot has it


def test_img_tag_links_only_plots(tmp_path):
    from reports import html as H

    grid = tmp_path / "samples" / "faces_cips.png"
    grid.parent.mkdir()
    Image.new("RGB", (4, 4)).save(grid)
    assert "class='files'" not in H.img_tag(grid, "a sample grid")
    assert "class='files'" not in H.figure(grid, "a sample grid")


def _quality_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": ["faces", "faces"],
            "model": ["a", "b"],
            "seeds": ["0, 1, 2", "0, 1, 2"],
            "fid_clean": [30.0, 40.0],
            "fid_clean_std": [2.0, 3.0],
            "kid_clean": [0.02, 0.03],
            "kid_clean_std": [0.004, 0.005],
            "kid_clean_ci_lo": [0.015, 0.022],
            "kid_clean_ci_hi": [0.026, 0.037],
            "precision_inception": [0.5, 0.6],
        }
    )


def test_quality_bars_take_their_whiskers_from_the_table(tmp_path):
    """FID: mean ± std over the 3 seeds; KID: its own 95 % CI, not its std; one-seed precision
    (no std column): no whisker. The figure says what the seeds vary."""
    from reports.plots import OWN_CI, STD, quality_metrics

    quality_metrics(_quality_frame(), tmp_path)
    drawn = pd.read_csv(tmp_path / "quality_metrics.csv")
    drawn["interval"] = drawn.interval.fillna("")
    fid = drawn[drawn.key == "fid_clean"].set_index("model")
    assert list(fid.lo) == [28.0, 37.0] and list(fid.hi) == [32.0, 43.0]
    assert set(fid.interval) == {STD} and set(fid.seeds) == {3}
    kid = drawn[drawn.key == "kid_clean"].set_index("model")
    assert list(kid.lo) == [0.015, 0.022] and list(kid.hi) == [0.026, 0.037]
    assert set(kid.interval) == {OWN_CI}
    assert set(drawn[drawn.key == "precision_inception"].interval) == {""}
    svg = (tmp_path / "quality_metrics.svg").read_text()
    assert "3 sampling seeds" in svg and "not the training run" in svg


def _claims(with_interval: bool) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "claim": ["PixelFolder generates 7.06× the images/s of CIPS", "PixelFolder has 20 M"],
            "verdict": ["not reproduced", "reproduced"],
            "paper_value": [7.06, 20.0],
            "measured_value": [9.49, 20.1],
            "unit": ["× speed", "M params"],
        }
    )
    if with_interval:
        df["measured_lo"], df["measured_hi"] = [9.29, math.nan], [9.70, math.nan]
    return df


@pytest.mark.parametrize("with_interval", [True, False])
def test_claims_chart_draws_speed_intervals_where_claims_have_them(tmp_path, with_interval):
    from reports.plots import claims_chart

    assert claims_chart(_claims(with_interval), tmp_path) is not None
    drawn = pd.read_csv(tmp_path / "claims_paper_vs_measured.csv")
    speed = drawn[drawn.unit == "× speed"].iloc[0]
    if with_interval:
        assert (speed.measured_lo, speed.measured_hi) == (9.29, 9.70)
    else:  # a claims.csv from before the interval columns: no whisker, no error
        assert math.isnan(speed.measured_lo) and math.isnan(speed.measured_hi)
    assert drawn.measured_lo.isna().iloc[1]  # a count claim has no interval
    assert ("95 % interval" in (tmp_path / "claims_paper_vs_measured.svg").read_text()) is (
        with_interval
    )


def _latency(batches: dict) -> pd.DataFrame:
    rows = [
        {"model": m, "resolution": r, "batch": b, "median_ms": 10.0 * b, "images_per_s": 100.0,
         "ci95_lo_ms": 9.0 * b, "ci95_hi_ms": 12.0 * b, "valid": True, "device": "cpu (test)"}
        for (m, r), sizes in batches.items()
        for b in sizes
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_throughput_needs_four_batch_sizes(tmp_path):
    """The default config's timing (1 and 16 at 64 px, 1 at 256): not drawn, and why; a model
    with 4 batch sizes is drawn, the other resolution's lone point is left out."""
    from reports.efficiency_plots import throughput

    default = _latency({("a", 64): [1, 16], ("a", 256): [1], ("b", 64): [1, 16]})
    path, why = throughput(default, tmp_path)
    assert path is None and "needs ≥ 4 batch sizes per model" in why
    assert "this run timed 1, 16 at 64 px; 1 at 256 px" in why
    path, why = throughput(_latency({("a", 64): [1, 2, 4, 8], ("a", 256): [1]}), tmp_path)
    assert why is None and path.exists()
    drawn = pd.read_csv(tmp_path / "throughput_vs_batch.csv")
    assert list(drawn.batch) == [1, 2, 4, 8] and set(drawn.resolution) == {64}
    assert list(drawn.images_per_s_lo) == [b * 1e3 / (12.0 * b) for b in (1, 2, 4, 8)]


def test_scaling_axes_have_units_and_no_stray_legend_heading(rendered):
    svg = (rendered.parent / "plots" / "scaling.svg").read_text()
    assert "resolution (px)" in svg and "GMACs" in svg
    assert (
        ">column<" not in svg
        and "column" not in pd.read_csv(rendered.parent / "plots" / "scaling.csv").series.unique()
    )


def test_block_labels_are_the_block_names_on_their_own_rows(tmp_path):
    """Horizontal bars: each block's full name is a y tick (CIPS "group 1 (512 ch)" and its
    neighbours no longer overlap as point labels did); the CSV gives the shares in %."""
    from reports.speed_plots import block_shares

    names = [f"group {i} (512 ch)" for i in range(5)]
    rows = [
        {"block": n, "macs": 1e9, "share_macs": 0.2, "share_time": 0.19, "ms": 19.0,
         "q1_ms": 18.0, "q3_ms": 20.0}
        for n in names
    ]  # fmt: skip
    blocks = {"batch": 1, "rows": rows, "sum_ms": 95.0, "whole_ms": 100.0}
    blocks.update(whole_q1_ms=98.0, whole_q3_ms=102.0)
    prof = {"model": "cips", "resolution": 256, "blocks": blocks}
    path, why = block_shares(SimpleNamespace(profiles={("cips", 256): prof}), tmp_path)
    assert why is None and Path(path).exists()
    svg = Path(path).with_suffix(".svg").read_text()
    assert all(f">{n}<" in svg for n in names)
    drawn = pd.read_csv(Path(path).with_suffix(".csv"))
    assert drawn.pct_time.tolist() == pytest.approx([19.0] * 5)
    # whiskers as wide as the table's Time IQR (20 − 18 ms) in share of the forward
    assert drawn.pct_time_iqr.tolist() == pytest.approx([19.0 * 2 / 19] * 5)
