"""File drops (the survey tool): CSV, JSON Lines and JSON files that arrive in a landing folder.

A file is taken once it is complete, which the sender says with either
  * a ready marker: an empty ``<file>.ready`` beside it, or
  * a manifest: ``<anything>.manifest.json`` listing ``{"files": [{"name", "sha256", "rows"}]}``, which also lets
    a truncated transfer be told from a complete one.
Every file so marked is taken or reported: one that can't be taken (refused, missing, in a format not read, not
readable at all) becomes an event, and a data-quality alert when the event is recorded. A file is taken once: its
checksum is recorded, so an identical re-delivery (under any name) is skipped and counted, while a corrected
re-delivery (new content) is processed. Nothing in a taken file is dropped silently: a record that can't be read
becomes a row carrying its raw text and the reason, for validation to quarantine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.catalog import Dataset
from core.records import (
    FILE_MISSING,
    FILE_NOTE,
    FILE_REFUSED,
    FILE_TRUNCATED,
    FILE_UNPARSEABLE,
    FILE_UNREADABLE,
    FILE_UNSUPPORTED,
    MANIFEST_MISMATCH,
    PARSE_ERROR,
    RAW_LINE,
    REDELIVERY_SKIPPED,
    SOURCE_FILE,
    SOURCE_LINE,
    SourceEvent,
)
from sources.extract import Extraction, non_finite_as_text

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json"}  # by suffix, matched case-insensitively
READY_SUFFIX = ".ready"
MANIFEST_SUFFIX = ".manifest.json"

TRUNCATED = "possibly truncated: the file's last line has no line ending"
NOT_TAKEN_ADVICE = "save it as UTF-8 or UTF-16 with a BOM"


@dataclass(frozen=True)
class _Expected:
    """What a manifest promises about one file."""

    manifest: str
    sha256: str | None
    rows: int | None


@dataclass
class _Read:
    """A file's rows (or its records kept raw with the reason they can't be rows) and what to report about it."""

    frame: pd.DataFrame
    events: list[SourceEvent]


class _Undecodable(ValueError):
    """The bytes are not text in an encoding the drop folder reads; the message says which byte and where."""


def extract_file_drops(dataset: Dataset, drop_dir: Path, taken: dict[str, str]) -> Extraction:
    """Every complete data file in ``drop_dir`` not taken before, as string columns with its lineage.

    ``taken`` maps the checksum of each file taken so far to the name it was taken under.
    """
    if not drop_dir.is_dir():
        return Extraction(frame=pd.DataFrame(columns=_columns(dataset)))
    root = drop_dir.resolve()
    present = {path.name for path in root.iterdir()}
    promised, events = _manifests(root)
    marked = {name[: -len(READY_SUFFIX)] for name in present if name.lower().endswith(READY_SUFFIX)}
    taken_names = set(taken.values())
    frames, files = [], []
    for name in sorted((set(promised) | marked) - {""}):
        if name.lower().endswith((READY_SUFFIX, MANIFEST_SUFFIX)):
            continue  # a marker of a marker or of a manifest says nothing about data
        path = root / name
        if name not in present:
            if name not in taken_names:  # a file taken before and archived since is no news
                where = promised[name].manifest if name in promised else f"{name}{READY_SUFFIX}"
                events.append(SourceEvent(FILE_MISSING, name, f"{where} announces it, but it is not in the folder"))
            continue
        if not path.resolve().is_relative_to(root):
            events.append(SourceEvent(FILE_REFUSED, name, "the name leads outside the drop folder; not read"))
            continue
        file_format = FORMATS.get(path.suffix.lower())
        if file_format is None:
            shown = f"'{path.suffix}'" if path.suffix else "no suffix"
            detail = f"a file with {shown} is not read; deliver it as CSV (.csv), JSON Lines (.jsonl) or JSON (.json)"
            events.append(SourceEvent(FILE_UNSUPPORTED, name, detail))
            continue
        if not path.is_file():
            events.append(SourceEvent(FILE_UNREADABLE, name, "not a regular file (a folder or a device); not read"))
            continue
        try:
            payload = path.read_bytes()
        except OSError as error:
            events.append(SourceEvent(FILE_UNREADABLE, name, f"could not be read: {error.strerror or error}"))
            continue
        checksum = hashlib.sha256(payload).hexdigest()
        if checksum in taken:
            if taken[checksum] != name:  # the same file still in the folder is no news
                events.append(SourceEvent(REDELIVERY_SKIPPED, name, f"identical to {taken[checksum]}; skipped"))
            continue
        taken = {**taken, checksum: name}  # the same content twice in one drop counts once
        read = _read(payload, name, file_format, dataset, promised.get(name))
        events += read.events
        frames.append(read.frame)
        files.append({"file_name": name, "checksum": checksum})
    for event in events:
        log.warning("%s: %s %s: %s", dataset.name, event.kind, event.subject, event.detail)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_columns(dataset))
    extra = [c for c in frame.columns if c not in _columns(dataset)]
    return Extraction(frame=frame.reindex(columns=[*_columns(dataset), *extra]), files=files, events=events)


def _columns(dataset: Dataset) -> list[str]:
    return [*dataset.columns, SOURCE_FILE, SOURCE_LINE, PARSE_ERROR]


def _manifests(root: Path) -> tuple[dict[str, _Expected], list[SourceEvent]]:
    """The files the manifests in the folder promise, by name; a manifest naming a path is refused."""
    promised: dict[str, _Expected] = {}
    events: list[SourceEvent] = []
    for path in sorted(p for p in root.iterdir() if p.name.lower().endswith(MANIFEST_SUFFIX)):
        listed: dict[str, _Expected] = {}
        try:
            entries = json.loads(path.read_bytes().decode("utf-8-sig"))["files"]
            for entry in entries:
                name = str(entry["name"])
                if Path(name).name != name or name in ("", ".", ".."):
                    events.append(SourceEvent(FILE_REFUSED, name, f"{path.name} names a path, not a file; not read"))
                    continue
                rows = entry.get("rows")
                if rows is not None and (isinstance(rows, bool) or int(rows) != float(rows) or int(rows) < 0):
                    raise ValueError(f"rows of {name} is {rows!r}, not a count")
                sha256 = entry.get("sha256")
                listed[name] = _Expected(
                    path.name, str(sha256).lower() if sha256 else None, None if rows is None else int(rows)
                )
        except (OSError, ValueError, KeyError, TypeError) as error:
            detail = f"manifest could not be read ({error}); the files it lists wait until it is fixed"
            events.append(SourceEvent(FILE_UNREADABLE, path.name, detail))
            continue
        promised.update(listed)  # all of a manifest or none of it
    return promised, events


def _read(payload: bytes, name: str, file_format: str, dataset: Dataset, expected: _Expected | None) -> _Read:
    """The file's rows, the rows it holds but can't give (kept raw with the reason), and what to report."""
    confirmed = bool(expected and expected.sha256 and hashlib.sha256(payload).hexdigest() == expected.sha256)
    text = ""
    if not payload:
        read = _Read(_frame([], name), [SourceEvent(FILE_NOTE, name, "empty file (0 bytes): nothing to load")])
    else:
        try:
            text = _decode(payload)
        except _Undecodable as error:
            reason = f"file could not be parsed: {error}"
            text = _decode_lossless(payload)
            rows = _raw_records(text, name, file_format, reason)
            read = _Read(rows, [SourceEvent(FILE_UNPARSEABLE, name, reason)])
        else:
            parse = {"csv": _parse_csv, "jsonl": _parse_jsonl, "json": _parse_json}[file_format]
            read = parse(text, name, dataset)
    frame, events = read.frame, read.events
    if expected:
        mismatch = []
        if expected.sha256 and not confirmed:
            mismatch.append("truncated or altered in transfer: its checksum differs from the manifest's")
        if expected.rows is not None and expected.rows != len(frame):
            mismatch.append(f"the manifest promises {expected.rows} rows, the file holds {len(frame)}")
        if mismatch:  # never loaded as if complete: every row is held back
            reason = "; ".join(mismatch)
            detail = f"{reason} ({expected.manifest}): the whole file is quarantined ({len(frame)} rows)"
            events = [*events, SourceEvent(MANIFEST_MISMATCH, name, detail)]
            return _Read(_with_reason(frame, frame.index, reason), events)
    if not payload:
        return _Read(frame, events)
    unparseable = any(e.kind == FILE_UNPARSEABLE for e in events)
    ends_a_line = text.rstrip(" \t").endswith(("\n", "\r"))
    if file_format != "json" and not (confirmed or unparseable or ends_a_line) and not frame.empty:
        frame = _with_reason(frame, frame.index[-1:], TRUNCATED)
        line = int(frame[SOURCE_LINE].iloc[-1])
        detail = f"{TRUNCATED}; its last row (line {line}) is quarantined, the others load"
        events.append(SourceEvent(FILE_TRUNCATED, name, detail))
    if frame.empty and not events:
        events.append(SourceEvent(FILE_NOTE, name, "header only: no rows" if file_format == "csv" else "no rows"))
    elif not any(e.kind in (FILE_UNPARSEABLE, FILE_TRUNCATED) for e in events):  # those say it already
        problems = frame[PARSE_ERROR].dropna() if PARSE_ERROR in frame.columns else pd.Series(dtype=object)
        if len(problems):
            detail = f"{len(problems)} of {len(frame)} rows unreadable: {problems.iloc[0]}"
            events.append(SourceEvent(FILE_NOTE, name, detail))
    return _Read(frame, events)


def _decode(payload: bytes) -> str:
    """The file's text: UTF-8, with or without a BOM (Excel's "CSV UTF-8"), or UTF-16 with a BOM."""
    if payload.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise _Undecodable(f"UTF-32 is not read: {NOT_TAKEN_ADVICE}")
    if payload.startswith((b"\xff\xfe", b"\xfe\xff")):
        order = "LE" if payload.startswith(b"\xff\xfe") else "BE"
        try:
            return payload.decode("utf-16")
        except UnicodeDecodeError as error:
            problem = "an odd number of bytes, cut off in transfer?" if len(payload) % 2 else error.reason
            raise _Undecodable(f"not valid UTF-16 {order} ({problem}): {NOT_TAKEN_ADVICE}") from error
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = payload.count(b"\n", 0, error.start) + 1
        column = error.start - (payload.rfind(b"\n", 0, error.start) + 1) + 1
        byte = payload[error.start]
        raise _Undecodable(
            f"not UTF-8: byte 0x{byte:02x} on line {line} (column {column}) is not valid UTF-8 "
            f"(saved as cp1252 or Latin-1?): {NOT_TAKEN_ADVICE}"
        ) from error
    if "\x00" in text:
        raise _Undecodable(f"not UTF-8: it holds NUL bytes (UTF-16 without a BOM?): {NOT_TAKEN_ADVICE}")
    return text


def _decode_lossless(payload: bytes) -> str:
    """Text of a file that did not decode, every byte kept (an undecodable byte shows as ``\\xe9``)."""
    if payload.startswith((b"\xff\xfe", b"\xfe\xff")) and not payload.startswith(b"\xff\xfe\x00\x00"):
        return payload[: len(payload) // 2 * 2].decode("utf-16", errors="backslashreplace")
    return payload.decode("utf-8-sig", errors="backslashreplace")


@dataclass(frozen=True)
class _Record:
    line: int  # where it starts
    raw: str  # its text as the file has it, line ending aside
    fields: list[str] | None  # None when the record could not be parsed
    error: str | None


def _csv_records(text: str) -> list[_Record]:
    """The file's CSV records, each with its first line and its raw text; blank lines are not records.

    A quoted field may span lines (one record); a record the csv module can't parse is kept with the reason, and
    reading goes on with the next line.
    """
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(lines), strict=True)
    records: list[_Record] = []
    while True:
        start = reader.line_num
        try:
            fields: list[str] | None = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exception:
            fields, error = None, str(exception)
        raw = "".join(lines[start : reader.line_num]).rstrip("\r\n")
        if fields is None or any(field.strip() for field in fields):
            records.append(_Record(start + 1, raw, fields, error))
        if reader.line_num == start:
            break
    return records


def _parse_csv(text: str, name: str, dataset: Dataset) -> _Read:
    """One row per record; a record that can't be read (or has more or fewer fields) is kept raw with the reason."""
    records = _csv_records(text)
    if not records:
        return _Read(_frame([], name), [])
    header, body = records[0], records[1:]
    if header.fields is None:
        reason = f"file could not be parsed: its header (line {header.line}) is not CSV: {header.error}"
        return _Read(_unparsed(body, name, reason), [SourceEvent(FILE_UNPARSEABLE, name, reason)])
    columns = [c.strip() for c in header.fields]
    missing = [c for c in dataset.required if c not in columns]
    if missing:
        reason = f"file lacks required column(s): {', '.join(missing)}"
        return _Read(_unparsed(body, name, reason), [SourceEvent(FILE_UNPARSEABLE, name, reason)])
    rows: list[dict[str, Any]] = []
    for record in body:
        if record.fields is None:
            rows.append(_raw_row(record, f"line {record.line} could not be parsed: {record.error}"))
        elif len(record.fields) != len(columns):
            reason = (
                f"line {record.line} has a different number of fields than the header "
                f"({len(record.fields)}, not {len(columns)})"
            )
            rows.append(_raw_row(record, reason))
        else:
            values = {c: (v if v != "" else None) for c, v in zip(columns, record.fields, strict=True)}
            rows.append({**values, SOURCE_LINE: record.line, PARSE_ERROR: None})
    return _Read(_frame(rows, name), [])


