"""Real local receivers for notifications: an SMTP server (aiosmtpd) and an HTTP server for webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from demo.services import free_port


@dataclass
class SmtpInbox:
    port: int
    messages: list[Message] = field(default_factory=list)

    def body(self, index: int = -1) -> str:
        payload = self.messages[index].get_payload(decode=True)
        return payload.decode() if isinstance(payload, bytes) else str(payload)


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[SmtpInbox]:
    """A real SMTP server on 127.0.0.1 that keeps every message it is sent."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox(port or free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
            message = message_from_bytes(envelope.content)
            message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            inbox.messages.append(message)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass
class HttpInbox:
    port: int
    status: int = 200  # what the receiver answers; set 503 to play a receiver that is up but failing
    requests: list[dict[str, Any]] = field(default_factory=list)
    # While set, each request is recorded and then left unanswered until the event is set: a sender caught mid-send.
    hold: threading.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def http_receiver(port: int | None = None) -> Iterator[HttpInbox]:
    """A real HTTP server on 127.0.0.1 that records each POST (path, headers, JSON body)."""
    inbox = HttpInbox(port or free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if inbox.status < 300:
                inbox.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            if inbox.hold is not None:
                inbox.hold.wait(timeout=60)
            self.send_response(inbox.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", inbox.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()
