"""The LMS/HR reporting API over real HTTP (the demo service on 127.0.0.1): pages, auth, retries, failures.

Each bad answer gets a clear message, the watermark moves only when every page arrived, and no record is lost
or loaded twice.
"""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr

from qualitypulse import pipeline
from sources.catalog import BY_NAME
from sources.demo_api import DemoApi
from sources.extract import SourceUnavailable
from sources.http_api import HttpSource, extract_http
from tests.helpers import INTERVAL_END, read_table
from warehouse import ledger
from warehouse.db import engine_for

pytestmark = pytest.mark.integration
ASSIGNMENTS = BY_NAME["training_assignments"]


def _api(settings) -> DemoApi:  # type: ignore[no-untyped-def]
    """The demo API the ``settings`` fixture started (its URL and token are in the settings)."""
    return DemoApi.serving(settings.lms_api_url)


def _watermark(settings, dataset: str):  # type: ignore[no-untyped-def]
    engine = engine_for(settings.warehouse_url)
    try:
        return ledger.get_watermark(engine, dataset)
    finally:
        engine.dispose()


def test_every_page_arrives_once_and_a_rerun_takes_nothing(settings, demo_sources):
    source = HttpSource(settings.lms_api_url, settings.lms_api_token, page_size=100)
    extraction = extract_http(ASSIGNMENTS, source, None, INTERVAL_END)

    assert len(extraction.frame) == demo_sources["training_assignments"]
    assert extraction.frame["_page"].max() > 10
    store = json.loads((settings.lms_store_dir / "training_assignments.json").read_text())["records"]
    assert sorted(extraction.frame["assignment_id"]) == sorted(r["assignment_id"] for r in store)  # none twice
    again = extract_http(ASSIGNMENTS, source, extraction.watermark_to, INTERVAL_END)
    assert again.frame.empty


def test_a_wrong_token_is_refused_with_a_clear_error_that_does_not_echo_the_token(settings, demo_sources):
    wrong = HttpSource(settings.lms_api_url, SecretStr("not-the-token-123"), retries=0)

    with pytest.raises(SourceUnavailable, match="answered HTTP 401") as caught:
        extract_http(ASSIGNMENTS, wrong, None, INTERVAL_END)
    assert "not-the-token-123" not in str(caught.value) and "not-the-token-123" not in repr(wrong)


def test_500_twice_then_200_is_retried_and_the_batch_is_whole(settings, demo_sources, caplog):
    api = _api(settings)
    api.fail_next(2, status=500)

    with caplog.at_level(logging.WARNING):
        result = pipeline.ingest_dataset("training_assignments", INTERVAL_END, "test", settings)

    assert result.rows == demo_sources["training_assignments"]
    assert api.log.statuses()[:3] == [500, 500, 200]
    assert "page 1: answered after 2 retried attempt(s): 500, 500" in caplog.text
    events = read_table(settings, "extraction_event")
    assert list(events.kind) == ["source_retried"] and events.batch_id.iloc[0] == result.batch_id
    [report] = pipeline.validate_and_load(settings)
    assert report.extracted == report.loaded + report.quarantined + report.duplicates
    assert settings.lms_api_token.get_secret_value() not in caplog.text


def test_429_with_retry_after_is_honoured(settings, demo_sources):
    api = _api(settings)
    api.fail_next(1, status=429, retry_after=1)

    result = pipeline.ingest_dataset("courses", INTERVAL_END, "test", settings)

    assert result.rows == demo_sources["courses"] and api.log.statuses()[:2] == [429, 200]


def test_an_api_that_stays_down_fails_the_run_and_keeps_the_watermark(settings, demo_sources):
    pipeline.ingest_dataset("training_assignments", INTERVAL_END, "test", settings)
    before = _watermark(settings, "training_assignments")
    api = _api(settings)
    api.fail_next(10, status=503)

    with pytest.raises(SourceUnavailable, match="kept failing after retries"):
        pipeline.ingest_dataset(
            "training_assignments", INTERVAL_END, "test", settings.model_copy(update={"lms_api_retries": 2})
        )

    assert _watermark(settings, "training_assignments") == before
    events = read_table(settings, "extraction_event")
    assert events.kind.iloc[-1] == "source_unavailable" and "kept failing after retries" in events.detail.iloc[-1]
    assert api.log.statuses()[-3:] == [503, 503, 503]  # the first try and two retries


def test_an_api_that_never_answers_times_out_clearly_and_lands_nothing(settings, demo_sources):
    api = _api(settings)
    api.stall_next(2, seconds=2.0)
    impatient = settings.model_copy(update={"lms_api_timeout_seconds": 0.5, "lms_api_retries": 1})

    with pytest.raises(SourceUnavailable, match="training_assignments: .* did not answer within 0.5 s, after retries"):
        pipeline.ingest_dataset("training_assignments", INTERVAL_END, "test", impatient)

    assert _watermark(settings, "training_assignments") is None
    assert read_table(settings, "batch_ledger").empty


def test_a_page_with_a_changed_schema_is_quarantined_with_the_reason_and_the_other_pages_load(settings, demo_sources):
    api = _api(settings)

    def renamed(records):  # the LMS renamed a field on this page
        return [{("learner_id" if k == "employee_id" else k): v for k, v in r.items()} for r in records]

    api.rewrite_next_page(renamed)
    small_pages = settings.model_copy(update={"lms_api_page_size": 200})

    result = pipeline.ingest_dataset("training_assignments", INTERVAL_END, "test", small_pages)
    [report] = pipeline.validate_and_load(settings)

    assert result.rows == demo_sources["training_assignments"]
    assert report.quarantined >= 200 and report.loaded > 0
    assert report.extracted == report.loaded + report.quarantined + report.duplicates
    events = read_table(settings, "extraction_event")
    assert ("schema_drift", "page 1") in set(zip(events.kind, events.subject, strict=True))
    quarantine = read_table(settings, "quarantine")
    assert quarantine["failed_rules"].str.contains("page 1 lacks required field\\(s\\): employee_id").sum() == 200
