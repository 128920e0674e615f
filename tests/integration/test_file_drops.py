"""The survey tool's file drops, end to end: each bad delivery gets a clear message in the run log and in the
warehouse, and every row is loaded, quarantined or counted as a duplicate, never lost or loaded twice. Every file
the sender marks complete is taken or reported, with a data-quality alert naming the file and why."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import pandas as pd
import pytest

from demo.source_systems import FEEDBACK_COLUMNS
from pipeline.summary import render
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
    settings.survey_drop_dir.mkdir(parents=True, exist_ok=True)
    (settings.survey_drop_dir / name).write_text(json.dumps({"files": files}))


def _events(settings) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    events = read_table(settings, "extraction_event")
    return list(zip(events["kind"], events["subject"], events["detail"], strict=True))


def _reasons(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return [r for rules in read_table(settings, "quarantine")["failed_rules"] for r in json.loads(rules)]


def _quarantined(settings) -> dict[tuple[str, int], tuple[list[str], dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """(file, line) of each quarantined row -> its reasons and its raw record as landed."""
    out = {}
    for row in read_table(settings, "quarantine").itertuples():
        raw = json.loads(row.raw_record)
        out[(raw["_source_file"], int(raw["_source_line"]))] = (json.loads(row.failed_rules), raw)
    return out


def _alerts(settings) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The data-quality alerts about files, by file name."""
    alerts = read_table(settings, "data_quality_alert")
    alerts = alerts[alerts["kind"] == "file_problem"]
    return {a["rule"]: a for a in alerts.to_dict("records")}


def _problem(alert: dict[str, Any]) -> str:
    return str(json.loads(alert["observed_value"])["problem"])


