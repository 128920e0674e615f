"""A load leaves PostgreSQL's planner ready for the KPI build that follows it, whether or not autovacuum runs."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

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
