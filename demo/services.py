"""The demo's services, started for a run and stopped after it: the LMS/HR API, and a local alert sink."""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.settings import Settings
from demo.lms_api import DemoApi


@contextmanager
def demo_lms_api(settings: Settings) -> Iterator[Settings]:
    """Serve the demo LMS/HR API on 127.0.0.1 unless a real one is configured; yields the settings to use.

    The URL and a fresh token also go into the environment for the duration, because Airflow tasks read their
    settings from it.
    """
    if settings.lms_api_url:
        yield settings
        return
    token = secrets.token_urlsafe(24)
    with DemoApi(settings.lms_store_dir, token) as api, _environment(QP_LMS_API_URL=api.url, QP_LMS_API_TOKEN=token):
        yield settings.model_copy(update={"lms_api_url": api.url, "lms_api_token": SecretStr(token)})


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def demo_alert_sink(settings: Settings) -> Iterator[Path | None]:
    """Local receivers for the alert channels that have no connection: where the demo's notifications go.

    An SMTP server (aiosmtpd) keeps each mail as an ``.eml`` file, and an HTTP server appends each Slack and
    webhook post to ``slack.jsonl`` / ``webhook.jsonl``, all under ``<data>/alert_sink``. The connections point at
    them for the duration (``AIRFLOW_CONN_QP_ALERT_*``). Yields the folder, or None when every channel is
    configured for real.
    """
    from alerts.channels import EMAIL, SLACK, WEBHOOK

    missing = [c for c in (EMAIL, SLACK, WEBHOOK) if not os.environ.get(f"AIRFLOW_CONN_{c.upper()}")]
    if not missing:
        yield None
        return
    folder = settings.data_dir / "alert_sink"
    (folder / "mail").mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        if EMAIL in missing:
            port = stack.enter_context(_mail_sink(folder / "mail"))
            urls[EMAIL] = f"smtp://127.0.0.1:{port}?from=qualitypulse%40localhost&to=quality%40localhost&starttls=false"
        if SLACK in missing or WEBHOOK in missing:
            port = stack.enter_context(_http_sink(folder))
            urls.update(
                {c: f"http://127.0.0.1:{port}/{c.rsplit('_', 1)[-1]}" for c in (SLACK, WEBHOOK) if c in missing}
            )
        stack.enter_context(_environment(**{f"AIRFLOW_CONN_{c.upper()}": url for c, url in urls.items()}))
        yield folder


def sink_deliveries(folder: Path | None) -> int:
    """How many notifications the demo alert sink in ``folder`` holds: mails, and Slack and webhook posts."""
    if folder is None:
        return 0
    posts = sum(len(path.read_text().splitlines()) for path in folder.glob("*.jsonl"))
    return len(list((folder / "mail").glob("*.eml"))) + posts


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _mail_sink(folder: Path) -> Iterator[int]:
    from aiosmtpd.controller import Controller

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
            name = f"{len(list(folder.glob('*.eml'))) + 1:04d}.eml"
            (folder / name).write_bytes(envelope.content)
            return "250 kept"

    port = free_port()  # aiosmtpd checks its server by connecting to it: it needs the port up front
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def _http_sink(folder: Path) -> Iterator[int]:
    lock = threading.Lock()

    class Keep(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock, (folder / f"{self.path.strip('/') or 'webhook'}.jsonl").open("a") as out:
                out.write(json.dumps(json.loads(body)) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keep)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
