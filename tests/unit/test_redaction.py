"""One redaction for every text the project shows: URLs' passwords, secret query values, name=value pairs, tokens."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from core.redaction import (
    RedactingFilter,
    install_excepthook,
    install_log_redaction,
    redact,
    redact_data,
    remember_secret,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql+psycopg://qp:s3cret@db:5432/wh", "postgresql+psycopg://qp:***@db:5432/wh"),
        ("http://user:s3cret@127.0.0.1:8765/api/courses", "http://user:***@127.0.0.1:8765/api/courses"),
        ("http://:s3cret@lms.example.com:443/api/v1", "http://:***@lms.example.com:443/api/v1"),
        ("postgresql://qp:p@ss-s3cret@db/wh", "postgresql://qp:***@db/wh"),  # an unencoded "@" leaks nothing
        ("https://x.example.com/hook?token=s3cret&page=2", "https://x.example.com/hook?token=***&page=2"),
        ("https://x.example.com/a?api_key=s3cret&password=s3cret", "https://x.example.com/a?api_key=***&password=***"),
        ("https://maps.example.com/x?key=s3cret&code=s3cret", "https://maps.example.com/x?key=***&code=***"),
        ("https://hooks.slack.com/services/T000/B000/s3cret", "https://hooks.slack.com/services/***"),
        ('{"client_secret": "s3cret", "accessToken":"s3cret"}', '{"client_secret": "***", "accessToken":"***"}'),
        ("host=db password='s3cret' user=qp", "host=db password='***' user=qp"),
        ("Authorization: Bearer s3cret.x", "Authorization: Bearer ***"),
        ("Authorization: Basic czNjcmV0", "Authorization: Basic ***"),
    ],
)
def test_credentials_are_masked_and_the_rest_stays_readable(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown  # idempotent: masking a masked text changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://postgres@127.0.0.1:5432/qp",  # a user without a password
        "redis://127.0.0.1:6379/0",
        'password authentication failed for user "qp"',
        "feedback: file_problem feedback_2026-09-16.csv: 31 of 31 rows unreadable",
        "Sigma level 4.41; rule: line_id is present; http://127.0.0.1:8080/dags/qp_kpis",
    ],
)
def test_text_without_credentials_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_remembered_secret_is_masked_wherever_it_appears() -> None:
    remember_secret("t0ken-only-seen-here", "pa ss%40word")
    assert redact("the API refused t0ken-only-seen-here today") == "the API refused *** today"
    assert redact("dsn: pa ss@word") == "dsn: ***"  # the decoded form of a URL-encoded password too


def test_report_data_is_masked_string_by_string() -> None:
    data = {"batches": [["b1", "http://u:s3cret@h/api down"]], "count": 3, "ok": None}
    assert redact_data(data) == {"batches": [["b1", "http://u:***@h/api down"]], "count": 3, "ok": None}


def test_every_log_record_is_masked_whatever_its_logger_and_its_exception() -> None:
    install_log_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # a handler added after the installation: still covered
    logger = logging.getLogger("sources.http_api.deep.child")
    logger.addHandler(handler)
    try:
        logger.error("GET %s failed", "http://u:s3cret@h/api?token=s3cret")
        try:
            raise ConnectionError("could not connect to postgresql://qp:s3cret@db/wh")
        except ConnectionError:
            logger.exception("load failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "s3cret" not in written
    assert "GET http://u:***@h/api?token=*** failed" in written and "postgresql://qp:***@db/wh" in written


def test_the_filter_masks_a_record_made_before_the_installation() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "url %s", ("http://u:s3cret@h/",), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "url http://u:***@h/"


def test_the_cli_prints_an_unhandled_exception_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook()
    try:
        raise RuntimeError("postgresql://qp:s3cret@db/wh is down")
    except RuntimeError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    assert "postgresql://qp:***@db/wh is down" in stderr.getvalue() and "s3cret" not in stderr.getvalue()
