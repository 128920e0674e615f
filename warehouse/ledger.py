"""The batch ledger and extraction state: watermarks per dataset and the files already taken."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, func, insert, or_, select, text, update

from core.catalog import DATASETS
from core.dialect import dialect_of
from core.landing import Manifest
from core.records import SourceEvent
from warehouse import dq_alerts
from warehouse.history import known_keys
from warehouse.schema import batch_ledger, extraction_event, quarantine, source_file, source_watermark


def utcnow() -> datetime:
    """Wall-clock time for audit columns only (never to decide what data a run covers)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class PendingBatch:
    batch_id: str
    source: str
    dataset: str
    raw_path: str
    raw_checksum: str
    rows_extracted: int
    batch_kind: str
    interval_end: datetime | None


def get_watermark(engine: Engine, dataset: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(select(source_watermark.c.watermark).where(source_watermark.c.dataset == dataset))


def taken_files(engine: Engine, dataset: str) -> dict[str, str]:
    """The checksums of the files taken so far, with the name each was taken under."""
    query = select(source_file.c.checksum, source_file.c.file_name).where(source_file.c.dataset == dataset)
    with engine.connect() as connection:
        return {checksum: name for checksum, name in connection.execute(query)}


def record_landed(engine: Engine, manifest: Manifest, pipeline_run_id: str) -> bool:
    """Enter a landed batch in the ledger and advance the dataset's watermark, in one transaction.

    Returns False when the ledger already holds this batch (the same content landed before).
    """
    now = utcnow()
    with engine.begin() as connection:
        if connection.scalar(select(batch_ledger.c.batch_id).where(batch_ledger.c.batch_id == manifest.batch_id)):
            return False
        connection.execute(
            insert(batch_ledger).values(
                batch_id=manifest.batch_id,
                source=manifest.source,
                dataset=manifest.dataset,
                pipeline_run_id=pipeline_run_id,
                interval_end=manifest.interval_end,
                watermark_from=manifest.watermark_from,
                watermark_to=manifest.watermark_to,
                raw_path=manifest.raw_path,
                raw_checksum=manifest.checksum,
                rows_extracted=manifest.row_count,
                batch_kind=manifest.kind,
                status="landed",
                landed_at=now,
            )
        )
        if manifest.watermark_to is not None:
            _set_watermark(connection, manifest.dataset, manifest.watermark_to, manifest.batch_id, now)
        if manifest.files:
            connection.execute(
                insert(source_file),
                [
                    {
                        "dataset": manifest.dataset,
                        "checksum": f["checksum"],
                        "file_name": f["file_name"],
                        "batch_id": manifest.batch_id,
                        "taken_at": now,
                    }
                    for f in manifest.files
                ],
            )
    return True


REPORTED_ONCE = ("redelivery_skipped", "file_refused", "file_unsupported", "file_missing", "file_unreadable")


def record_events(
    engine: Engine, dataset: str, events: list[SourceEvent], pipeline_run_id: str, batch_id: str | None = None
) -> None:
    """Keep what extraction noticed, for the run summary and for operators."""
    if not events and batch_id is None:
        return
    now = utcnow()
    with engine.begin() as connection:
        # A file that could not be read raises an alert (seen again on every run); one taken in the batch resolves it.
        dq_alerts.record_file_events(connection, dataset, events, batch_id, now)
        # A file that stays in the drop folder is reported once, not on every run.
        reported = set(
            connection.execute(
                select(extraction_event.c.kind, extraction_event.c.subject).where(
                    extraction_event.c.dataset == dataset, extraction_event.c.kind.in_(REPORTED_ONCE)
                )
            ).tuples()
        )
        events = [e for e in events if (e.kind, e.subject) not in reported]
        if not events:
            return
        connection.execute(
            insert(extraction_event),
            [
                {
                    "dataset": dataset,
                    "kind": e.kind,
                    "subject": e.subject,
                    "detail": e.detail,
                    "batch_id": batch_id,
                    "pipeline_run_id": pipeline_run_id,
                    "occurred_at": now,
                }
                for e in events
            ],
        )


def _set_watermark(connection: Connection, dataset: str, watermark: datetime, batch_id: str, now: datetime) -> None:
    values = {"watermark": watermark, "batch_id": batch_id, "updated_at": now}
    changed = connection.execute(
        update(source_watermark).where(source_watermark.c.dataset == dataset).values(**values)
    ).rowcount
    if not changed:
        connection.execute(insert(source_watermark).values(dataset=dataset, **values))


def latest_raw_path(engine: Engine, dataset: str) -> str | None:
    """The landed file of the dataset's most recent batch, if any."""
    query = (
        select(batch_ledger.c.raw_path)
        .where(batch_ledger.c.dataset == dataset)
        .order_by(batch_ledger.c.landed_at.desc(), batch_ledger.c.batch_id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        return connection.scalar(query)


def batches_changed_since(engine: Engine, dataset: str, since: datetime) -> list[str]:
    """Raw paths of the dataset's batches whose changes reach past ``since`` (for the look-back window)."""
    query = select(batch_ledger.c.raw_path).where(
        batch_ledger.c.dataset == dataset, batch_ledger.c.watermark_to > since
    )
    with engine.connect() as connection:
        return list(connection.scalars(query))


class UnknownBatch(KeyError):
    """A batch id the ledger doesn't hold."""


def reopen(engine: Engine, batch_ids: list[str]) -> None:
    """Put processed batches back in the queue (their landed files stay the same); their KPIs rebuild after."""
    with engine.begin() as connection:
        known = set(connection.scalars(select(batch_ledger.c.batch_id).where(batch_ledger.c.batch_id.in_(batch_ids))))
        missing = sorted(set(batch_ids) - known)
        if missing:
            raise UnknownBatch(f"not in the ledger: {', '.join(missing)}")
        connection.execute(
            update(batch_ledger)
            .where(batch_ledger.c.batch_id.in_(batch_ids))
            .values(status="landed", processed_at=None, kpis_built_at=None, claimed_by=None, claimed_at=None)
        )


def open_quarantine(engine: Engine, dataset: str | None = None, batch_id: str | None = None) -> pd.DataFrame:
    """The quarantined rows still open, oldest batch first (of one dataset or batch, if given)."""
    query = select(quarantine).where(quarantine.c.status == "open")
    if dataset:
        query = query.where(quarantine.c.dataset == dataset)
    if batch_id:
        query = query.where(quarantine.c.batch_id == batch_id)
    with engine.connect() as connection:
        return pd.read_sql(
            query.order_by(quarantine.c.quarantined_at, quarantine.c.batch_id, quarantine.c.source_row), connection
        )


def orphans_of(engine: Engine, dimensions: set[str], judged_since: set[str]) -> pd.DataFrame:
    """Open quarantined rows whose only faults were keys missing from ``dimensions`` that the warehouse now has
    (rows of the batches ``judged_since`` the dimensions loaded aside: they were judged against them)."""
    rows = open_quarantine(engine)
    rows = rows[~rows["batch_id"].isin(judged_since) & rows["awaiting_keys"].notna()]
    if rows.empty:
        return rows
    awaiting = [json.loads(keys) for keys in rows["awaiting_keys"]]
    # Only the dimensions the rows wait for are read; ``dimensions`` may hold any dataset.
    referenced = {dimension for keys in awaiting for dimension in keys.values() if dimension in dimensions}
    if not referenced:
        return rows.iloc[0:0]
    with engine.connect() as connection:
        known = {dimension: {str(k) for k in known_keys(connection, dimension)} for dimension in referenced}

    def now_resolvable(keys: dict[str, str], raw_record: str) -> bool:
        if not set(keys.values()) <= referenced:
            return False
        record = json.loads(raw_record)
        return all(str(record.get(column)) in known[dimension] for column, dimension in keys.items())

    return rows[[now_resolvable(k, r) for k, r in zip(awaiting, rows["raw_record"], strict=True)]]


def mark_replayed(engine: Engine, rows: pd.DataFrame, replay_batch: str) -> None:
    """Keep the quarantined originals as history: replayed, and into which batch (that batch's own rows aside)."""
    originals = rows[rows["batch_id"] != replay_batch]
    if originals.empty:
        return
    with engine.begin() as connection:
        for batch, group in originals.groupby("batch_id"):
            connection.execute(
                update(quarantine)
                .where(
                    quarantine.c.batch_id == batch, quarantine.c.source_row.in_([int(r) for r in group["source_row"]])
                )
                .values(status="replayed", replayed_in=replay_batch)
            )


def dismiss_quarantine(engine: Engine, batch_id: str, reason: str) -> int:
    """Close a batch's open quarantined rows without loading them; the reason joins their failed rules."""
    with engine.begin() as connection:
        if batch_status(connection, batch_id) is None:
            raise UnknownBatch(f"not in the ledger: {batch_id}")
        rows = connection.execute(
            select(quarantine.c.source_row, quarantine.c.failed_rules).where(
                quarantine.c.batch_id == batch_id, quarantine.c.status == "open"
            )
        ).all()
        if rows:
            connection.execute(
                update(quarantine)
                .where(quarantine.c.batch_id == batch_id, quarantine.c.source_row == bindparam("row"))
                .values(status="dismissed", failed_rules=bindparam("rules")),
                [
                    {"row": r.source_row, "rules": json.dumps([*json.loads(r.failed_rules), f"dismissed: {reason}"])}
                    for r in rows
                ],
            )
    return len(rows)


def pending_batches(engine: Engine) -> list[PendingBatch]:
    """Landed batches not yet validated, dimensions before facts, oldest first."""
    order = {d.name: i for i, d in enumerate(DATASETS)}
    query = (
        select(
            batch_ledger.c.batch_id,
            batch_ledger.c.source,
            batch_ledger.c.dataset,
            batch_ledger.c.raw_path,
            batch_ledger.c.raw_checksum,
            batch_ledger.c.rows_extracted,
            batch_ledger.c.batch_kind,
            batch_ledger.c.interval_end,
        )
        # ``processing``: held by a load now, or left by one that crashed; claiming tells which (see ``claimed``).
        .where(batch_ledger.c.status.in_(("landed", "processing")))
        .order_by(batch_ledger.c.landed_at, batch_ledger.c.batch_id)
    )
    with engine.connect() as connection:
        rows = [PendingBatch(**row._mapping) for row in connection.execute(query)]
    return sorted(rows, key=lambda b: order.get(b.dataset, len(order)))


def batch(engine: Engine, batch_id: str) -> PendingBatch:
    """One batch of the ledger, as the loads see it."""
    columns = [batch_ledger.c[name] for name in PendingBatch.__dataclass_fields__]
    with engine.connect() as connection:
        row = connection.execute(select(*columns).where(batch_ledger.c.batch_id == batch_id)).first()
    if row is None:
        raise UnknownBatch(f"not in the ledger: {batch_id}")
    return PendingBatch(**row._mapping)


def batch_reason(engine: Engine, batch_id: str) -> str | None:
    """Why the batch was blocked or failed, as the ledger keeps it."""
    with engine.connect() as connection:
        return connection.scalar(select(batch_ledger.c.reason).where(batch_ledger.c.batch_id == batch_id))


def batch_status(connection: Connection, batch_id: str) -> str | None:
    """The batch's status in the ledger, or None when the ledger doesn't hold it."""
    return connection.scalar(select(batch_ledger.c.status).where(batch_ledger.c.batch_id == batch_id))


def waiting_batches(connection: Connection) -> dict[str, int]:
    """How many batches wait, by status: landed (not yet loaded), processing (held or stranded), failed."""
    query = (
        select(batch_ledger.c.status, func.count())
        .where(batch_ledger.c.status.in_(("landed", "processing", "failed")))
        .group_by(batch_ledger.c.status)
    )
    return {status: int(count) for status, count in connection.execute(query)}


def unbuilt_batches(connection: Connection, dataset: str | None = None) -> int:
    """Loaded batches (of ``dataset``, or of any) whose rows the KPI tables have not taken in yet."""
    query = select(func.count()).where(batch_ledger.c.status == "loaded", batch_ledger.c.kpis_built_at.is_(None))
    if dataset is not None:
        query = query.where(batch_ledger.c.dataset == dataset)
    return int(connection.scalar(query) or 0)


def new_claimer() -> str:
    """Who claims batches: this host and process (so a crashed claim can be told from a live one) and a token."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claim_is_dead(claimed_by: str | None) -> bool:
    """A claim of a process on this host that no longer runs (killed, crashed); claims of other hosts can't tell."""
    host, _, rest = (claimed_by or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def claimed(engine: Engine, batch_id: str, claimer: str, stale_after: timedelta) -> Iterator[bool]:
    """Claim a waiting batch for this load, yielding whether it got it: two loads never work on one batch.

    The claim is an atomic update from ``landed`` (or a dead claim) to ``processing``, committed before any work. A
    claim is dead when its process is gone from this host or it is older than ``stale_after``; on PostgreSQL it is
    also held as a session advisory lock for the whole load, so a claimer that dies anywhere (a killed worker on
    another host) frees it at once, and a live one is never taken over.
    """
    dialect = dialect_of(engine)
    lock = engine.connect() if dialect.session_locks else None
    try:
        if lock is not None and not dialect.try_session_lock(lock, f"qualitypulse.batch:{batch_id}"):
            yield False
            return
        now = utcnow()
        with engine.begin() as connection:
            current = connection.execute(
                select(batch_ledger.c.status, batch_ledger.c.claimed_by, batch_ledger.c.claimed_at).where(
                    batch_ledger.c.batch_id == batch_id
                )
            ).first()
            takeable = current is not None and (
                current.status == "landed"
                or (
                    current.status == "processing"
                    and (
                        lock is not None  # the advisory lock was free: its claimer is gone
                        or _claim_is_dead(current.claimed_by)
                        or current.claimed_at is None
                        or current.claimed_at < now - stale_after
                    )
                )
            )
            got = takeable and bool(
                connection.execute(
                    update(batch_ledger)
                    .where(
                        batch_ledger.c.batch_id == batch_id,
                        batch_ledger.c.status == current.status,  # type: ignore[union-attr]
                        or_(
                            batch_ledger.c.claimed_by.is_(None),
                            batch_ledger.c.claimed_by == current.claimed_by,  # type: ignore[union-attr]
                        ),
                    )
                    .values(status="processing", claimed_by=claimer, claimed_at=now)
                ).rowcount
            )
        yield got
    finally:
        if lock is not None:
            try:
                lock.execute(text("select pg_advisory_unlock_all()"))
                lock.commit()
            finally:
                lock.close()


def mark_failed(connection: Connection, batch_id: str, error: str) -> None:
    """The batch could not be validated or loaded: out of the queue until replayed, the error kept."""
    connection.execute(
        update(batch_ledger)
        .where(batch_ledger.c.batch_id == batch_id)
        .values(status="failed", reason=error, processed_at=utcnow(), claimed_by=None, claimed_at=None)
    )


def record_validation_pages(engine: Engine, pages: dict[str, str]) -> None:
    """Note each batch's validation page ({batch_id: path}) in the ledger, where BI tools and the report find it."""
    if not pages:
        return
    with engine.begin() as connection:
        connection.execute(
            update(batch_ledger)
            .where(batch_ledger.c.batch_id == bindparam("batch"))
            .values(data_docs_page=bindparam("page")),
            [{"batch": batch_id, "page": page} for batch_id, page in pages.items()],
        )
