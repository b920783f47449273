"""report.html in a real browser: headless Chromium (Debian's `chromium`, driven over its DevTools
pipe by tests/browser.py) opens a report rendered from synthetic-but-realistic results at a 1280 px
window and finds every image loaded, nothing wider than the page outside a scroll box, no console
error, and the headline and claims chart present. Skips, saying why, when no browser is here."""

from __future__ import annotations

import shutil

import pytest

from tests import browser
from tests.test_report_render import build_results

EXE = browser.find_browser()
pytestmark = pytest.mark.skipif(
    EXE is None,
    reason="no headless browser installed (apt-get install chromium; .ci/run does it in CI)",
)
LEAD_COPY = "/tmp/report_screenshot.png"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from reports.render import render

    base = tmp_path_factory.mktemp("browser")
    results, cfg = build_results(base / "results")
    html = render(results, base / "report", cfg)
    shot = base / "report.png"
    result = browser.inspect(html, screenshot=shot, exe=EXE)
    shutil.copyfile(shot, LEAD_COPY)
    return result, shot


def test_every_image_loads(page):
    result, _ = page
    assert len(result["images"]) >= 10
    broken = [i["alt"] for i in result["images"] if not i["width"] > 0]
    assert not broken, broken


def test_nothing_overflows_the_page_at_1280px(page):
    result, _ = page
    assert result["tables"] >= 5 and result["unboxed"] == 0, result
    assert result["clientWidth"] <= browser.WIDTH
    assert result["scrollWidth"] <= browser.WIDTH, result["scrollWidth"]
    assert not result["wide"], result["wide"]


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


def test_comparison_page_fits_1280px_with_every_table_in_its_box(compare_page):
    assert browser.problems(compare_page) == []
    assert compare_page["scrollWidth"] <= browser.WIDTH
