"""The survey tool's file drops, end to end: each bad delivery gets a clear message in the run log and in the
warehouse, and every row is loaded, quarantined or counted as a duplicate, never lost or loaded twice."""

from __future__ import annotations

import hashlib
import json
import logging
import os

import pytest

from qualitypulse.summary import render
from sources.demo import FEEDBACK_COLUMNS
from tests.helpers import ingest_and_load, read_table

pytestmark = pytest.mark.integration

HEADER = ",".join(FEEDBACK_COLUMNS)
GOOD = f"{HEADER}\nR1,2026-11-22T09:00:00,C1,S1,9,5,great\nR2,2026-11-22T10:00:00,C2,S1,7,4,\n".encode()


def _drop(settings, name: str, content: bytes, ready: bool = True) -> None:  # type: ignore[no-untyped-def]
    settings.survey_drop_dir.mkdir(parents=True, exist_ok=True)
    (settings.survey_drop_dir / name).write_bytes(content)
    if ready:
        (settings.survey_drop_dir / f"{name}.ready").touch()


def _manifest(settings, name: str, files: list[dict[str, object]]) -> None:  # type: ignore[no-untyped-def]
    (settings.survey_drop_dir / name).write_text(json.dumps({"files": files}))


def _events(settings) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    events = read_table(settings, "extraction_event")
    return list(zip(events["kind"], events["subject"], events["detail"], strict=True))


def _reasons(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return [r for rules in read_table(settings, "quarantine")["failed_rules"] for r in json.loads(rules)]


def test_a_file_without_a_ready_marker_waits_and_is_taken_once_marked(settings):
    _drop(settings, "feedback_a.csv", GOOD, ready=False)
    waiting, _ = ingest_and_load(settings, "feedback")
    (settings.survey_drop_dir / "feedback_a.csv.ready").touch()
    taken, [report] = ingest_and_load(settings, "feedback")

    assert waiting.batch_id is None and taken.rows == 2 and report.loaded == 2


def test_an_identical_redelivery_is_skipped_and_counted_a_corrected_one_is_processed(settings, caplog):
    _drop(settings, "feedback_a.csv", GOOD)
    ingest_and_load(settings, "feedback")
    _drop(settings, "feedback_a_resent.csv", GOOD)
    with caplog.at_level(logging.WARNING):
        skipped, _ = ingest_and_load(settings, "feedback")
    corrected = GOOD.replace(b"R2,2026-11-22T10:00:00,C2,S1,7,4,", b"R2,2026-11-22T10:00:00,C2,S1,8,4,")
    _drop(settings, "feedback_a_corrected.csv", corrected)
    taken, [report] = ingest_and_load(settings, "feedback")

    assert skipped.batch_id is None
    assert ("redelivery_skipped", "feedback_a_resent.csv", "identical to feedback_a.csv; skipped") in _events(settings)
    assert "feedback_a_resent.csv: identical to feedback_a.csv; skipped" in caplog.text
    assert taken.rows == 2 and (report.loaded, report.duplicates) == (1, 1)  # R2 updated, R1 unchanged
    assert [kind for kind, _, _ in _events(settings)].count("redelivery_skipped") == 1  # reported once
    assert "feedback: redelivery_skipped feedback_a_resent.csv: identical to feedback_a.csv; skipped" in render(
        settings
    )
    feedback = read_table(settings, "fact_feedback").set_index("response_id")
    assert feedback.loc["R2", "nps_score"] == 8 and len(feedback) == 2


def test_an_empty_file_and_a_header_only_file_are_reported_and_load_nothing(settings):
    _drop(settings, "feedback_empty.csv", b"")
    _drop(settings, "feedback_header.csv", f"{HEADER}\n".encode())

    result, [report] = ingest_and_load(settings, "feedback")

    assert result.rows == 0 and (report.extracted, report.loaded, report.quarantined) == (0, 0, 0)
    events = _events(settings)
    assert ("file_problem", "feedback_empty.csv", "empty file (0 bytes): nothing to load") in events
    assert ("file_problem", "feedback_header.csv", "header only: no rows") in events
    assert set(read_table(settings, "source_file")["file_name"]) == {"feedback_empty.csv", "feedback_header.csv"}


def test_a_truncated_file_is_caught_by_its_manifest_and_quarantined_whole(settings):
    complete = GOOD + b"R3,2026-11-22T11:00:00,C3,S2,3,2,late\n"
    truncated = complete[: len(complete) - 25]  # the transfer stopped inside the last row
    _drop(settings, "feedback_t.csv", truncated, ready=False)
    entry = {"name": "feedback_t.csv", "sha256": hashlib.sha256(complete).hexdigest(), "rows": 3}
    _manifest(settings, "delivery.manifest.json", [entry])

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (3, 0, 3)
    assert all("truncated or altered in transfer" in r for r in _reasons(settings))
    assert read_table(settings, "fact_feedback").empty


def test_a_malformed_json_line_is_quarantined_and_the_good_lines_load(settings):
    lines = [
        {
            "response_id": "J1",
            "responded_at": "2026-11-22T09:00:00",
            "customer_id": "C1",
            "site_id": "S1",
            "nps_score": 9,
            "csat_score": 5,
            "comment": None,
        },
        '{"response_id": "J2", "responded_at": "2026-11-22T09:0',  # cut off mid-record
        {
            "response_id": "J3",
            "responded_at": "2026-11-22T10:00:00",
            "customer_id": "C3",
            "site_id": "S1",
            "nps_score": 6,
            "csat_score": 3,
            "comment": "slow",
        },
    ]
    content = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()
    _drop(settings, "feedback_j.jsonl", content)

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (3, 2, 1)
    assert sorted(read_table(settings, "fact_feedback")["response_id"]) == ["J1", "J3"]
    [reason] = _reasons(settings)
    assert reason.startswith("parse: line 2 is not valid JSON")


def test_a_name_that_leads_outside_the_drop_folder_is_refused(settings, tmp_path):
    secret = tmp_path / "outside" / "secrets.csv"
    secret.parent.mkdir()
    secret.write_bytes(GOOD)
    settings.survey_drop_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, settings.survey_drop_dir / "feedback_link.csv")
    (settings.survey_drop_dir / "feedback_link.csv.ready").touch()
    _manifest(settings, "evil.manifest.json", [{"name": "../outside/secrets.csv", "rows": 2}])

    result, reports = ingest_and_load(settings, "feedback")

    assert result.batch_id is None and reports == []
    assert read_table(settings, "fact_feedback").empty
    refused = [(subject, detail) for kind, subject, detail in _events(settings) if kind == "file_refused"]
    assert ("feedback_link.csv", "the name leads outside the drop folder; not read") in refused
    assert ("../outside/secrets.csv", "evil.manifest.json names a path, not a file; not read") in refused
