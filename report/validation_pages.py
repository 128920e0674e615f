"""Every batch's validation page, and an index of them: the project's own Data Docs.

GX's Data Docs load their styles and scripts from CDNs (an empty page offline), and its ephemeral store rebuilds
the site from one process's results, dropping the pages of earlier batches. These pages are rendered from what the
warehouse keeps of each validation (the BI views ``batch_ledger``, ``data_quality`` and ``quarantined_rows``), are
self-contained, and stay: a page is written once per processed batch and rewritten only when the batch is
processed again (a replay).
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, text

from core.redaction import redact
from report.views import read_view
from warehouse.bi_views import qualified

INDEX = "index.html"
SAMPLE_ROWS = 100  # quarantined rows shown per page; the quarantined_rows view holds them all

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2433; margin: 0;
  padding: 16px; background: #f5f7fa; }
main { max-width: 1200px; margin: auto; }
section { background: #fff; border: 1px solid #d9dee7; border-radius: 6px; padding: 12px 16px; margin: 12px 0;
  overflow-x: auto; }
h1 { font-size: 20px; color: #1f4e79; margin: 4px 0; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #d9dee7; vertical-align: top; }
th { color: #5b6576; }
td.num { text-align: right; white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dt { color: #5b6576; }
dd { margin: 0; overflow-wrap: anywhere; }
.failed { color: #c0392b; font-weight: 600; }
.passed { color: #1e8449; }
.unjudged { color: #5b6576; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; }
"""


def page_name(dataset: str, batch_id: str) -> str:
    """A batch's page, relative to the pages' folder."""
    return f"{dataset}/{batch_id}.html"


def write_validation_pages(
    connection: Connection, folder: Path, batch_ids: Iterable[str] | None = None
) -> dict[str, Path]:
    """Write the page of each processed batch of ``batch_ids`` (default: every one whose page is missing or older
    than its processing) and the index; returns {batch_id: page} for the pages written."""
    ledger = read_view(connection, "batch_ledger", "where processed_at is not null")
    if ledger.empty:
        _write(folder / INDEX, _index_page(ledger))
        return {}
    ledger["processed_at"] = pd.to_datetime(ledger["processed_at"])
    if batch_ids is not None:
        wanted = set(batch_ids)
        due = ledger[ledger.batch_id.isin(wanted)]
    else:
        due = ledger[[_stale(folder / page_name(r.dataset, r.batch_id), r.processed_at) for r in ledger.itertuples()]]
    written: dict[str, Path] = {}
    for chunk in (due.iloc[i : i + 500] for i in range(0, len(due), 500)):
        ids = list(chunk.batch_id)
        results = _rows(connection, "data_quality", ids, "order by batch_id, severity, rule")
        held = _rows(connection, "quarantined_rows", ids, "order by batch_id, source_row")
        for batch in chunk.to_dict("records"):
            path = folder / page_name(str(batch["dataset"]), str(batch["batch_id"]))
            checks = results[results.batch_id == batch["batch_id"]]
            rows = held[held.batch_id == batch["batch_id"]]
            _write(path, _batch_page(batch, checks, rows))
            written[str(batch["batch_id"])] = path
    _write(folder / INDEX, _index_page(ledger))
    return written


def _stale(path: Path, processed_at: datetime) -> bool:
    if not path.exists():
        return True
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return written < pd.Timestamp(processed_at).to_pydatetime().replace(tzinfo=None)


def _rows(connection: Connection, name: str, batch_ids: list[str], order: str) -> pd.DataFrame:
    query = text(f"select * from {qualified(name, connection)} where batch_id in :ids {order}")  # noqa: S608
    return pd.read_sql(query.bindparams(bindparam("ids", expanding=True)), connection, params={"ids": batch_ids})


def _write(path: Path, page: str) -> None:
    """Write the page whole or not at all: a reader never sees half of it, and loads running side by side (one
    mapped task per dataset) each write their own temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".partial", delete=False) as part:
        part.write(page)
    os.replace(part.name, path)


def _e(value: Any) -> str:
    """Escaped for HTML, with any credential masked (raw records and reasons are shown as stored)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return html.escape(redact(str(value)))


def _page(title: str, body: str, home: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body><main>"
        f'<p><a href="{home}">All validated batches</a></p><h1>{_e(title)}</h1>{body}</main></body></html>'
    )


