"""Alert channels deliver to real local receivers: an SMTP server and HTTP servers for Slack and webhooks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts.channels import (
    DeliveryFailed,
    EmailChannel,
    Notification,
    SlackChannel,
    WebhookChannel,
    deliver,
    redact,
)
from orchestration.connections import configured_channels
from tests.receivers import free_port, http_receiver, smtp_server

pytestmark = pytest.mark.integration

NOTE = Notification(
    key="k-123",
    kind="kpi_regression",
    severity="critical",
    subject="First pass yield dropped on line S1-L2",
    text="FPY on S1-L2 was 91.2% on 2026-11-20, below the lower limit 95.1%.",
    facts={"KPI": "first pass yield", "Line": "S1-L2", "Since": "2026-11-18"},
    link="http://127.0.0.1:8000/report.html#S1-L2",
)


def test_email_reaches_the_smtp_server_with_subject_facts_and_link():
    with smtp_server() as inbox:
        channel = EmailChannel(
            "qp_alert_email", "127.0.0.1", inbox.port, "qp@example.com", ("qa@example.com",), starttls=False
        )
        channel.send(NOTE)
    [message] = inbox.messages
    assert message["Subject"] == "[CRITICAL] First pass yield dropped on line S1-L2"
    assert message["X-Envelope-To"] == "qa@example.com"
    body = inbox.body()
    assert "below the lower limit 95.1%" in body and "Line: S1-L2" in body and NOTE.link in body


def test_slack_and_webhook_receivers_get_the_message_and_the_facts():
    with http_receiver() as slack, http_receiver() as hook:
        SlackChannel("qp_alert_slack", slack.url).send(NOTE)
        WebhookChannel("qp_alert_webhook", hook.url, token="t0k3n").send(NOTE)
    [slack_post] = slack.requests
    assert "First pass yield dropped on line S1-L2" in slack_post["json"]["text"]
    assert any("*Line:* S1-L2" in b["text"]["text"] for b in slack_post["json"]["blocks"])
    [hook_post] = hook.requests
    assert hook_post["json"] == NOTE.as_json()
    assert hook_post["headers"]["Authorization"] == "Bearer t0k3n"
    assert hook_post["headers"]["Idempotency-Key"] == "k-123"  # a receiver can drop a repeat


def test_a_long_digest_is_cut_to_what_slack_takes_and_keeps_its_link():
    long = replace(NOTE, text="\n".join(f"- [warning] OEE on line S1-L{i:02d} below 35.0%" for i in range(200)))
    with http_receiver() as slack:
        SlackChannel("qp_alert_slack", slack.url).send(long)
    [post] = slack.requests
    text = post["json"]["blocks"][1]["text"]["text"]
    assert len(text) <= 3000 and text.endswith(f"<{NOTE.link}|Open the report>")
    assert text.startswith("- [warning] OEE on line S1-L00") and "\u2026" in text


def test_a_channel_that_is_down_fails_without_revealing_its_url_and_the_others_deliver():
    secret_url = f"http://127.0.0.1:{free_port()}/services/T000/B000/SECRETPATH"
    with http_receiver() as hook:
        outcome = deliver(
            NOTE,
            {
                "qp_alert_slack": SlackChannel("qp_alert_slack", secret_url),
                "qp_alert_webhook": WebhookChannel("qp_alert_webhook", hook.url),
            },
        )
    assert outcome["qp_alert_webhook"] is None and len(hook.requests) == 1
    assert outcome["qp_alert_slack"] and "SECRETPATH" not in outcome["qp_alert_slack"]
    with http_receiver() as failing:
        failing.status = 503
        with pytest.raises(DeliveryFailed, match="HTTP 503"):
            WebhookChannel("qp_alert_webhook", failing.url).send(NOTE)


def test_a_mail_server_that_is_down_fails_clearly():
    channel = EmailChannel("qp_alert_email", "127.0.0.1", free_port(), "qp@example.com", ("qa@example.com",), timeout=2)
    with pytest.raises(DeliveryFailed, match="qp_alert_email: the mail server did not take the message"):
        channel.send(NOTE)


def test_channels_come_from_airflow_connections(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_QP_ALERT_EMAIL", "smtp://qp:pw@mail.example.com:587?from=qp%40example.com&to=a%40x.com,b%40x.com"
    )
    monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_SLACK", "https://hooks.slack.com/services/T000/B000/XXXX")
    monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", "http://:tok@127.0.0.1:9000/qualitypulse")

    channels = configured_channels()

    email = channels["qp_alert_email"]
    assert isinstance(email, EmailChannel)
    assert (email.host, email.port, email.recipients, email.starttls) == (
        "mail.example.com",
        587,
        ("a@x.com", "b@x.com"),
        True,
    )
    assert channels["qp_alert_slack"] == SlackChannel(
        "qp_alert_slack", "https://hooks.slack.com/services/T000/B000/XXXX"
    )
    assert channels["qp_alert_webhook"] == WebhookChannel(
        "qp_alert_webhook", "http://127.0.0.1:9000/qualitypulse", "tok"
    )
    assert "pw" not in repr(email) and "XXXX" not in repr(channels["qp_alert_slack"])  # secrets stay out of logs
    monkeypatch.delenv("AIRFLOW_CONN_QP_ALERT_SLACK")
    assert set(configured_channels()) == {"qp_alert_email", "qp_alert_webhook"}


def test_redact_masks_credentials_in_urls_pairs_and_bearer_tokens():
    text = "postgresql+psycopg://qp:s3cret@db/wh failed; password=hunter2 token: abc Authorization: Bearer eyJhbGc.x"
    masked = redact(text)
    assert not {"s3cret", "hunter2", "abc", "eyJhbGc.x"} & set(masked.replace(";", " ").split())
    assert "s3cret" not in masked and "hunter2" not in masked and "eyJhbGc" not in masked
    assert "postgresql+psycopg://qp:***@db/wh" in masked
