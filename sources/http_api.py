"""Incremental extraction from a paged JSON reporting API (the LMS and the HR roster).

The client asks for the records changed in (watermark, interval end], follows the API's cursor page by page,
and retries with exponential backoff on 429, 5xx, refused connections and timeouts (urllib3's ``Retry``, which
also honours ``Retry-After``). It is bounded, so a misbehaving API can't hold a worker: a ``Retry-After`` is
waited at most ``retry_after_max_seconds``, the whole extraction (pages, retries and their waits) has a deadline,
and a cursor the API already returned (pagination that loops) stops it. When the source stays down or breaks a
bound it raises ``SourceUnavailable``: nothing lands and the watermark stays where it was, so the next run asks
for the same window again. Messages show the URL with its credentials masked.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from core.catalog import Dataset
from core.records import PARSE_ERROR, RAW_LINE, SourceEvent
from core.redaction import redact
from sources.extract import Extraction, SourceUnavailable, non_finite_as_text

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
PAGE_NUMBER = "_page"
DEADLINE_SETTING = "QP_LMS_API_DEADLINE_SECONDS"
BODY_CHUNK_BYTES = 64 * 1024


class DeadlinePassed(Exception):
    """The extraction's deadline came, or a retry's wait would carry past it (not an ``OSError``, so neither
    urllib3 nor requests retries or rewraps it)."""

    def __init__(self, wait_seconds: float = 0.0, retry_after: bool = False) -> None:
        super().__init__("extraction deadline passed")
        self.wait_seconds = wait_seconds  # the retry's wait that would have carried past it, if that is what did
        self.retry_after = retry_after  # that wait was the server's Retry-After (capped), not our backoff


class BoundedRetry(Retry):
    """urllib3's ``Retry`` (``Retry-After`` capped by ``retry_after_max``) whose waits end by a deadline.

    ``deadline`` is a ``time.monotonic()`` instant; urllib3 copies the object through ``new()`` on every retry,
    which carries it over. A wait that would end after it raises ``DeadlinePassed`` at once instead of sleeping.
    """

    def __init__(self, *args: Any, deadline: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kwargs: Any) -> BoundedRetry:
        kwargs.setdefault("deadline", self.deadline)
        return super().new(**kwargs)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        wait = retry_after or self.get_backoff_time()  # as Retry.sleep: Retry-After when given, else the backoff
        if self.deadline is not None and time.monotonic() + wait >= self.deadline:
            raise DeadlinePassed(wait, retry_after=bool(retry_after))
        if wait > 0:
            time.sleep(wait)


@dataclass(frozen=True)
class _Deadline:
    """When the extraction must be done by (``time.monotonic()``), and the bound it came from."""

    seconds: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> _Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        return self.at - time.monotonic()


@dataclass(frozen=True)
class HttpSource:
    """Where an API lives and how to talk to it; the token never appears in ``repr`` or in messages."""

    base_url: str
    token: SecretStr
    page_size: int = 1000
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff_seconds: float = 0.5  # waits 0.5, 1, 2, 4 s between attempts (capped by Retry's maximum)
    retry_after_max_seconds: int = 120  # a server's Retry-After (seconds or an HTTP date) is waited at most this
    deadline_seconds: float = 600.0  # one extraction, every page, retry and wait included

    def session(self, deadline: float | None = None) -> requests.Session:
        """A session that retries as configured; ``deadline`` (``time.monotonic()``) bounds every retry's wait."""
        retry = BoundedRetry(
            deadline=deadline,
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            backoff_factor=self.backoff_seconds,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            retry_after_max=self.retry_after_max_seconds,
        )
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        session.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        session.headers["Accept"] = "application/json"
        return session


def extract_http(dataset: Dataset, source: HttpSource, watermark: datetime | None, upper: datetime) -> Extraction:
    """Every record of ``dataset``'s resource changed in (watermark, upper], across all pages.

    Records keep every field the API sent (a new field is schema drift, kept in the raw batch and reported by
    validation). A page whose records lack a field the dataset requires marks its rows with the reason in
    ``_parse_error``, so they are quarantined, not dropped, and not loaded half-filled.
    """
    url = f"{source.base_url.rstrip('/')}/{dataset.name}"
    shown_url = redact(url)
    params: dict[str, str | int] = {"updated_to": upper.isoformat(), "limit": source.page_size}
    if watermark is not None:
        params["updated_after"] = watermark.isoformat()
    deadline = _Deadline.after(source.deadline_seconds)
    cursors_seen: dict[str, int] = {}  # each cursor the API returned, and the page that returned it
    frames, events, page_number = [], [], 0
    with source.session(deadline.at) as session:
        while True:
            page_number += 1
            try:
                body, retried = _get_page(
                    session, url, params, (source.connect_timeout, source.read_timeout), deadline, dataset.name
                )
            except DeadlinePassed as passed:
                raise _deadline_passed(dataset.name, shown_url, deadline, page_number - 1, passed) from None
            if retried:
                detail = f"answered after {len(retried)} retried attempt(s): {', '.join(retried)}"
                log.warning("%s: page %d: %s", dataset.name, page_number, detail)
                events.append(SourceEvent("source_retried", f"page {page_number}", detail))
            records = body.get("records")
            if not isinstance(records, list):
                raise SourceUnavailable(f"{dataset.name}: page {page_number} of {shown_url} has no 'records' list")
            page = _page_frame(records, page_number, dataset)
            problem = page[PARSE_ERROR].dropna()
            if len(problem):
                log.warning("%s: page %d: %s; its records go to quarantine", dataset.name, page_number, problem.iloc[0])
                events.append(SourceEvent("schema_drift", f"page {page_number}", str(problem.iloc[0])))
            frames.append(page)
            cursor = body.get("next_cursor")
            if not cursor:
                break
            cursor = str(cursor)
            if cursor in cursors_seen:  # following it would read the same pages again, forever
                raise SourceUnavailable(
                    redact(
                        f"{dataset.name}: {shown_url} returned cursor {_shorten(cursor)!r} again on page "
                        f"{page_number} (page {cursors_seen[cursor]} returned it first): its pagination loops; "
                        "nothing landed"
                    )
                )
            cursors_seen[cursor] = page_number
            params["cursor"] = cursor
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame = frame.reindex(columns=[*dataset.columns, *[c for c in frame.columns if c not in dataset.columns]])
    log.info("%s: %d records in %d page(s) from %s", dataset.name, len(frame), page_number, shown_url)
    changed_at = pd.to_datetime(frame["updated_at"], errors="coerce", format="ISO8601")
    newest = changed_at[frame[PARSE_ERROR].isna()].max() if not frame.empty else pd.NaT
    return Extraction(frame=frame, watermark_to=None if pd.isna(newest) else newest.to_pydatetime(), events=events)


