"""The raw landing zone: every extracted batch as an immutable Parquet file beside its JSON manifest.

Batches are content-addressed (the batch id ends in the file's checksum), so re-extracting the same rows
lands the same batch again instead of a second copy. The landing zone is the replay point: a batch can be
re-validated and reloaded from here without touching its source.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Manifest:
    batch_id: str
    source: str
    dataset: str
    interval_end: datetime | None
    watermark_from: datetime | None
    watermark_to: datetime | None
    row_count: int
    checksum: str  # sha256 of the Parquet file
    schema: dict[str, str]
    raw_path: str
    files: list[dict[str, str]] = field(default_factory=list)  # for file drops: name and checksum per file
    kind: str = "incremental"  # incremental, backfill or replay (see batch_ledger.batch_kind)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_iso, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        for key in ("interval_end", "watermark_from", "watermark_to"):
            data[key] = datetime.fromisoformat(data[key]) if data[key] else None
        return cls(**data)


class ChecksumMismatch(RuntimeError):
    """A landed batch no longer matches its manifest: the landing zone was changed after the fact."""


class BatchWriter:
    """Write a batch to the landing zone chunk by chunk (bounded memory), then name it by its checksum.

    The first chunk (or ``schema``) fixes the file's schema; every later chunk is cast to it. ``finish``
    returns the manifest; a batch identical to one landed before (same bytes) is the same batch.
    """

    def __init__(
        self,
        landing_dir: Path,
        source: str,
        dataset: str,
        interval_end: datetime | None,
        schema: pa.Schema | None = None,
    ) -> None:
        self.source, self.dataset, self.interval_end = source, dataset, interval_end
        partition = (interval_end or datetime(1970, 1, 1)).date().isoformat()
        self.folder = landing_dir / source / dataset / f"date={partition}"
        self.schema = schema
        self.rows = 0
        self._tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        if self._writer is None:
            self.schema = table.schema.remove_metadata()
            self.folder.mkdir(parents=True, exist_ok=True)
            self._tmp = self.folder / f".incoming-{uuid.uuid4().hex}.parquet"
            self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        self._writer.write_table(table.cast(self.schema) if table.schema != self.schema else table)
        self.rows += len(frame)

    def finish(
        self,
        *,
        watermark_from: datetime | None,
        watermark_to: datetime | None,
        files: list[dict[str, str]] | None = None,
        kind: str = "incremental",
    ) -> Manifest:
        if self._writer is None or self._tmp is None:
            raise ValueError("a batch needs at least one chunk, even an empty one")
        self._writer.close()
        checksum = _sha256(self._tmp)
        stamp = (watermark_to or self.interval_end or datetime(1970, 1, 1)).strftime("%Y%m%dT%H%M%S")
        batch_id = f"{self.dataset}-{stamp}-{checksum[:12]}"
        path = self.folder / f"{batch_id}.parquet"
        if path.exists():
            self._tmp.unlink()  # the same batch landed before: keep the first copy, immutable
        else:
            os.replace(self._tmp, path)
        manifest = Manifest(
            batch_id=batch_id,
            source=self.source,
            dataset=self.dataset,
            interval_end=self.interval_end,
            watermark_from=watermark_from,
            watermark_to=watermark_to,
            row_count=self.rows,
            checksum=checksum,
            schema={f.name: str(f.type) for f in self.schema or []},
            raw_path=str(path),
            files=files or [],
            kind=kind,
        )
        _write_atomically(path.with_suffix(".manifest.json"), manifest.to_json().encode())
        return manifest

    def abort(self) -> None:
        """Discard what was written (the extraction failed): nothing lands."""
        if self._writer is not None:
            self._writer.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


def land(
    frame: pd.DataFrame,
    *,
    source: str,
    dataset: str,
    landing_dir: Path,
    interval_end: datetime | None,
    watermark_from: datetime | None,
    watermark_to: datetime | None,
    files: list[dict[str, str]] | None = None,
    kind: str = "incremental",
) -> Manifest:
    """Write ``frame`` as a batch in the landing zone and return its manifest (idempotent)."""
    writer = BatchWriter(landing_dir, source, dataset, interval_end)
    writer.write(frame)
    return writer.finish(watermark_from=watermark_from, watermark_to=watermark_to, files=files, kind=kind)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_batch(raw_path: str, checksum: str) -> pd.DataFrame:
    """Read a landed batch, refusing it if its bytes differ from the checksum recorded at landing."""
    payload = Path(raw_path).read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != checksum:
        raise ChecksumMismatch(f"{raw_path}: checksum {actual[:12]} differs from the ledger's {checksum[:12]}")
    return pq.read_table(pa.BufferReader(payload)).to_pandas()


def column_names(raw_path: str) -> list[str]:
    """The columns of a landed batch, from its Parquet footer."""
    return list(pq.read_schema(raw_path).names)


def read_columns(raw_path: str, columns: list[str], newer_than: tuple[str, datetime] | None = None) -> pd.DataFrame:
    """Some columns of a landed batch (those it has), without reading the rest.

    ``newer_than=(column, moment)`` keeps the rows whose timestamp column lies after ``moment``, filtered while
    reading, so a look at the tail of a large batch doesn't load the whole of it.
    """
    schema = pq.read_schema(raw_path)
    present = [c for c in columns if c in schema.names]
    if newer_than is None:
        return pq.read_table(raw_path, columns=present).to_pandas()
    column, moment = newer_than
    if column in schema.names and pa.types.is_timestamp(schema.field(column).type):
        return pq.read_table(raw_path, columns=present, filters=[(column, ">", moment)]).to_pandas()
    frame = pq.read_table(raw_path, columns=present).to_pandas()  # change times landed as text
    return frame[pd.to_datetime(frame[column], errors="coerce") > moment] if column in frame else frame


def _write_atomically(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")
