"""The migrations create exactly the schema the code declares, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from core.engine import engine_for
from warehouse.bi_views import VIEWS
from warehouse.migrate import alembic_config, upgrade
from warehouse.schema import metadata

pytestmark = pytest.mark.integration


def test_migrated_schema_matches_the_declared_tables(warehouse_url):
    engine = engine_for(warehouse_url)
    upgrade(engine)
    upgrade(engine)  # a second upgrade is a no-op
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert set(inspect(engine).get_table_names()) >= set(metadata.tables)
    engine.dispose()
    assert diff == []


def test_string_columns_compare_bytewise_on_postgresql_and_the_revision_reverses(postgres_url):
    engine = engine_for(postgres_url)
    upgrade(engine)
    assert _collations(engine) == {"C"}
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")  # drops the BI views that depend on the columns
    assert _collations(engine) == {None}
    upgrade(engine)  # re-applies the revision and re-creates the views
    with engine.connect() as connection:
        views = connection.scalar(text("select count(*) from pg_views where schemaname = 'bi'"))
    assert _collations(engine) == {"C"}
    engine.dispose()
    assert views == len(VIEWS)


def _collations(engine) -> set[str | None]:  # type: ignore[no-untyped-def]
    """The distinct collations of the warehouse's string columns (None: the database default)."""
    with engine.connect() as connection:
        return set(
            connection.scalars(
                text(
                    "select distinct collation_name from information_schema.columns "
                    "where table_schema = current_schema() and table_name <> 'alembic_version' "
                    "and data_type in ('character varying', 'text')"
                )
            )
        )


def test_rows_quarantined_before_awaiting_keys_are_found_again_by_the_orphan_replay(warehouse_url):
    """Revision 0018 records which old quarantined rows wait only for master data, so the replay still finds them."""
    from datetime import datetime

    engine = engine_for(warehouse_url)
    upgrade(engine, "0017")
    legacy = [
        ("only-keys", ["rule: line_id is a known lines", "rule: defect_code is a known defect_codes"]),
        ("keys-and-more", ["rule: line_id is a known lines", "rule: defect_count is at least 0"]),
        ("no-keys", ["rule: defect_count is at least 0"]),
    ]
    with engine.begin() as connection:
        for batch_id, reasons in legacy:
            connection.execute(
                text(
                    "insert into quarantine (batch_id, source_row, dataset, failed_rules, raw_record, status, "
                    "quarantined_at) values (:batch, 0, 'defects', :reasons, '{}', 'open', :at)"
                ),
                {"batch": batch_id, "reasons": json.dumps(reasons), "at": datetime(2026, 1, 5)},
            )
    upgrade(engine)
    with engine.connect() as connection:
        awaiting = dict(connection.execute(text("select batch_id, awaiting_keys from quarantine")).all())
    engine.dispose()
    assert json.loads(awaiting["only-keys"]) == {"line_id": "lines", "defect_code": "defect_codes"}
    assert awaiting["keys-and-more"] is None and awaiting["no-keys"] is None


def test_the_oee_quality_revision_rebuilds_the_stored_rows_and_reverses(warehouse_url):
    """Revision 0021: OEE quality's stored rows take the pooled definition (ideal-weighted good over total), so the
    factors multiply to OEE on every row; downgrading restores good / total count."""
    from datetime import date, datetime

    engine = engine_for(warehouse_url)
    upgrade(engine, "0020")
    key = {"kpi_date": date(2026, 1, 5), "site_id": "S1", "line_id": "L1", "step_id": "ALL", "grain": "line"}
    rows = {  # two runs: 100 units at 30 s ideal (90 good), 100 units at 90 s (60 good); 480 planned, 400 run min
        "oee": (30 * 90 / 60 + 90 * 60 / 60, 480.0),
        "oee_availability": (400.0, 480.0),
        "oee_performance": (30 * 100 / 60 + 90 * 100 / 60, 400.0),
        "oee_quality": (150.0, 200.0),  # the old definition: good / total count
        "fpy": (150.0, 200.0),
    }
    with engine.begin() as connection:
        for kpi, (numerator, denominator) in rows.items():
            for table, extra in (("kpi_daily", {}), ("kpi_period", {"period": "week"})):
                values = {**key, **extra, "kpi": kpi, "numerator": numerator, "denominator": denominator}
                if table == "kpi_period":
                    values["period_start"] = values.pop("kpi_date")
                values.update(value=numerator / denominator, pipeline_run_id="old", computed_at=datetime(2026, 1, 6))
                columns = ", ".join(values)
                connection.execute(
                    text(f"insert into {table} ({columns}) values ({', '.join(':' + c for c in values)})"), values
                )

    def stored(table: str) -> dict[str, tuple[float, float, float]]:
        with engine.connect() as connection:
            result = connection.execute(text(f"select kpi, numerator, denominator, value from {table}")).all()
        return {kpi: (numerator, denominator, value) for kpi, numerator, denominator, value in result}

    upgrade(engine)
    for table in ("kpi_daily", "kpi_period"):
        after = stored(table)
        assert after["oee_quality"] == (135.0, 200.0, 135.0 / 200.0)  # ideal x good minutes / ideal x total minutes
        assert after["oee_availability"][2] * after["oee_performance"][2] * after["oee_quality"][2] == pytest.approx(
            after["oee"][2], rel=1e-15
        )
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0020")
    restored = stored("kpi_daily")
    engine.dispose()
    assert restored["oee_quality"] == (150.0, 200.0, 0.75)
