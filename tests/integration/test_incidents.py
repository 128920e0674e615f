"""Incidents in the warehouse, on SQLite and PostgreSQL: alerts of one site that overlap in time are one incident,
told as one digest per channel to a real SMTP server and HTTP receiver, then updated, then resolved, once each.

The alerts here come from episodes written out by hand (the regressions a check would find), so each step of an
incident's life is one call; tests/integration/test_alert_notifications.py runs the same on the demo's KPI history.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import Engine, insert, inspect, select, text

from alerts.channels import EMAIL, WEBHOOK, EmailChannel, WebhookChannel
from alerts.evaluate import Episode
from alerts.incidents import incident_id_of
from alerts.lifecycle import acknowledge, add_note, describe, reconcile, reconcile_incidents
from alerts.outbox import deliver, enqueue
from core.alert_rules import load_rules
from core.engine import engine_for
from tests.conftest import migrated_settings
from tests.receivers import http_receiver, smtp_server
from warehouse.bi_views import qualified
from warehouse.migrate import alembic_config, upgrade
from warehouse.schema import FACT_TABLES, alert, incident, notification

pytestmark = pytest.mark.integration

RULES = load_rules()
REPORT = "http://reports.example.com/report.html"
OWNER = "owner.s1-l2@example.com"
T0 = datetime(2026, 11, 20, 6, 0)


def _episode(rule_name: str, place: str, since: str, last: str, resolved: str | None = None, **extra) -> Episode:  # type: ignore[no-untyped-def]
    rule = next(r for r in RULES.rules if r.name == rule_name)
    site, _, line = place.partition("/")
    values = {"value": 0.05, "centre": 0.02, "limit": 0.03, "fired": "rule_1"}
    values |= extra
    return Episode(
        rule=rule,
        site_id=site,
        line_id=line or "ALL",
        step_id="ALL",
        since_date=date.fromisoformat(since),
        last_date=date.fromisoformat(last),
        days_adverse=(date.fromisoformat(last) - date.fromisoformat(since)).days + 1,
        sample_size=400,
        resolved_date=date.fromisoformat(resolved) if resolved else None,
        **values,  # type: ignore[arg-type]
    )


YIELD = _episode(
    "line_fraction_defective",
    "S1/S1-L2",
    "2026-11-13",
    "2026-11-19",
    value=0.0418,
    centre=0.012,
    limit=0.024,
    contributors=[{"defect_code": "COLD_JOINT", "count": 40, "share": 0.4}],
)
NPS = _episode("site_nps", "S1", "2026-11-16", "2026-11-19", value=-21.3, centre=39.1, limit=19.1,
               fired="drop")  # fmt: skip
COPQ = _episode("site_cost_of_poor_quality", "S1", "2026-11-18", "2026-11-19", value=0.19, centre=0.15, limit=0.15,
                fired="target")  # fmt: skip
OTHER_SITE = _episode("line_oee", "S2/S2-L1", "2026-11-17", "2026-11-19", value=0.31, centre=0.35, limit=0.35,
                      fired="target")  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path, warehouse_url: str):  # type: ignore[no-untyped-def]
    migrated_settings(tmp_path, warehouse_url)
    engine = engine_for(warehouse_url)
    with engine.begin() as connection:  # the owner of the line, as the QMS's master data has it
        connection.execute(
            insert(FACT_TABLES["lines"]).values(
                line_id="S1-L2",
                site_id="S1",
                line_name="Line 2",
                owner_email=OWNER,
                updated_at=T0,
                batch_id="b",
                row_hash="h",
                loaded_at=T0,
            )
        )
    yield engine
    engine.dispose()


def _check(engine: Engine, episodes: list[Episode], now: datetime, channels: set[str]) -> int:
    """What a regression check does once the rules have found ``episodes``: alerts, incidents, the outbox."""
    with engine.begin() as connection:
        reconcile(connection, episodes, now, f"run-{now:%d%H}")
        reconcile_incidents(connection, RULES.incidents.gap_days, now, f"run-{now:%d%H}")
        return enqueue(connection, RULES, REPORT, channels, now)


def _incidents(engine: Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql(select(incident).order_by(incident.c.first_date), connection).set_index("incident_id")


def _outbox(engine: Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql(select(notification).order_by(notification.c.created_at), connection)


def test_a_line_regression_and_its_sites_customer_alerts_reach_people_as_one_digest_per_channel(engine):
    with smtp_server() as mail, http_receiver() as hook:
        channels = {
            EMAIL: EmailChannel(EMAIL, "127.0.0.1", mail.port, "qp@example.com", ("quality@example.com",),
                                starttls=False),
            WEBHOOK: WebhookChannel(WEBHOOK, hook.url, token="hooktoken"),
        }  # fmt: skip
        queued = _check(engine, [YIELD, NPS, COPQ, OTHER_SITE], T0, set(channels))
        delivery = deliver(engine, channels, T0)

    incidents = _incidents(engine)
    s1 = incident_id_of(_alert_id(YIELD))
    assert list(incidents.index) == [s1, incident_id_of(_alert_id(OTHER_SITE))]
    row = incidents.loc[s1]
    assert (row.site_id, row.status, row.severity, row.alert_count, row.open_alert_count) == (
        "S1", "open", "critical", 3, 3,
    )  # fmt: skip
    assert row.title == "S1: fraction defective on S1-L2, NPS, COPQ / revenue"
    assert str(row.first_date)[:10] == "2026-11-13" and str(row.last_date)[:10] == "2026-11-19"
    with engine.connect() as connection:
        assert set(connection.scalars(select(alert.c.incident_id).where(alert.c.site_id == "S1"))) == {s1}

    # Email carries critical incidents only (the S2 one is a warning); the webhook both: one message per incident.
    assert (queued, delivery.sent, delivery.pending) == (3, 3, 0)
    [message] = mail.messages
    assert message["Subject"] == "[CRITICAL] S1: fraction defective on S1-L2, NPS, COPQ / revenue"
    assert OWNER in message["X-Envelope-To"]  # the owner of the member line hears of it too
    body = mail.body()
    assert body.startswith("3 alerts at site S1 since 2026-11-13, 3 open.")
    for expected in (
        "- [critical] Fraction defective on line S1-L2 at site S1: 4.18% on 2026-11-19, beyond the upper control "
        "limit 2.40%; since 2026-11-13\r\n  Top defect codes that day: COLD_JOINT 40%. Alert ",
        "- [critical] NPS, trailing 7 days, at site S1: -21.3 on 2026-11-19, 60.4 points below its trailing 28-day "
        "mean +39.1; since 2026-11-16",
        "- [warning] Cost of poor quality (share of revenue) at site S1: 19.00% on 2026-11-19, above the target "
        "15.00%; since 2026-11-18",
        f"Incident: {s1}",
        f"Details: {REPORT}#alert-{_alert_id(YIELD)}",
    ):
        assert expected in body
    posts = {r["json"]["facts"]["Incident"]: r for r in hook.requests}
    assert set(posts) == set(incidents.index)
    assert posts[s1]["json"]["kind"] == "kpi_incident" and posts[s1]["json"]["facts"]["Began"] == "2026-11-13"
    assert "hooktoken" not in json.dumps(posts[s1]["json"])
    assert len({r["headers"]["Idempotency-Key"] for r in hook.requests}) == 2


def test_a_second_alert_joining_sends_one_update_digest_and_the_end_is_announced_once(engine):
    with http_receiver() as hook:
        channels = {WEBHOOK: WebhookChannel(WEBHOOK, hook.url)}

        def check(episodes: list[Episode], now: datetime) -> int:
            queued = _check(engine, episodes, now, set(channels))
            deliver(engine, channels, now)
            return queued

        assert check([YIELD], T0) == 1
        # The next day: the line's alert goes on, and the site's NPS and cost of poor quality join it.
        later = replace(YIELD, last_date=date(2026, 11, 20), days_adverse=8)
        assert check([later, NPS, COPQ], T0 + timedelta(days=1)) == 1  # one digest for two alerts joining
        assert check([later, NPS, COPQ], T0 + timedelta(days=1, hours=1)) == 0  # nothing new: nothing to say
        # The line recovers; the customer alerts last.
        recovered = replace(later, resolved_date=date(2026, 11, 24))
        assert check([recovered, NPS, COPQ], T0 + timedelta(days=4)) == 1
        # Everything is back in control: the incident resolves, and that is said once.
        over = [
            recovered,
            replace(NPS, resolved_date=date(2026, 11, 27)),
            replace(COPQ, resolved_date=date(2026, 11, 26)),
        ]
        assert check(over, T0 + timedelta(days=7)) == 1
        assert check(over, T0 + timedelta(days=8)) == 0

    subjects = [r["json"]["subject"] for r in hook.requests]
    assert subjects == [
        "S1: fraction defective on S1-L2",
        "Updated: S1: fraction defective on S1-L2, NPS, COPQ / revenue",
        "Updated: S1: fraction defective on S1-L2, NPS, COPQ / revenue",
        "Resolved: S1: fraction defective on S1-L2, NPS, COPQ / revenue",
    ]
    opened, joined, recovering, resolved = (r["json"]["text"] for r in hook.requests)
    assert opened.startswith("1 alert at site S1 since 2026-11-13, 1 open.")
    assert joined.startswith(
        "Joined: NPS, trailing 7 days, at site S1; Cost of poor quality (share of revenue) at site S1. "
        "Now 3 of 3 alerts open."
    )
    assert f"{describe(NPS)[0]} (new)" in joined
    assert recovering.startswith(
        "Back in control: Fraction defective on line S1-L2 at site S1. Now 2 of 3 alerts open."
    )
    assert "(back in control 2026-11-24)" in recovering
    assert resolved.startswith("Every alert is back in control; 3 alerts at site S1 from 2026-11-13 to 2026-11-27.")
    assert len({r["headers"]["Idempotency-Key"] for r in hook.requests}) == 4
    [row] = _incidents(engine).itertuples()
    assert (row.status, row.open_alert_count, row.resolved_at) == ("resolved", 0, T0 + timedelta(days=7))
    assert list(_outbox(engine).event) == ["opened", "updated", "updated", "resolved"]


def test_enqueueing_twice_adds_nothing_and_a_sent_digest_is_never_sent_again(engine):
    with http_receiver() as hook:
        channels = {WEBHOOK: WebhookChannel(WEBHOOK, hook.url)}
        assert _check(engine, [YIELD, NPS, OTHER_SITE], T0, set(channels)) == 2
        assert _check(engine, [YIELD, NPS, OTHER_SITE], T0, set(channels)) == 0
        assert deliver(engine, channels, T0).sent == 2
        assert _check(engine, [YIELD, NPS, OTHER_SITE], T0 + timedelta(hours=1), set(channels)) == 0
        assert deliver(engine, channels, T0 + timedelta(hours=1)).sent == 0
    assert len(hook.requests) == 2
    assert set(_outbox(engine).status) == {"sent"}


def test_a_digest_keeps_secrets_out_of_its_text(engine):
    # Words are built from data: a segment name some source let a connection string into, say.
    segment = "postgresql://qp:s3cret@db/wh password=hunter2"
    leaky = replace(NPS, contributors=[{"segment": segment, "change": -30.0}])
    with http_receiver() as hook:
        channels = {WEBHOOK: WebhookChannel(WEBHOOK, hook.url)}
        _check(engine, [YIELD, leaky], T0, set(channels))
        deliver(engine, channels, T0)
    [post] = hook.requests
    assert "Customer segments that moved most against the baseline: postgresql://qp:***@db/wh" in post["json"]["text"]
    assert "s3cret" not in json.dumps(post["json"]) and "hunter2" not in json.dumps(post["json"])


def test_history_that_began_and_ended_before_anyone_was_told_is_recorded_not_sent(engine):
    past = [replace(YIELD, resolved_date=date(2026, 11, 22)), replace(NPS, resolved_date=date(2026, 11, 23))]
    assert _check(engine, past, T0 + timedelta(days=5), {WEBHOOK}) == 0
    [row] = _incidents(engine).itertuples()
    assert (row.status, row.alert_count, row.notified_members) == ("resolved", 2, None)
    # No channel was configured when an incident opened: it waits, and is told once one is.
    assert _check(engine, [OTHER_SITE], T0, set()) == 0
    assert _check(engine, [OTHER_SITE], T0 + timedelta(hours=1), {WEBHOOK}) == 1


def test_a_later_alert_that_bridges_two_incidents_merges_them_and_the_update_says_so(engine):
    early = _episode("line_fraction_defective", "S1/S1-L2", "2026-11-01", "2026-11-03")
    late = _episode("site_nps", "S1", "2026-11-20", "2026-11-21")
    with http_receiver() as hook:
        channels = {WEBHOOK: WebhookChannel(WEBHOOK, hook.url)}
        assert _check(engine, [early, late], T0, set(channels)) == 2  # 17 days apart: two incidents
        bridge = _episode("site_cost_of_poor_quality", "S1", "2026-11-08", "2026-11-15")
        assert _check(engine, [early, late, bridge], T0 + timedelta(days=1), set(channels)) == 1
        deliver(engine, channels, T0 + timedelta(days=1))

    incidents = _incidents(engine)
    older, younger = incident_id_of(_alert_id(early)), incident_id_of(_alert_id(late))
    assert incidents.loc[older].status == "open" and incidents.loc[older].alert_count == 3
    assert (incidents.loc[younger].status, incidents.loc[younger].merged_into_id) == ("resolved", older)
    assert incidents.loc[younger].alert_count == 0  # its alerts are the older incident's now
    with engine.connect() as connection:
        assert set(connection.scalars(select(alert.c.incident_id))) == {older}
    subjects = [r["json"]["subject"] for r in hook.requests]
    assert subjects[-1] == "Updated: S1: fraction defective on S1-L2, NPS, COPQ / revenue"
    assert not any(s.startswith("Resolved: ") for s in subjects)  # merged is not over
    assert f"Incident {younger[:12]} (S1: NPS) is part of this one now." in hook.requests[-1]["json"]["text"]


def test_the_incident_timeline_tells_each_alerts_events_in_time_order(engine):
    _check(engine, [YIELD], T0, set())
    _check(engine, [YIELD, NPS], T0 + timedelta(hours=1), set())
    with engine.begin() as connection:
        acknowledge(connection, _alert_id(YIELD), "maria", T0 + timedelta(hours=2))
        add_note(connection, _alert_id(YIELD)[:8], "Paste lot B-1142 on SOLDER", "maria", T0 + timedelta(hours=3))
    _check(engine, [replace(YIELD, resolved_date=date(2026, 11, 23)), NPS], T0 + timedelta(days=3), set())

    view = qualified("incident_timeline", engine)
    timeline = pd.read_sql(f"select event, alert_id, actor, detail from {view}", engine)
    yield_id, nps_id = _alert_id(YIELD), _alert_id(NPS)
    assert list(zip(timeline.event, timeline.alert_id, strict=True)) == [
        ("alert_opened", yield_id),
        ("alert_opened", nps_id),
        ("alert_acknowledged", yield_id),
        ("note", yield_id),
        ("alert_resolved", yield_id),
    ]
    assert list(timeline.actor[2:4]) == ["maria", "maria"] and timeline.detail[3] == "Paste lot B-1142 on SOLDER"
    assert timeline.detail[4] == "back in control on 2026-11-23"
    incidents = pd.read_sql(f"select * from {qualified('incidents', engine)}", engine)
    assert incidents[["alerts", "open_alerts", "acknowledged_alerts", "notes"]].values.tolist() == [[2, 1, 1, 1]]


def test_qp_alerts_list_shows_each_alert_under_its_incident(engine, tmp_path, monkeypatch, capsys):
    from cli.main import main

    _check(engine, [YIELD, NPS, OTHER_SITE], T0, set())
    monkeypatch.setenv("QP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QP_WAREHOUSE_URL", engine.url.render_as_string(hide_password=False))
    assert main(["alerts", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"incident {incident_id_of(YIELD.alert_id)[:12]}: S1: fraction defective on S1-L2, NPS",
        f"  {YIELD.alert_id[:12]}  open  [critical]  {describe(YIELD)[0]}",
        f"  {NPS.alert_id[:12]}  open  [critical]  {describe(NPS)[0]}",
        f"incident {incident_id_of(OTHER_SITE.alert_id)[:12]}: S2: OEE on S2-L1",
        f"  {OTHER_SITE.alert_id[:12]}  open  [warning]   {describe(OTHER_SITE)[0]}",
    ]


def test_the_revision_adds_incidents_reverses_and_alerts_told_one_by_one_are_not_told_again(
    tmp_path: Path, warehouse_url: str
):
    engine = engine_for(warehouse_url)
    upgrade(engine, "0024")
    announced = {**_alert_row(YIELD), "status": "open"}
    with engine.begin() as connection:  # an alert announced on the webhook before incidents existed
        connection.execute(text(_insert_sql("alert", announced)), announced)
        legacy = {
            "notification_id": "legacy-1",
            "alert_kind": "kpi_regression",
            "alert_id": announced["alert_id"],
            "event": "opened",
            "channel": WEBHOOK,
            "severity": "critical",
            "payload": "{}",
            "status": "sent",
            "attempts": 1,
            "created_at": T0,
        }
        connection.execute(text(_insert_sql("notification", legacy)), legacy)
    upgrade(engine)
    assert "incident" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.scalar(select(alert.c.incident_id)) is None  # grouped by the next check

    assert _check(engine, [YIELD], T0 + timedelta(hours=1), {WEBHOOK}) == 0  # told already, one by one
    assert _check(engine, [YIELD, NPS], T0 + timedelta(hours=2), {WEBHOOK}) == 1
    [update_row] = _outbox(engine).query("alert_kind == 'kpi_incident'").itertuples()
    assert update_row.event == "updated" and json.loads(update_row.payload)["text"].startswith(
        "Joined: NPS, trailing 7 days, at site S1."
    )

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0024")
    assert "incident" not in inspect(engine).get_table_names()
    assert "incident_id" not in {c["name"] for c in inspect(engine).get_columns("alert")}
    with engine.connect() as connection:
        assert connection.scalar(text("select count(*) from alert")) == 2
    upgrade(engine)  # and forward again, with the BI views
    with engine.connect() as connection:
        assert connection.scalar(text(f"select count(*) from {qualified('quality_alerts', engine)}")) == 2
    engine.dispose()


def _alert_id(episode: Episode) -> str:
    return episode.alert_id


def _alert_row(episode: Episode) -> dict[str, object]:
    return {
        "alert_id": episode.alert_id,
        "fingerprint": episode.fingerprint,
        "rule_name": episode.rule.name,
        "kpi": episode.rule.kpi,
        "method": episode.rule.method,
        "rule": episode.fired,
        "severity": episode.rule.severity,
        "site_id": episode.site_id,
        "line_id": episode.line_id,
        "step_id": episode.step_id,
        "since_date": episode.since_date,
        "last_date": episode.last_date,
        "days_adverse": episode.days_adverse,
        "value": episode.value,
        "centre_line": episode.centre,
        "limit_value": episode.limit,
        "sample_size": episode.sample_size,
        "contributors": "[]",
        "subject": "Fraction defective on line S1-L2 at site S1",
        "message": "Fraction defective on line S1-L2 at site S1",
        "pipeline_run_id": "before",
        "raised_at": T0,
        "updated_at": T0,
    }


def _insert_sql(table: str, values: dict[str, object]) -> str:
    return f"insert into {table} ({', '.join(values)}) values ({', '.join(':' + k for k in values)})"
