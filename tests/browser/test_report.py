"""The quality report in a real headless browser (Debian's chromium, driven by Playwright), on both warehouses.

The page must load without console errors and without any request beyond its own file or server, draw every
chart, redraw when filtered by line, show the warehouse's own values in its KPI tiles, and show the injected
regression: the flagged points on S1-L2's control chart, its defect codes on top of the Pareto, its open alert.
A screenshot is kept under ``artifacts/`` (CI's artifact path).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from demo.source_systems import REGRESSION_LINE, REGRESSION_SITE
from tests.conftest import IN_CI
from tests.helpers import read_table

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("QP_CHROMIUM", "/usr/bin/chromium")
# Chromium's own background traffic (updates, sync, Google lookups) is not the page's: keep it out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def report(demo_warehouse) -> tuple[Any, Path]:  # type: ignore[no-untyped-def]
    from report.build import build_report, default_range

    settings, _ = demo_warehouse
    first, last = default_range(settings)
    return settings, build_report(settings, first, last)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """A page opened on ``url``, recording console errors, page errors and every request it makes."""

    def __init__(self, browser: Any, url: str) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]", timeout=60_000)

    def plot_data(self, selector: str) -> list[dict[str, Any]]:
        return self.page.eval_on_selector(selector, "el => el.data.map(t => ({name: t.name, x: t.x, y: t.y}))")


def test_the_page_loads_offline_without_errors_and_draws_every_chart(report, browser):
    _, path = report
    visit = Visit(browser, path.as_uri())

    assert visit.errors == []
    assert visit.requests == [path.as_uri()]  # nothing but the file itself: scripts and styles are inlined
    charts = visit.page.eval_on_selector_all(
        ".js-plotly-plot",
        "els => els.map(el => ({id: el.id || el.dataset.line,"
        " width: el.querySelector('svg.main-svg').getBoundingClientRect().width,"
        " marks: el.querySelectorAll('.trace path, .trace .point').length}))",
    )
    ids = {c["id"] for c in charts}
    assert {"pareto", "coq", "training", "dq-pass-rate", "dq-quarantine", REGRESSION_LINE} <= ids
    assert all(c["width"] > 100 and c["marks"] > 0 for c in charts), charts  # every chart has drawn marks
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    visit.page.close()


def test_kpi_tiles_show_the_warehouses_values(report, browser):
    settings, path = report
    visit = Visit(browser, path.as_uri())
    kpis = read_table(settings, "kpi_daily")
    kpis["kpi_date"] = pd.to_datetime(kpis["kpi_date"]).dt.date.astype(str)

    def warehouse_value(kpi: str, day: str, site: str, line: str) -> float:
        row = kpis[(kpis.kpi == kpi) & (kpis.kpi_date == day) & (kpis.site_id == site) & (kpis.line_id == line)]
        return float(row[row.step_id == "ALL"].value.iloc[0])

    for line in ("", REGRESSION_LINE):
        visit.page.select_option("#line-filter", line)
        tiles = visit.page.eval_on_selector_all(
            ".tile", "els => els.map(e => ({...e.dataset, shown: e.querySelector('.value').textContent}))"
        )
        assert {t["kpi"] for t in tiles} >= {"fpy", "dpmo", "sigma_level", "oee", "nps", "training_compliance"}
        for tile in tiles:
            grain, _, place = tile["scope"].partition(":")
            site = {"company": "ALL", "site": place}.get(grain, "S1")
            expected = warehouse_value(tile["kpi"], tile["day"], site, place if grain == "line" else "ALL")
            assert float(tile["value"]) == pytest.approx(expected, rel=1e-12), tile
        fpy = next(t for t in tiles if t["kpi"] == "fpy")
        assert fpy["shown"] == f"{100 * float(fpy['value']):.2f}%"  # shown as KPIS.md says: a percentage
    visit.page.close()


def test_filtering_by_line_redraws_the_charts_and_shows_the_injected_regression(report, browser):
    settings, path = report
    visit = Visit(browser, path.as_uri())
    pareto_all = visit.plot_data("#pareto")
    # One chart per line and chart rule at line scope (the fraction defective p-chart and the DPU chart), and one per
    # site for the site's CSAT p-chart.
    charts = visit.page.query_selector_all(".control-chart")
    by_rule = Counter(c.get_attribute("data-rule") for c in charts)
    assert by_rule == {"line_fraction_defective": 6, "line_defects_per_unit": 6, "site_csat": 2}

    visit.page.select_option("#period-filter", "7")
    visit.page.select_option("#line-filter", REGRESSION_LINE)

    # The line's own two charts, and beside them its site's CSAT chart (not the other site's).
    charts = visit.page.query_selector_all(".control-chart")
    places = sorted((c.get_attribute("data-site"), c.get_attribute("data-line")) for c in charts)
    assert places == [(REGRESSION_SITE, "ALL"), (REGRESSION_SITE, REGRESSION_LINE), (REGRESSION_SITE, REGRESSION_LINE)]
    yield_chart = '.control-chart[data-rule="line_fraction_defective"]'
    flagged = next(t for t in visit.plot_data(yield_chart) if t["name"] == "flagged")
    [alert] = (
        read_table(settings, "alert")
        .query("rule_name == 'line_fraction_defective' and line_id == @REGRESSION_LINE and status == 'open'")
        .itertuples()
    )
    # The line's earlier, smaller dip is flagged on the same chart; this alert's points are those from its first day.
    began = str(alert.since_date)[:10]
    current = [day for day in flagged["x"] if day >= began]
    assert len(current) == alert.days_adverse and min(current) == began and len(flagged["x"]) > len(current)
    pareto = visit.plot_data("#pareto")
    assert pareto != pareto_all
    assert set(pareto[0]["x"][:2]) <= {"SOLDER_BRIDGE", "COLD_JOINT"}
    row = visit.page.query_selector(f"#alert-{alert.alert_id}")
    assert row is not None and alert.subject in row.inner_text()  # the stored headline, as every reader shows it
    assert visit.errors == []
    visit.page.close()


def test_served_on_a_local_server_it_asks_that_server_for_nothing_but_the_page(report, browser):
    _, path = report
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(path.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        visit = Visit(browser, url)
        assert visit.requests == [url] and visit.errors == []
        visit.page.close()
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_the_improvements_panel_shows_each_change_before_and_after(report, browser):
    """The demo's cheaper solder paste: worsened on each KPI, with the warehouse's before and after values and a
    staged chart whose two stages carry the limits the warehouse holds."""
    settings, path = report
    visit = Visit(browser, path.as_uri())
    effects = read_table(settings, "improvement_effect").set_index(["improvement_id", "kpi"])
    rows = visit.page.eval_on_selector_all(
        "#improvements tr[data-improvement]",
        "els => els.map(e => ({...e.dataset, cells: [...e.children].map(c => c.textContent)}))",
    )
    assert {(r["improvement"], r["kpi"]) for r in rows} == set(effects.index)
    paste = {r["kpi"]: r for r in rows if r["improvement"] == "cheaper-solder-paste-on-s1-l2"}
    assert {kpi: r["verdict"] for kpi, r in paste.items()} == {
        "fpy": "worsened",
        "dpmo": "worsened",
        "rework_rate": "worsened",
    }
    fpy = effects.loc[("cheaper-solder-paste-on-s1-l2", "fpy")]
    before, after = paste["fpy"]["cells"][4:6]
    assert (before, after) == (f"{100 * fpy.before_value:.2f}%", f"{100 * fpy.after_value:.2f}%")
    chart = visit.page.eval_on_selector(
        "#improvement-charts [data-improvement='cheaper-solder-paste-on-s1-l2'][data-kpi='fpy']",
        "el => el.data.map(t => ({name: t.name, y: t.y}))",
    )
    limits = {t["name"]: t["y"][0] for t in chart if t["name"].startswith(("before", "after"))}
    assert limits["before lower limit"] == pytest.approx(fpy.before_lcl) and limits["after centre"] == pytest.approx(
        fpy.after_cl
    )
    drawn = [y for y in chart[0]["y"] if y is not None]
    assert len(drawn) == fpy.before_days + fpy.after_days  # every day of both stages is drawn
    visit.page.select_option("#line-filter", "S1-L1")  # another line: nothing registered there
    assert visit.page.text_content("#improvements").startswith("No improvement registered")
    assert visit.errors == []
    visit.page.close()


def test_the_capability_panel_draws_each_step_against_its_spec_lines(report, browser):
    settings, path = report
    visit = Visit(browser, path.as_uri())
    table = read_table(settings, "process_capability")
    latest = table[pd.to_datetime(table.month_start) == pd.to_datetime(table.month_start).max()]
    rows = visit.page.eval_on_selector_all("#capability tr[data-step]", "els => els.map(e => ({...e.dataset}))")
    assert {(r["step"], r["product"]) for r in rows} == set(zip(latest.step_id, latest.product_id, strict=True))
    solder = latest[(latest.step_id == "SOLDER") & (latest.product_id == "P100")].iloc[0]
    shown = next(r for r in rows if r["step"] == "SOLDER" and r["product"] == "P100")
    assert float(shown["cpk"]) == pytest.approx(solder.cpk)
    shapes = visit.page.eval_on_selector(
        "#capability-charts [data-step='SOLDER'][data-product='P100']",
        "el => ({lines: el.layout.shapes.map(s => s.x0), runs: el.data[0].x.length})",
    )
    assert sorted(shapes["lines"]) == [70, 150] and shapes["runs"] == solder.runs
    assert visit.errors == []
    visit.page.close()
