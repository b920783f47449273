"""The report from a small synthetic-but-realistic results folder (tests/report_results.py: the
shapes of the tiny run's files, the numbers of the real full-width architectures, claims through
the real claim writer): machine-readable CSVs keep their snake_case columns, the Markdown and
HTML read as a person would (human column names with units, rounded numbers), the headline says
what held, every claim is charted, invalid timings are shown as invalid, and reports/ stays in
small pieces."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.report_results import FD, build_results


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from reports.render import render

    base = tmp_path_factory.mktemp("report")
    results, cfg = build_results(base / "results")
    html = render(results, base / "report", cfg)
    return base / "report", html


def test_every_output_file_is_written(rendered):
    out, html = rendered
    assert html == out / "report.html"
    for name in (
        "efficiency",
        "quality",
        "latency",
        "scaling",
        "table1_vs_paper",
        "table2_vs_paper",
    ):
        assert (out / f"{name}.csv").exists() and (out / f"{name}.md").exists(), name
    assert (out / "claims.md").exists() and (out / "headline.md").exists()
    for plot in (  # throughput_vs_batch: batches 1 and 4 only, too few (tests/test_report_plots)
        "scaling",
        "training_curves",
        "pareto_quality_vs_macs",
        "quality_metrics",
        "claims_paper_vs_measured",
    ):
        assert (out / "plots" / f"{plot}.png").exists() and (out / "plots" / f"{plot}.svg").exists()
    assert (out / "samples" / "faces_cips.png").exists()
    assert (out / "stages" / "faces_cips.png").exists()
    assert (out / "nearest" / "faces_cips.png").exists()


def test_run_box_names_the_preset_and_each_change_and_nearest_reals_are_shown(rendered):
    """The run box says what was trained off the paper recipe (run.json `off_recipe`); the
    learned-not-copied panels sit in their own section with the real-to-real scale."""
    out, html = rendered
    page = html.read_text()
    box = page[page.index("What this run used") : page.index("id='headline'")]
    assert "preset cpu-auto" in box and "r1_gamma 0.0128 (official 10)" in box, box
    assert "cips on faces: each row a sample (left), then its 3 nearest real images" in page
    assert "against 0.90, the median distance" in page


def test_csv_columns_stay_machine_readable(rendered):
    out, _ = rendered
    eff = pd.read_csv(out / "efficiency.csv")
    assert {
        "model",
        "resolution",
        "params",
        "GMACs",
        "GMACs_paper_convention",
        "train_saved_MiB",
        "counter_max_rel_diff",
    } <= set(eff.columns)
    qual = pd.read_csv(out / "quality.csv")
    assert {"fd_proxy_clean", "fd_proxy_clean_std", "precision_proxy"} <= set(qual.columns)
    assert pd.api.types.is_float_dtype(qual["fd_proxy_clean"])  # numbers, not "x ± y" strings
    assert qual.set_index("model").loc["cips", "fd_proxy_clean"] == pytest.approx(FD["cips"])
    lat = pd.read_csv(out / "latency.csv")
    assert {"model", "batch", "valid", "invalid_reason", "roof_spread"} <= set(lat.columns)


def test_markdown_reads_with_human_names_and_units(rendered):
    out, _ = rendered
    eff = (out / "efficiency.md").read_text()
    # the measures' declared labels, units and directions (benchmarks/profiling/measures)
    for name in (
        "Params (M) ↓",
        "MACs, true (G) ↓",
        "MACs, paper convention (G) ↓",
        "Train activations saved (MiB) ↓",
        "Counter spread (%)",
    ):
        assert name in eff, name
    assert "Counter spread (%) ↓" not in eff  # context, not a figure of merit
    assert "45.12" in eff and "45.124673536" not in eff  # 4 significant digits, not 12
    assert "- `params` = Params ↓; `params_M` = Params (M) ↓: trainable parameters" in eff
    lat = (out / "latency.md").read_text()
    assert "Median latency (ms) ↓" in lat and "Throughput (images/s) ↑" in lat
    assert "`valid`" not in lat  # validity is folded into Status, not a column of its own
    qual = (out / "quality.md").read_text()
    assert "Fréchet distance (proxy features) [clean] ↓" in qual  # registry label + direction
    assert "`fd_proxy_clean` = " in qual  # the key back to the CSV's machine name
    assert "17.3 ± 3.7" in qual  # mean to the 2 significant digits of its seed spread


def test_invalid_latency_rows_are_shown_as_invalid(rendered):
    out, html = rendered
    lat = pd.read_csv(out / "latency.csv")
    bad = lat[~lat.valid]
    assert set(zip(bad.model, bad.batch, strict=True)) == {
        ("pixelfolder", 4),
        ("cips", 1),
        ("cips", 4),
    }
    md = (out / "latency.md").read_text()
    assert md.count("INVALID: ") == 3 and "utilization 1." in md and "roof moved 56 %" in md
    page = html.read_text()
    assert len(re.findall(r"<tr id='row-latency-[^']+' class='invalid'>", page)) == 3
    t1 = pd.read_csv(out / "table1_vs_paper.csv")
    assert t1.img_per_s_ours.fillna("").str.contains("batch").sum() == 0  # 256 px was not timed


def test_headline_and_claims_chart(rendered):
    out, html = rendered
    page = html.read_text()
    head = page.split("id='headline'")[1].split("</div>")[0]
    assert "paper claims checked" in head and "held" in head
    assert "Held only under the paper&#x27;s MAC convention" in head
    assert "StyleGAN2 needs 83.77 GMACs at 256 (Table 1): paper 83.77 G, measured 45.125 G" in head
    assert "were not measured" in head
    assert 'id="claims-chart"' in page and page.index('id="claims-chart"') < page.index("<h2")
    md = (out / "headline.md").read_text()
    assert md.count("\n- ") >= 5


def test_folded_details_and_citations(rendered):
    _, html = rendered
    page = html.read_text()
    assert page.count("<details>") == 1 + 3  # run config + one metric card per (dataset, model)
    assert "<summary>faces/cips: proxy features, 64 generated vs 128 real" in page
    assert "../../docs" not in page and "href='../" not in page  # opened from anywhere
    assert '<code><a href="docs/macs.md">docs/macs.md</a></code> in the pixbench' in page
    assert "paper Table 1 (256×256)" in page
    body = page.split("<body>")[1]
    assert "http://" not in body.split("base64")[0] and "https://" not in body.split("base64")[0]


def test_what_the_run_used_comes_before_any_verdict(rendered):
    _, html = rendered
    page = html.read_text()
    assert page.index("What this run used") < page.index("id='headline'")
    assert "3 models, 1 dataset," in page and "1 datasets" not in page


def test_proxy_numbers_are_kept_apart_from_the_papers(rendered):
    out, html = rendered
    page = html.read_text()
    t2 = (out / "table2_vs_paper.md").read_text()
    first = next(line for line in t2.splitlines() if line.startswith("|"))
    header = [c.strip() for c in first.split("|")]
    marker = header.index("Our protocol ⚠")
    assert all("paper" in c for c in header[2:marker])  # the paper's columns, then the marker
    assert all("PROXY" in c for c in header[marker + 1 : -1])
    assert "PROXY features →" in t2
    assert "fid50k_full" not in (out / "quality.md").read_text()  # proxy: no NVIDIA FID name
    assert "Images/s, ours ⚠" in (out / "table1_vs_paper.md").read_text()
    assert "mean ± std over 2 sampling seeds ([0, 1]) of one trained generator" in page
    assert "64 generated images per seed against the same 128 real images" in page
    assert "generated images per snapshot, one seed (0)" in page


def test_claims_csv_without_numeric_columns_is_refused(tmp_path):
    """An older claims.csv (no numeric columns) is refused in one line, not charted from guesses
    (reports.headline; tests/test_headline.py has the message)."""
    from reports import plots
    from reports.headline import ClaimsFormatError

    results, cfg = build_results(tmp_path / "results", claims_numbers=False)
    claims = pd.read_csv(results / "claims.csv")
    assert "paper_value" not in claims
    with pytest.raises(ClaimsFormatError):
        plots.claims_chart(claims, tmp_path / "plots")
