"""Append one more day to every demo source system, the way the real ones change overnight.

The day's new rows come from the same generators as the history (its random draws are seeded by the seed and
the day, so a simulated day is reproducible), and the day also brings what incremental extraction must cope
with: a production run of the day before corrected (an update to a row already extracted), a defect of the day
before that arrives only now (late), an assignment completed (an update in the LMS), a customer lost, and
complaints about earlier shipments. The story continues: the regression on its line persists.

A change is stamped (``updated_at``) when its source commits it, which is never after the moment it is written:
a day that hasn't ended yet (``make run``'s sources end yesterday, so the next day is today) has the changes
it would make later stamped at ``written_at`` instead. So an event-triggered ingest right after, which takes
every change up to its own time, takes the whole day.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import MetaData, Table, insert, select, update

from core.engine import engine_for
from demo import source_systems as demo
from demo.source_systems import DemoLocations, DemoSpec


def simulate_day(spec: DemoSpec, where: DemoLocations, written_at: datetime) -> tuple[DemoSpec, dict[str, int]]:
    """Write the day after ``spec.end_date`` into every source, its changes committed by ``written_at`` (naive
    UTC, the sources' clock) at the latest; returns the extended spec and rows per dataset."""
    extended = replace(spec, end_date=spec.end_date + timedelta(days=1), days=spec.days + 1)
    day, offset = extended.end_date, extended.days - 1
    rng = np.random.default_rng([spec.seed, day.toordinal()])
    counts: dict[str, int] = {}

    def committed(at: datetime) -> datetime:
        return min(at, written_at)

    runs = demo._production_runs(extended, rng, offsets=[offset])
    defects = demo._defects(runs, extended, rng) if not runs.empty else pd.DataFrame()
    counts["production_runs"] = _append(where.qms_url, "production_runs", _committed_by(runs, written_at))
    counts["defects"] = _append(where.qms_url, "defects", _committed_by(defects, written_at))
    counts["production_runs"] += _correct_a_run_of_the_day_before(
        where.qms_url, day, committed(datetime.combine(day, time(9, 30))), rng
    )
    counts["defects"] += _late_defect_of_the_day_before(
        where.qms_url, day, committed(datetime.combine(day, time(7, 15)))
    )

    finance_url = where.finance_url or where.qms_url.replace("qms.db", "finance.db")
    accounts = _read(finance_url, "customer_accounts")
    shipments = demo._shipments(extended, rng, accounts, offsets=[offset]) if day.weekday() < 5 else pd.DataFrame()
    complaints = _complaints_received(extended, rng, _read(finance_url, "shipments"), day)
    counts["shipments"] = _append(finance_url, "shipments", _committed_by(shipments, written_at))
    counts["complaints"] = _append(where.qms_url, "complaints", _committed_by(complaints, written_at))
    ledger = demo._cost_ledger(extended, runs, complaints, offsets=[offset])
    booked = _committed_by(ledger[ledger["booked_on"] == day], written_at)
    counts["cost_ledger"] = _append(finance_url, "cost_ledger", booked)
    counts["customer_accounts"] = _churn(
        finance_url, accounts, day, committed(datetime.combine(day, time(9))), offset, rng
    )

    feedback = demo._feedback_day(extended, offset, rng)
    path = where.survey_drop_dir / f"feedback_{day:%Y-%m-%d}.csv"
    pd.DataFrame(feedback, columns=list(demo.FEEDBACK_COLUMNS)).to_csv(path, index=False)
    demo._mark_complete(path, len(feedback), with_manifest=False)
    counts["feedback"] = len(feedback)
    counts["training_assignments"] = _lms_day(where, extended, day, committed(datetime.combine(day, time(18))), rng)
    return extended, counts


def _committed_by(frame: pd.DataFrame, written_at: datetime) -> pd.DataFrame:
    """``frame`` with no change stamped after ``written_at``."""
    if frame.empty:
        return frame
    return frame.assign(updated_at=pd.to_datetime(frame["updated_at"]).clip(upper=pd.Timestamp(written_at)))


def _read(url: str, table: str) -> pd.DataFrame:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            frame = pd.read_sql(select(Table(table, MetaData(), autoload_with=connection)), connection)
    finally:
        engine.dispose()
    for column in ("acquired_on", "churned_on", "shipped_on"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date.astype(object).where(frame[column].notna(), None)
    return frame


def _append(url: str, table: str, frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            target = Table(table, MetaData(), autoload_with=connection)
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            connection.execute(insert(target), records)
    finally:
        engine.dispose()
    return len(frame)


def _correct_a_run_of_the_day_before(url: str, day: date, changed_at: datetime, rng: np.random.Generator) -> int:
    """The MES books a rework correction on a run it already reported: the row changes, with a new updated_at."""
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            runs = Table("production_runs", MetaData(), autoload_with=connection)
            candidates = connection.execute(
                select(runs.c.id, runs.c.units_reworked, runs.c.units_scrapped)
                .where(runs.c.production_date == day - timedelta(days=1), runs.c.units_scrapped > 0)
                .order_by(runs.c.id)
            ).all()
            if not candidates:
                return 0
            run = candidates[int(rng.integers(0, len(candidates)))]
            connection.execute(
                update(runs)
                .where(runs.c.id == run.id)
                .values(
                    units_reworked=run.units_reworked + 1,
                    units_scrapped=run.units_scrapped - 1,
                    updated_at=changed_at,
                )
            )
    finally:
        engine.dispose()
    return 1


def _late_defect_of_the_day_before(url: str, day: date, changed_at: datetime) -> int:
    """An inspection record of yesterday's last run that reaches the QMS only this morning."""
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            runs = Table("production_runs", MetaData(), autoload_with=connection)
            defects = Table("defects", MetaData(), autoload_with=connection)
            last = connection.execute(
                select(runs.c.run_id, runs.c.finished_at)
                .where(runs.c.production_date == day - timedelta(days=1), runs.c.line_id.is_not(None))
                .order_by(runs.c.finished_at.desc())
                .limit(1)
            ).first()
            if last is None:
                return 0
            connection.execute(
                insert(defects).values(
                    defect_id=f"{last.run_id}-LATE-{day:%Y%m%d}",
                    run_id=last.run_id,
                    defect_code="LABEL_ERROR",
                    defect_count=1,
                    recorded_at=last.finished_at,
                    updated_at=changed_at,
                )
            )
    finally:
        engine.dispose()
    return 1


def _complaints_received(spec: DemoSpec, rng: np.random.Generator, shipments: pd.DataFrame, day: date) -> pd.DataFrame:
    """Complaints received on ``day`` about the shipments of the three days before."""
    recent = shipments[shipments["shipped_on"].between(day - timedelta(days=3), day - timedelta(days=1))]
    complaints = demo._complaints(spec, rng, recent)
    if complaints.empty:
        return complaints
    complaints = complaints[complaints["received_on"] == day].copy()
    # Their own ids: the history's complaints about the same shipments keep theirs.
    complaints["complaint_id"] = complaints["complaint_id"] + f"-R{day:%Y%m%d}"
    return complaints


def _churn(
    url: str, accounts: pd.DataFrame, day: date, changed_at: datetime, offset: int, rng: np.random.Generator
) -> int:
    """Customers lost on ``day``: an update to their account rows."""
    active = accounts[accounts["churned_on"].isna() & (pd.to_datetime(accounts["acquired_on"]).dt.date <= day)]
    lost = [
        row.customer_id
        for row in active.itertuples(index=False)
        if rng.random() < (0.0017 if row.site_id == demo.REGRESSION_SITE and offset >= demo.NPS_DIP_START else 0.0003)
    ]
    if not lost:
        return 0
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            table = Table("customer_accounts", MetaData(), autoload_with=connection)
            connection.execute(
                update(table).where(table.c.customer_id.in_(lost)).values(churned_on=day, updated_at=changed_at)
            )
    finally:
        engine.dispose()
    return len(lost)


def _lms_day(where: DemoLocations, spec: DemoSpec, day: date, changed: datetime, rng: np.random.Generator) -> int:
    """New assignments for employees whose 14-day cycle comes round; open ones completed (updates)."""
    path = where.lms_store_dir / "training_assignments.json"
    records = json.loads(path.read_text(encoding="utf-8"))["records"]
    changed_at = changed.isoformat(timespec="seconds")
    touched = 0
    for record in records:
        if record["status"] != "assigned" or not record.get("employee_id"):
            continue
        lapsed = record["line_id"] == demo.REGRESSION_LINE
        if rng.random() < (0.05 if lapsed else 0.25):
            record.update(status="completed", completed_on=day.isoformat(), score=float(rng.integers(62, 100)))
            record["updated_at"] = changed_at
            touched += 1
    latest: dict[str, dict[str, object]] = {}
    for record in records:
        employee = record.get("employee_id")
        if employee and (employee not in latest or str(record["assigned_on"]) > str(latest[employee]["assigned_on"])):
            latest[employee] = record
    for employee, record in sorted(latest.items()):
        if date.fromisoformat(str(record["assigned_on"])) + timedelta(days=14) == day:
            records.append(
                {
                    **record,
                    "assignment_id": f"A-{employee}-{day:%Y%m%d}",
                    "course_id": demo._course_due(
                        employee, (day - spec.start_date).days, int(rng.integers(0, len(demo.COURSES)))
                    ),
                    "assigned_on": day.isoformat(),
                    "due_on": (day + timedelta(days=14)).isoformat(),
                    "completed_on": None,
                    "status": "assigned",
                    "score": None,
                    "updated_at": changed_at,
                }
            )
            touched += 1
    demo.write_lms_store(path, records, day)
    return touched
