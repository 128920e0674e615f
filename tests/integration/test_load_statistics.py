"""A load leaves PostgreSQL's planner ready for the KPI build that follows it, whether or not autovacuum runs."""

from __future__ import annotations

import logging
import uuid

import pandas as pd
import pytest
from sqlalchemy import make_url, text

from core.engine import engine_for
from warehouse.bulk import merge_frame
from warehouse.migrate import upgrade
from warehouse.schema import FACT_TABLES

pytestmark = pytest.mark.integration


def _defects(count: int, batch_id: str) -> pd.DataFrame:
    stamp = pd.Timestamp("2026-11-24 10:00")
    return pd.DataFrame(
        {
            "defect_id": [f"{batch_id}-{i}" for i in range(count)],
            "run_id": [f"R{i % 50}" for i in range(count)],
            "defect_code": "D1",
            "defect_count": 1,
            "recorded_at": stamp,
            "updated_at": stamp,
            "batch_id": batch_id,
            "row_hash": [f"{i:032x}" for i in range(count)],
            "loaded_at": stamp,
        }
    )


def test_a_load_analyzes_a_new_table_and_summarizes_its_block_ranges(postgres_url):
    engine = engine_for(postgres_url)
    upgrade(engine)
    defects = FACT_TABLES["defects"]
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("select reltuples from pg_class where relname = 'fact_defect'")) < 0
        with engine.begin() as connection:
            merge_frame(connection, defects, _defects(20_000, "b1"), ("defect_id",), "b1")
        with engine.begin() as connection:
            # The planner knows the table's size at once (never analyzed before: -1), without waiting for autovacuum.
            assert connection.scalar(text("select reltuples from pg_class where relname = 'fact_defect'")) == 20_000
            # Every block range is summarized already: summarizing again finds nothing left to do.
            assert connection.scalar(text("select brin_summarize_new_values('ix_fact_defect_batch_id')")) == 0
        with engine.begin() as connection:
            merge_frame(connection, defects, _defects(1_000, "b2"), ("defect_id",), "b2")
            # A small batch on a known table: its block ranges summarized, no new ANALYZE (under a tenth changed).
            assert connection.scalar(text("select brin_summarize_new_values('ix_fact_defect_batch_id')")) == 0
            assert connection.scalar(text("select reltuples from pg_class where relname = 'fact_defect'")) == 20_000
    finally:
        engine.dispose()


def test_a_load_by_a_role_that_does_not_own_the_table_still_commits(postgres_url, caplog):
    """Only the table's owner may summarize its BRIN ranges: another loading role skips that, and its load stands."""
    owner = engine_for(postgres_url)
    upgrade(owner)
    role = f"qp_loader_{uuid.uuid4().hex[:8]}"
    database = make_url(postgres_url).database
    with owner.begin() as connection:
        connection.exec_driver_sql(f"create role {role} login")
        connection.exec_driver_sql(f'grant connect, temporary on database "{database}" to {role}')
        connection.exec_driver_sql(f"grant usage on schema public to {role}")
        connection.exec_driver_sql(f"grant select, insert, update on fact_defect to {role}")
    loader = engine_for(make_url(postgres_url).set(username=role).render_as_string(hide_password=False))
    try:
        with caplog.at_level(logging.WARNING, logger="core.dialect"), loader.begin() as connection:
            counts = merge_frame(connection, FACT_TABLES["defects"], _defects(500, "b1"), ("defect_id",), "b1")
        assert counts.written == 500
        assert "statistics of fact_defect left to autovacuum (InsufficientPrivilege)" in caplog.text
        with owner.connect() as connection:
            assert connection.scalar(text("select count(*) from fact_defect")) == 500
    finally:
        loader.dispose()
        with owner.begin() as connection:
            connection.exec_driver_sql(f"drop owned by {role}")
        with owner.begin() as connection:
            connection.exec_driver_sql(f"drop role {role}")
        owner.dispose()