def _ledger(settings) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The batch ledger, each batch checked to add up: extracted = loaded + quarantined + duplicates."""
    ledger = read_table(settings, "batch_ledger")
    for batch in ledger.itertuples():
        assert batch.status == "loaded", batch
        assert batch.rows_extracted == batch.rows_loaded + batch.rows_quarantined + batch.rows_duplicate, batch
    return ledger


def _feedback_csv(*rows: str, header: str = HEADER, newline: str = "\n") -> str:
    return newline.join([header, *rows]) + newline


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
    [(kind, subject, detail)] = [e for e in _events(settings) if e[0] != "file_problem"]
    assert (kind, subject) == ("manifest_mismatch", "feedback_t.csv")
    assert "its checksum differs from the manifest's" in detail and "the whole file is quarantined (3 rows)" in detail
    alert = _alerts(settings)["feedback_t.csv"]
    assert (alert["severity"], alert["status"], _problem(alert)) == ("critical", "open", "manifest_mismatch")
    assert _ledger(settings)["rows_quarantined"].tolist() == [3]


def test_a_file_holding_other_rows_than_its_manifest_promises_is_quarantined_whole(settings):
    content = GOOD  # complete, both rows intact, but the manifest counted three
    _drop(settings, "feedback_m.csv", content, ready=False)
    entry = {"name": "feedback_m.csv", "sha256": hashlib.sha256(content).hexdigest(), "rows": 3}
    _manifest(settings, "delivery.manifest.json", [entry])

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (2, 0, 2)
    assert read_table(settings, "fact_feedback").empty  # never loaded as if complete
    quarantined = _quarantined(settings)
    assert set(quarantined) == {("feedback_m.csv", 2), ("feedback_m.csv", 3)}
    reasons, raw = quarantined[("feedback_m.csv", 2)]
    assert reasons == ["parse: the manifest promises 3 rows, the file holds 2"]
    assert (raw["response_id"], raw["comment"]) == ("R1", "great")
    assert ("manifest_mismatch", "feedback_m.csv") in [(k, s) for k, s, _ in _events(settings)]
    assert _alerts(settings)["feedback_m.csv"]["severity"] == "critical"


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
    content = "".join(f"{line if isinstance(line, str) else json.dumps(line)}\n" for line in lines).encode()
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
    alerts = _alerts(settings)
    for name in ("feedback_link.csv", "../outside/secrets.csv"):
        assert (alerts[name]["severity"], alerts[name]["status"], _problem(alerts[name])) == (
            "critical",
            "open",
            "file_refused",
        )
    assert (
        "feedback: file feedback_link.csv: the name leads outside the drop folder"
        in alerts["feedback_link.csv"]["message"]
    )


def test_a_marked_file_in_a_format_not_read_is_reported_once_with_a_critical_alert(settings):
    _drop(settings, "feedback_2026-11-22.xlsx", b"PK\x03\x04 a spreadsheet")
    _drop(settings, "feedback_notes.TXT", b"R1 was great")
    _drop(settings, "feedback_a.csv", GOOD)

    first, [report] = ingest_and_load(settings, "feedback")
    again, _ = ingest_and_load(settings, "feedback")  # the files are still in the folder

    assert (report.extracted, report.loaded) == (2, 2) and again.batch_id is None
    unsupported = [(s, d) for k, s, d in _events(settings) if k == "file_unsupported"]
    assert unsupported == [  # once, not on every run
        (
            "feedback_2026-11-22.xlsx",
            "a file with '.xlsx' is not read; deliver it as CSV (.csv), JSON Lines (.jsonl) or JSON (.json)",
        ),
        (
            "feedback_notes.TXT",
            "a file with '.TXT' is not read; deliver it as CSV (.csv), JSON Lines (.jsonl) or JSON (.json)",
        ),
    ]
    alerts = _alerts(settings)
    assert set(alerts) == {"feedback_2026-11-22.xlsx", "feedback_notes.TXT"}
    xlsx = alerts["feedback_2026-11-22.xlsx"]
    assert (xlsx["severity"], xlsx["status"], xlsx["dataset"], _problem(xlsx)) == (
        "critical",
        "open",
        "feedback",
        "file_unsupported",
    )
    assert xlsx["message"].startswith("feedback: file feedback_2026-11-22.xlsx: a file with '.xlsx' is not read")
    assert xlsx["occurrences"] == 2  # still there on the second run
    assert "feedback: file feedback_2026-11-22.xlsx: a file with '.xlsx' is not read" in render(settings)
    assert _ledger(settings)["rows_extracted"].tolist() == [2]


def test_suffixes_match_whatever_their_case_and_a_json_array_of_objects_is_read(settings):
    _drop(settings, "FEEDBACK_A.CSV", GOOD)
    records = [
        {
            "response_id": "L1",
            "responded_at": "2026-11-22T11:00:00",
            "customer_id": "C1",
            "site_id": "S1",
            "nps_score": 10,
            "csat_score": 5,
        },
    ]
    _drop(settings, "feedback_b.JSONL", "".join(json.dumps(r) + "\n" for r in records).encode())
    array = [
        {
            "response_id": "A1",
            "responded_at": "2026-11-22T12:00:00",
            "customer_id": "C2",
            "site_id": "S1",
            "nps_score": 8,
            "csat_score": 4,
            "comment": "ok",
        },
        {
            "response_id": "A2",
            "responded_at": "2026-11-22T13:00:00",
            "customer_id": "C3",
            "site_id": "S2",
            "nps_score": 3,
            "csat_score": 2,
            "comment": None,
        },
    ]
    content = json.dumps(array, indent=2).encode()  # json.dump writes no final line ending; a closed array is whole
    _drop(settings, "feedback_c.Json", content, ready=False)
    _manifest(settings, "delivery.manifest.json", [{"name": "feedback_c.Json", "rows": 2}])

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (5, 5, 0)
    assert sorted(read_table(settings, "fact_feedback")["response_id"]) == ["A1", "A2", "L1", "R1", "R2"]
    assert _events(settings) == [] and _alerts(settings) == {}
    assert sorted(read_table(settings, "source_file")["file_name"]) == [
        "FEEDBACK_A.CSV",
        "feedback_b.JSONL",
        "feedback_c.Json",
    ]
    assert _ledger(settings)["rows_extracted"].tolist() == [5]


def test_a_json_file_that_is_not_an_array_of_objects_is_kept_raw_with_its_problem(settings):
    wrapped = b'{"responses": [{"response_id": "W1", "nps_score": 9}]}\n'
    _drop(settings, "feedback_wrapped.json", wrapped)
    mixed = [
        {
            "response_id": "M1",
            "responded_at": "2026-11-22T09:00:00",
            "customer_id": "C1",
            "site_id": "S1",
            "nps_score": 9,
            "csat_score": 5,
        },
        "M2,2026-11-22T10:00:00,C2,S1,7,4",
        {
            "response_id": "M3",
            "responded_at": "2026-11-22T11:00:00",
            "customer_id": "C3",
            "site_id": "S1",
            "nps_score": 6,
            "csat_score": 3,
        },
    ]
    _drop(settings, "feedback_mixed.json", json.dumps(mixed).encode())

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (4, 2, 2)
    assert sorted(read_table(settings, "fact_feedback")["response_id"]) == ["M1", "M3"]
    quarantined = _quarantined(settings)
    reasons, raw = quarantined[("feedback_wrapped.json", 1)]
    problem = "file could not be parsed: a .json file must hold an array of objects; this one holds a JSON object"
    assert reasons == [f"parse: {problem}"]
    assert raw["_raw_line"] == wrapped.decode().strip()
    reasons, raw = quarantined[("feedback_mixed.json", 1)]
    assert reasons == ["parse: element at line 1 is a JSON string, not an object"]
    assert raw["_raw_line"] == json.dumps("M2,2026-11-22T10:00:00,C2,S1,7,4")
    assert ("file_unparseable", "feedback_wrapped.json", problem) in _events(settings)
    alerts = _alerts(settings)
    assert set(alerts) == {"feedback_wrapped.json"}  # the mixed file loaded; its bad element is a quarantined row
    assert (alerts["feedback_wrapped.json"]["severity"], _problem(alerts["feedback_wrapped.json"])) == (
        "critical",
        "file_unparseable",
    )
    assert _ledger(settings)["rows_extracted"].tolist() == [4]


def test_utf8_with_a_bom_and_utf16_with_a_bom_are_decoded(settings):
    def text(response_id: str, comment: str) -> str:
        return _feedback_csv(f"{response_id},2026-11-22T09:00:00,C1,S1,9,5,{comment}", newline="\r\n")

    _drop(settings, "feedback_excel.csv", text("U8", "très bien").encode("utf-8-sig"))  # Excel's "CSV UTF-8"
    _drop(settings, "feedback_le.csv", b"\xff\xfe" + text("U16LE", "ça va").encode("utf-16-le"))
    _drop(settings, "feedback_be.csv", b"\xfe\xff" + text("U16BE", "Größe").encode("utf-16-be"))

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (3, 3, 0)
    comments = read_table(settings, "fact_feedback").set_index("response_id")["comment"].to_dict()
    assert comments == {"U8": "très bien", "U16LE": "ça va", "U16BE": "Größe"}
    [raw_path] = _ledger(settings)["raw_path"]
    assert pd.read_parquet(raw_path).columns[0] == "response_id"  # no BOM in the first column's name
    assert _events(settings) == [] and _alerts(settings) == {}


def test_a_file_in_another_encoding_fails_naming_the_byte_and_line_and_its_rows_are_kept_raw(settings):
    cp1252 = _feedback_csv("R1,2026-11-22T09:00:00,C1,S1,9,5,fine", "R2,2026-11-22T10:00:00,C2,S1,7,4,Café")
    _drop(settings, "feedback_cp.csv", cp1252.encode("cp1252"))
    _drop(settings, "feedback_ok.csv", _feedback_csv("R3,2026-11-22T11:00:00,C3,S1,8,4,").encode())

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (3, 1, 2)
    problem = (
        "file could not be parsed: not UTF-8: byte 0xe9 on line 3 (column 37) is not valid UTF-8 "
        "(saved as cp1252 or Latin-1?): save it as UTF-8 or UTF-16 with a BOM"
    )
    quarantined = _quarantined(settings)
    assert set(quarantined) == {("feedback_cp.csv", 2), ("feedback_cp.csv", 3)}
    reasons, raw = quarantined[("feedback_cp.csv", 3)]
    assert reasons == [f"parse: {problem}"]
    assert raw["_raw_line"] == "R2,2026-11-22T10:00:00,C2,S1,7,4,Caf\\xe9"  # every byte kept
    assert quarantined[("feedback_cp.csv", 2)][1]["_raw_line"] == "R1,2026-11-22T09:00:00,C1,S1,9,5,fine"
    assert ("file_unparseable", "feedback_cp.csv", problem) in _events(settings)
    alert = _alerts(settings)["feedback_cp.csv"]
    assert (alert["severity"], alert["status"], _problem(alert)) == ("critical", "open", "file_unparseable")

    _drop(settings, "feedback_cp.csv", cp1252.encode("utf-8"))  # saved again as UTF-8, under the same name
    fixed, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded) == (2, 2)
    assert _alerts(settings)["feedback_cp.csv"]["status"] == "resolved"
    assert read_table(settings, "fact_feedback").set_index("response_id").loc["R2", "comment"] == "Café"
    assert _ledger(settings)["rows_extracted"].sum() == 5


def test_the_ledger_counts_the_rows_a_file_really_holds(settings):
    content = (
        f"{HEADER}\r\n"
        "\r\n"
        'R1,2026-11-22T09:00:00,C1,S1,9,5,"first line\r\nsecond line, with a comma"\r\n'
        "\r\n"
        "R2,2026-11-22T10:00:00,C2,S1,7,4,\r\n"
        ",,,,,,\r\n"  # a spreadsheet's empty row
        "R3,2026-11-22T11:00:00,C3,S2,3,2,\r\n"
        "\r\n"
    )
    _drop(settings, "feedback_multi.csv", content.encode())
    _drop(settings, "feedback_header.csv", f"{HEADER}\n\n".encode())

    result, [report] = ingest_and_load(settings, "feedback")

    assert result.rows == 3 and (report.extracted, report.loaded, report.quarantined) == (3, 3, 0)
    feedback = read_table(settings, "fact_feedback").set_index("response_id")
    assert feedback.loc["R1", "comment"] == "first line\r\nsecond line, with a comma"
    assert _ledger(settings)["rows_extracted"].tolist() == [3]
    assert ("file_problem", "feedback_header.csv", "header only: no rows") in _events(settings)
    assert _alerts(settings) == {}


def test_a_last_line_without_a_line_ending_is_quarantined_as_possibly_truncated(settings):
    _drop(settings, "feedback_cut.csv", GOOD + b"R3,2026-11-22T11:00:00,C3,S2,3,2,la")
    jsonl = [
        {
            "response_id": "J1",
            "responded_at": "2026-11-22T09:00:00",
            "customer_id": "C1",
            "site_id": "S1",
            "nps_score": 9,
            "csat_score": 5,
        },
        {
            "response_id": "J2",
            "responded_at": "2026-11-22T10:00:00",
            "customer_id": "C2",
            "site_id": "S1",
            "nps_score": 7,
            "csat_score": 4,
        },
    ]
    _drop(settings, "feedback_cut.jsonl", "\n".join(json.dumps(r) for r in jsonl).encode())
    whole = _feedback_csv("R9,2026-11-22T12:00:00,C1,S1,9,5,").rstrip("\n").encode()  # its checksum says complete
    _drop(settings, "feedback_whole.csv", whole, ready=False)
    _manifest(
        settings, "whole.manifest.json", [{"name": "feedback_whole.csv", "sha256": hashlib.sha256(whole).hexdigest()}]
    )

    result, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded, report.quarantined) == (6, 4, 2)
    assert sorted(read_table(settings, "fact_feedback")["response_id"]) == ["J1", "R1", "R2", "R9"]
    quarantined = _quarantined(settings)
    assert set(quarantined) == {("feedback_cut.csv", 4), ("feedback_cut.jsonl", 2)}
    reasons, raw = quarantined[("feedback_cut.csv", 4)]
    assert reasons == ["parse: possibly truncated: the file's last line has no line ending"]
    assert (raw["response_id"], raw["comment"]) == ("R3", "la")
    reasons, raw = quarantined[("feedback_cut.jsonl", 2)]
    assert reasons == ["parse: possibly truncated: the file's last line has no line ending"]
    assert raw["response_id"] == "J2"
    truncated = {s: d for k, s, d in _events(settings) if k == "file_truncated"}
    assert truncated == {
        "feedback_cut.csv": "possibly truncated: the file's last line has no line ending; "
        "its last row (line 4) is quarantined, the others load",
        "feedback_cut.jsonl": "possibly truncated: the file's last line has no line ending; "
        "its last row (line 2) is quarantined, the others load",
    }
    alerts = _alerts(settings)
    assert set(alerts) == {"feedback_cut.csv", "feedback_cut.jsonl"}
    assert {a["severity"] for a in alerts.values()} == {"warning"}
    assert _ledger(settings)["rows_extracted"].tolist() == [6]


def test_a_file_announced_but_not_delivered_is_reported_missing_until_it_arrives(settings):
    _manifest(settings, "delivery.manifest.json", [{"name": "feedback_late.csv", "rows": 2}])
    (settings.survey_drop_dir / "feedback_gone.csv.ready").touch()

    first, _ = ingest_and_load(settings, "feedback")
    again, _ = ingest_and_load(settings, "feedback")

    assert first.batch_id is None and again.batch_id is None
    missing = [(s, d) for k, s, d in _events(settings) if k == "file_missing"]
    assert missing == [  # once each
        ("feedback_gone.csv", "feedback_gone.csv.ready announces it, but it is not in the folder"),
        ("feedback_late.csv", "delivery.manifest.json announces it, but it is not in the folder"),
    ]
    alerts = _alerts(settings)
    assert {name: (a["severity"], a["status"], a["occurrences"]) for name, a in alerts.items()} == {
        "feedback_gone.csv": ("warning", "open", 2),
        "feedback_late.csv": ("warning", "open", 2),
    }

    _drop(settings, "feedback_late.csv", GOOD, ready=False)
    arrived, [report] = ingest_and_load(settings, "feedback")

    assert (report.extracted, report.loaded) == (2, 2)
    alerts = _alerts(settings)
    assert (alerts["feedback_late.csv"]["status"], alerts["feedback_gone.csv"]["status"]) == ("resolved", "open")
    assert _ledger(settings)["rows_extracted"].tolist() == [2]


def test_a_file_that_cannot_be_read_at_all_raises_a_critical_alert(settings):
    settings.survey_drop_dir.mkdir(parents=True, exist_ok=True)
    (settings.survey_drop_dir / "feedback_folder.csv").mkdir()  # a folder where the file should be
    (settings.survey_drop_dir / "feedback_folder.csv.ready").touch()
    (settings.survey_drop_dir / "broken.manifest.json").write_text('{"files": [{"name": "feedback_x.csv"')
    _drop(settings, "feedback_x.csv", GOOD, ready=False)

    result, reports = ingest_and_load(settings, "feedback")

    assert result.batch_id is None and reports == []
    unreadable = {s: d for k, s, d in _events(settings) if k == "file_unreadable"}
    assert unreadable["feedback_folder.csv"] == "not a regular file (a folder or a device); not read"
    assert unreadable["broken.manifest.json"].startswith("manifest could not be read (")
    assert unreadable["broken.manifest.json"].endswith("the files it lists wait until it is fixed")
    alerts = _alerts(settings)
    assert {name: (a["severity"], _problem(a)) for name, a in alerts.items()} == {
        "feedback_folder.csv": ("critical", "file_unreadable"),
        "broken.manifest.json": ("critical", "file_unreadable"),
    }
    assert read_table(settings, "batch_ledger").empty  # nothing taken, nothing lost: feedback_x.csv waits
