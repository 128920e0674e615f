"""Regression alerts reach people as incidents: one digest per incident and channel, routed by its worst severity,
to a real local SMTP server and HTTP receiver; a receiver that is down keeps its notifications pending until it is
up, and nothing is sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core.engine import engine_for
from demo.source_systems import REGRESSION_LINE
from orchestration.connections import configured_channels
from pipeline.alerting import check_regressions, send_notifications
from tests.conftest import DEMO_END
from tests.helpers import read_table, run_chain
from tests.receivers import free_port, http_receiver, smtp_server
from warehouse.schema import kpi_daily

pytestmark = pytest.mark.integration


def test_alerts_are_delivered_once_and_a_receiver_that_was_down_gets_them_later(settings, demo_sources, monkeypatch):
    run_chain(settings)  # no channel configured yet: the alerts wait in the warehouse
    assert read_table(settings, "notification").empty
    open_alerts = read_table(settings, "alert").query("status == 'open'")
    critical = open_alerts[open_alerts.severity == "critical"]
    assert REGRESSION_LINE in set(critical.line_id)
    # The line's yield and its site's customer alerts are one incident: one message about them, not one per rule.
    incidents = read_table(settings, "incident").query("status == 'open'")
    [line_incident] = set(critical[critical.line_id == REGRESSION_LINE].incident_id)
    site_alerts = open_alerts[open_alerts.incident_id == line_incident]
    assert {"fraction_defective", "nps"} <= set(site_alerts.kpi) and len(incidents) < len(open_alerts)
    # The demo's two mangled survey files (Latin-1 bytes, a changed template) are critical data-quality alerts.
    file_problems = read_table(settings, "data_quality_alert").query("status == 'open'")
    assert set(file_problems.kind) == {"file_problem"} and set(file_problems.severity) == {"critical"}
    assert len(file_problems) == 2
    expected_mails = len(incidents.query("severity == 'critical'")) + len(file_problems)
    expected_posts = len(incidents) + len(file_problems)

    hook_port = free_port()
    with smtp_server() as mail:
        monkeypatch.setenv(
            "AIRFLOW_CONN_QP_ALERT_EMAIL",
            f"smtp://127.0.0.1:{mail.port}?from=qp%40example.com&to=quality%40example.com&starttls=false",
        )
        monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://:hooktoken@127.0.0.1:{hook_port}/hook")
        check_regressions("with-channels", settings, configured_channels)
        first = send_notifications(settings, configured_channels)  # the webhook receiver is down

        outbox = read_table(settings, "notification")
        assert set(outbox[outbox.channel == "qp_alert_email"].status) == {"sent"}
        waiting = outbox[outbox.channel == "qp_alert_webhook"]
        assert set(waiting.status) == {"pending"}
        assert waiting.attempts.sum() == 1  # one try; a channel that is down is left alone until the next run
        assert "hooktoken" not in str(waiting.last_error.tolist())
        assert first.pending == len(waiting)
        # Routing by an incident's worst severity: email carries the critical ones only; the webhook every open one.
        assert len(mail.messages) == expected_mails
        assert len(waiting) == expected_posts
        regression_mail = next(m for m in mail.messages if REGRESSION_LINE in m["Subject"])
        subject = " ".join(str(regression_mail["Subject"]).split())  # unfolded
        assert subject.startswith("[CRITICAL] S1: ") and f"fraction defective on {REGRESSION_LINE}," in subject
        assert "NPS" in subject
        owner = read_table(settings, "dim_line").set_index("line_id").owner_email[REGRESSION_LINE]
        assert owner in regression_mail["X-Envelope-To"]  # the line's owner hears of it too
        body = mail.body(mail.messages.index(regression_mail))
        assert "Top defect codes" in body and "Began" in body and "#alert-" in body
        for alert in site_alerts.itertuples():  # every alert of the incident, in its own words
            assert f"- [{alert.severity}] {alert.subject}" in body and alert.rule in alert.subject

        with http_receiver(hook_port) as hook:
            second = send_notifications(settings, configured_channels)  # up again: the pending ones go now
            check_regressions("rerun", settings, configured_channels)  # the same regressions: nothing new to say
            third = send_notifications(settings, configured_channels)

    assert (second.sent, second.pending, third.sent) == (len(waiting), 0, 0)
    assert len(hook.requests) == expected_posts  # each once
    assert len({r["headers"]["Idempotency-Key"] for r in hook.requests}) == expected_posts
    assert len(mail.messages) == expected_mails  # no mail sent twice
    post = next(r["json"] for r in hook.requests if REGRESSION_LINE in r["json"]["subject"])
    assert post["kind"] == "kpi_incident" and post["facts"]["Incident"] == line_incident
    assert post["facts"]["Began"] and "hooktoken" not in str(post)


def test_an_alert_resolves_after_the_line_recovers_and_its_incident_says_so(settings, demo_sources, monkeypatch):
    with http_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://127.0.0.1:{hook.port}/hook")
        run_chain(settings)
        send_notifications(settings, configured_channels)
        # The digest of the incident the yield regression belongs to (its title names the member alerts).
        [regression] = [
            r["json"] for r in hook.requests if f"fraction defective on {REGRESSION_LINE}" in r["json"]["subject"]
        ]
        # The line recovers for its last five days (three calm days resolve an alert by default).
        engine = engine_for(settings.warehouse_url)
        with engine.begin() as connection:
            connection.execute(
                update(kpi_daily)
                .where(
                    kpi_daily.c.kpi == "fraction_defective",
                    kpi_daily.c.line_id == REGRESSION_LINE,
                    kpi_daily.c.step_id == "ALL",
                    kpi_daily.c.kpi_date >= DEMO_END - timedelta(days=4),
                )
                .values(numerator=kpi_daily.c.denominator * 0.016, value=0.016)
            )
        engine.dispose()
        check_regressions("recovered", settings, configured_channels)
        send_notifications(settings, configured_channels)

    alerts = read_table(settings, "alert")
    [row] = alerts[
        (alerts.incident_id == regression["facts"]["Incident"])
        & (alerts.rule_name == "line_fraction_defective")
        & (alerts.line_id == REGRESSION_LINE)
    ].itertuples()
    resolved_on = str(row.resolved_date)[:10]
    # The third calm production day (the line doesn't run on Sundays).
    assert (
        row.status == "resolved" and (DEMO_END - timedelta(days=2)).isoformat() <= resolved_on <= DEMO_END.isoformat()
    )
    # The site's customer alerts last, so the incident stays open: one update says the line is back in control.
    [update_] = [r["json"] for r in hook.requests if r["json"]["subject"].startswith("Updated: ")]
    assert update_["facts"]["Incident"] == regression["facts"]["Incident"] and update_["facts"]["Status"] == "open"
    assert update_["text"].startswith(f"Back in control: Fraction defective on line {REGRESSION_LINE} at site S1.")
    assert f"(back in control {resolved_on})" in update_["text"]
    assert not [r for r in hook.requests if r["json"]["subject"].startswith("Resolved: ")]
