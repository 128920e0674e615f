"""The batch ledger and extraction state: watermarks per dataset and the files already taken."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from sources.catalog import DATASETS
from sources.landing import Manifest
from warehouse.schema import batch_ledger, source_file, source_watermark


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


def get_watermark(engine: Engine, dataset: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(select(source_watermark.c.watermark).where(source_watermark.c.dataset == dataset))


def taken_file_checksums(engine: Engine, dataset: str) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(source_file.c.checksum).where(source_file.c.dataset == dataset)))


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


def _set_watermark(connection: Connection, dataset: str, watermark: datetime, batch_id: str, now: datetime) -> None:
    values = {"watermark": watermark, "batch_id": batch_id, "updated_at": now}
    changed = connection.execute(
        update(source_watermark).where(source_watermark.c.dataset == dataset).values(**values)
    ).rowcount
    if not changed:
        connection.execute(insert(source_watermark).values(dataset=dataset, **values))


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
        )
        .where(batch_ledger.c.status == "landed")
        .order_by(batch_ledger.c.landed_at, batch_ledger.c.batch_id)
    )
    with engine.connect() as connection:
        rows = [PendingBatch(**row._mapping) for row in connection.execute(query)]
    return sorted(rows, key=lambda b: order.get(b.dataset, len(order)))
