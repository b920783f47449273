"""The report's tables as a reader meets them (reports/table_view.py, reports/html.py): a table
with every column its measures declare, filled with the widest values a real run writes (long
device names, 5-digit timings, INVALID reasons, a real-Inception quality table with KID
intervals), is split by purpose into parts that each repeat the row's identifying columns; the
first part's rows carry the evidence ids a claim links to, unique in the page; long reasons fold
under their row; each table names its CSV, Markdown and command; and in headless Chromium no
part is wider than its box at 1280 px or on a printed A4 page."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from benchmarks.profiling import registry as measure_registry
from common import evidence
from reports import columns
from reports import html as H
from reports import table_view as TV
from tests import browser

DEVICE = "cuda (NVIDIA H100 80GB HBM3 MIG 7g.80gb, 16 threads)"  # the longest label we write
TEXT = {  # realistic widths of each text column a measure declares
    "timed_until": "±5 % target",
    "peak_kernel": "sgemm 4096×4096 fp32",
    "device": DEVICE,
    "variant_device": DEVICE,
    "block": "synthesis.b256.conv1",
    "speed_variant": "channels_last+bf16+compile",
    "variant_verdict": "inconclusive: timing CI wider than ±5 % (eager before, bf16 after)",
}
WHY = "matmul roof moved 56 % during the job (limit 25 %); utilization 1.03 > 1"


def _value(c: measure_registry.Column, i: int):
    """A value as wide as a real one in this column's declared format."""
    if c.name in TEXT:
        return TEXT[c.name]
    if c.fmt == "int":
        return 4096 * (i + 1)
    if c.fmt == "text":
        return "some context text"
    if c.percent:
        return 0.987654
    return 12345.678 / (i + 1)


def full_frame(measure: str, rows: int = 3) -> pd.DataFrame:
    """Rows of a row measure's table (tables.row_table's shape) with every declared column
    filled, the last row INVALID with a long reason."""
    cols = measure_registry.get(measure).columns
    out = []
    for i in range(rows):
        row = {"model": f"pixelfolder{i}", "resolution": 1024}
        row.update({c.name: _value(c, i) for c in cols})
        if measure_registry.VALID in row:
            row[measure_registry.VALID] = i < rows - 1
            row[measure_registry.REASON] = None if i < rows - 1 else WHY
            row["noisy"], row["noisy_reason"] = False, None
        out.append(row)
    return pd.DataFrame(out)


def efficiency_frame() -> pd.DataFrame:
    cols = measure_registry.columns("efficiency")
    return pd.DataFrame(
        [
            {"model": m, "resolution": 1024, **{c.name: _value(c, i) for c in cols}}
            for i, m in enumerate(("pixelfolder", "cips", "stylegan2"))
        ]
    )


def quality_frame() -> pd.DataFrame:
    """A real-Inception quality table (reference names, per-mode FID, KID with its interval,
    DINOv2 and CMMD) for three models, with the trained variants' cost."""
    rows = []
    for i, model in enumerate(("pixelfolder", "cips", "stylegan2")):
        row = {
            "dataset": "faces",
            "model": model,
            "variant": "narrow variant (width=0.0625, z_dim=32, n_mlp=2)",
            "kimg": 10.0,
            "extractor": "inception",
            "n_gen": 1000,
            "n_real": 2000,
            "seeds": "0, 1, 2",
        }
        for key in ("fid_clean", "fid_legacy_tensorflow", "kid_clean", "kid_legacy_tensorflow"):
            row[key], row[f"{key}_std"] = 123.456 + i, 12.345
        for key in ("kid_clean", "kid_legacy_tensorflow"):
            row[f"{key}_ci_lo"], row[f"{key}_ci_hi"] = 0.0123, 0.0456
        for key in ("precision", "recall", "density", "coverage", "fd_dinov2", "cmmd"):
            row[key], row[f"{key}_std"] = 0.1234, 0.0123
        row["params_of_variant"], row["GMACs_of_variant"] = 151000, 0.006
        rows.append(row)
    return pd.DataFrame(rows)


FRAMES = {
    "latency": lambda: full_frame("latency"),
    "blocks": lambda: full_frame("blocks"),
    "variants": lambda: full_frame("variants"),
    "efficiency": efficiency_frame,
    "quality": quality_frame,
}


def _tables(block: str) -> list[str]:
    return re.findall(r"<table>.*?</table>", block, re.S)


