"""The records and codes that pass between layers as data: lineage columns, source events and their kinds,
rule results and batch verdicts. Producers and consumers both import them from here, so no layer reads another's
text to learn what happened."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from core.catalog import Dataset
from core.redaction import redact

# Columns the extractors add for lineage; they are never business columns.
SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
PARSE_ERROR = "_parse_error"
RAW_LINE = "_raw_line"  # the source text of a record that could not be parsed
# Why values of a row could not be typed (one reason per line); the untyped values are kept in RAW_LINE as JSON.
TYPE_ERROR = "_type_error"

# What extraction reports about a delivered file (the ``kind`` of its SourceEvent). Not taken, so reported on every
# run that still finds them in the folder:
FILE_REFUSED = "file_refused"  # a name that leads outside the drop folder
FILE_MISSING = "file_missing"  # a manifest entry or ready marker whose file is not there
FILE_UNSUPPORTED = "file_unsupported"  # a format that is not read (.xlsx, .txt, ...)
FILE_UNREADABLE = "file_unreadable"  # could not be opened or read at all (a folder, an I/O error, a broken manifest)
# Taken, its rows quarantined with the reason:
FILE_UNPARSEABLE = "file_unparseable"  # no rows could be read (encoding, missing columns, JSON that isn't an array)
MANIFEST_MISMATCH = "manifest_mismatch"  # rows or checksum differ from the manifest: the whole file is quarantined
FILE_TRUNCATED = "file_truncated"  # no line ending after the last row (or an unclosed JSON array): last row held
FILE_NOTE = "file_problem"  # empty, header only, some rows unreadable: for the run log
REDELIVERY_SKIPPED = "redelivery_skipped"

ALL = "ALL"  # the site/line/step value of a rollup row in KPI tables


@dataclass(frozen=True)
class SourceEvent:
    """Something about the source a data engineer should see: a skipped re-delivery, a refused file, drift."""

    kind: str
    subject: str  # a file name, a page, a column
    detail: str

    def __post_init__(self) -> None:
        # Events are stored and shown as they are: no credential of a URL in them survives.
        object.__setattr__(self, "subject", redact(self.subject))
        object.__setattr__(self, "detail", redact(self.detail))


@dataclass(frozen=True)
class RuleResult:
    rule: str
    expectation_type: str
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    observed_value: str | None
    judged: bool = True  # False when a context check had no bounds for this batch (see expectations.context)


@dataclass
class BatchVerdict:
    batch_id: str
    dataset: Dataset
    valid: pd.DataFrame  # typed rows to load, with a ``row_hash`` column
    quarantined: list[dict[str, object]] = field(default_factory=list)  # source_row, record_key, rules, raw
    duplicate_count: int = 0
    results: list[RuleResult] = field(default_factory=list)
    blocked_reason: str | None = None

    @property
    def row_count(self) -> int:
        return len(self.valid) + len(self.quarantined) + self.duplicate_count
