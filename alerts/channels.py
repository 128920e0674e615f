"""Where notifications go: email (SMTP), a Slack-compatible webhook, a generic JSON webhook.

Each channel is an Airflow connection, so its secrets live in Airflow's secrets backend (or an
``AIRFLOW_CONN_<ID>`` variable), never in code, messages or logs:

    qp_alert_email    smtp://user:password@host:587?from=qp@example.com&to=a@example.com,b@example.com
                      (extras: ``starttls`` true/false, default true unless the port is 25 or 1025;
                      ``ssl`` true for SMTPS; ``timeout`` seconds)
    qp_alert_slack    https://hooks.slack.com/services/T000/B000/XXXX  (the URL is the secret)
    qp_alert_webhook  https://receiver.example.com/qualitypulse  (the password, if any, is sent as a bearer
                      token; extra ``timeout`` seconds)

A channel whose connection is not defined is simply not configured. Delivery failures raise
:class:`DeliveryFailed` with a message that names the channel, never its URL or credentials.

The transports are the standard library's ``smtplib`` and ``requests``: Airflow's SMTP and Slack providers
would add two provider packages (and their pins) for the few lines each channel needs, and these channels
must also work from the ``qp`` CLI, outside any Airflow task.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import requests

# Re-exported: masking lives in core/redaction.py; the channels' callers import it from here too.
from core.redaction import redact as redact

EMAIL, SLACK, WEBHOOK = "qp_alert_email", "qp_alert_slack", "qp_alert_webhook"
ALL_CHANNELS = (EMAIL, SLACK, WEBHOOK)
SEVERITY_MARK = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
SLACK_SECTION_LIMIT = 3000  # Slack refuses a section block with more text than this


class DeliveryFailed(RuntimeError):
    """A channel did not accept a notification (it stays pending where the caller keeps an outbox)."""


@dataclass(frozen=True)
class Notification:
    """One message for people: a subject line, the text a person acts on, and the structured facts behind it."""

    key: str  # identifies the event across retries: receivers can drop a repeat (the webhook's Idempotency-Key)
    kind: str  # kpi_incident | data_quality | task_failure
    severity: str  # critical | warning | info
    subject: str
    text: str
    facts: dict[str, str] = field(default_factory=dict)
    link: str | None = None
    recipients: tuple[str, ...] = ()  # people to mail besides the channel's own list (a line's owner)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "recipients": list(self.recipients)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notification:
        return cls(**{**data, "recipients": tuple(data.get("recipients", ()))})


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class EmailChannel:
    name: str
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    use_ssl: bool = False
    timeout: float = 30.0

    def send(self, notification: Notification) -> None:
        message = EmailMessage()
        message["Subject"] = f"[{notification.severity.upper()}] {notification.subject}"
        message["From"] = self.sender
        message["To"] = ", ".join(dict.fromkeys([*self.recipients, *notification.recipients]))
        message["X-QualityPulse-Key"] = notification.key
        body = [notification.text, ""]
        body += [f"{name}: {value}" for name, value in notification.facts.items()]
        if notification.link:
            body += ["", f"Details: {notification.link}"]
        message.set_content("\n".join(body))
        try:
            smtp_class = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if self.login:
                    smtp.login(self.login, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryFailed(
                f"{self.name}: the mail server did not take the message ({type(error).__name__})"
            ) from None


@dataclass(frozen=True)
class SlackChannel:
    name: str
    url: str = field(repr=False)
    timeout: float = 10.0

    def send(self, notification: Notification) -> None:
        mark = SEVERITY_MARK.get(notification.severity, "")
        facts = "\n".join(f"*{name}:* {value}" for name, value in notification.facts.items())
        link = f"\n<{notification.link}|Open the report>" if notification.link else ""
        payload = {
            "text": f"{mark} {notification.subject}",  # the notification preview
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{mark} *{notification.subject}*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": _fit(notification.text, link)}},
                *([{"type": "section", "text": {"type": "mrkdwn", "text": facts}}] if facts else []),
            ],
        }
        _post(self.name, self.url, payload, {}, self.timeout)


def _fit(text: str, tail: str) -> str:
    """``text`` and ``tail`` within a Slack section (a long incident digest is cut, its link kept)."""
    room = SLACK_SECTION_LIMIT - len(tail)
    return (text if len(text) <= room else text[: room - 1] + "\u2026") + tail


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    url: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    def send(self, notification: Notification) -> None:
        headers = {"Idempotency-Key": notification.key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        _post(self.name, self.url, notification.as_json(), headers, self.timeout)


def _post(name: str, url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
    try:
        response = requests.post(
            url, data=json.dumps(payload), headers={"Content-Type": "application/json", **headers}, timeout=timeout
        )
    except requests.RequestException as error:
        raise DeliveryFailed(f"{name}: the receiver could not be reached ({type(error).__name__})") from None
    if response.status_code >= 300:
        raise DeliveryFailed(f"{name}: the receiver answered HTTP {response.status_code}")


# Given connection ids, the channels among them that are defined (``orchestration.connections`` reads Airflow's).
ChannelLookup = Callable[[Collection[str]], dict[str, Channel]]


def channel_from_connection(conn_id: str, connection: Any) -> Channel:
    """A channel from an Airflow connection (or any object with its attributes); its kind from the connection type
    (smtp, or http(s) by id)."""
    extra = connection.extra_dejson
    if connection.conn_type in ("smtp", "smtps", "email"):
        recipients = tuple(r.strip() for r in str(extra.get("to", "")).split(",") if r.strip())
        if not recipients or not extra.get("from"):
            raise ValueError(f"connection {conn_id}: an email channel needs the extras 'from' and 'to'")
        port = int(connection.port or 25)
        use_ssl = connection.conn_type == "smtps" or _flag(extra.get("ssl"), False)
        return EmailChannel(
            conn_id,
            connection.host,
            port,
            str(extra["from"]),
            recipients,
            connection.login or None,
            connection.password or None,
            starttls=_flag(extra.get("starttls"), port not in (25, 1025) and not use_ssl),
            use_ssl=use_ssl,
            timeout=float(extra.get("timeout", 30)),
        )
    url = str(extra.get("url") or _url_of(connection))
    timeout = float(extra.get("timeout", 10))
    if conn_id == SLACK or connection.conn_type == "slackwebhook" or "hooks.slack.com" in url:
        return SlackChannel(conn_id, url, timeout)
    return WebhookChannel(conn_id, url, connection.password or None, timeout)


def _url_of(connection: Any) -> str:
    scheme = "https" if connection.conn_type in ("https", "slackwebhook") or connection.port == 443 else "http"
    port = f":{connection.port}" if connection.port else ""
    return f"{scheme}://{connection.host}{port}/{(connection.schema or '').lstrip('/')}"


def _flag(value: object, default: bool) -> bool:
    if value is None or value == "":
        return default
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def deliver(notification: Notification, channels: dict[str, Channel]) -> dict[str, str | None]:
    """Send ``notification`` on every channel; returns each channel's error (None when delivered).

    One channel that is down does not keep the others from delivering.
    """
    import logging

    log = logging.getLogger("qualitypulse.alerts")
    outcome: dict[str, str | None] = {}
    for name, channel in channels.items():
        try:
            channel.send(notification)
        except DeliveryFailed as error:
            outcome[name] = str(error)
            log.error("notification %s not delivered: %s", notification.key, error)
        else:
            outcome[name] = None
            log.info("notification %s delivered on %s", notification.key, name)
    return outcome