def _headers(table: str) -> list[str]:
    head = table.split("<thead>")[1].split("</thead>")[0]
    return [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", head)]


@pytest.mark.parametrize("name", FRAMES)
def test_wide_tables_split_into_parts_that_repeat_the_row_keys(name):
    raw = FRAMES[name]()
    block = TV.table_block(name, raw)
    parts = _tables(block)
    assert len(parts) >= 2, name
    keys = [c for c in TV.shown_names(raw).values() if c in _headers(parts[0])][:2]
    shown = set()
    for part in parts:
        heads = _headers(part)
        assert heads[: len(keys)] == keys and len(heads) <= TV.MAX_COLUMNS, (name, heads)
        assert part.count("<tr") - 1 >= len(raw)  # every row in every part
        shown |= set(heads)
    assert set(columns.display(name, raw).columns) <= shown | {"Status"}  # nothing dropped
    assert f'<a href="{name}.csv">{name}.csv</a> · <a href="{name}.md">{name}.md</a>' in block


def test_a_table_no_purpose_splits_is_cut_at_the_column_cap():
    wide = pd.DataFrame([{"model": "cips", **{f"c{i}": i for i in range(20)}}])
    parts = _tables(TV.table_block("new_measure", wide))
    heads = [_headers(p) for p in parts]
    assert [len(h) for h in heads] == [TV.MAX_COLUMNS, 21 - TV.MAX_COLUMNS + 1]
    assert all(h[0] == "Model" for h in heads) and "<caption>(continued)</caption>" in parts[1]


def test_first_part_rows_carry_the_evidence_ids_once():
    raw = full_frame("latency")
    block = TV.table_block("latency", raw)
    ids = re.findall(r"<tr id='([^']+)'", block)
    want = [
        evidence.anchor(evidence.latency_ref(m, 1024, b))
        for m, b in zip(raw.model, raw.batch, strict=True)
    ]
    assert ids == want and len(set(ids)) == len(ids)
    first, *rest = _tables(block)
    assert all(f"id='{i}'" in first for i in ids) and not any("id=" in p for p in rest)
    # the same row twice (a rerun's duplicate) gets one id, the first
    assert TV.row_anchors("latency", pd.concat([raw, raw]))[len(raw) :] == [None] * len(raw)


def test_invalid_reason_folds_under_its_row_and_the_row_stays_marked():
    block = TV.table_block("latency", full_frame("latency"))
    first, *rest = _tables(block)
    assert "<td class='short'>INVALID</td>" in first and "INVALID:" not in first
    detail = first.split("<tr class='detail invalid'>")[1].split("</tr>")[0]
    assert f"<summary>why</summary>{WHY}</details>" in detail.replace("&gt;", ">")
    assert all(p.count("class='invalid'") == 1 for p in [first, *rest])  # marked in every part
    assert "—" in rest[0]  # its result figures are dashes in every part that shows them


def test_reproduce_command_and_no_links_without_a_file():
    block = TV.table_block("efficiency", efficiency_frame(), command="python -m x --y 'a b'")
    assert "Reproduce: <code>python -m x --y &#x27;a b&#x27;</code>" in block
    assert "href" not in TV.table_block("efficiency", efficiency_frame(), csv=None)
    assert TV.table_block("latency", pd.DataFrame()).startswith("<p><em>no data</em></p>")


def test_claims_link_their_evidence_and_fold_why():
    claims = pd.DataFrame(
        {
            "claim": ["PixelFolder is 7.06× faster than CIPS", "53 % fewer params"],
            "source": ["paper Table 1", "abstract"],
            "paper": ["7.06×", "−53 %"],
            "measured": ["13.0× [12.1, 13.9]", "−52.97 %"],
            "tolerance": ["95 % CI", "±0.5 pp"],
            "verdict": ["did not hold", "reproduced"],
            "explanation": ["ratio of medians, bootstrap CI", "1 − 20.84 M / 44.32 M"],
            "evidence": [
                "latency:pixelfolder:256:b1 latency:cips:256:b1",
                "efficiency:pixelfolder:256",
            ],
        }
    )
    known = {evidence.anchor("latency:pixelfolder:256:b1")}
    page = H.claims_html(claims, known)
    assert "<th>Evidence</th>" in page and "<th>Why</th>" not in page
    link = "<a href='#row-latency-pixelfolder-256-b1' title='latency:pixelfolder:256:b1'>"
    dead = "<span title='row not in this report'>cips@256 b1</span>"  # never a dead link
    assert f"latency: {link}pixelfolder@256 b1</a>, {dead}" in page
    assert "efficiency: <span title='row not in this report'>pixelfolder@256</span>" in page
    everything = H.claims_html(claims)  # no page to check against: every reference linked
    assert everything.count("<a href='#row-") == 3
    assert "<summary>why</summary>ratio of medians, bootstrap CI</details>" in page
    older = H.claims_html(claims.drop(columns=["evidence"]))  # a claims.csv from before
    assert "<th>Evidence</th>" not in older and "<th>Verdict</th>" in older


def test_claims_command_names_the_run_folders(tmp_path):
    cmd = TV.claims_command(tmp_path, rehearsal=True)
    assert cmd.startswith(f"python -m benchmarks.claims --profiles {tmp_path}/profile ")
    assert "--rehearsal" in cmd and f"--out-csv {tmp_path}/claims.csv" in cmd


# --------------------------------------------------------------------------- in a browser
needs_browser = pytest.mark.skipif(
    browser.find_browser() is None,
    reason="no headless browser installed (apt-get install chromium; .ci/run does it in CI)",
)


@pytest.fixture(scope="module")
def widest_page(tmp_path_factory):
    """Every wide table at its widest, on one page, as the report lays it out."""
    sections = [(name, TV.table_block(name, make())) for name, make in FRAMES.items()]
    path = tmp_path_factory.mktemp("tables") / "tables.html"
    path.write_text(H.page("every table at its widest", "", sections))
    return path


@needs_browser
@pytest.mark.parametrize("media,width", [("screen", browser.WIDTH), ("print", browser.PRINT_WIDTH)])
def test_widest_tables_fit_the_window_and_the_printed_page(widest_page, media, width):
    result = browser.inspect(widest_page, width=width, media=media)
    tables = [f for f in result["fit"] if f["kind"] == "table"]
    assert len(tables) >= 2 * len(FRAMES)
    assert browser.problems(result) == [], [(t["heading"], t["width"], t["box"]) for t in tables]
