"""The LMS/HR reporting API over real HTTP (the demo service on 127.0.0.1): pages, auth, retries, failures.

Each bad answer gets a clear message, the watermark moves only when every page arrived, and no record is lost
or loaded twice. The client is bounded: a misbehaving gateway in front of the demo API (a real server on
127.0.0.1) loops its cursor, asks for hour-long Retry-After waits, or answers slowly page after page.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pydantic import SecretStr

from core.catalog import BY_NAME
from core.engine import engine_for
from demo.lms_api import DemoApi
from pipeline.ingest import ingest_dataset
from pipeline.load import validate_and_load
from sources.extract import SourceUnavailable
from sources.http_api import HttpSource, extract_http
from tests.helpers import INTERVAL_END, ingest_and_load, read_table
from warehouse import ledger

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
        result = ingest_dataset("training_assignments", INTERVAL_END, "test", settings)

    assert result.rows == demo_sources["training_assignments"]
    assert api.log.statuses()[:3] == [500, 500, 200]
    assert "page 1: answered after 2 retried attempt(s): 500, 500" in caplog.text
    events = read_table(settings, "extraction_event")
    assert list(events.kind) == ["source_retried"] and events.batch_id.iloc[0] == result.batch_id
    [report] = validate_and_load(settings)
    assert report.extracted == report.loaded + report.quarantined + report.duplicates
    assert settings.lms_api_token.get_secret_value() not in caplog.text


def test_429_with_retry_after_is_honoured(settings, demo_sources):
    api = _api(settings)
    api.fail_next(1, status=429, retry_after=1)

    result = ingest_dataset("courses", INTERVAL_END, "test", settings)

    assert result.rows == demo_sources["courses"] and api.log.statuses()[:2] == [429, 200]


def test_an_api_that_stays_down_fails_the_run_and_keeps_the_watermark(settings, demo_sources):
    ingest_dataset("training_assignments", INTERVAL_END, "test", settings)
    before = _watermark(settings, "training_assignments")
    api = _api(settings)
    api.fail_next(10, status=503)

    with pytest.raises(SourceUnavailable, match="kept failing after retries"):
        ingest_dataset("training_assignments", INTERVAL_END, "test", settings.model_copy(update={"lms_api_retries": 2}))

    assert _watermark(settings, "training_assignments") == before
    events = read_table(settings, "extraction_event")
    assert events.kind.iloc[-1] == "source_unavailable" and "kept failing after retries" in events.detail.iloc[-1]
    assert api.log.statuses()[-3:] == [503, 503, 503]  # the first try and two retries


def test_an_api_that_never_answers_times_out_clearly_and_lands_nothing(settings, demo_sources):
    api = _api(settings)
    api.stall_next(2, seconds=2.0)
    impatient = settings.model_copy(update={"lms_api_timeout_seconds": 0.5, "lms_api_retries": 1})

    with pytest.raises(SourceUnavailable, match="training_assignments: .* did not answer within 0.5 s, after retries"):
        ingest_dataset("training_assignments", INTERVAL_END, "test", impatient)

    assert _watermark(settings, "training_assignments") is None
    assert read_table(settings, "batch_ledger").empty


def test_a_page_with_a_changed_schema_is_quarantined_with_the_reason_and_the_other_pages_load(settings, demo_sources):
    api = _api(settings)

    def renamed(records):  # the LMS renamed a field on this page
        return [{("learner_id" if k == "employee_id" else k): v for k, v in r.items()} for r in records]

    api.rewrite_next_page(renamed)
    small_pages = settings.model_copy(update={"lms_api_page_size": 200})

    result = ingest_dataset("training_assignments", INTERVAL_END, "test", small_pages)
    [report] = validate_and_load(settings)

    assert result.rows == demo_sources["training_assignments"]
    assert report.quarantined >= 200 and report.loaded > 0
    assert report.extracted == report.loaded + report.quarantined + report.duplicates
    events = read_table(settings, "extraction_event")
    assert ("schema_drift", "page 1") in set(zip(events.kind, events.subject, strict=True))
    quarantine = read_table(settings, "quarantine")
    assert quarantine["failed_rules"].str.contains("page 1 lacks required field\\(s\\): employee_id").sum() == 200


# --- bounded clients: a misbehaving gateway in front of the demo API -------------------------------------------


class MisbehavingGateway:
    """A real HTTP server on 127.0.0.1 that passes requests on to the demo API and misbehaves as told.

    It answers for the API whatever credentials the client sends (so a URL with user:password reaches it), and
    records each answer's status and the moment it was sent.
    """

    def __init__(self, upstream: str, token: str) -> None:
        self.upstream, self.token = upstream, token
        self.loop_cursor = False  # page 2 and later hand back page 1's cursor
        self.page_delay = 0.0  # seconds spent before each answer
        self.throttled: list[tuple[int, str]] = []  # the next answers: (status, Retry-After value)
        self.refuse_listings = False  # requests without ``updated_after`` (full listings) get a 403
        self.answers: list[tuple[int, float]] = []  # (status, time.monotonic()) of each answer
        self._first_cursor: str | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)

    def url(self, credentials: str = "") -> str:
        host, port = self._server.server_address[:2]
        userinfo = f"{credentials}@" if credentials else ""
        return f"http://{userinfo}{host!s}:{port}{urlsplit(self.upstream).path}"

    def behave(self) -> None:
        self.loop_cursor, self.page_delay, self.throttled, self.refuse_listings = False, 0.0, [], False

    def statuses(self) -> list[int]:
        return [status for status, _ in self.answers]

    def _answer(self, path: str) -> tuple[int, dict[str, object], dict[str, str]]:
        if self.throttled:
            status, retry_after = self.throttled.pop(0)
            return status, {"error": "slow down"}, {"Retry-After": retry_after}
        if self.refuse_listings and "updated_after" not in parse_qs(urlsplit(path).query):
            return 403, {"error": "listing everything is not allowed today"}, {}
        time.sleep(self.page_delay)
        origin = urlsplit(self.upstream)
        upstream = requests.get(
            f"{origin.scheme}://{origin.netloc}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )
        body = upstream.json()
        if self.loop_cursor and body.get("next_cursor"):
            asked_cursor = parse_qs(urlsplit(path).query).get("cursor")
            if not asked_cursor:
                self._first_cursor = body["next_cursor"]
            else:
                body["next_cursor"] = self._first_cursor
        return upstream.status_code, body, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                status, body, headers = gateway._answer(self.path)
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting
                gateway.answers.append((status, time.monotonic()))

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> MisbehavingGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def gateway(settings) -> Iterator[MisbehavingGateway]:  # type: ignore[no-untyped-def]
    with MisbehavingGateway(settings.lms_api_url, settings.lms_api_token.get_secret_value()) as serving:
        yield serving


def _assert_failed_cleanly(settings, dataset: str, caught: pytest.ExceptionInfo, reason: str) -> None:  # type: ignore[no-untyped-def]
    """The failure a user sees: a clear reason in the error and in extraction_event, no token, nothing landed."""
    token = settings.lms_api_token.get_secret_value()
    assert reason in str(caught.value) and token not in str(caught.value)
    events = read_table(settings, "extraction_event")
    [down] = events[events.kind == "source_unavailable"].itertuples()
    assert down.dataset == dataset and reason in down.detail and token not in down.detail
    batches = read_table(settings, "batch_ledger")
    assert batches[batches.dataset == dataset].empty
    assert not list(settings.landing_dir.glob(f"**/{dataset}/**/*.parquet"))
    assert _watermark(settings, dataset) is None


def _lands_once_the_gateway_behaves(settings, dataset: str, rows: int, gateway: MisbehavingGateway) -> None:  # type: ignore[no-untyped-def]
    gateway.behave()
    result = ingest_dataset(dataset, INTERVAL_END, "test", settings)
    assert result.rows == rows and _watermark(settings, dataset) is not None
    validate_and_load(settings)
    ledger_rows = read_table(settings, "batch_ledger")
    [batch] = ledger_rows[ledger_rows.dataset == dataset].itertuples()
    assert batch.status == "loaded" and batch.rows_extracted == rows
    assert batch.rows_extracted == batch.rows_loaded + batch.rows_quarantined + batch.rows_duplicate


def test_a_cursor_that_repeats_fails_clearly_without_echoing_the_urls_credentials(
    settings, demo_sources, gateway, caplog
):
    gateway.loop_cursor = True
    through_gateway = settings.model_copy(
        update={"lms_api_url": gateway.url("qp-reader:s3cret-pass"), "lms_api_page_size": 200}
    )

    with caplog.at_level(logging.DEBUG), pytest.raises(SourceUnavailable) as caught:
        ingest_dataset("training_assignments", INTERVAL_END, "test", through_gateway)

    message = str(caught.value)
    assert "again on page 2 (page 1 returned it first): its pagination loops" in message
    assert f"{gateway.url('qp-reader:***')}/training_assignments" in message  # which API, its password masked
    assert gateway.statuses() == [200, 200]  # it stopped at the loop rather than follow it
    for shown in (message, caplog.text, read_table(settings, "extraction_event").detail.str.cat()):
        assert "s3cret-pass" not in shown
    _assert_failed_cleanly(settings, "training_assignments", caught, "its pagination loops")
    _lands_once_the_gateway_behaves(
        through_gateway, "training_assignments", demo_sources["training_assignments"], gateway
    )


def test_a_huge_retry_after_is_waited_only_up_to_the_cap_and_the_next_answer_is_taken(settings, demo_sources, gateway):
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=True)
    # Seconds, then an HTTP date; urllib3 makes the second retry from a copy of the first's Retry, so the cap must
    # survive the copy.
    gateway.throttled = [(429, "3600"), (503, in_an_hour)]
    capped = settings.model_copy(update={"lms_api_url": gateway.url(), "lms_api_retry_after_max_seconds": 1})

    started = time.monotonic()
    result = ingest_dataset("courses", INTERVAL_END, "test", capped)
    elapsed = time.monotonic() - started

    assert result.rows == demo_sources["courses"]
    assert gateway.statuses()[:3] == [429, 503, 200]
    (_, throttled_at), (_, again_at), (_, answered_at) = gateway.answers[:3]
    assert 0.9 <= again_at - throttled_at < 2.5 and 0.9 <= answered_at - again_at < 2.5
    assert elapsed < 6
    [report] = validate_and_load(settings)
    assert report.extracted == report.loaded + report.quarantined + report.duplicates == demo_sources["courses"]


def test_a_retry_after_that_would_pass_the_deadline_fails_at_once(settings, demo_sources, gateway):
    gateway.throttled = [(503, "3600")]  # capped at the default 120 s, still beyond the deadline
    bounded = settings.model_copy(update={"lms_api_url": gateway.url(), "lms_api_deadline_seconds": 2})

    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        ingest_dataset("courses", INTERVAL_END, "test", bounded)

    assert time.monotonic() - started < 1.5
    _assert_failed_cleanly(settings, "courses", caught, "would take longer than 2 s after 0 page(s)")
    assert "the next retry was due in 120 s (the server's Retry-After, capped)" in str(caught.value)
    _lands_once_the_gateway_behaves(bounded, "courses", demo_sources["courses"], gateway)


def test_a_server_that_answers_slowly_page_after_page_fails_at_the_deadline(settings, demo_sources, gateway):
    gateway.page_delay = 0.7  # every page arrives, slowly: about 5 s for the 8 pages, against a 2 s deadline
    bounded = settings.model_copy(
        update={"lms_api_url": gateway.url(), "lms_api_page_size": 200, "lms_api_deadline_seconds": 2}
    )

    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        ingest_dataset("training_assignments", INTERVAL_END, "test", bounded)
    elapsed = time.monotonic() - started

    assert 1.9 <= elapsed < 2 + 1.0  # the deadline, plus a little slack
    _assert_failed_cleanly(settings, "training_assignments", caught, "took longer than 2 s after ")
    assert "raise QP_LMS_API_DEADLINE_SECONDS" in str(caught.value)
    _lands_once_the_gateway_behaves(bounded, "training_assignments", demo_sources["training_assignments"], gateway)


def test_a_delete_reconciliation_that_fails_never_fails_the_ingest_and_is_made_up_next_run(
    settings, demo_sources, gateway
):
    through_gateway = settings.model_copy(update={"lms_api_url": gateway.url()})
    ingest_and_load(through_gateway, "training_assignments")
    store = settings.lms_store_dir / "training_assignments.json"
    document = json.loads(store.read_text())
    records = sorted(document["records"], key=lambda r: r["assigned_on"])
    vanished, flagged, changed = (r["assignment_id"] for r in records[-3:])
    document["records"] = [r for r in records if r["assignment_id"] != vanished]
    for record in document["records"]:
        if record["assignment_id"] == flagged:
            record.update(deleted=True, updated_at="2026-11-24T21:00:00")
        if record["assignment_id"] == changed:
            record.update(updated_at="2026-11-24T21:00:00")
    store.write_text(json.dumps(document))

    # The key listing is refused: the changes still land, the flagged delete too; the vanished record waits.
    gateway.refuse_listings = True
    result, _ = ingest_and_load(through_gateway, "training_assignments")
    assert result.new and result.rows == 1  # the changed record; the flagged one lands as a delete
    events = read_table(settings, "extraction_event")
    [failed] = events[events.kind == "reconcile_failed"].itertuples()
    assert failed.detail.startswith("delete reconciliation failed, tried again next run: SourceUnavailable")
    assert "403" in failed.detail and settings.lms_api_token.get_secret_value() not in failed.detail
    held = set(read_table(settings, "fact_training_assignment").assignment_id)
    assert flagged not in held and {vanished, changed} <= held

    gateway.behave()
    result, _ = ingest_and_load(through_gateway, "training_assignments")
    assert not result.new  # nothing changed since; the reconciliation finds what it missed
    assert vanished not in set(read_table(settings, "fact_training_assignment").assignment_id)
    batches = read_table(settings, "batch_ledger")
    assert batches.rows_deleted.sum() == 2 and (batches.status == "loaded").all()
    added = batches.rows_loaded + batches.rows_quarantined + batches.rows_duplicate + batches.rows_deleted
    assert (batches.rows_extracted == added).all()
