"""Incremental extraction from each source system into DataFrames, ready for the landing zone.

Each extractor takes everything that is new since the dataset's watermark, up to the end of the run's data
interval: an event that was lost only delays data until the next run, it never loses it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import MetaData, Table, select

from sources.catalog import Dataset
from warehouse.db import engine_for

log = logging.getLogger(__name__)

# Columns the extractors add for lineage; they are never business columns.
SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
PARSE_ERROR = "_parse_error"


@dataclass
class Extraction:
    frame: pd.DataFrame
    watermark_to: datetime | None = None
    files: list[dict[str, str]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return self.frame.empty and not self.files


def extract_sql(dataset: Dataset, url: str, watermark: datetime | None, upper: datetime) -> Extraction:
    """Rows of the source table whose ``updated_at`` lies in (watermark, upper]."""
    wm_col = dataset.watermark_column or "updated_at"
    engine = engine_for(url)
    try:
        # Reflected, so bounds are bound with the column's own type (SQLite compares datetimes as text).
        source_table = Table(dataset.name, MetaData(), autoload_with=engine)
        present = [source_table.c[c] for c in dataset.columns if c in source_table.c]
        query = select(*present).where(source_table.c[wm_col] <= upper)
        if watermark is not None:
            query = query.where(source_table.c[wm_col] > watermark)
        with engine.connect() as connection:
            frame = pd.read_sql(query.order_by(source_table.c[wm_col]), connection)
    finally:
        engine.dispose()
    frame[wm_col] = pd.to_datetime(frame[wm_col])
    new_watermark = frame[wm_col].max().to_pydatetime() if not frame.empty else None
    return Extraction(frame=frame, watermark_to=new_watermark)


def extract_file_drops(dataset: Dataset, drop_dir: Path, taken_checksums: set[str]) -> Extraction:
    """Every CSV file in the drop folder not taken before (by checksum), as strings, with its lineage.

    A file that cannot be parsed, or lacks a required column, still lands: each of its lines becomes a row
    that carries the reason in ``_parse_error``, so validation quarantines it and nothing is dropped.
    """
    frames, files = [], []
    for path in sorted(drop_dir.glob("*.csv")):
        payload = path.read_bytes()
        checksum = hashlib.sha256(payload).hexdigest()
        if checksum in taken_checksums:
            continue  # an identical re-delivery
        frames.append(_parse_csv(payload, path.name, dataset))
        files.append({"file_name": path.name, "checksum": checksum})
    columns = [*dataset.columns, SOURCE_FILE, SOURCE_LINE, PARSE_ERROR]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return Extraction(frame=frame.reindex(columns=columns), files=files)


def _parse_csv(payload: bytes, file_name: str, dataset: Dataset) -> pd.DataFrame:
    try:
        text = payload.decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header, *records = list(reader)
        missing = [c for c in dataset.required if c not in header]
        if missing:
            return _unparsed(payload, file_name, f"file lacks required column(s): {', '.join(missing)}")
        ragged = next((i for i, r in enumerate(records, start=2) if len(r) != len(header)), None)
        if ragged is not None:
            return _unparsed(payload, file_name, f"line {ragged} has a different number of fields than the header")
    except (UnicodeDecodeError, csv.Error, ValueError) as error:
        return _unparsed(payload, file_name, f"file could not be parsed: {error}")
    frame = pd.DataFrame(records, columns=header, dtype="str").replace("", None)
    frame[SOURCE_FILE] = file_name
    frame[SOURCE_LINE] = range(2, len(frame) + 2)
    frame[PARSE_ERROR] = None
    return frame


def _unparsed(payload: bytes, file_name: str, reason: str) -> pd.DataFrame:
    """One row per data line of a file that could not be read as a table; the raw line is kept."""
    lines = payload.decode("utf-8", errors="replace").splitlines()[1:]
    return pd.DataFrame(
        {"_raw_line": lines, SOURCE_FILE: file_name, SOURCE_LINE: range(2, len(lines) + 2), PARSE_ERROR: reason}
    )


def extract_json_export(dataset: Dataset, path: Path, watermark: datetime | None, upper: datetime) -> Extraction:
    """Records of a JSON export whose ``updated_at`` lies in (watermark, upper]; none while the file is absent."""
    if not path.exists():
        log.warning("%s: export %s has not arrived; nothing to extract", dataset.name, path)
        return Extraction(frame=pd.DataFrame(columns=list(dataset.columns)))
    payload = path.read_bytes()
    try:
        document = json.loads(payload.decode("utf-8"))
        records = document["records"] if isinstance(document, dict) else document
        frame = pd.DataFrame.from_records(records).reindex(columns=list(dataset.columns))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        # Land the export's lines with the reason; the watermark stays where it was.
        file = {"file_name": path.name, "checksum": hashlib.sha256(payload).hexdigest()}
        return Extraction(
            frame=_unparsed(b"\n" + payload, path.name, f"export could not be parsed: {error}"), files=[file]
        )
    changed_at = pd.to_datetime(frame["updated_at"], errors="coerce", format="ISO8601")
    # Records without a usable change time can't be placed against the watermark: always take them, so
    # validation quarantines them rather than the extraction dropping them.
    in_window = changed_at.isna() | (changed_at.le(upper) & (changed_at.gt(watermark) if watermark else True))
    frame = frame[in_window].reset_index(drop=True)
    new_watermark = changed_at[in_window].max()
    return Extraction(frame=frame, watermark_to=None if pd.isna(new_watermark) else new_watermark.to_pydatetime())