def _batch_page(batch: dict[str, Any], checks: pd.DataFrame, rows: pd.DataFrame) -> str:
    facts = [
        ("dataset", batch["dataset"]),
        ("source system", batch["source_system"]),
        ("kind", batch["batch_kind"]),
        ("status", batch["batch_status"]),
        ("blocked because", batch["blocked_reason"]),
        ("landed (UTC)", str(batch["landed_at"])[:19]),
        ("validated and loaded (UTC)", str(batch["processed_at"])[:19]),
        ("rows extracted", _count(batch["rows_extracted"])),
        ("loaded", _count(batch["rows_loaded"])),
        ("quarantined", _count(batch["rows_quarantined"])),
        ("duplicates", _count(batch["rows_duplicate"])),
        ("raw batch (the replay point)", batch["raw_path"]),
    ]
    summary = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v is not None and v == v)
    body = f"<section><h2>The batch</h2><dl>{summary}</dl></section>"
    failed = int((checks.judged.astype(bool) & ~checks.passed.astype(bool)).sum()) if not checks.empty else 0
    body += (
        f"<section><h2>Expectations: {len(checks)} run, {failed} failed</h2>"
        "<p>Critical checks quarantine the rows that break them (or block the batch when they judge it whole); "
        "warnings are reported and the rows load.</p><table><tr><th>check</th><th>severity</th><th>result</th>"
        "<th>rows checked</th><th>rows that broke it</th><th>observed</th><th>GX expectation</th></tr>"
    )
    for check in checks.to_dict("records"):
        result = "not judged (no history yet)" if not check["judged"] else "passed" if check["passed"] else "failed"
        css = "unjudged" if not check["judged"] else "passed" if check["passed"] else "failed"
        unexpected = check["unexpected_rows"]
        share = check["unexpected_percent"]
        broke = "" if unexpected is None or unexpected != unexpected else f"{int(unexpected):,}"
        if broke and share is not None and share == share:
            broke += f" ({share:.2f}%)"
        body += (
            f'<tr><td>{_e(check["rule"])}</td><td>{_e(check["severity"])}</td><td class="{css}">{result}</td>'
            f'<td class="num">{_e(_count(check["rows_checked"]))}</td><td class="num">{_e(broke)}</td>'
            f"<td><pre>{_e(_observed(check['observed_value']))}</pre></td><td>{_e(check['expectation_type'])}</td></tr>"
        )
    body += "</table></section>"
    if not rows.empty:
        shown = rows.head(SAMPLE_ROWS)
        more = (
            f" (the first {SAMPLE_ROWS}; the quarantined_rows view holds them all)" if len(rows) > SAMPLE_ROWS else ""
        )
        body += (
            f"<section><h2>Quarantined rows: {len(rows):,}{more}</h2><table><tr><th>row</th><th>key</th>"
            "<th>status</th><th>why</th><th>the row as received</th></tr>"
        )
        for row in shown.to_dict("records"):
            reasons = "<br>".join(_e(r) for r in json.loads(row["failed_rules"] or "[]"))
            body += (
                f'<tr><td class="num">{_e(row["source_row"])}</td><td>{_e(row["record_key"])}</td>'
                f"<td>{_e(row['quarantine_status'])}</td><td>{reasons}</td><td><pre>{_e(row['raw_record'])}</pre></td></tr>"
            )
        body += "</table></section>"
    return _page(f"Validation of {batch['dataset']} batch {batch['batch_id']}", body, "../" + INDEX)


def _count(value: Any) -> str:
    return "" if value is None or value != value else f"{int(value):,}"


def _observed(value: Any) -> str:
    if value is None or value != value:
        return ""
    try:
        return json.dumps(json.loads(value), indent=1, default=str)[:600]
    except (TypeError, ValueError):
        return str(value)[:600]


def _index_page(ledger: pd.DataFrame) -> str:
    body = (
        "<section><p>Every validated batch, newest first: its checks, and the rows validation held back.</p>"
        "<table><tr><th>validated (UTC)</th><th>dataset</th><th>batch</th><th>status</th><th>extracted</th>"
        "<th>loaded</th><th>quarantined</th><th>duplicates</th></tr>"
    )
    if not ledger.empty:
        for batch in ledger.sort_values(["processed_at", "batch_id"], ascending=False).to_dict("records"):
            link = page_name(str(batch["dataset"]), str(batch["batch_id"]))
            cells = [
                _e(str(batch["processed_at"])[:19]),
                _e(batch["dataset"]),
                f'<a href="{html.escape(link)}">{_e(batch["batch_id"])}</a>',
                _e(batch["batch_status"]),
            ]
            counts = [_count(batch[c]) for c in ("rows_extracted", "rows_loaded", "rows_quarantined", "rows_duplicate")]
            body += "<tr>" + "".join(f"<td>{c}</td>" for c in cells)
            body += "".join(f'<td class="num">{c}</td>' for c in counts) + "</tr>"
    body += "</table></section>"
    return _page("Data Docs: validated batches", body, INDEX)
