"""Data-quality alerts: validation warnings, blocked batches and delivered files that could not be read, with a
lifecycle (open, then resolved).

A warning rule that keeps failing batch after batch is one alert whose count and last batch move on; the next
batch of the dataset that passes the rule resolves it. A blocked batch is one alert, resolved when the batch
loads or its KPI hold is released. Notification of these alerts goes through the alerting path (``alerts/``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

if TYPE_CHECKING:
    from core.records import BatchVerdict
from core import records
from core.records import SourceEvent
from warehouse.schema import data_quality_alert, source_file

log = logging.getLogger(__name__)

WARNING, BLOCKED, FAILED, FILE = "warning", "blocked_batch", "failed_batch", "file_problem"

# Which file events are alerts, and how bad: nothing of the file could be used, or only part of it was held back.
FILE_PROBLEM_SEVERITY = {
    records.FILE_REFUSED: "critical",
    records.FILE_UNSUPPORTED: "critical",
    records.FILE_UNREADABLE: "critical",
    records.FILE_UNPARSEABLE: "critical",
    records.MANIFEST_MISMATCH: "critical",
    records.FILE_MISSING: "warning",
    records.FILE_TRUNCATED: "warning",
}


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def record_verdict(connection: Connection, verdict: BatchVerdict, now: datetime) -> None:
    """Open, update or resolve the dataset's data-quality alerts after validating one batch."""
    dataset = verdict.dataset.name
    for result in verdict.results:
        if result.severity != "warning" or not result.judged:
            continue
        if result.success:
            _resolve(connection, WARNING, dataset, result.rule, now)
            continue
        detail = f"{result.unexpected_count} rows" if result.unexpected_count else f"observed {result.observed_value}"
        message = f"{dataset}: warning '{result.rule}' failed in batch {verdict.batch_id} ({detail}); rows loaded"
        _open_or_update(
            connection, WARNING, dataset, result.rule, "warning", verdict.batch_id, message, result.observed_value, now
        )
    if verdict.blocked_reason:
        message = (
            f"{dataset}: batch {verdict.batch_id} blocked, its KPIs withheld: {verdict.blocked_reason}. "
            "Fix the source or the rule, then `qp replay` the batch or `qp quarantine replay --batch` its rows"
        )
        _open_or_update(
            connection,
            BLOCKED,
            dataset,
            verdict.batch_id,
            "critical",
            verdict.batch_id,
            message,
            None,
            now,
            alert_id=_fingerprint(BLOCKED, verdict.batch_id),
        )
    else:
        resolve_blocked_batch(connection, verdict.batch_id, now)
    resolve_failed_batch(connection, verdict.batch_id, now)


def record_failed_batch(connection: Connection, dataset: str, batch_id: str, error: str, now: datetime) -> None:
    """A batch whose validation or load raised: one critical alert, resolved when the batch loads or is dismissed."""
    message = (
        f"{dataset}: batch {batch_id} failed to validate or load: {error}. The other batches went on; "
        f"after a fix, `qp replay {batch_id}` (or `qp quarantine dismiss --batch {batch_id} --reason ...`)"
    )
    _open_or_update(
        connection,
        FAILED,
        dataset,
        batch_id,
        "critical",
        batch_id,
        message,
        None,
        now,
        alert_id=_fingerprint(FAILED, batch_id),
    )


def resolve_failed_batch(connection: Connection, batch_id: str, now: datetime) -> None:
    connection.execute(
        update(data_quality_alert)
        .where(data_quality_alert.c.alert_id == _fingerprint(FAILED, batch_id), data_quality_alert.c.status == "open")
        .values(status="resolved", resolved_at=now)
    )


def resolve_blocked_batch(connection: Connection, batch_id: str, now: datetime) -> None:
    connection.execute(
        update(data_quality_alert)
        .where(data_quality_alert.c.alert_id == _fingerprint(BLOCKED, batch_id), data_quality_alert.c.status == "open")
        .values(status="resolved", resolved_at=now)
    )


def record_file_events(
    connection: Connection, dataset: str, events: list[SourceEvent], batch_id: str | None, now: datetime
) -> None:
    """One alert per delivered file that could not be read (or only in part), keyed by dataset and file name.

    The alert is seen again on every run that still reports the file; it is resolved when a file of that name is
    taken in ``batch_id`` without a problem (a fixed re-delivery, or a missing file that arrived).
    """
    if batch_id is not None:
        taken = connection.scalars(
            select(source_file.c.file_name).where(source_file.c.dataset == dataset, source_file.c.batch_id == batch_id)
        ).all()
        for name in taken:
            connection.execute(
                update(data_quality_alert)
                .where(data_quality_alert.c.alert_id == _fingerprint(FILE, dataset, name))
                .where(data_quality_alert.c.status == "open")
                .values(status="resolved", resolved_at=now)
            )
    for event in events:
        severity = FILE_PROBLEM_SEVERITY.get(event.kind)
        if severity is not None:
            _open_file_alert(connection, dataset, event, severity, batch_id or "", now)


