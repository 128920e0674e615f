"""Alerting: judge the KPI history by the rules, keep the alerts' lifecycle, queue and deliver notifications."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import select

from core.engine import Warehouse
from core.settings import Settings
from warehouse import ledger
from warehouse.schema import kpi_daily

if TYPE_CHECKING:
    from alerts.channels import ChannelLookup
    from alerts.evaluate import Episode
    from alerts.lifecycle import Changes, IncidentChanges
    from alerts.outbox import Delivery


log = logging.getLogger(__name__)


def check_regressions(pipeline_run_id: str, settings: Settings, channels: ChannelLookup) -> list[Episode]:
    """Judge the KPI history by the configured rules; open, update and resolve alerts; group them into incidents;
    queue the notifications (one digest per incident and channel).

    ``channels`` finds the alert channels that are defined (only those get notifications queued). Returns the open
    episodes. Idempotent: a rerun on the same KPI tables changes nothing.
    """
    from alerts.leading import line_relations
    from alerts.lifecycle import exclusions, reconcile, reconcile_incidents, replace_spc_points, replace_training_leads
    from alerts.outbox import enqueue
    from alerts.regressions import find_regressions
    from core.alert_rules import load_rules

    with Warehouse(settings.warehouse_url) as warehouse:
        engine = warehouse.engine
        with engine.connect() as connection:
            kpi_daily_rows = pd.read_sql(select(kpi_daily), connection)
            kpi_daily_rows["kpi_date"] = pd.to_datetime(kpi_daily_rows["kpi_date"]).dt.date
            config = load_rules(settings.alert_rules)
            episodes, points = find_regressions(connection, kpi_daily_rows, config, exclusions(connection))
            relations = line_relations(kpi_daily_rows, config.rules)
        configured = set(channels(config.channel_ids()))
        with engine.begin() as connection:
            now = ledger.utcnow()
            changes = reconcile(connection, episodes, now, pipeline_run_id)
            incidents = reconcile_incidents(connection, config.incidents.gap_days, now, pipeline_run_id)
            replace_spc_points(connection, points, now)
            replace_training_leads(connection, relations, now)
            queued = enqueue(connection, config, settings.report_url, configured, now)
    open_episodes = [e for e in episodes if e.resolved_date is None]
    log_alerts(open_episodes, changes, queued, incidents)
    return open_episodes


def send_notifications(settings: Settings, channels: ChannelLookup) -> Delivery:
    """Deliver the pending notifications on the channels ``channels`` finds; a channel that is down keeps its own
    pending for the next run."""
    from alerts.outbox import deliver
    from core.alert_rules import load_rules

    config = load_rules(settings.alert_rules)
    with Warehouse(settings.warehouse_url) as warehouse:
        engine = warehouse.engine
        delivery = deliver(engine, channels(config.channel_ids()), ledger.utcnow(), channels)
    log.info("notifications: %d sent, %d pending", delivery.sent, delivery.pending)
    for error in delivery.errors.values():
        log.warning("notifications pending: %s", error)
    return delivery


def log_alerts(open_episodes: list[Episode], changes: Changes, queued: int, incidents: IncidentChanges) -> None:
    from alerts.lifecycle import describe

    for episode in open_episodes:
        if episode.alert_id in changes.opened:
            log.warning("ALERT %s", describe(episode)[1])
    log.info(
        "alerts: %d opened, %d updated, %d resolved, %d past episodes recorded; incidents: %d new, %d changed, "
        "%d merged; %d notification(s) queued",
        len(changes.opened),
        len(changes.updated),
        len(changes.resolved),
        len(changes.history),
        len(incidents.opened),
        len(incidents.updated),
        len(incidents.merged),
        queued,
    )
