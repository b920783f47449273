"""The top of the report is citable (issue 28): run, date, code version and commit, command and
config file (from the invocation record the workflow writes at start), timing device, and the
command that renders it again; training departures as one line per setting; docs mentions that
open from the report folder; claims.csv, with each claim's evidence rows, beside the report."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from common import invocation
from common.evidence import anchor, efficiency_ref, refs
from common.layout import Layout
from common.provenance import code_version
from reports import doc_links
from tests.report_results import build_results

COMMAND = ["/venv/bin/snakemake", "--cores", "all", "--configfile", "config/default.yaml"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from reports.render import render

    base = tmp_path_factory.mktemp("header")
    results, cfg = build_results(base / "results")
    invocation.record(Layout(results).path("invocation"), COMMAND, ["config/default.yaml"], base)
    html = render(results, base / "report", cfg, "config/default.yaml")
    return base / "report", html.read_text()


def _header(text: str) -> str:
    return text[text.index("<dl class='cite'>") : text.index("</dl>")]


def test_header_names_run_date_code_command_config_and_device(page):
    _, text = page
    head = _header(text)
    for label in ("Run", "Rendered", "Code", "Command", "Config", "Timing device", "Render again"):
        assert f"<dt>{label}</dt>" in head, label
    code = code_version()
    assert f"pixbench {code['version']}, commit {str(code['commit'])[:12]}" in head
    assert "<code>snakemake --cores all --configfile config/default.yaml</code>" in head
    assert re.search(r"<dt>Rendered</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC</dd>", head)
    assert "python -m reports.render --results" in head and "--config config/default.yaml" in head
    assert "`" not in text[: text.index("id='headline'")]  # no raw Markdown backticks on top


def test_a_run_without_a_record_says_so(tmp_path):
    from reports.render import render

    results, cfg = build_results(tmp_path / "results")
    head = _header(render(results, tmp_path / "report", cfg).read_text())
    assert "<dt>Command</dt><dd>not recorded (no invocation.json" in head


def test_a_copy_that_is_not_a_git_checkout_says_so(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "9.9"\n')
    found = code_version(str(tmp_path))
    assert found["version"] == "9.9" and found["commit"].startswith("unknown (")


def test_training_departures_are_one_line_per_setting(page):
    _, text = page
    box = text[text.index("<ul class='deviations'>") :].split("</ul>")[0]
    lines = re.findall(r"<li>(.*?)</li>", box)
    assert "r1_gamma 0.0128 (official 10): all models" in lines, lines
    assert len(lines) == len(set(lines)) and all(line.count("official") <= 1 for line in lines)


def test_docs_mentions_link_to_copies_beside_the_report(page):
    out, text = page
    assert '<a href="docs/macs.md">docs/macs.md</a>' in text
    assert (out / "docs" / "macs.md").is_file()
    assert "href='../" not in text and 'href="../' not in text


def test_doc_links_leave_attributes_and_existing_links_alone(tmp_path):
    doc = (
        '<p title="docs/macs.md">see docs/macs.md and docs/none.md</p><a href="x">docs/macs.md</a>'
    )
    out = doc_links.link_docs(doc, tmp_path)
    assert out.count('<a href="docs/macs.md">') == 1 and 'title="docs/macs.md"' in out
    assert "docs/none.md</p>" in out and '<a href="x">docs/macs.md</a>' in out


def test_claims_csv_sits_beside_the_report_with_evidence_rows(page):
    out, _ = page
    claims = pd.read_csv(out / "claims.csv")
    row = claims[claims.claim.str.startswith("PixelFolder has 53 % fewer parameters")].iloc[0]
    assert refs(row.evidence) == [efficiency_ref("pixelfolder", 256), efficiency_ref("cips", 256)]
    assert anchor(refs(row.evidence)[0]) == "row-efficiency-pixelfolder-256"
    assert {"measured_lo", "measured_hi", "evidence"} <= set(claims.columns)


def test_a_section_link_keeps_its_fragment_and_config_paths_are_relative(tmp_path):
    out = doc_links.link_docs("<p>see docs/architectures.md#inr-gan)</p>", tmp_path)
    assert '<a href="docs/architectures.md#inr-gan">docs/architectures.md#inr-gan</a>)' in out
    rec = invocation.record(tmp_path / "i.json", ["snakemake"], [tmp_path / "c.yaml"], tmp_path)
    assert rec["config_files"] == ["c.yaml"]


def test_rerun_commands_drop_the_recorded_runs_own_forcing(tmp_path):
    from reports.collect import RunResults
    from reports.header import rerun_command

    cmd = [
        "snakemake",
        "--cores",
        "all",
        "--forcerun",
        "report",
        "claims",
        "--configfile",
        "c.yaml",
    ]
    rec = invocation.record(tmp_path / "invocation.json", cmd, [], tmp_path)
    res = RunResults(root=tmp_path, config={"run": "x"}, invocation=rec)
    assert rerun_command(res, "profile") == (
        "snakemake --cores all --configfile c.yaml --forcerun profile"
    )
