"""Turn a raw landed batch into typed rows, naming every value that does not fit its declared type."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.catalog import Dataset
from core.records import PARSE_ERROR, TYPE_ERROR

# A column whose every value (at least this many) fails its declared type has changed type in the source:
# the batch is blocked as a whole, instead of each row being quarantined for the same reason.
CHANGED_TYPE_MIN_VALUES = 3


@dataclass
class Conformed:
    """A batch with catalog types; ``frame`` keeps the raw row numbers as its index."""

    frame: pd.DataFrame
    row_errors: dict[int, list[str]]  # raw row number -> reasons the row can't be typed
    batch_error: str | None  # set when the batch as a whole can't be used (a required column is missing)


def conform(raw: pd.DataFrame, dataset: Dataset) -> Conformed:
    raw = raw.reset_index(drop=True)
    row_errors: dict[int, list[str]] = {}
    if PARSE_ERROR in raw.columns:
        for row, reason in raw[PARSE_ERROR].dropna().items():
            row_errors.setdefault(int(row), []).append(f"parse: {reason}")
    if TYPE_ERROR in raw.columns:  # values the extractor could not type; it kept the raw text beside them
        for row, reason in raw[TYPE_ERROR].dropna().items():
            row_errors.setdefault(int(row), []).extend(str(reason).split("\n"))
    missing = [c for c in dataset.required if c not in raw.columns]
    unparsed_only = len(row_errors) == len(raw) and len(raw) > 0
    if missing and not unparsed_only:
        return Conformed(
            frame=raw.iloc[0:0], row_errors=row_errors, batch_error=f"missing required column(s): {', '.join(missing)}"
        )
    typed = pd.DataFrame(index=raw.index)
    changed: list[str] = []
    for name, kind in dataset.columns.items():
        values = raw[name] if name in raw.columns else pd.Series(None, index=raw.index, dtype="object")
        typed[name], bad = _cast(values, kind)
        present = int(values.notna().sum())
        if present >= CHANGED_TYPE_MIN_VALUES and int(bad.sum()) == present:
            example = values[bad].iloc[0]
            changed.append(f"{name} (none of its {present} values is a valid {kind}, e.g. {example!r})")
        for row in bad[bad].index:
            row_errors.setdefault(int(row), []).append(type_error(name, values[row], kind))
    if changed:
        return Conformed(
            frame=raw.iloc[0:0], row_errors=row_errors, batch_error=f"column type changed: {'; '.join(changed)}"
        )
    return Conformed(frame=typed, row_errors=row_errors, batch_error=None)


def type_error(column: str, value: object, kind: str) -> str:
    """The quarantine reason for a value that does not fit its column's type."""
    shown = repr(value) if isinstance(value, str) else str(value)
    if kind in ("int", "float") and _is_non_finite(value):
        return f"type: {column} {shown} is not a finite number"
    return f"type: {column} {shown} is not a valid {kind}"


def _is_non_finite(value: object) -> bool:
    try:
        return not np.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _cast(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """The values as ``kind`` and a mask of values that were present but could not be converted.

    Numbers must be finite (NaN and infinities are never valid data, whatever the format spells them); timestamps
    with UTC offsets are normalised to UTC, several offsets in one column included (a daylight-saving change).
    """
    present = values.notna()
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):  # text: a blank is missing too
        present &= values.astype("string").str.strip().ne("")
    if kind == "str":
        return values.where(present).astype("string"), pd.Series(False, index=values.index)
    if kind in ("int", "float"):
        numbers = pd.to_numeric(values.where(present), errors="coerce")
        numbers = numbers.where(np.isfinite(numbers.astype("float64")))
        bad = present & numbers.isna()
        if kind == "int":
            fractional = numbers.notna() & (numbers % 1 != 0)
            return numbers.where(~fractional).round().astype("Int64"), bad | fractional
        return numbers.astype("Float64"), bad
    stamps = pd.to_datetime(values.where(present), errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
    if kind == "date":
        stamps = stamps.dt.normalize()
    return stamps.astype("datetime64[us]"), present & stamps.isna()


def exact_duplicates(frame: pd.DataFrame) -> pd.Series:
    """Rows that repeat an earlier row of the batch in every business column (harmless re-sends)."""
    return frame.duplicated(keep="first")


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """A stable content hash per row, to tell an unchanged re-delivery from a real update."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    # Zero-padded hex of each uint64, all at once: the big-endian bytes' hex, cut into 16-character pieces.
    hexed = np.frombuffer(hashed.astype(">u8").tobytes().hex().encode("ascii"), dtype="S16").astype(str)
    return pd.Series(hexed, index=frame.index, dtype="string")
