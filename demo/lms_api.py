"""The demo LMS and HR reporting API: JSON pages with a keyset cursor, bearer-token auth, on 127.0.0.1.

It serves the records of the LMS/HR store (one JSON document per resource, as ``demo.source_systems`` writes them) the
way such APIs do: ``GET /api/v1/<resource>?updated_after=...&updated_to=...&cursor=...&limit=...`` returns
``{"records": [...], "next_cursor": "..." | null}``, ordered by ``updated_at`` and the resource's key. Tests
use its fault injection to play a source that fails (status codes, a stall longer than the client's timeout)
or changes its schema on one page.

The standard library's threaded HTTP server is enough for a local demo; a production LMS is the real thing.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlparse

from core.catalog import BY_NAME

Record = dict[str, Any]
PageHook = Callable[[list[Record]], list[Record]]
API_PREFIX = "/api/v1/"
MAX_PAGE = 5000


@dataclass
class _Fault:
    status: int | None = None  # answer with this status instead of the page
    stall_seconds: float = 0.0  # wait this long before answering
    retry_after: int | None = None
    page_hook: PageHook | None = None  # rewrite the page's records (a changed schema, say)


@dataclass
class RequestLog:
    """What the API saw: one (path with query, status) per request, for tests and the demo's log."""

    entries: list[tuple[str, int]] = field(default_factory=list)

    def statuses(self) -> list[int]:
        return [status for _, status in self.entries]


class DemoApi:
    """The API server in a background thread; use as a context manager (stopped on exit)."""

    _running: dict[str, DemoApi] = {}  # by URL: how a test reaches the server a fixture started

    @classmethod
    def serving(cls, url: str) -> DemoApi:
        """The running demo API at ``url`` (for fault injection in tests)."""
        return cls._running[url]

    def __init__(self, store_dir: Path, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store_dir = store_dir
        self.token = token
        self.log = RequestLog()
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{API_PREFIX.rstrip('/')}"

    def start(self) -> DemoApi:
        self._thread.start()
        DemoApi._running[self.url] = self
        return self

    def stop(self) -> None:
        DemoApi._running.pop(self.url, None)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self) -> None:
        """Block until the server stops (or the process is interrupted)."""
        while self._thread.is_alive():
            self._thread.join(timeout=1)

    def __enter__(self) -> DemoApi:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- fault injection: each applies to the next requests, in order ------------------------------------------
    def fail_next(self, count: int, status: int = 500, retry_after: int | None = None) -> None:
        with self._lock:
            self._faults += [_Fault(status=status, retry_after=retry_after) for _ in range(count)]

    def stall_next(self, count: int, seconds: float) -> None:
        with self._lock:
            self._faults += [_Fault(stall_seconds=seconds) for _ in range(count)]

    def rewrite_next_page(self, hook: PageHook) -> None:
        with self._lock:
            self._faults.append(_Fault(page_hook=hook))

    def _next_fault(self) -> _Fault:
        with self._lock:
            return self._faults.pop(0) if self._faults else _Fault()

    # --- the resource itself -----------------------------------------------------------------------------------
    def page(self, resource: str, query: dict[str, str]) -> tuple[list[Record], str | None]:
        """One page of ``resource``'s records after the cursor, within the requested change window."""
        records = json.loads((self.store_dir / f"{resource}.json").read_text(encoding="utf-8"))["records"]
        key = BY_NAME[resource].key

        def order(record: Record) -> tuple[str, ...]:
            return (_iso(record["updated_at"]), *(str(record[k]) for k in key))

        after, upto = query.get("updated_after"), query.get("updated_to")
        chosen = sorted(
            (
                r
                for r in records
                if (after is None or _iso(r["updated_at"]) > _iso(after))
                and (upto is None or _iso(r["updated_at"]) <= _iso(upto))
            ),
            key=order,
        )
        if query.get("cursor"):
            position = tuple(json.loads(base64.urlsafe_b64decode(query["cursor"])))
            chosen = [r for r in chosen if order(r) > position]
        limit = min(int(query.get("limit", 500)), MAX_PAGE)
        page = chosen[:limit]
        more = len(chosen) > limit
        cursor = base64.urlsafe_b64encode(json.dumps(order(page[-1])).encode()).decode() if more else None
        return page, cursor


def _iso(value: str) -> str:
    """A change time in one canonical text form, so comparisons are chronological."""
    return datetime.fromisoformat(str(value)).isoformat(timespec="microseconds")


def _handler_for(api: DemoApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            fault = api._next_fault()
            if fault.stall_seconds:
                time.sleep(fault.stall_seconds)
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                return self._send(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
            if fault.status:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return self._send(fault.status, {"error": "injected failure"}, headers)
            url = urlparse(self.path)
            resource = url.path.removeprefix(API_PREFIX)
            if not url.path.startswith(API_PREFIX) or not (api.store_dir / f"{resource}.json").is_file():
                return self._send(HTTPStatus.NOT_FOUND, {"error": f"no resource {url.path}"})
            query = {name: values[-1] for name, values in parse_qs(url.query).items()}
            try:
                records, cursor = api.page(resource, query)
            except (ValueError, KeyError) as error:
                return self._send(HTTPStatus.BAD_REQUEST, {"error": f"bad query: {error}"})
            if fault.page_hook:
                records = fault.page_hook(records)
            self._send(HTTPStatus.OK, {"records": records, "next_cursor": cursor})

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout); nothing to answer
            finally:
                api.log.entries.append((self.path, int(status)))

        def log_message(self, format: str, *args: object) -> None:
            pass  # the request log above replaces stderr lines

    return Handler
