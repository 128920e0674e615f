"""The false-alarm rate of the default regression rules on the demo's healthy lines and sites, and how soon they
catch the demo's regression and its slow drift.

    .venv/bin/python -m benchmarks.false_alarms [--seeds 5]

For each seed, the 90-day demo sources are generated and run through the pipeline (ingest, validate and load,
KPI build) into a fresh SQLite warehouse; then every rule of ``alerts/rules.yaml`` judges the places the demo's
story leaves healthy (every line but the regression and drift lines, every site but the regression's site). Any
alert there is a false alarm. Reported per rule: judged days, adverse days, alerts, and the rates. Then, per seed,
the first alert of each production rule on the regression line and on the drift line that held for three adverse
days, counted from the day the regression (drift) began.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from alerts.evaluate import PLACE_COLUMNS, episodes_of, false_alarms, judge_series
from benchmarks.progress import step
from core.alert_rules import Rule, load_rules
from core.catalog import SOURCES
from core.engine import engine_for
from core.kpi_registry import REGISTRY
from core.settings import Settings
from demo.services import demo_lms_api
from demo.source_systems import (
    DRIFT_LINE,
    DRIFT_START,
    REGRESSION_LINE,
    REGRESSION_SITE,
    REGRESSION_START,
    DemoLocations,
    DemoSpec,
    generate,
)
from pipeline.ingest import ingest_source
from pipeline.kpis import build_kpis
from pipeline.load import validate_and_load
from warehouse import migrate
from warehouse.schema import FACT_TABLES, kpi_daily

END_DATE = date(2026, 11, 24)  # fixed, so the measurement is reproducible


def demo_kpis(seed: int, folder: Path) -> tuple[pd.DataFrame, set[str], set[str]]:
    """The KPI table of one demo run, with the healthy lines and sites of that demo."""
    settings = Settings(data_dir=folder)
    engine = engine_for(settings.warehouse_url)
    migrate.upgrade(engine)
    spec = DemoSpec(end_date=END_DATE, seed=seed)
    generate(
        spec, DemoLocations(settings.qms_url, settings.survey_drop_dir, settings.lms_store_dir, settings.finance_url)
    )
    interval_end = datetime.combine(spec.end_date + timedelta(days=1), time(0))
    with demo_lms_api(settings) as configured:
        for source in SOURCES:
            ingest_source(source, interval_end, "false-alarms", configured)
        validate_and_load(configured)
        build_kpis("false-alarms", configured)
    with engine.connect() as connection:
        kpis = pd.read_sql(select(kpi_daily), connection)
        lines = pd.read_sql(select(FACT_TABLES["lines"].c.line_id, FACT_TABLES["lines"].c.site_id), connection)
    engine.dispose()
    kpis["kpi_date"] = pd.to_datetime(kpis["kpi_date"]).dt.date
    return kpis, set(lines.line_id) - {REGRESSION_LINE, DRIFT_LINE}, set(lines.site_id) - {REGRESSION_SITE}


HELD_DAYS = 3  # an alert that holds for three adverse days is a catch; a one-day flag that resolves is a chance point


def days_to_catch(kpis: pd.DataFrame, rule: Rule, line_id: str, began: date) -> int | None:
    """Days from ``began`` to the first alert of the rule on the line (any of its steps) that began then or later
    and held for ``HELD_DAYS`` adverse days, or None."""
    series = kpis[(kpis["kpi"] == rule.kpi) & (kpis["grain"] == rule.scope) & (kpis["line_id"] == line_id)]
    firsts = []
    for place, one in series.groupby(list(PLACE_COLUMNS)):
        episodes = episodes_of(judge_series(one, rule), rule, tuple(str(p) for p in place))  # type: ignore[arg-type]
        held = [e.since_date for e in episodes if e.since_date >= began and e.days_adverse >= HELD_DAYS]
        firsts += [(min(held) - began).days] if held else []
    return min(firsts) if firsts else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rules = load_rules().rules
    # The rules on the KPIs the defects drive (the registry's say), at the line and its steps.
    defect_kpis = {k.code for k in REGISTRY if k.contributors == "defect_codes"}
    production = [r for r in rules if r.scope in ("line", "step") and r.kpi in defect_kpis]
    tables, caught = [], []
    for seed in range(1, args.seeds + 1):
        with tempfile.TemporaryDirectory(prefix="qp-false-alarms-") as folder, step(f"seed {seed} of {args.seeds}"):
            kpis, lines, sites = demo_kpis(seed, Path(folder))
            tables.append(false_alarms(kpis, rules, {"line_id": lines, "site_id": sites}))
            spec = DemoSpec(end_date=END_DATE, seed=seed)
            for story, line, began in (
                ("regression", REGRESSION_LINE, spec.day(REGRESSION_START)),
                ("drift", DRIFT_LINE, spec.day(DRIFT_START)),
            ):
                row = {r.name: days_to_catch(kpis, r, line, began) for r in production}
                caught.append({"seed": seed, "story": f"{story} on {line} from {began}", **row})
    total = pd.concat(tables).groupby("rule", sort=False)[["places", "judged_days", "adverse_days", "alerts"]].sum()
    total["adverse days %"] = (100 * total.adverse_days / total.judged_days).round(2)
    total["alerts per place per 90 days"] = (90 * total.alerts / total.judged_days).round(2)
    print(f"False alarms of the default rules on the demo's healthy places, {args.seeds} seeds of 90 days:")
    print(total.to_string())
    print(
        "\nDays from the start of the demo's regression and drift to each production rule's first alert there that held"
        f" for {HELD_DAYS} adverse days (blank: none by the demo's end):"
    )
    print(pd.DataFrame(caught).dropna(axis="columns", how="all").to_string(index=False, na_rep=""))


if __name__ == "__main__":
    main()
