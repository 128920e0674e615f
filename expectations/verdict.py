"""Judge every row of a raw batch: load it, quarantine it with its reasons, or count it as a duplicate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pandas as pd

from core.catalog import Dataset
from core.records import SOURCE_FILE, SOURCE_LINE, BatchVerdict
from expectations.runner import BatchValidator
from transforms.conform import conform, exact_duplicates, row_hashes

# Given the suite's expectations and the rows to validate, the values of its expectation parameters.
ParametersFor = Callable[[list[Any], pd.DataFrame], dict[str, Any]]


def judge_batch(
    raw: pd.DataFrame,
    dataset: Dataset,
    batch_id: str,
    validator: BatchValidator,
    parameters_for: ParametersFor | None = None,
    event_dates: tuple[datetime, datetime] | None = None,
) -> BatchVerdict:
    """``event_dates``: the plausible (earliest, latest) event date of the batch's rows; rows outside it are
    quarantined, so a typo'd year never creates a KPI day or an alert."""
    raw = raw.reset_index(drop=True)
    conformed = conform(raw, dataset)
    if conformed.batch_error:
        return blocked_verdict(raw, dataset, batch_id, f"batch blocked: {conformed.batch_error}")
    typed = conformed.frame
    failures = {row: list(reasons) for row, reasons in conformed.row_errors.items()}
    if event_dates is not None and dataset.event_date:
        untroubled = typed.drop(index=list(failures))
        for row, reason in implausible_dates(untroubled, dataset.event_date, *event_dates).items():
            failures.setdefault(row, []).append(reason)
    candidates = typed.drop(index=list(failures))
    duplicates = exact_duplicates(candidates)
    candidates = candidates[~duplicates]
    parameters = parameters_for(validator.expectations(dataset.name), candidates) if parameters_for else None
    outcome = validator.validate(dataset.name, candidates, batch_id, parameters)
    for row, reasons in outcome.row_failures.items():
        failures.setdefault(row, []).extend(reasons)
    if outcome.batch_failures:
        reason = "batch blocked: " + "; ".join(outcome.batch_failures)
        repeated = set(duplicates[duplicates].index)
        return BatchVerdict(
            batch_id,
            dataset,
            valid=_empty(dataset),
            quarantined=_quarantine_rows(
                raw, {i: failures.get(i, []) + [reason] for i in range(len(raw)) if i not in repeated}, dataset
            ),  # blocked: no row waits only for keys
            duplicate_count=int(duplicates.sum()),
            results=outcome.results,
            blocked_reason=reason,
        )
    valid = candidates.drop(index=[r for r in failures if r in candidates.index])
    valid = _for_loading(valid, dataset)
    return BatchVerdict(
        batch_id,
        dataset,
        valid=valid,
        quarantined=_quarantine_rows(raw, failures, dataset, outcome.missing_references),
        duplicate_count=int(duplicates.sum()),
        results=outcome.results,
    )


def blocked_verdict(raw: pd.DataFrame, dataset: Dataset, batch_id: str, reason: str) -> BatchVerdict:
    """A batch that can't be used as a whole: every row quarantined with ``reason``, nothing loaded."""
    raw = raw.reset_index(drop=True)
    return BatchVerdict(
        batch_id,
        dataset,
        valid=_empty(dataset),
        quarantined=_quarantine_rows(raw, {i: [reason] for i in range(len(raw))}, dataset),
        blocked_reason=reason,
    )


def implausible_dates(typed: pd.DataFrame, column: str, earliest: datetime, latest: datetime) -> dict[int, str]:
    """Rows whose event date lies after ``latest`` or before ``earliest``, with the reason."""
    stamps = pd.to_datetime(typed[column])
    reasons: dict[int, str] = {}
    for row, stamp in stamps[stamps > latest].items():
        reasons[int(row)] = f"rule: {column} {stamp} is later than the run's interval end allows (latest {latest})"
    for row, stamp in stamps[stamps < earliest].items():
        reasons[int(row)] = f"rule: {column} {stamp} is earlier than the dataset's floor ({earliest.date()})"
    return reasons


def _for_loading(valid: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    out = valid.copy()
    out["row_hash"] = row_hashes(valid) if not valid.empty else pd.Series(dtype="str")
    for name, kind in dataset.columns.items():
        if kind == "date":
            out[name] = out[name].dt.date
    return out.reset_index(drop=True)


def _empty(dataset: Dataset) -> pd.DataFrame:
    return pd.DataFrame(columns=[*dataset.columns, "row_hash"])


def _quarantine_rows(
    raw: pd.DataFrame,
    reasons: dict[int, list[str]],
    dataset: Dataset,
    missing_references: dict[int, dict[str, str]] | None = None,
) -> list[dict[str, object]]:
    """Quarantine entries for the ``reasons`` rows of ``raw``, in row order: the raw record as landed, its key.

    A row whose every failure is a key missing from a dimension (``missing_references``: {column: dimension})
    records those keys as ``awaiting_keys``: loading the dimension later makes it replayable.
    """
    missing_references = missing_references or {}
    rows = sorted(reasons)
    picked = raw.iloc[rows]
    records = picked.astype(object).where(picked.notna(), None).to_dict("records")
    out: list[dict[str, object]] = []
    for row, record in zip(rows, records, strict=True):
        key_values = [record.get(k) for k in dataset.key]
        awaiting = missing_references.get(row, {})
        only_keys_missing = bool(awaiting) and len(awaiting) == len(reasons[row])
        out.append(
            {
                "source_row": row,
                "record_key": None if any(v is None for v in key_values) else "|".join(str(v) for v in key_values),
                "failed_rules": json.dumps(reasons[row]),
                "raw_record": json.dumps(record, default=str),
                "record_hash": record_hash(record),
                "awaiting_keys": json.dumps(awaiting, sort_keys=True) if only_keys_missing else None,
                "event_day": _event_day(record.get(dataset.event_date)) if dataset.event_date else None,
            }
        )
    return out


def _event_day(value: object) -> date | None:
    """The day a quarantined row's event date names, read as conforming reads it (ISO 8601, offsets to UTC), or
    None when it names none: data quality is reported by the data's day."""
    if value is None:
        return None
    try:
        stamp = pd.to_datetime(str(value), format="ISO8601", utc=True)
    except (ValueError, OverflowError):
        return None
    return None if pd.isna(stamp) else stamp.tz_localize(None).date()


# Where a record came from is not what it says: the same row re-delivered in another file or page is the same row.
_LINEAGE = frozenset({SOURCE_FILE, SOURCE_LINE, "_page"})


def record_hash(record: dict[str, object]) -> str:
    """sha256 of a raw record's content (lineage aside, keys sorted, nulls left out): equal for an unchanged row."""
    content = {k: v for k, v in record.items() if k not in _LINEAGE and v is not None}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