def _open_file_alert(
    connection: Connection, dataset: str, event: SourceEvent, severity: str, batch_id: str, now: datetime
) -> None:
    """Open the file's alert, or see it again; one that was resolved comes back as a new occurrence (news)."""
    table = data_quality_alert
    alert_id = _fingerprint(FILE, dataset, event.subject)
    message = f"{dataset}: file {event.subject}: {event.detail}"
    current = {
        "kind": FILE,
        "severity": severity,
        "last_batch_id": batch_id,
        "observed_value": json.dumps({"problem": event.kind}),
        "message": message,
        "status": "open",
        "last_seen_at": now,
        "resolved_at": None,
    }
    status = connection.scalar(select(table.c.status).where(table.c.alert_id == alert_id))
    if status == "open":
        connection.execute(
            update(table).where(table.c.alert_id == alert_id).values(occurrences=table.c.occurrences + 1, **current)
        )
        return
    fresh = {"first_batch_id": batch_id, "occurrences": 1, "first_seen_at": now, **current}
    if status is None:
        connection.execute(insert(table).values(alert_id=alert_id, dataset=dataset, rule=event.subject[:200], **fresh))
    else:
        connection.execute(update(table).where(table.c.alert_id == alert_id).values(**fresh))
    log.warning("data-quality alert: %s", message)


def _open_or_update(
    connection: Connection,
    kind: str,
    dataset: str,
    rule: str,
    severity: str,
    batch_id: str,
    message: str,
    observed: str | None,
    now: datetime,
    alert_id: str | None = None,
) -> None:
    table = data_quality_alert
    query = select(table.c.alert_id, table.c.status).where(
        table.c.kind == kind, table.c.dataset == dataset, table.c.rule == rule[:200]
    )
    if alert_id is not None:
        query = query.where(table.c.alert_id == alert_id)
    else:
        query = query.where(table.c.status == "open")
    existing = connection.execute(query).first()
    if existing is not None:
        connection.execute(
            update(table)
            .where(table.c.alert_id == existing.alert_id)
            .values(
                last_batch_id=batch_id,
                occurrences=table.c.occurrences + 1,
                observed_value=observed,
                message=message,
                status="open",
                last_seen_at=now,
                resolved_at=None,
            )
        )
        return
    connection.execute(
        insert(table).values(
            alert_id=alert_id or _fingerprint(kind, dataset, rule, batch_id),
            kind=kind,
            dataset=dataset,
            rule=rule[:200],
            severity=severity,
            first_batch_id=batch_id,
            last_batch_id=batch_id,
            occurrences=1,
            observed_value=observed,
            message=message,
            status="open",
            first_seen_at=now,
            last_seen_at=now,
        )
    )
    log.warning("data-quality alert: %s", message)


def _resolve(connection: Connection, kind: str, dataset: str, rule: str, now: datetime) -> None:
    table = data_quality_alert
    connection.execute(
        update(table)
        .where(table.c.kind == kind, table.c.dataset == dataset, table.c.rule == rule[:200], table.c.status == "open")
        .values(status="resolved", resolved_at=now)
    )


SILENCE = "freshness"  # a source or dataset that delivered nothing past its deadline (warehouse/freshness.py)


def record_silence(
    connection: Connection, subject: str, last_batch_id: str, message: str, observed: str, now: datetime
) -> None:
    """Open (or see again) the late alert of a source or dataset, one per silence: keyed by its last delivery.

    Seeing it again on later checks updates it without counting occurrences (each ingest task checks); a silence
    after new data is a new alert, so it is news again.
    """
    table = data_quality_alert
    alert_id = _fingerprint(SILENCE, subject, last_batch_id)
    status = connection.scalar(select(table.c.status).where(table.c.alert_id == alert_id))
    current = {"observed_value": observed, "message": message, "status": "open", "last_seen_at": now}
    if status == "open":
        connection.execute(update(table).where(table.c.alert_id == alert_id).values(**current))
        return
    fresh = {"first_seen_at": now, "resolved_at": None, "occurrences": 1, **current}
    if status is None:
        connection.execute(
            insert(table).values(
                alert_id=alert_id,
                kind=SILENCE,
                dataset=subject,
                rule="freshness deadline",
                severity="warning",
                first_batch_id=last_batch_id,
                last_batch_id=last_batch_id,
                **fresh,
            )
        )
    else:
        connection.execute(update(table).where(table.c.alert_id == alert_id).values(**fresh))
    log.warning("data-quality alert: %s", message)


def resolve_silence(connection: Connection, subject: str, now: datetime) -> None:
    """The source or dataset delivered again (or is no longer watched): its late alert is resolved."""
    table = data_quality_alert
    connection.execute(
        update(table)
        .where(table.c.kind == SILENCE, table.c.dataset == subject, table.c.status == "open")
        .values(status="resolved", resolved_at=now)
    )
