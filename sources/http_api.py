"""Incremental extraction from a paged JSON reporting API (the LMS and the HR roster).

The client asks for the records changed in (watermark, interval end], follows the API's cursor page by page,
and retries with exponential backoff on 429, 5xx, refused connections and timeouts (urllib3's ``Retry``, which
also honours ``Retry-After``). When the source stays down it raises ``SourceUnavailable``: nothing lands and the
watermark stays where it was, so the next run asks for the same window again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from sources.catalog import Dataset
from sources.extract import PARSE_ERROR, RAW_LINE, Extraction, SourceEvent, SourceUnavailable

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
PAGE_NUMBER = "_page"


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

    def session(self) -> requests.Session:
        retry = Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            backoff_factor=self.backoff_seconds,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
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
    params: dict[str, str | int] = {"updated_to": upper.isoformat(), "limit": source.page_size}
    if watermark is not None:
        params["updated_after"] = watermark.isoformat()
    frames, events, page_number = [], [], 0
    with source.session() as session:
        while True:
            page_number += 1
            body, retried = _get_page(session, url, params, (source.connect_timeout, source.read_timeout), dataset.name)
            if retried:
                detail = f"answered after {len(retried)} retried attempt(s): {', '.join(retried)}"
                log.warning("%s: page %d: %s", dataset.name, page_number, detail)
                events.append(SourceEvent("source_retried", f"page {page_number}", detail))
            records = body.get("records")
            if not isinstance(records, list):
                raise SourceUnavailable(f"{dataset.name}: page {page_number} of {url} has no 'records' list")
            page = _page_frame(records, page_number, dataset)
            problem = page[PARSE_ERROR].dropna()
            if len(problem):
                log.warning("%s: page %d: %s; its records go to quarantine", dataset.name, page_number, problem.iloc[0])
                events.append(SourceEvent("schema_drift", f"page {page_number}", str(problem.iloc[0])))
            frames.append(page)
            cursor = body.get("next_cursor")
            if not cursor:
                break
            params["cursor"] = str(cursor)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame = frame.reindex(columns=[*dataset.columns, *[c for c in frame.columns if c not in dataset.columns]])
    log.info("%s: %d records in %d page(s) from %s", dataset.name, len(frame), page_number, url)
    changed_at = pd.to_datetime(frame["updated_at"], errors="coerce", format="ISO8601")
    newest = changed_at[frame[PARSE_ERROR].isna()].max() if not frame.empty else pd.NaT
    return Extraction(frame=frame, watermark_to=None if pd.isna(newest) else newest.to_pydatetime(), events=events)


def _get_page(
    session: requests.Session, url: str, params: dict[str, str | int], timeout: tuple[float, float], name: str
) -> tuple[dict[str, object], list[str]]:
    """The page's JSON object, and what each retried attempt before it met (a status or an error)."""
    try:
        response = session.get(url, params=params, timeout=timeout)
        response.raise_for_status()
        body = response.json()
        history = response.raw.retries.history if response.raw.retries else ()
        retried = [str(h.status) if h.status else type(h.error).__name__ for h in history]
    except requests.exceptions.RetryError as error:
        raise SourceUnavailable(f"{name}: {url} kept failing after retries ({_reason(error)})") from None
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as error:
        if isinstance(error, requests.exceptions.Timeout) or "timed out" in str(error):
            raise SourceUnavailable(f"{name}: {url} did not answer within {timeout[1]:g} s, after retries") from None
        raise SourceUnavailable(f"{name}: {url} unreachable after retries ({_reason(error)})") from None
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        raise SourceUnavailable(f"{name}: {url} answered HTTP {status}") from None
    except ValueError:
        raise SourceUnavailable(f"{name}: {url} answered something that is not JSON") from None
    if not isinstance(body, dict):
        raise SourceUnavailable(f"{name}: {url} answered JSON that is not an object")
    return body, retried


def _reason(error: Exception) -> str:
    """urllib3's summary of the last failure (URL and cause; the token travels in a header, never in it)."""
    return str(error)[:300]


def _page_frame(records: list[object], page_number: int, dataset: Dataset) -> pd.DataFrame:
    """A page's records; a record that is not an object becomes a row with its raw JSON and the reason."""
    objects = [r for r in records if isinstance(r, dict)]
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
