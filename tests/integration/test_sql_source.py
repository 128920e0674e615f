"""The SQL source (the QMS database): updates after extraction, late commits behind the watermark, schema
drift. A row is never lost and never loaded twice; drift is kept and reported, or blocks the batch."""

from __future__ import annotations

from datetime import datetime

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from core.engine import engine_for
from pipeline.ingest import ingest_dataset
from sources.extract import SourceUnavailable
from tests.helpers import INTERVAL_END, ingest_and_load, read_table

pytestmark = pytest.mark.integration


def _qms(settings, *statements: str) -> None:  # type: ignore[no-untyped-def]
    engine = engine_for(settings.qms_url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def _products_table(settings, extra_columns: str = "") -> None:  # type: ignore[no-untyped-def]
    _qms(
        settings,
        "create table products (product_id varchar primary key, product_name varchar, "
        f"opportunities_per_unit {extra_columns or 'integer'}, route varchar, updated_at timestamp)",
    )


def test_a_row_updated_after_extraction_is_taken_again_and_updates_the_warehouse(settings):
    _products_table(settings)
    _qms(settings, "insert into products values ('P1', 'Widget', 10, 'ST1', '2026-11-01 08:00:00')")
    ingest_and_load(settings, "products")
    _qms(settings, "update products set opportunities_per_unit = 12, updated_at = '2026-11-02 08:00:00'")

    result, [report] = ingest_and_load(settings, "products")

    products = read_table(settings, "dim_product")
    assert result.rows == 1 and report.loaded == 1
    assert list(products["opportunities_per_unit"]) == [12]  # one row, the new version


def test_a_late_commit_behind_the_watermark_is_taken_and_nothing_is_taken_twice(settings):
    _products_table(settings)
    _qms(
        settings,
        "insert into products values ('P1', 'Widget', 10, 'ST1', '2026-11-01 08:00:00')",
        "insert into products values ('P2', 'Gadget', 12, 'ST1', '2026-11-01 08:10:00')",
    )
    ingest_and_load(settings, "products")
    # A transaction that began at 08:05 commits now: its change time is behind the watermark (08:10).
    _qms(settings, "insert into products values ('P3', 'Gizmo', 8, 'ST1', '2026-11-01 08:05:00')")

    late, [report] = ingest_and_load(settings, "products")
    again, _ = ingest_and_load(settings, "products")

    assert late.rows == 1 and report.loaded == 1  # only the late row; P1 and P2 in the window are not re-sent
    assert again.batch_id is None
    assert sorted(read_table(settings, "dim_product")["product_id"]) == ["P1", "P2", "P3"]


def test_a_change_further_back_than_the_lookback_is_not_re_read(settings):
    _products_table(settings)
    _qms(settings, "insert into products values ('P1', 'Widget', 10, 'ST1', '2026-11-01 08:00:00')")
    ingest_and_load(settings, "products")
    _qms(settings, "insert into products values ('P0', 'Old', 10, 'ST1', '2026-11-01 07:00:00')")

    result, _ = ingest_and_load(settings, "products")

    assert result.batch_id is None  # 60 minutes behind: beyond the 15-minute look-back; a backfill takes it


def test_a_new_source_column_is_kept_in_the_raw_batch_and_reported(settings):
    _products_table(settings)
    _qms(settings, "insert into products values ('P1', 'Widget', 10, 'ST1', '2026-11-01 08:00:00')")
    ingest_and_load(settings, "products")
    _qms(
        settings,
        "alter table products add column colour varchar",
        "insert into products values ('P2', 'Gadget', 10, 'ST1', '2026-11-02 08:00:00', 'red')",
    )

    result, [report] = ingest_and_load(settings, "products")
    ingest_and_load(settings, "products")  # nothing new: no second report

    assert report.loaded == 1
    raw_path = read_table(settings, "batch_ledger").set_index("batch_id").loc[result.batch_id, "raw_path"]
    assert "colour" in pq.read_schema(raw_path).names
    events = read_table(settings, "extraction_event")
    assert list(zip(events.kind, events.subject, strict=True)) == [("schema_drift", "colour")]
    assert events.batch_id.iloc[0] == result.batch_id


def test_a_column_whose_type_changed_blocks_the_whole_batch_with_the_reason(settings):
    _products_table(settings, extra_columns="varchar")
    _qms(
        settings,
        *[
            f"insert into products values ('P{i}', 'Widget', '{i} per unit', 'ST1', '2026-11-01 08:0{i}:00')"
            for i in range(1, 5)
        ],
    )

    _, [report] = ingest_and_load(settings, "products")

    assert report.status == "blocked" and (report.loaded, report.quarantined) == (0, 4)
    assert report.reason.startswith("batch blocked: column type changed: opportunities_per_unit (none of its 4")
    assert read_table(settings, "dim_product").empty


def test_the_watermark_is_the_newest_change_taken(settings):
    _products_table(settings)
    _qms(settings, "insert into products values ('P1', 'Widget', 10, 'ST1', '2026-11-01 08:00:00')")
    ingest_and_load(settings, "products")
    watermark = read_table(settings, "source_watermark").set_index("dataset").loc["products", "watermark"]
    assert str(watermark)[:19] == str(datetime(2026, 11, 1, 8, 0))


def test_a_source_without_the_table_fails_clearly_and_the_failure_is_recorded(settings):
    with pytest.raises(SourceUnavailable, match="the source database has no table 'products'"):
        ingest_dataset("products", INTERVAL_END, "test", settings)

    events = read_table(settings, "extraction_event")
    assert list(zip(events.kind, events.subject, strict=True)) == [("source_unavailable", "qms")]
    assert read_table(settings, "source_watermark").empty


def test_an_unreachable_source_database_fails_clearly(settings):
    unreachable = settings.model_copy(update={"qms_url": "postgresql://nobody@127.0.0.1:1/qms"})

    with pytest.raises(SourceUnavailable, match="products: the source database is unreachable"):
        ingest_dataset("products", INTERVAL_END, "test", unreachable)