def _parse_jsonl(text: str, name: str, dataset: Dataset) -> _Read:
    """One record per line; a line that is not a JSON object is kept raw with the reason (the others load)."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit inside a string
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"a JSON {_json_type(record)}, not an object")
            rows.append({**non_finite_as_text(record), SOURCE_LINE: number, PARSE_ERROR: None})
        except ValueError as error:
            reason = f"line {number} is not valid JSON: {error}"
            rows.append(_raw_row(_Record(number, line.rstrip("\r"), None, None), reason))
    return _Read(_frame(rows, name), [])


def _parse_json(text: str, name: str, dataset: Dataset) -> _Read:
    """A JSON array of objects, one row each; an element that is not an object is kept raw with the reason.

    An array that is not closed was cut off: its last element is held as possibly truncated (what follows the last
    complete element is kept raw). Anything but an array is not read, and its lines are kept raw with the reason.
    """
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        try:
            holds = f"a JSON {_json_type(json.loads(text))}" if text.strip() else "nothing"
        except ValueError as error:
            holds = f"no valid JSON ({error})"
        reason = f"file could not be parsed: a .json file must hold an array of objects; this one holds {holds}"
        return _Read(_raw_records(text, name, "json", reason), [SourceEvent(FILE_UNPARSEABLE, name, reason)])
    rows: list[dict[str, Any]] = []
    lines = _LineCounter(text)
    position = _skip_space(text, position + 1)
    closed = text.startswith("]", position)
    while not closed and position < len(text):
        line = lines.at(position)
        try:
            element, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            reason = f"element at line {line} is not valid JSON: {error.msg}"
            rows.append(_raw_row(_Record(line, text[position:].rstrip(), None, None), reason))
            break
        if isinstance(element, dict):
            rows.append({**non_finite_as_text(element), SOURCE_LINE: line, PARSE_ERROR: None})
        else:
            raw = _Record(line, text[position:end], None, None)
            rows.append(_raw_row(raw, f"element at line {line} is a JSON {_json_type(element)}, not an object"))
        position = _skip_space(text, end)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif text.startswith("]", position):
            closed = True
        elif position < len(text):
            tail = text[position:].rstrip()
            rows.append(_raw_row(_Record(lines.at(position), tail, None, None), "expected ',' or ']' here"))
            break
    events: list[SourceEvent] = []
    if closed:
        trailing = text[position + 1 :].strip()
        if trailing:
            reason = "text after the end of the JSON array"
            rows.append(_raw_row(_Record(lines.at(position + 1), trailing, None, None), reason))
    elif rows:
        detail = "the JSON array is not closed: possibly truncated; its last element is quarantined, the others load"
        events.append(SourceEvent(FILE_TRUNCATED, name, detail))
        frame = _frame(rows, name)
        return _Read(_with_reason(frame, frame.index[-1:], "possibly truncated: the JSON array is not closed"), events)
    return _Read(_frame(rows, name), events)


class _LineCounter:
    """Line numbers of positions in a text, counted forwards once."""

    def __init__(self, text: str) -> None:
        self.text, self.position, self.line = text, 0, 1

    def at(self, position: int) -> int:
        self.line += self.text.count("\n", self.position, position)
        self.position = position
        return self.line


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _frame(rows: list[dict[str, Any]], name: str) -> pd.DataFrame:
    """Rows as text columns, as from a CSV: conforming types them and names each value that doesn't fit."""
    lineage = (SOURCE_LINE, PARSE_ERROR)
    texts = [{k: v if k in lineage else _as_text(v) for k, v in row.items()} for row in rows]
    frame = pd.DataFrame(texts, columns=None if rows else list(lineage), dtype=object)
    return frame.assign(**{SOURCE_FILE: name}).astype({SOURCE_LINE: "int64"})


