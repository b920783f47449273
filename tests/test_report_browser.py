"""report.html in a real browser: headless Chromium (Debian's `chromium`, driven over its DevTools
pipe by tests/browser.py) opens a report rendered from synthetic-but-realistic results at a 1280 px
window and as printed on A4 portrait (print media, 718 px), and finds every image loaded, no table
or image wider than its box or the page and none cut off by a scroll box, no console error, and
the headline and claims chart present. The checker itself is shown to catch a broken page and a
table clipped inside a scroll box or too wide only in print. Skips, saying why, when no browser is
here."""

from __future__ import annotations

import shutil

import pytest

from tests import browser
from tests.report_results import build_results

EXE = browser.find_browser()
pytestmark = pytest.mark.skipif(
    EXE is None,
    reason="no headless browser installed (apt-get install chromium; .ci/run does it in CI)",
)
LEAD_COPY = "/tmp/report_screenshot.png"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from reports.render import render

    base = tmp_path_factory.mktemp("browser")
    results, cfg = build_results(base / "results")
    return render(results, base / "report", cfg)


@pytest.fixture(scope="module")
def page(report):
    shot = report.parent.parent / "report.png"
    result = browser.inspect(report, screenshot=shot, exe=EXE)
    shutil.copyfile(shot, LEAD_COPY)
    return result, shot


@pytest.fixture(scope="module")
def printed(report):
    """The same report under print media at the printed A4 width."""
    return browser.inspect(report, exe=EXE, width=browser.PRINT_WIDTH, media="print")


def test_every_image_loads(page):
    result, _ = page
    assert len(result["images"]) >= 10
    broken = [i["alt"] for i in result["images"] if not i["width"] > 0]
    assert not broken, broken


def _table_widths(result) -> list[tuple[str, int, int]]:
    return [(f["heading"], f["width"], f["box"]) for f in result["fit"] if f["kind"] == "table"]


def test_nothing_overflows_the_page_at_1280px(page):
    result, _ = page
    assert result["tables"] >= 8 and len(_table_widths(result)) == result["tables"]
    assert result["clientWidth"] <= browser.WIDTH
    assert result["scrollWidth"] <= browser.WIDTH, result["scrollWidth"]
    assert not result["wide"], result["wide"]
    assert browser.misfits(result) == [], _table_widths(result)


def test_every_claim_links_a_row_that_is_on_the_page_once(report, page):
    """Claims link the table rows they were computed from (common.evidence); every link lands
    on exactly one element, the rows of a split table carry their id in its first part only."""
    import re

    result, _ = page
    ids = result["ids"]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    links = re.findall(r"href='#(row-[^']+)'", report.read_text())
    assert len(links) >= 5 and set(links) <= set(ids), set(links) - set(ids)
    assert {"row-efficiency-pixelfolder-256", "row-latency-cips-64-b1"} <= set(ids)


def test_every_table_fits_the_printed_page(printed):
    assert printed["clientWidth"] == browser.PRINT_WIDTH
    assert len(_table_widths(printed)) >= 8
    assert browser.problems(printed) == [], _table_widths(printed)


def test_no_console_errors(page):
    result, _ = page
    assert result["console_errors"] == []


def test_headline_and_claims_chart_are_present(page):
    result, _ = page
    assert "headline" in result["ids"] and "claims-chart" in result["ids"]
    chart = [i for i in result["images"] if "every claim" in i["alt"]]
    assert chart and chart[0]["width"] > 500


def test_screenshot_is_a_full_page_png(page):
    result, shot = page
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width == browser.WIDTH and im.height >= 2000
    assert browser.problems(result) == []


def test_checker_sees_a_broken_page(tmp_path):
    """The checks can fail: an over-wide element, a broken image and a console error."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><div style='width:2000px'>wide</div>"
        "<img alt='gone' src='data:image/png;base64,AAAA'>"
        "<script>console.error('boom')</script></body></html>"
    )
    found = browser.problems(browser.inspect(bad, exe=EXE))
    assert any("did not load" in p for p in found)
    assert any("px wide" in p for p in found) and any("scroll box" in p for p in found)
    assert any("boom" in p for p in found)


def test_checker_sees_a_clipped_table_on_screen_and_in_print(tmp_path):
    """A table that scrolls inside its box at 1280 px is clipped, named by its section; a table
    that fits the window but not the printed page is caught only in print."""
    row = "".join(
        f"<td>column&nbsp;{i}&nbsp;of&nbsp;a&nbsp;wide&nbsp;table</td>" for i in range(12)
    )
    fits_screen = "".join(f"<td>value&nbsp;{i}&nbsp;wide</td>" for i in range(9))
    bad = tmp_path / "clipped.html"
    bad.write_text(
        "<!DOCTYPE html><html><body style='margin:0'><h2>Latency</h2>"
        f"<div style='overflow-x:auto'><table><tr>{row}</tr></table></div>"
        f"<h2>Quality</h2><div><table><tr>{fits_screen}</tr></table></div></body></html>"
    )
    screen = browser.problems(browser.inspect(bad, exe=EXE))
    assert len(screen) == 1, screen
    assert screen[0].startswith("table in section 'Latency' (screen) is clipped by a box")
    printed = browser.problems(
        browser.inspect(bad, exe=EXE, width=browser.PRINT_WIDTH, media="print")
    )
    assert any("'Latency' (print) is clipped" in p for p in printed)
    assert any("'Quality' (print)" in p for p in printed), printed


@pytest.fixture(scope="module")
def compare_page(tmp_path_factory):
    """The comparison of the synthetic run with a copy whose params changed, at 1280 px."""
    import json

    from common.cli import run
    from reports import compare

    base = tmp_path_factory.mktemp("compare")
    a, _ = build_results(base / "results/a")
    b = base / "results/b"
    shutil.copytree(a, b)
    prof = sorted((b / "profile").glob("*.json"))[0]
    doc = json.loads(prof.read_text())
    doc["params"] += 1
    prof.write_text(json.dumps(doc))
    assert run(compare.main, [str(a), str(b), "--out", str(base / "out")]) == 0
    shot = base / "compare.png"
    result = browser.inspect(base / "out/compare.html", screenshot=shot, exe=EXE)
    shutil.copyfile(shot, "/tmp/compare_screenshot.png")
    return result


def test_comparison_page_fits_1280px_with_no_table_wider_than_its_box(compare_page):
    assert browser.problems(compare_page) == [], _table_widths(compare_page)
    assert compare_page["scrollWidth"] <= browser.WIDTH
