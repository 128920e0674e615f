"""One wording for an alert, everywhere: on SQLite and PostgreSQL, a regression check over KPI days (the real rules,
alert lifecycle and outbox) stores each alert's headline, and the same sentence reaches a real SMTP server, a Slack
and a webhook receiver, and the run summary; a wording change alone updates the stored text and tells no one again.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert, update

from core.engine import engine_for
from core.kpi_format import format_value
from core.kpi_registry import REGISTRY
from orchestration.connections import configured_channels
from pipeline.alerting import check_regressions, send_notifications
from pipeline.summary import render as render_summary
from tests.conftest import migrated_settings
from tests.helpers import read_table
from tests.receivers import http_receiver, smtp_server
from warehouse.schema import alert, kpi_daily

pytestmark = pytest.mark.integration

END = date(2026, 11, 20)
RULES = """
routes:
  critical: [qp_alert_email, qp_alert_slack, qp_alert_webhook]
rules:
  - name: line_fraction_defective
    kpi: fraction_defective
    scope: line
    method: p_chart
    adverse: up
    rules: [rule_1, rule_2]
    severity: critical
  - name: site_nps
    kpi: nps
    scope: site
    method: drop
    adverse: down
    points: 20
    window_days: 7
    severity: critical
"""
# Codes people must never read: run rules, methods, KPI codes, rule names, the ALL of the place columns.
CODES = re.compile(
    r"\b(rule_\d|nelson_\d|ALL|p_chart|laney_[pu]|line_fraction_defective|site_nps|"
    + "|".join(re.escape(k.code) for k in REGISTRY)
    + r")\b"
)


def _days(kpi: str, grain: str, place: tuple[str, str, str], numerators: list[float], n: float) -> list[dict]:  # type: ignore[type-arg]
    """KPI days ending on END, one a day."""
    first = END - timedelta(days=len(numerators) - 1)
    scale = 100.0 if kpi == "nps" else 1.0
    return [
        {
            "kpi": kpi,
            "kpi_date": first + timedelta(days=i),
            "site_id": place[0],
            "line_id": place[1],
            "step_id": place[2],
            "grain": grain,
            "numerator": numerator,
            "denominator": n,
            "value": scale * numerator / n,
            "pipeline_run_id": "kpis",
            "computed_at": datetime(2026, 11, 21),
        }
        for i, numerator in enumerate(numerators)
    ]


@pytest.fixture
def settings(tmp_path: Path, warehouse_url: str):  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    configured = migrated_settings(tmp_path, warehouse_url).model_copy(update={"alert_rules": rules})
    # The line's defective fraction: 30 days around 2% of 1,000, then two days at 3.0%: beyond 2 sigma, inside the
    # control limit (rule 2). The site's NPS: 40 days at +40, then six at -20 (0.12 x 12 responses a day).
    days = _days("fraction_defective", "line", ("S1", "S1-L2", "ALL"), [20, 18, 22, 21, 19] * 6 + [30, 30], 1000)
    days += _days("nps", "site", ("S1", "ALL", "ALL"), [4.8] * 40 + [-2.4] * 6, 12)
    engine = engine_for(warehouse_url)
    with engine.begin() as connection:
        connection.execute(insert(kpi_daily), days)
    engine.dispose()
    return configured


def test_the_same_headline_reaches_the_alert_the_mail_slack_the_webhook_and_the_summary(settings, monkeypatch):
    with smtp_server() as mail, http_receiver() as slack, http_receiver() as hook:
        monkeypatch.setenv(
            "AIRFLOW_CONN_QP_ALERT_EMAIL",
            f"smtp://127.0.0.1:{mail.port}?from=qp%40example.com&to=quality%40example.com&starttls=false",
        )
        monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_SLACK", f"http://127.0.0.1:{slack.port}/slack")
        monkeypatch.setenv("AIRFLOW_CONN_QP_ALERT_WEBHOOK", f"http://127.0.0.1:{hook.port}/hook")
        check_regressions("wording", settings, configured_channels)
        assert send_notifications(settings, configured_channels).sent == 3  # one incident, three channels

        alerts = read_table(settings, "alert").set_index("rule_name")
        line, nps = alerts.loc["line_fraction_defective"], alerts.loc["site_nps"]
        # The rule-2 alert: the value against the 2-sigma line it crossed, on its day, never "above the limit".
        assert line.rule.startswith("2 of the last 3 days beyond 2 sigma above the centre line ")
        assert line.centre_line < line.limit_value < line.value == pytest.approx(0.03)
        two_sigma = format_value("fraction_defective", line.limit_value)
        assert (
            line.subject == (f"Fraction defective on line S1-L2 at site S1: 3.00% on {END}, {line.rule}; since {END}")
            and f"(2-sigma line {two_sigma})" in line.subject
        )
        assert "control limit" not in line.subject and line.message.startswith(line.subject + ". ")
        assert nps.subject.startswith(f"NPS, trailing 7 days, at site S1: {format_value('nps', nps.value)} on {END}, ")
        assert " points below its trailing 28-day mean " in nps.rule and nps.rule in nps.subject

        body = mail.body()
        [slack_post] = slack.requests
        [hook_post] = hook.requests
        summary = render_summary(settings)
        slack_text = "\n".join(block["text"]["text"] for block in slack_post["json"]["blocks"])
        for headline in (line.subject, nps.subject):
            assert f"- [critical] {headline}" in body.replace("\r\n", "\n")
            assert f"- [critical] {headline}" in slack_text
            assert f"- [critical] {headline}" in hook_post["json"]["text"]
            assert f"  [critical] {headline}\n" in summary
        # No code in anything people read; the webhook keeps its machine fields (kind, facts' ids) beside the words.
        summary_alerts = summary[summary.index("Alerts: ") :]
        human = [body, slack_text, slack_post["json"]["text"], hook_post["json"]["subject"], hook_post["json"]["text"]]
        for text in [*human, summary_alerts, *alerts.subject, *alerts.message, *alerts.rule]:
            assert not CODES.search(text), CODES.search(text)
        assert hook_post["json"]["kind"] == "kpi_incident"

        # A later release words alerts differently: the next check stores the new words, and tells no one again.
        engine = engine_for(settings.warehouse_url)
        with engine.begin() as connection:
            connection.execute(update(alert).values(subject="old words", message="old words", rule="rule_2: old"))
        engine.dispose()
        outbox_before = len(read_table(settings, "notification"))
        check_regressions("reworded", settings, configured_channels)
        assert send_notifications(settings, configured_channels).sent == 0
        assert len(mail.messages) == 1 and len(slack.requests) == 1 and len(hook.requests) == 1
    assert len(read_table(settings, "notification")) == outbox_before
    reworded = read_table(settings, "alert").set_index("rule_name")
    pd.testing.assert_series_equal(reworded.subject, alerts.subject)
    assert list(reworded.alert_id) == list(alerts.alert_id) and set(reworded.status) == {"open"}
