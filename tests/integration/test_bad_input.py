"""Bad input from each kind of source: the batch or the rows go to quarantine with a clear reason, the rest
loads, the run reports it, and the ledger still adds up."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import text

from core.engine import engine_for
from demo.source_systems import FEEDBACK_COLUMNS
from pipeline.ingest import ingest_dataset, ingest_source
from pipeline.load import validate_and_load
from pipeline.summary import render
from tests.helpers import INTERVAL_END, read_table

pytestmark = pytest.mark.integration

HEADER = ",".join(FEEDBACK_COLUMNS)


def _drop(settings, name: str, content: bytes) -> None:
    settings.survey_drop_dir.mkdir(parents=True, exist_ok=True)
    (settings.survey_drop_dir / name).write_bytes(content)
    (settings.survey_drop_dir / f"{name}.ready").touch()  # the sender's "complete" marker


def _reasons(settings) -> list[str]:
    return [r for rules in read_table(settings, "quarantine")["failed_rules"] for r in json.loads(rules)]


def test_survey_files_that_cannot_be_used_are_quarantined_and_good_files_load(settings):
    _drop(
        settings,
        "feedback_2026-11-01.csv",
        (
            f"{HEADER}\n"
            "R1,2026-11-22T09:00:00,C1,S1,9,5,great\n"
            "R2,2026-11-22T10:00:00,C2,S1,11,4,\n"  # a score of 11
            "R3,2026-11-22T11:00:00,C3,S2,3,2,broken on arrival\n"
        ).encode(),
    )
    _drop(settings, "feedback_2026-11-02.csv", f"{HEADER}\nR4,2026-11-23T09:00:00,C\xe9,S1,9,5,\n".encode("latin-1"))
    _drop(
        settings,
        "feedback_2026-11-03.csv",
        b"response_id,responded_at,customer_id,site_id,csat_score\n"
        b"R5,2026-11-23T09:00:00,C5,S1,5\nR6,2026-11-23T09:30:00,C6,S1,4\n",
    )
    _drop(settings, "feedback_2026-11-04.csv", f'{HEADER}\nR7,2026-11-24T09:00:00,C7,S1,"10,5,\n'.encode())

    ingest_source("survey", INTERVAL_END, "test", settings)
    [report] = validate_and_load(settings)

    assert (report.extracted, report.loaded, report.quarantined, report.duplicates) == (7, 2, 5, 0)
    assert sorted(read_table(settings, "fact_feedback")["response_id"]) == ["R1", "R3"]
    reasons = _reasons(settings)
    assert "rule: nps_score between 0 and 10" in reasons
    assert sum("file could not be parsed: not UTF-8: byte 0xe9 on line 2" in r for r in reasons) == 1
    assert sum("file lacks required column(s): nps_score" in r for r in reasons) == 2
    assert sum("could not be parsed" in r or "different number of fields" in r for r in reasons) == 2
    summary = render(settings)
    assert "feedback: parse: file lacks required column(s): nps_score" in summary


def test_a_source_table_missing_a_required_column_blocks_its_batch(settings):
    engine = engine_for(settings.qms_url)
    with engine.begin() as connection:  # a QMS upgrade dropped a column the warehouse depends on
        connection.execute(
            text("create table products (product_id varchar, product_name varchar, updated_at timestamp)")
        )
        connection.execute(
            text(
                "insert into products values ('P1', 'Widget', '2026-11-01 08:00:00'), "
                "('P2', 'Gadget', '2026-11-01 09:00:00')"
            )
        )
    engine.dispose()

    ingest_dataset("products", INTERVAL_END, "test", settings)
    [report] = validate_and_load(settings)

    assert report.status == "blocked"
    assert report.reason == "batch blocked: missing required column(s): opportunities_per_unit"
    assert (report.loaded, report.quarantined) == (0, 2)
    ledger = read_table(settings, "batch_ledger").iloc[0]
    assert ledger.status == "blocked" and "opportunities_per_unit" in ledger.reason
    assert read_table(settings, "dim_product").empty


def test_a_failed_load_leaves_no_half_batch(settings):
    _drop(
        settings,
        "feedback_2026-11-01.csv",
        f"{HEADER}\nR1,2026-11-22T09:00:00,C1,S1,9,5,\nR2,2026-11-22T09:00:00,C2,S1,12,5,\n".encode(),
    )
    ingest_source("survey", INTERVAL_END, "test", settings)
    engine = engine_for(settings.warehouse_url)
    with engine.begin() as connection:  # the ledger now claims a row more than the batch holds
        connection.execute(text("update batch_ledger set rows_extracted = rows_extracted + 1"))
    engine.dispose()

    (report,) = validate_and_load(settings)  # the load raises: that batch fails, nothing else does

    assert report.status == "failed" and "counts_add_up" in str(report.reason)
    assert read_table(settings, "fact_feedback").empty
    assert read_table(settings, "quarantine").empty
    assert read_table(settings, "validation_result").empty
    ledger = read_table(settings, "batch_ledger")
    assert list(ledger["status"]) == ["failed"] and "counts_add_up" in ledger["reason"].iloc[0]
    alerts = read_table(settings, "data_quality_alert")
    assert list(alerts[alerts.kind == "failed_batch"].status) == ["open"]  # replayed after a fix (`qp replay`)


def test_secrets_in_the_warehouse_url_never_reach_the_summary(tmp_path):
    from core.settings import Settings

    configured = Settings(data_dir=tmp_path, warehouse_url="postgresql://qp:s3cret-pw@db.internal:5432/qp")
    assert "s3cret-pw" not in configured.warehouse_url_redacted
    assert configured.warehouse_url_redacted == "postgresql://qp:***@db.internal:5432/qp"


def test_watermark_limits_extraction_to_the_data_interval(settings, demo_sources):
    first = ingest_dataset("production_runs", datetime(2026, 11, 1), "test", settings)
    second = ingest_dataset("production_runs", INTERVAL_END, "test", settings)
    third = ingest_dataset("production_runs", INTERVAL_END, "test", settings)

    assert first.rows + second.rows == demo_sources["production_runs"]
    assert first.rows > 0 and second.rows > 0 and third.batch_id is None
