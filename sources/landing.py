"""The raw landing zone: every extracted batch as an immutable Parquet file beside its JSON manifest.

Batches are content-addressed (the batch id ends in the file's checksum), so re-extracting the same rows
lands the same batch again instead of a second copy. The landing zone is the replay point: a batch can be
re-validated and reloaded from here without touching its source.
"""

from __future__ import annotations

import hashlib
import json
import os
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
) -> Manifest:
    """Write ``frame`` as a batch in the landing zone and return its manifest (idempotent)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    payload = sink.getvalue().to_pybytes()
    checksum = hashlib.sha256(payload).hexdigest()
    stamp = (watermark_to or interval_end or datetime(1970, 1, 1)).strftime("%Y%m%dT%H%M%S")
    batch_id = f"{dataset}-{stamp}-{checksum[:12]}"
    partition = (interval_end or watermark_to or datetime(1970, 1, 1)).date().isoformat()
    folder = landing_dir / source / dataset / f"date={partition}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{batch_id}.parquet"
    manifest = Manifest(
        batch_id=batch_id,
        source=source,
        dataset=dataset,
        interval_end=interval_end,
        watermark_from=watermark_from,
        watermark_to=watermark_to,
        row_count=len(frame),
        checksum=checksum,
        schema={f.name: str(f.type) for f in table.schema},
        raw_path=str(path),
        files=files or [],
    )
    if not path.exists():
        _write_atomically(path, payload)
    _write_atomically(path.with_suffix(".manifest.json"), manifest.to_json().encode())
    return manifest


def read_batch(raw_path: str, checksum: str) -> pd.DataFrame:
    """Read a landed batch, refusing it if its bytes differ from the checksum recorded at landing."""
    payload = Path(raw_path).read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != checksum:
        raise ChecksumMismatch(f"{raw_path}: checksum {actual[:12]} differs from the ledger's {checksum[:12]}")
    return pq.read_table(pa.BufferReader(payload)).to_pandas()


def _write_atomically(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")
