"""File drops (the survey tool): CSV and JSON Lines files that arrive in a landing folder.

A file is taken once it is complete, which the sender says with either
  * a ready marker: an empty ``<file>.ready`` beside it, or
  * a manifest: ``<anything>.manifest.json`` listing ``{"files": [{"name", "sha256", "rows"}]}``, which also lets
    a truncated transfer be told from a complete one.
A file is taken once: its checksum is recorded, so an identical re-delivery (under any name) is skipped and
counted, while a corrected re-delivery (new content) is processed. Nothing in a file is dropped silently: a line
that can't be read becomes a row carrying its raw text and the reason, for validation to quarantine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sources.catalog import Dataset
from sources.extract import (
    PARSE_ERROR,
    RAW_LINE,
    SOURCE_FILE,
    SOURCE_LINE,
    Extraction,
    SourceEvent,
    non_finite_as_text,
)

log = logging.getLogger(__name__)

DATA_SUFFIXES = (".csv", ".jsonl")
READY_SUFFIX = ".ready"
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class _Expected:
    """What a manifest promises about one file."""

    sha256: str | None
    rows: int | None


def extract_file_drops(dataset: Dataset, drop_dir: Path, taken: dict[str, str]) -> Extraction:
    """Every complete data file in ``drop_dir`` not taken before, as string columns with its lineage.

    ``taken`` maps the checksum of each file taken so far to the name it was taken under.
    """
    if not drop_dir.is_dir():
        return Extraction(frame=pd.DataFrame(columns=_columns(dataset)))
    root = drop_dir.resolve()
    promised, events = _manifests(root)
    frames, files = [], []
    for path in sorted(p for p in root.iterdir() if p.suffix in DATA_SUFFIXES):
        name = path.name
        if not path.resolve().is_relative_to(root) or not path.resolve().is_file():
            events.append(SourceEvent("file_refused", name, "the name leads outside the drop folder; not read"))
            continue
        if name not in promised and not (root / f"{name}{READY_SUFFIX}").exists():
            log.info("%s: %s has no ready marker or manifest yet; left for a later run", dataset.name, name)
            continue
        payload = path.read_bytes()
        checksum = hashlib.sha256(payload).hexdigest()
        if checksum in taken:
            if taken[checksum] != name:  # the same file still in the folder is no news
                events.append(SourceEvent("redelivery_skipped", name, f"identical to {taken[checksum]}; skipped"))
            continue
        taken = {**taken, checksum: name}  # the same content twice in one drop counts once
        frame, note = _read(payload, name, dataset, promised.get(name))
        if note:
            events.append(SourceEvent("file_problem", name, note))
        frames.append(frame)
        files.append({"file_name": name, "checksum": checksum})
    for event in events:
        log.warning("%s: %s: %s", dataset.name, event.subject, event.detail)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_columns(dataset))
    extra = [c for c in frame.columns if c not in _columns(dataset)]
    return Extraction(frame=frame.reindex(columns=[*_columns(dataset), *extra]), files=files, events=events)


def _columns(dataset: Dataset) -> list[str]:
    return [*dataset.columns, SOURCE_FILE, SOURCE_LINE, PARSE_ERROR]


def _manifests(root: Path) -> tuple[dict[str, _Expected], list[SourceEvent]]:
    """The files the manifests in the folder promise, by name; a manifest naming a path is refused."""
    promised: dict[str, _Expected] = {}
    events: list[SourceEvent] = []
    for path in sorted(root.glob(f"*{MANIFEST_SUFFIX}")):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["files"]
            for entry in entries:
                name = str(entry["name"])
                if Path(name).name != name or name in ("", ".", ".."):
                    events.append(SourceEvent("file_refused", name, f"{path.name} names a path, not a file; not read"))
                    continue
                promised[name] = _Expected(entry.get("sha256"), entry.get("rows"))
        except (ValueError, KeyError, TypeError) as error:
            events.append(SourceEvent("file_problem", path.name, f"manifest could not be read: {error}"))
    return promised, events


def _read(payload: bytes, name: str, dataset: Dataset, expected: _Expected | None) -> tuple[pd.DataFrame, str | None]:
    """The file's rows (or its lines with the reason they can't be rows) and a note for the run log."""
    if not payload:
        return pd.DataFrame(columns=_columns(dataset)), "empty file (0 bytes): nothing to load"
    if expected and expected.sha256 and hashlib.sha256(payload).hexdigest() != expected.sha256:
        reason = "truncated or altered in transfer: its checksum differs from the manifest's"
        return _unparsed(payload, name, reason, skip_header=name.endswith(".csv")), reason
    frame = _parse_jsonl(payload, name) if name.endswith(".jsonl") else _parse_csv(payload, name, dataset)
    if expected and expected.rows is not None and len(frame) != expected.rows:
        reason = f"the manifest promises {expected.rows} rows, the file holds {len(frame)}"
        return frame.assign(**{PARSE_ERROR: reason}), reason
    if frame.empty:
        return frame, "header only: no rows"
    problems = frame[PARSE_ERROR].dropna()
    return frame, (f"{len(problems)} of {len(frame)} rows unreadable: {problems.iloc[0]}" if len(problems) else None)


def _parse_csv(payload: bytes, name: str, dataset: Dataset) -> pd.DataFrame:
    try:
        text = payload.decode("utf-8")
        header, *records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        missing = [c for c in dataset.required if c not in header]
        if missing:
            return _unparsed(payload, name, f"file lacks required column(s): {', '.join(missing)}")
        ragged = next((i for i, r in enumerate(records, start=2) if len(r) != len(header)), None)
        if ragged is not None:
            return _unparsed(payload, name, f"line {ragged} has a different number of fields than the header")
    except (UnicodeDecodeError, csv.Error, ValueError) as error:
        return _unparsed(payload, name, f"file could not be parsed: {error}")
    frame = pd.DataFrame(records, columns=header, dtype="str").replace("", None)
    return frame.assign(**{SOURCE_FILE: name, SOURCE_LINE: range(2, len(frame) + 2), PARSE_ERROR: None})


def _parse_jsonl(payload: bytes, name: str) -> pd.DataFrame:
    """One record per line; a line that is not a JSON object is kept raw with the reason (the others load)."""
    rows: list[dict[str, object]] = []
    for number, raw in enumerate(payload.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            rows.append({**non_finite_as_text(record), SOURCE_LINE: number, PARSE_ERROR: None})
        except (UnicodeDecodeError, ValueError) as error:
            text = raw.decode("utf-8", errors="replace")
            rows.append({RAW_LINE: text, SOURCE_LINE: number, PARSE_ERROR: f"line {number} is not valid JSON: {error}"})
    frame = pd.DataFrame(rows).assign(**{SOURCE_FILE: name})
    # Values become text, as from a CSV: conforming types them and names each value that doesn't fit.
    for column in frame.columns.difference([SOURCE_LINE, PARSE_ERROR, SOURCE_FILE]):
        frame[column] = frame[column].map(lambda value: None if value is None or value != value else str(value))
    return frame


def _unparsed(payload: bytes, name: str, reason: str, skip_header: bool = True) -> pd.DataFrame:
    """One row per line of a file that could not be read as a table; the raw line is kept."""
    lines = payload.decode("utf-8", errors="replace").splitlines()[1 if skip_header else 0 :]
    first = 2 if skip_header else 1
    return pd.DataFrame(
        {RAW_LINE: lines, SOURCE_FILE: name, SOURCE_LINE: range(first, len(lines) + first), PARSE_ERROR: reason}
    )
