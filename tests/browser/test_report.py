"""The quality report in a real headless browser (Debian's chromium, driven by Playwright), on both warehouses.

The page must load without console errors and without any request beyond its own file or server, draw every
chart, redraw when filtered by line, show the warehouse's own values in its KPI tiles, and show the injected
regression: the flagged points on S1-L2's control chart, its defect codes on top of the Pareto, its open alert.
A screenshot is kept under ``artifacts/`` (CI's artifact path).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scipy import stats

from core.kpi_registry import REGISTRY
from demo.source_systems import REGRESSION_LINE, REGRESSION_SITE
from report.data import RUN_RULE_WORDS
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

    def __init__(self, browser: Any, url: str, width: int = 1440) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 900 if width > 600 else 844})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]", timeout=60_000)

    def plot_data(self, selector: str) -> list[dict[str, Any]]:
        return self.page.eval_on_selector(selector, "el => el.data.map(t => ({name: t.name, x: t.x, y: t.y}))")


@pytest.mark.parametrize("width", [1440, 390])
def test_the_page_loads_offline_without_errors_and_draws_every_chart(report, browser, width):
    """On a desktop and on a phone: nothing but the file is requested, every chart has drawn marks, nothing is wider
    than the screen. On the phone the charts stack, the alert table reads as cards and the header stays short."""
    _, path = report
    visit = Visit(browser, path.as_uri(), width)

    assert visit.errors == []
    assert visit.requests == [path.as_uri()]  # nothing but the file itself: scripts and styles are inlined
    charts = visit.page.eval_on_selector_all(
        ".js-plotly-plot",
        "els => els.map(el => ({id: el.id || el.dataset.line, left: el.getBoundingClientRect().left,"
        " width: el.querySelector('svg.main-svg').getBoundingClientRect().width,"
        " marks: el.querySelectorAll('.trace path, .trace .point').length}))",
    )
    ids = {c["id"] for c in charts}
    assert {"pareto", "coq", "training", "dq-pass-rate", "dq-quarantine", REGRESSION_LINE} <= ids
    assert all(c["width"] > 100 and c["marks"] > 0 for c in charts), charts  # every chart has drawn marks
    # Nothing overflows the screen sideways: not the page, not an element outside a scrolling table box.
    assert visit.page.evaluate("document.documentElement.scrollWidth") <= width
    sticking_out = visit.page.evaluate(
        f"""() => [...document.querySelectorAll('body *')]
            .filter(e => !e.closest('.table-wrap, #improvements, #capability, .hoverlayer'))
            .filter(e => e.getBoundingClientRect().right > {width} + 1)
            .map(e => e.tagName + '.' + (e.className.baseVal ?? e.className))"""
    )
    assert sticking_out == []
    if width < 600:
        assert len({round(c["left"]) for c in charts if c["id"] in ("dq-pass-rate", "dq-quarantine")}) == 1  # stacked
        header = visit.page.eval_on_selector("header", "e => e.getBoundingClientRect().height")
        assert header < 844 / 4
        card = visit.page.eval_on_selector(
            "#alerts tbody tr",
            "e => ({display: getComputedStyle(e).display, label: getComputedStyle(e.children[2], '::before').content})",
        )
        assert card == {"display": "block", "label": '"alert: "'}
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / f"report-{width}.png"), full_page=True)
    visit.page.close()


def test_kpi_tiles_show_the_warehouses_values_over_the_chosen_period(report, browser):
    """Each tile is its KPI over the period the filter chose, pooled from the warehouse's summed counts, with n; the
    change against the period before is coloured only where Welch's test on the daily values says it is beyond the
    day-to-day noise."""
    settings, path = report
    visit = Visit(browser, path.as_uri())
    kpis = read_table(settings, "kpi_daily")
    kpis["kpi_date"] = pd.to_datetime(kpis["kpi_date"]).dt.date
    last = kpis.kpi_date.max()

    def days(kpi: str, site: str, line: str, first: date, end: date) -> pd.DataFrame:
        place = (kpis.kpi == kpi) & (kpis.site_id == site) & (kpis.line_id == line) & (kpis.step_id == "ALL")
        return kpis[place & (kpis.kpi_date >= first) & (kpis.kpi_date <= end)]

    checked = 0
    for period, line in (("7", ""), ("28", REGRESSION_LINE)):
        visit.page.select_option("#period-filter", period)
        visit.page.select_option("#line-filter", line)
        tiles = visit.page.eval_on_selector_all(
            ".tile",
            "els => els.map(e => ({...e.dataset, shown: e.querySelector('.value').textContent,"
            " n: e.querySelector('.n').textContent, change: e.querySelector('.change span').className}))",
        )
        assert {t["kpi"] for t in tiles} >= {"fpy", "dpmo", "sigma_level", "oee", "nps", "training_compliance"}
        first = last - timedelta(days=int(period) - 1)
        for tile in tiles:
            kpi = REGISTRY[tile["kpi"]]
            grain, _, place = tile["scope"].partition(":")
            site = {"company": "ALL", "site": place}.get(grain, REGRESSION_SITE)
            where = (site, place if grain == "line" else "ALL")
            if kpi.additivity != "ratio" or kpi.derived:
                continue
            now = days(kpi.code, *where, first, last)
            expected = now.numerator.sum() / now.denominator.sum() * kpi.scale
            assert float(tile["periodValue"]) == pytest.approx(expected, rel=1e-9), tile
            assert tile["n"] == f"n = {now.denominator.sum():,.0f} {kpi.denominator.counts.split(':')[0]}"  # type: ignore[union-attr]
            before = days(kpi.code, *where, first - timedelta(days=int(period)), first - timedelta(days=1))
            p_value = stats.ttest_ind(now.value.dropna(), before.value.dropna(), equal_var=False).pvalue
            up = expected > before.numerator.sum() / before.denominator.sum() * kpi.scale
            moved = "better" if up == kpi.higher_is_better else "worse"
            # Coloured only when the daily values moved beyond the noise, the same way as the pooled value.
            same_way = (now.value.mean() > before.value.mean()) == up
            assert tile["change"] == (moved if p_value < 0.05 and same_way else ""), (tile, p_value)
            checked += 1
        fpy = next(t for t in tiles if t["kpi"] == "fpy")
        assert fpy["shown"] == f"{100 * float(fpy['periodValue']):.2f}%"  # shown as KPIS.md says: a percentage
    assert checked > 10
    # The regression's line, its last 28 days against the 28 before: first pass yield fell beyond the noise.
    assert fpy["scope"] == f"line:{REGRESSION_LINE}" and fpy["change"] == "worse"
    # An amount per day is over the period's calendar days: a day without bookings counts as nothing spent.
    visit.page.select_option("#line-filter", "")
    cost = days("coq_total", "ALL", "ALL", last - timedelta(days=27), last)
    shown = visit.page.get_attribute('.tile[data-kpi="coq_total"]', "data-period-value")
    assert float(shown) == pytest.approx(cost.value.sum() / 28)
    money = visit.page.text_content('.tile[data-kpi="coq_total"] .value')
    assert money.startswith(f"{settings.ledger_currency} ") and money.endswith(" a day")
    sigma = visit.page.text_content('.tile[data-kpi="sigma_level"]')
    assert "alert threshold: below 3.50 sigma" in sigma and "target" not in sigma  # a rule's bound is not a goal
    assert visit.errors == []
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

    visit.page.select_option("#period-filter", "all")
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
    visit.page.select_option("#period-filter", "7")  # the regression's week: its defect codes lead
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


def _last_week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@pytest.mark.parametrize("width", [1440, 390])
def test_hovering_a_flagged_point_shows_its_day_value_n_limits_and_rule(report, browser, width):
    """A person hovers the regression's latest flagged day on S1-L2's yield chart and reads what the rule saw."""
    settings, path = report
    visit = Visit(browser, path.as_uri(), width)
    visit.page.select_option("#line-filter", REGRESSION_LINE)
    points = read_table(settings, "spc_point").query(
        "rule_name == 'line_fraction_defective' and line_id == @REGRESSION_LINE and adverse"
    )
    point = points.loc[pd.to_datetime(points.kpi_date).idxmax()]
    chart = visit.page.locator('.control-chart[data-rule="line_fraction_defective"]')
    chart.scroll_into_view_if_needed()
    marker = chart.locator(".scatterlayer .trace").last.locator(".point").last  # the flagged points' trace
    box = marker.bounding_box()
    visit.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    visit.page.wait_for_function("el => el.querySelector('.hoverlayer .hovertext')", arg=chart.element_handle())
    hover = chart.evaluate("el => [...el.querySelectorAll('.hoverlayer .hovertext tspan')].map(t => t.textContent)")
    text = " | ".join(hover)
    day = str(point.kpi_date)[:10]
    assert day in text
    assert f"{100 * point.value:.2f}%" in text and f"n = {point.sample_size:,.0f}" in text
    assert f"centre line {100 * point.centre_line:.2f}%" in text
    assert f"limits {100 * point.lower_limit:.2f}% to {100 * point.upper_limit:.2f}%" in text
    assert f"flagged: {RUN_RULE_WORDS[point.fired]}" in text  # the rule, in words, not cut off
    assert "rule_" not in text and "nelson_" not in text
    assert visit.errors == []
    visit.page.close()


def test_charts_judged_by_zone_rules_draw_their_zones(report, browser):
    """The p-chart judged by rule 2 (2 of 3 beyond 2 sigma) draws the 1 and 2 sigma zones, and each day rule 2
    flagged lies beyond its 2 sigma line (though inside the limits or not); the DPU chart, rule 1 alone, draws none."""
    settings, path = report
    visit = Visit(browser, path.as_uri())
    visit.page.select_option("#period-filter", "all")
    visit.page.select_option("#line-filter", REGRESSION_LINE)
    traces = visit.page.eval_on_selector(
        '.control-chart[data-rule="line_fraction_defective"]',
        "el => el.data.map(t => ({name: t.name, x: t.x, y: t.y}))",
    )
    names = [t["name"] for t in traces]
    assert names.count("1 sigma") == 2 and names.count("2 sigma") == 2  # above and below the centre line
    upper_two = next(t for t in traces if t["name"] == "2 sigma")
    series = traces[0]
    spc = read_table(settings, "spc_point").query(
        "rule_name == 'line_fraction_defective' and line_id == @REGRESSION_LINE"
    )
    rule_two = {str(d)[:10] for d in spc[spc.fired == "rule_2"].kpi_date}
    assert rule_two, "the demo's yield regression fires rule 2 on S1-L2"
    for day in rule_two:
        i = series["x"].index(day)
        assert series["y"][i] > upper_two["y"][upper_two["x"].index(day)]
    dpu = visit.page.eval_on_selector(
        '.control-chart[data-rule="line_defects_per_unit"]', "el => el.data.map(t => t.name)"
    )
    assert "1 sigma" not in dpu and "2 sigma" not in dpu
    visit.page.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_the_period_filter_redraws_every_panel(report, browser, width):
    """From the last 28 days to the last 7: the tiles, control charts, Pareto, cost of quality, training and data
    quality all change, and none shows a day before the period."""
    _, path = report
    visit = Visit(browser, path.as_uri(), width)

    def panels() -> dict[str, Any]:
        return visit.page.evaluate(
            """() => ({
                tiles: [...document.querySelectorAll('.tile')].map(t => t.dataset.periodValue),
                control: [...document.querySelectorAll('.control-chart')].map(c => c.data[0].x),
                pareto: document.getElementById('pareto').data[0].y,
                coq: document.getElementById('coq').data[0].x,
                training: document.getElementById('training').data.map(t => t.text),
                quality: document.getElementById('dq-pass-rate').data.map(t => t.x),
                titles: ['pareto', 'coq', 'training'].map(id => document.getElementById(id).layout.title.text),
            })"""
        )

    wide = panels()
    visit.page.select_option("#period-filter", "7")
    narrow = panels()
    last = date.fromisoformat(visit.page.evaluate("REPORT.last_day"))
    start = (last - timedelta(days=6)).isoformat()
    for panel in ("tiles", "control", "pareto", "coq", "training", "quality"):
        assert narrow[panel] != wide[panel], panel
    assert all(min(days) >= start for days in narrow["control"] if days)
    assert all(min(days) >= start for days in narrow["quality"] if days)
    assert all("the last 7 days" in title.replace("<br>", " ") for title in narrow["titles"])
    assert visit.errors == []
    visit.page.close()


def test_a_week_the_period_cuts_short_is_marked_partial_not_drawn_as_a_drop(report, browser):
    """The demo ends on a Tuesday: the last week has two days. The cost of quality shows each week's cost per day
    over the days it covers, the short week hatched and saying so."""
    settings, path = report
    visit = Visit(browser, path.as_uri())
    kpis = read_table(settings, "kpi_daily")
    kpis["kpi_date"] = pd.to_datetime(kpis["kpi_date"]).dt.date
    costs = kpis[kpis.kpi.str.startswith("coq_") & (kpis.grain == "company")]
    # The week's days covered end with the report or with the cost data, whichever ends first.
    last = min(date.fromisoformat(visit.page.evaluate("REPORT.last_day")), costs.kpi_date.max())
    monday = _last_week_monday(last)
    covered = (last - monday).days + 1
    assert covered < 7
    weeks = dict(json.loads(visit.page.get_attribute("#coq", "data-weeks")))
    assert weeks[monday.isoformat()] == covered and list(weeks.values())[1:-1] == [7] * (len(weeks) - 2)
    bars = visit.page.eval_on_selector(
        "#coq", "el => el.data.map(t => ({name: t.name, x: t.x, y: t.y, shape: t.marker.pattern.shape}))"
    )
    prevention = next(b for b in bars if b["name"] == REGISTRY["coq_prevention"].narrow_label)
    days = kpis[(kpis.kpi == "coq_prevention") & (kpis.grain == "company") & (kpis.kpi_date >= monday)]
    i = prevention["x"].index(monday.isoformat())
    assert prevention["y"][i] == pytest.approx(days.value.sum() / covered)  # per day, not the short week's sum
    assert prevention["shape"][i] == "/" and set(prevention["shape"][1:i]) == {""}
    assert "partial" in visit.page.evaluate("document.getElementById('coq').layout.title.text")
    training = visit.page.eval_on_selector("#training", "el => el.data.flatMap(t => t.text)")
    assert (
        f"{date.fromisoformat(visit.page.evaluate('REPORT.last_day')):%Y-%m}*" in training
    )  # the month the data ends inside is marked partial
    visit.page.close()


def test_the_pareto_has_its_cumulative_axis_and_the_80_percent_line(report, browser):
    _, path = report
    visit = Visit(browser, path.as_uri())
    visit.page.select_option("#line-filter", REGRESSION_LINE)
    layout = visit.page.eval_on_selector(
        "#pareto",
        "el => ({y2: el.layout.yaxis2.range, format: el.layout.yaxis2.tickformat, shapes: el.layout.shapes,"
        " title: el.layout.title.text, cumulative: el.data[1].y})",
    )
    assert layout["y2"] == [0, 1] and layout["format"] == ".0%"
    assert any(s["yref"] == "y2" and s["y0"] == s["y1"] == 0.8 for s in layout["shapes"])
    assert f"line {REGRESSION_LINE}" in layout["title"] and "the last 28 days" in layout["title"]
    assert layout["cumulative"][-1] == pytest.approx(1.0)
    visit.page.close()


def test_data_quality_is_shown_by_the_datas_own_day(report, browser):
    """The pass-rate chart is by the day the rows describe: its values are the warehouse's per data day, and the rows
    held back per day add up to the quarantine's dated rows."""
    settings, path = report
    visit = Visit(browser, path.as_uri())
    visit.page.select_option("#period-filter", "all")
    quarantine = read_table(settings, "quarantine")
    quarantine = quarantine[quarantine.status != "replayed"]
    production = read_table(settings, "fact_production_run")
    traces = visit.page.eval_on_selector("#dq-pass-rate", "el => el.data.map(t => ({name: t.name, x: t.x, y: t.y}))")
    runs = next(t for t in traces if t["name"] == "production_runs")
    held = quarantine[quarantine.dataset == "production_runs"]
    held_days = Counter(str(d)[:10] for d in held.event_day.dropna())
    loaded_days = Counter(str(d)[:10] for d in production.production_date)
    assert held_days, "the demo quarantines some production runs"
    for day, y in zip(runs["x"], runs["y"], strict=True):
        assert y == pytest.approx(loaded_days[day] / (loaded_days[day] + held_days[day])), day
    bars = visit.page.eval_on_selector("#dq-quarantine", "el => el.data.map(t => t.y.reduce((a, b) => a + b, 0))")
    first = visit.page.evaluate("REPORT.first_day")
    dated = quarantine[quarantine.event_day.notna() & (quarantine.event_day.astype(str).str[:10] >= first)]
    assert sum(bars) == len(dated)
    assert "by the day the data describes" in visit.page.text_content("#dq-scope")
    assert "share the warehouse holds" in visit.page.text_content("#data-quality .note")
    visit.page.close()