def _get_page(
    session: requests.Session,
    url: str,
    params: dict[str, str | int],
    timeout: tuple[float, float],
    deadline: _Deadline,
    name: str,
) -> tuple[dict[str, object], list[str]]:
    """The page's JSON object, and what each retried attempt before it met (a status or an error).

    Each wait for the server is bounded by the time left before ``deadline`` (raising ``DeadlinePassed``), so a
    slow server can't stretch the extraction past it: the connect and read timeouts, the retries' waits, and the
    body, read in chunks with the deadline checked between them.
    """
    shown_url = redact(url)
    left = deadline.left()
    if left <= 0:
        raise DeadlinePassed()
    bounded = (min(timeout[0], left), min(timeout[1], left))
    try:
        with session.get(url, params=params, timeout=bounded, stream=True) as response:
            response.raise_for_status()
            content = bytearray()
            for chunk in response.iter_content(BODY_CHUNK_BYTES):
                content += chunk
                if deadline.left() <= 0:
                    raise DeadlinePassed()
            body = json.loads(bytes(content))
            history = response.raw.retries.history if response.raw.retries else ()
        retried = [str(h.status) if h.status else type(h.error).__name__ for h in history]
    except requests.exceptions.RetryError as error:
        raise SourceUnavailable(f"{name}: {shown_url} kept failing after retries ({_reason(error)})") from None
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as error:
        if isinstance(error, requests.exceptions.Timeout) or "timed out" in str(error):
            if deadline.left() <= 0:  # the timeout was the deadline's, not the server's usual read timeout
                raise DeadlinePassed() from None
            raise SourceUnavailable(
                f"{name}: {shown_url} did not answer within {timeout[1]:g} s, after retries"
            ) from None
        raise SourceUnavailable(f"{name}: {shown_url} unreachable after retries ({_reason(error)})") from None
    except requests.exceptions.ChunkedEncodingError as error:
        raise SourceUnavailable(f"{name}: {shown_url} broke off its answer ({_reason(error)})") from None
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        raise SourceUnavailable(f"{name}: {shown_url} answered HTTP {status or '?'}", http_status=status) from None
    except ValueError:
        raise SourceUnavailable(f"{name}: {shown_url} answered something that is not JSON") from None
    if not isinstance(body, dict):
        raise SourceUnavailable(f"{name}: {shown_url} answered JSON that is not an object")
    return body, retried


def _deadline_passed(
    name: str, shown_url: str, deadline: _Deadline, pages: int, passed: DeadlinePassed
) -> SourceUnavailable:
    if passed.wait_seconds:  # failing now beats sleeping into the deadline to fail then
        why = "the server's Retry-After, capped" if passed.retry_after else "backoff"
        took = f"would take longer than {deadline.seconds:g} s after {pages} page(s): the next retry was due in "
        took += f"{passed.wait_seconds:g} s ({why})"
    else:
        took = f"took longer than {deadline.seconds:g} s after {pages} page(s)"
    return SourceUnavailable(
        f"{name}: the extraction from {shown_url} {took}; nothing landed. If the API is slow but working, "
        f"raise {DEADLINE_SETTING}"
    )


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def _reason(error: Exception) -> str:
    """urllib3's summary of the last failure (URL and cause), credentials masked (the token travels in a header)."""
    return redact(str(error))[:300]


def _page_frame(records: list[object], page_number: int, dataset: Dataset) -> pd.DataFrame:
    """A page's records; a record that is not an object becomes a row with its raw JSON and the reason."""
    objects = [non_finite_as_text(r) for r in records if isinstance(r, dict)]
    frame = pd.DataFrame.from_records(objects)
    missing = [c for c in dataset.required if c not in frame.columns]
    frame[PARSE_ERROR] = f"page {page_number} lacks required field(s): {', '.join(missing)}" if missing else None
    others = [r for r in records if not isinstance(r, dict)]
    if others:
        log.warning("%s: page %d has %d record(s) that are not JSON objects", dataset.name, page_number, len(others))
        raw = pd.DataFrame({RAW_LINE: [json.dumps(r) for r in others], PARSE_ERROR: "record is not a JSON object"})
        frame = pd.concat([frame, raw], ignore_index=True)
    frame[PAGE_NUMBER] = page_number
    return frame
