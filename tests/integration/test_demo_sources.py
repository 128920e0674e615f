"""The demo source systems: deterministic from a seed, and the QMS database works on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine

from core.catalog import datasets_of
from demo.source_systems import DemoLocations, DemoSpec, generate
from pipeline.ingest import ingest_source
from pipeline.load import validate_and_load
from tests.conftest import fresh_warehouse
from tests.helpers import INTERVAL_END, read_table

pytestmark = pytest.mark.integration

SPEC = DemoSpec(end_date=date(2026, 11, 24), days=30, seed=11)


def _digest(folder: Path) -> dict[str, str]:
    """A hash per export file and per QMS table (rows, not the SQLite file's page layout)."""
    import sqlite3

    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.csv"))}
    digests.update(
        {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "lms").glob("*.json"))}
    )
    with sqlite3.connect(folder / "qms.db") as connection:
        for table in ("products", "production_runs", "defects"):
            rows = connection.execute(f"select * from {table} order by 1").fetchall()
            digests[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def test_the_same_seed_writes_the_same_sources_and_another_seed_does_not(tmp_path):
    def write(name: str, seed: int) -> Path:
        folder = tmp_path / name
        spec = DemoSpec(end_date=SPEC.end_date, days=SPEC.days, seed=seed)
        generate(spec, DemoLocations(f"sqlite:///{folder / 'qms.db'}", folder / "drop", folder / "lms"))
        return folder

    assert _digest(write("a", 11)) == _digest(write("b", 11))
    assert _digest(write("c", 12)) != _digest(write("a2", 11))


@pytest.mark.parametrize("qms_kind", ["sqlite", "postgresql"])
def test_the_qms_source_extracts_the_same_rows_from_sqlite_and_postgresql(qms_kind, settings, tmp_path):
    with fresh_warehouse(qms_kind, tmp_path / "qms") as qms_url:
        (tmp_path / "qms").mkdir(exist_ok=True)
        configured = settings.model_copy(update={"qms_url": qms_url})
        counts = generate(SPEC, DemoLocations(qms_url, configured.survey_drop_dir, configured.lms_store_dir))
        results = ingest_source("qms", INTERVAL_END, "test", configured)
        again = ingest_source("qms", INTERVAL_END, "test", configured)

    assert {r.dataset: r.rows for r in results} == {d.name: counts[d.name] for d in datasets_of("qms")}
    assert all(r.batch_id is None for r in again)  # the watermark holds on both kinds of source database
    reports = validate_and_load(configured)
    assert sum(r.loaded for r in reports) > 0
    runs = read_table(configured, "fact_production_run")
    assert str(runs["production_date"].min())[:10] == SPEC.start_date.isoformat()


def test_the_demo_scales_to_the_size_asked_for(tmp_path):
    spec = DemoSpec(
        end_date=date(2026, 11, 24), days=14, sites=3, lines_per_site=4, products=5, customers=250, employees_per_line=5
    )
    where = DemoLocations(f"sqlite:///{tmp_path / 'qms.db'}", tmp_path / "drop", tmp_path / "lms")

    counts = generate(spec, where)

    assert (counts["sites"], counts["lines"], counts["products"]) == (3, 12, 5)
    assert (counts["customer_accounts"], counts["employees"]) == (250, 3 * 4 * 5)
    finance = f"sqlite:///{tmp_path / 'finance.db'}"
    shipments = pd.read_sql("select site_id, product_id from shipments", create_engine(finance))
    made = {(line[:2], product) for line, product in spec.line_products.items()}
    assert set(map(tuple, shipments.to_numpy())) <= made  # a site ships only what its lines make
    complaints = pd.read_sql("select line_id from complaints", create_engine(where.qms_url))
    assert complaints.line_id.notna().all()


def test_a_demo_without_a_second_line_is_refused():
    with pytest.raises(ValueError, match="at least 1 site, 2 lines per site"):
        DemoSpec(end_date=date(2026, 11, 24), lines_per_site=1)


DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def _day_offsets(text: str, start: date) -> str:
    """Every date in ``text`` as its day offset from ``start``, so that two demos can be compared day for day."""
    return DATE.sub(lambda m: f"<day {(date(int(m[1]), int(m[2]), int(m[3])) - start).days}>", text)


def test_the_training_story_is_the_same_whatever_day_the_demo_ends(tmp_path):
    """`make run` ends the demo yesterday, so its production days fall on other weekdays from one day to the next. The
    training story (the lapses that lead the yield dips, which the leading alert reads) must not move with them."""

    def lms_and_hr(end: date) -> list[str]:
        spec = DemoSpec(end_date=end)
        folder = tmp_path / end.isoformat()
        generate(spec, DemoLocations(f"sqlite:///{folder / 'qms.db'}", folder / "drop", folder / "lms"))
        # Assignments, and the employees whose hires and departures decide who counts for compliance.
        lines = [
            line
            for export in ("training_assignments", "employees")
            for line in (folder / "lms" / f"{export}.json").read_text(encoding="utf-8").splitlines()
        ]
        # The export's deliberately impossible completion date is the same absolute date in both.
        return [_day_offsets(line, spec.start_date) for line in lines if "2000-01-01" not in line]

    on_a_tuesday, on_a_sunday = lms_and_hr(date(2026, 11, 24)), lms_and_hr(date(2026, 12, 6))
    assert len(on_a_tuesday) > 10_000 and on_a_tuesday == on_a_sunday