def test_every_batchs_validation_page_is_there_from_the_file_and_from_the_server(report, browser):
    """Each batch's link in the report opens its own validation page, from the file and from `qp report --serve`'s
    server; the pages are self-contained (no request beyond themselves) and list the checks the warehouse holds."""
    settings, path = report
    visit = Visit(browser, path.as_uri())
    ledger = read_table(settings, "batch_ledger")
    processed = ledger[ledger.processed_at.notna()]
    links = visit.page.eval_on_selector_all("#lineage a.docs-link", "els => els.map(a => a.getAttribute('href'))")
    assert len(links) == min(60, len(processed)) and all(not link.startswith("file:") for link in links)
    assert all((path.parent / link).is_file() for link in links)
    pages = list((path.parent / "data_docs").glob("*/*.html"))
    assert len(pages) == len(processed)  # every batch's page is kept, not only the latest build's
    # The pages the loads wrote, as the ledger names them, exist too.
    assert all(Path(page).is_file() for page in processed.data_docs_page)
    results = read_table(settings, "validation_result")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(path.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        served = Visit(browser, base + path.name)
        for link in links[:5]:
            href = served.page.eval_on_selector(f'#lineage a[href="{link}"]', "a => a.href")
            response = served.page.request.get(href)
            assert response.status == 200, href
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        target = base + links[0]
        page.goto(target)
        batch_id = Path(links[0]).stem
        checks = page.eval_on_selector_all(
            "section:nth-of-type(2) tr td:first-child", "els => els.map(e => e.textContent)"
        )
        assert sorted(checks) == sorted(results[results.batch_id == batch_id].rule)
        assert requests == [target]
        page.close()
        served.page.close()
    finally:
        server.shutdown()
        server.server_close()
    visit.page.close()


def test_a_reversed_or_empty_range_is_refused_and_the_live_report_stays(report, tmp_path):
    from report.build import ReportRangeError, build_report

    settings, path = report
    before = path.read_bytes()
    last = date.fromisoformat(str(read_table(settings, "kpi_daily").kpi_date.max())[:10])
    with pytest.raises(ReportRangeError, match="reversed"):
        build_report(settings, last, last - timedelta(days=10), path)
    with pytest.raises(ReportRangeError, match="no KPI days"):
        build_report(settings, last + timedelta(days=30), last + timedelta(days=40), path)
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.partial"))
