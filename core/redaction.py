"""One place that masks credentials in text: every log record, extraction event, error message, summary and report.

What counts as a credential, wherever it appears in a text:

- the password of a URL's user info (``postgresql://qp:***@db/wh``, ``http://:***@lms.example.com/api``);
- the value of a secret-looking query parameter or ``name=value`` / ``name: value`` pair (``?token=***``,
  ``&api_key=***``, ``password=***``, ``"client_secret": "***"``), and a ``Bearer`` / ``Basic`` credential;
- the secret path of a Slack, Discord or Teams incoming-webhook URL (the URL *is* the secret there);
- any value :func:`remember_secret` was told about (the settings register their passwords and tokens), wherever
  it shows up, with or without a URL around it.

It has no dependencies beyond the standard library, so every layer (sources, warehouse, alerts, the CLI) can use
it. :func:`install_log_redaction` makes every log record of the process pass through :func:`redact`.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"
# Shorter remembered values are not masked by value: "pw" would mask half the words of every message. A short
# secret in a URL or a name=value pair is still masked by the patterns.
MIN_REMEMBERED_LENGTH = 5

# scheme://user:password@host: the password runs to the last "@" of the authority (an unencoded "@" in a password
# must not leak its tail), never past a "/", "?", "#" or whitespace.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^/?#\s]+)@", re.IGNORECASE)
# A secret-looking name: the keyword may carry a prefix ("access_token", "clientSecret", "x-api-key").
_SECRET_NAME = (
    r"(?<![a-z0-9])[a-z0-9_-]*?(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|"
    r"private[_-]?key|auth|authorization|credentials?|session[_-]?id|sig|signature)"
)
# name=value, name: value, "name": "value": the value up to whitespace, a quote, "&", ";" or ",", or a whole
# quoted value. A value already masked is left alone (so redact is idempotent).
_NAMED_SECRET = re.compile(
    r"(?P<name>" + _SECRET_NAME + r")(?P<sep>[\"']?\s*[=:]\s*)"
    r"(?!\*\*\*)(?P<value>\"[^\"]*\"|'[^']*'|(?:bearer|basic)\s+[^\s\"'&;,]+|[^\s\"'&;,<>]+)",
    re.IGNORECASE,
)
# Any of the keywords, found in one pass: the named-secret pattern (slow on long text) runs only then.
_SECRET_KEYWORD = re.compile(
    r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth|authorization|"
    r"credentials?|session[_-]?id|sig|signature)[\"']?\s*[=:]"
)  # searched in the lower-cased text: much faster than IGNORECASE
# Query parameters that are secrets only in a query string (a Google API "key", an OAuth "code").
_QUERY_SECRET = re.compile(r"(?P<head>[?&](?:key|code)=)(?!\*\*\*)[^&#\s\"'<>]+", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"(?P<scheme>\b(?:bearer|basic)\s+)(?!\*\*\*)[a-z0-9._~+/=-]+", re.IGNORECASE)
_WEBHOOK_PATH = re.compile(
    r"(?P<head>\bhttps?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|(?:[a-z0-9-]+\.)?discord(?:app)?\.com"
    r"/api/webhooks/|[a-z0-9-]+\.webhook\.office\.com/))(?!\*\*\*)[^\s\"'<>]+",
    re.IGNORECASE,
)

_remembered: set[str] = set()
_remembered_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def redact(text: str) -> str:
    """``text`` with every credential it holds replaced by ``***`` (see the module's docstring for which)."""
    if not text:
        return text
    pattern = _remembered_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    # Every log record of the process passes here: the patterns run only where a cheap test says they may match.
    lowered = text.lower()
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
        text = _WEBHOOK_PATH.sub(lambda m: f"{m['head']}{MASK}", text)
    if _SECRET_KEYWORD.search(lowered):
        text = _NAMED_SECRET.sub(_mask_named, text)
    if "?" in text or "&" in text:
        text = _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}", text)
    if "bearer" in lowered or "basic" in lowered:
        text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']}{MASK}", text)
    return text


def _mask_named(match: re.Match[str]) -> str:
    value = match["value"]
    if value[:1] in "\"'":
        masked = f"{value[0]}{MASK}{value[0]}"
    elif " " in value:  # "Authorization: Bearer xyz": keep the scheme, mask the credential
        masked = f"{value.split()[0]} {MASK}"
    else:
        masked = MASK
    return f"{match['name']}{match['sep']}{masked}"


def redact_url(url: str) -> str:
    """A URL as it may be shown: its password, secret query values and webhook secrets masked."""
    return redact(url)


def redact_data(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


def remember_secret(*values: str | None) -> None:
    """Mask these values wherever they appear from now on (passwords and tokens the process was configured with).

    Their URL-encoded and decoded forms too: a password is written encoded in a URL and decoded in a DSN.
    """
    global _remembered_pattern
    forms = {form for value in values if value for form in (value, quote(value, safe=""), unquote(value))}
    forms = {form for form in forms if len(form) >= MIN_REMEMBERED_LENGTH and MASK not in form}
    with _lock:
        if forms <= _remembered:
            return
        _remembered.update(forms)
        # Longest first, so a secret that contains another is masked whole.
        alternatives = sorted(_remembered, key=len, reverse=True)
        _remembered_pattern = re.compile("|".join(re.escape(form) for form in alternatives))


def secrets_in_url(url: str) -> list[str]:
    """The password and the secret query values of ``url`` (for :func:`remember_secret`)."""
    found = [m["secret"] for m in _URL_PASSWORD.finditer(url)]
    found += [m["value"].strip("\"'") for m in _NAMED_SECRET.finditer(url)]
    found += [m[0].split("=", 1)[1] for m in _QUERY_SECRET.finditer(url)]
    return found


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in a record's message, its exception and its stack.

    The message is rendered (``msg % args``) and redacted once, so handlers and formatters downstream see only the
    masked text. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if getattr(record, "_qp_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 (a bad format string is logging's problem to report, not ours)
        return record
    masked = redact(message)
    if masked != message or record.args:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._qp_redacted = True  # type: ignore[attr-defined]
    return record


_installed = False


def install_log_redaction(logger_names: Iterable[str] = ()) -> None:
    """Make every log record this process creates pass through :class:`RedactingFilter`, whatever its logger.

    A filter on a logger sees only records logged on that very logger (not its children's), and a filter on a
    handler misses handlers added later (Airflow's task log, pytest's capture); a log-record factory sees every
    record as it is made. ``logger_names`` also get the filter itself, for configurations that replace the
    factory. Idempotent.
    """
    global _installed
    with _lock:
        if not _installed:
            make_record = logging.getLogRecordFactory()

            def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return redact_record(make_record(*args, **kwargs))

            logging.setLogRecordFactory(redacting_factory)
            _installed = True
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def install_excepthook() -> None:
    """An exception that ends the process prints its traceback with credentials masked (the CLI's last word)."""

    def redacting_excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(kind, error, tb))))

    sys.excepthook = redacting_excepthook


# The project's loggers; install_log_redaction covers their children and every other logger anyway.
PROJECT_LOGGERS = (
    "core",
    "transforms",
    "sources",
    "expectations",
    "warehouse",
    "alerts",
    "report",
    "pipeline",
    "demo",
    "orchestration",
    "cli",
    "dags",
)