def _as_text(value: object) -> str | None:
    if value is None or value != value:  # None or NaN: a missing value
        return None
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _raw_row(record: _Record, reason: str) -> dict[str, Any]:
    return {RAW_LINE: record.raw, SOURCE_LINE: record.line, PARSE_ERROR: reason}


def _unparsed(records: list[_Record], name: str, reason: str) -> pd.DataFrame:
    """One row per record of a file that could not be read as the dataset's table; the raw text is kept."""
    return _frame([_raw_row(record, reason) for record in records], name)


def _raw_records(text: str, name: str, file_format: str, reason: str) -> pd.DataFrame:
    """The records of a file none of whose rows could be read: CSV records after the header, or non-blank lines."""
    if file_format == "csv":
        return _unparsed(_csv_records(text)[1:], name, reason)
    lines = [_Record(n, line.rstrip("\r"), None, None) for n, line in enumerate(text.split("\n"), start=1)]
    return _unparsed([line for line in lines if line.raw.strip()], name, reason)


def _with_reason(frame: pd.DataFrame, rows: pd.Index, reason: str) -> pd.DataFrame:
    """The frame with ``reason`` added to the parse errors of ``rows`` (after any reason they have)."""
    frame = frame.copy()
    for row in rows:
        current = frame.at[row, PARSE_ERROR]
        frame.at[row, PARSE_ERROR] = reason if current is None or current != current else f"{current}; {reason}"
    return frame
