"""Read the facts a KPI build needs, for chosen days only, and replace those days' KPI rows.

A KPI build touches only the day partitions that the newly loaded batches changed: a late-arriving row
recomputes its own day, not the year.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import ColumnElement, Connection, Select, Table, and_, delete, func, insert, or_, select, true, update

from core.dialect import dialect_of
from core.kpi_registry import REGISTRY
from warehouse.bulk import insert_frame
from warehouse.deletes import deleted_days
from warehouse.kpi_holds import Holds
from warehouse.schema import (
    FACT_TABLES,
    batch_ledger,
    customer_snapshot,
    dim_date,
    kpi_daily,
    kpi_period,
    process_capability,
    training_outcomes,
)

RUNS, DEFECTS = FACT_TABLES["production_runs"], FACT_TABLES["defects"]
FEEDBACK, TRAINING = FACT_TABLES["feedback"], FACT_TABLES["training_assignments"]
PRODUCTS = FACT_TABLES["products"]
COMPLAINTS, COST_LEDGER = FACT_TABLES["complaints"], FACT_TABLES["cost_ledger"]
SHIPMENTS, ACCOUNTS = FACT_TABLES["shipments"], FACT_TABLES["customer_accounts"]
EMPLOYEES, COURSES, REQUIREMENTS = FACT_TABLES["employees"], FACT_TABLES["courses"], FACT_TABLES["role_requirements"]


@dataclass
class Partitions:
    """The days to rebuild per KPI family; ``None`` means every day (a full rebuild)."""

    days: dict[str, set[date] | None] = field(default_factory=dict)
    batch_ids: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return all(d is not None and not d for d in self.days.values())

    def with_holds(self, holds: Holds) -> Partitions:
        """Also rebuild the days a resolved blocked batch released, and clear the days a new one holds."""
        days = dict(self.days)
        for family in REGISTRY.family_codes():
            extra = holds.released.get(family, set()) | holds.newly_held.get(family, set())
            if extra and days.get(family) is not None:
                days[family] = days[family] | extra  # type: ignore[operator]
            elif extra and family not in days:
                days[family] = extra
        return Partitions(days, self.batch_ids)


def _dates(values: Iterable[object]) -> set[date]:
    listed = [v for v in values if v is not None and v is not pd.NaT]
    days = [v.date() if isinstance(v, datetime) else v for v in listed if isinstance(v, date)]
    if len(days) == len(listed):  # what the drivers return: no pandas for a handful of days
        return set(days)
    return {d.date() for d in pd.to_datetime(pd.Series(listed, dtype="object")).dropna()}


_DATASET_OF = {table.name: name for name, table in FACT_TABLES.items()}


def _touched(connection: Connection, column, ids: dict[str, list[str]]) -> set[date]:  # type: ignore[no-untyped-def]
    """The distinct days in ``column`` of the rows that the pending batches (``ids`` per dataset) loaded into its
    table; no query at all when none loaded into it."""
    loaded = ids.get(_DATASET_OF[column.table.name])
    if not loaded:
        return set()
    return _dates(connection.scalars(select(column).where(column.table.c.batch_id.in_(loaded)).distinct()))


def _day_range(first: date, last: date) -> set[date]:
    """Every calendar day from ``first`` to ``last``, both included."""
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def pending_partitions(connection: Connection, full: bool = False) -> Partitions:
    """The day partitions that loaded batches changed since their KPIs were last built."""
    batches = select(batch_ledger.c.batch_id, batch_ledger.c.dataset).where(
        batch_ledger.c.status == "loaded", batch_ledger.c.kpis_built_at.is_(None)
    )
    pending = connection.execute(batches).all()
    ids = [b.batch_id for b in pending]
    if full:
        return Partitions({family: None for family in REGISTRY.family_codes()}, ids)
    datasets = {b.dataset for b in pending}
    ids_of: dict[str, list[str]] = {}
    for b in pending:
        ids_of.setdefault(b.dataset, []).append(b.batch_id)
    production: set[date] | None = set()
    if "products" in datasets:
        production = None  # a changed product (its opportunities per unit) can move any day's DPMO
    else:
        production = _touched(connection, RUNS.c.production_date, ids_of)
        if ids_of.get("defects"):
            # The runs the defects name, each looked up once (a day's 14,000 defects name 1,600 runs: 13 ms, 21 ms
            # as a join that looks a run up per defect).
            named = select(DEFECTS.c.run_id).where(DEFECTS.c.batch_id.in_(ids_of["defects"]))
            production |= _dates(
                connection.scalars(select(RUNS.c.production_date).where(RUNS.c.run_id.in_(named)).distinct())
            )
    feedback = _touched(connection, FEEDBACK.c.responded_at, ids_of)
    training = _touched(connection, TRAINING.c.due_on, ids_of) | _newly_due_days(connection)
    shipped = _touched(connection, SHIPMENTS.c.shipped_on, ids_of)
    cost = shipped | _touched(connection, COST_LEDGER.c.booked_on, ids_of)
    customer = shipped | _touched(connection, COMPLAINTS.c.received_on, ids_of)
    # Retention depends on account dates only: a changed account can move every day; otherwise new days of activity.
    retention = None if "customer_accounts" in datasets else shipped | cost | customer
    days = {
        "production": production,
        "cost": cost,
        "customer": customer,
        "retention": retention,
        "feedback": feedback,
        "training": training,
        "people": _people_days(connection, ids_of, datasets),
    }
    # Rows deleted at the source are gone from the facts: the days they carried come from their kept records.
    # dataset -> (the column that dates its rows, the KPI families computed from it), from the KPI registry
    held_by = REGISTRY.held_by()
    removed = deleted_days(connection, ids, {name: column for name, (column, _) in held_by.items()})
    for dataset, removed_days in removed.items():
        for family in held_by[dataset][1]:
            current = days.get(family)
            if current is None:
                continue
            if family == "people":  # a stock: the change moves every later day up to the as-of day
                as_of = training_as_of(connection)
                removed_days = _day_range(min(removed_days), as_of) if as_of else set()
            days[family] = current | removed_days
    return Partitions(days, ids)


def training_as_of(connection: Connection) -> date | None:
    """The LMS data's as-of day: its newest change. Assignments due after it are not yet judged."""
    newest = connection.scalar(select(func.max(TRAINING.c.updated_at)))
    return None if newest is None else pd.Timestamp(newest).date()


def _newly_due_days(connection: Connection) -> set[date]:
    """Due days that have come within the as-of day since the last build (no batch needs to touch them)."""
    as_of = training_as_of(connection)
    if as_of is None:
        return set()
    training = REGISTRY.of_family("training")
    last = connection.scalar(select(func.max(kpi_daily.c.kpi_date)).where(kpi_daily.c.kpi.in_(training)))
    if last is None:
        return set()
    return _day_range(pd.Timestamp(last).date() + timedelta(days=1), as_of)


# What the loads record about a row (its batch, content hash, load time): no KPI reads them, and they are the widest.
_BOOKKEEPING = frozenset({"batch_id", "row_hash", "loaded_at"})


def _columns(table: Table) -> Select[Any]:
    """A SELECT of the table's columns but the loads' bookkeeping."""
    return select(*[c for c in table.columns if c.name not in _BOOKKEEPING])


def _read(connection: Connection, table: Table, condition: Any = None) -> pd.DataFrame:
    """A fact or dimension table's rows in key order, without the loads' bookkeeping columns: the same rows always
    sum in the same order, so a rebuilt KPI is bit-for-bit the KPI it replaces (floating-point sums depend on order).

    ``condition``: ``None`` for a dimension, read through the build's connection; ``True`` for a whole fact table,
    which comes as Arrow where the database streams it (issue 15 measured the tuple path at 2.8x an Arrow read), on
    a connection of its own (the build never writes these tables, so that connection sees what the build's
    transaction sees); otherwise the rows it selects, through the build's connection.
    """
    query = _columns(table).order_by(*table.primary_key)
    if condition is None:  # a dimension: small, and a connection of its own would cost more than the read
        return _frame(connection, query, whole=False)
    whole = condition is True
    return _frame(connection, query if whole else query.where(condition), whole)


def _frame(connection: Connection, query: Select[Any], whole: bool) -> pd.DataFrame:
    """The rows of a query as a frame; Arrow where the database streams it: a ``whole`` fact table (a full build) on
    a connection of its own, so only for tables the build never writes; anything smaller (a few days' facts, a
    dimension, the periods this build just wrote) in the build's own transaction, where a connection of its own
    would cost more than it saves and would not see the build's rows."""
    dialect = dialect_of(connection)
    if not dialect.streams_arrow:
        return pd.read_sql(query, connection)
    arrow = dialect.read_arrow(connection.engine, query) if whole else dialect.read_arrow_in(connection, query)
    # Integers as pandas reads them from the driver (int64), whatever their width in the table.
    widened = pa.schema([pa.field(f.name, pa.int64()) if pa.types.is_integer(f.type) else f for f in arrow.schema])
    return arrow.cast(widened).to_pandas()


def _in_days(column, days: set[date] | None):  # type: ignore[no-untyped-def]
    """``column`` on one of ``days`` (any day for ``None``); the range beside the list lets the planner see how few
    rows a window at the end of the data holds (it estimates a listed day it has no rows of as an average day)."""
    if days is None:
        return True
    return and_(column.between(min(days), max(days)), column.in_(sorted(days)))


def read_production(connection: Connection, days: set[date] | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Runs of those days, their defect totals per run (summed in SQL), and the products."""
    products = _read(connection, PRODUCTS)
    if days is not None:
        # A few days: each run with its total in one query, summed per run through the defects' run_id index
        # (a month's 6,400 runs: 25 ms, where a join planned a parallel scan of every run: 60-70 ms, and a second
        # read). A run without defects totals 0, as the join's missing total counts.
        total = (
            select(func.coalesce(func.sum(DEFECTS.c.defect_count), 0))
            .where(DEFECTS.c.run_id == RUNS.c.run_id)
            .scalar_subquery()
        )
        query = _columns(RUNS).add_columns(total.label("defect_count")).where(_in_days(RUNS.c.production_date, days))
        with_totals = _frame(connection, query.order_by(*RUNS.primary_key), whole=False)
        return with_totals.drop(columns="defect_count"), with_totals[["run_id", "defect_count"]], products
    runs = _read(connection, RUNS, True)
    totals = _frame(
        connection,
        select(DEFECTS.c.run_id, func.sum(DEFECTS.c.defect_count).label("defect_count"))
        .join(RUNS, RUNS.c.run_id == DEFECTS.c.run_id)
        .group_by(DEFECTS.c.run_id)
        .order_by(DEFECTS.c.run_id),
        whole=True,
    )
    return runs, totals, products


def read_feedback(connection: Connection, days: set[date] | None) -> pd.DataFrame:
    query = _columns(FEEDBACK)
    if days is not None:
        query = query.where(
            and_(FEEDBACK.c.responded_at >= min(days), FEEDBACK.c.responded_at < max(days) + timedelta(days=1))
        )
    frame = _frame(connection, query.order_by(*FEEDBACK.primary_key), days is None)
    if days is not None and not frame.empty:
        frame = frame[pd.to_datetime(frame["responded_at"]).dt.date.isin(days)]
    return frame


def read_training(connection: Connection, days: set[date] | None) -> pd.DataFrame:
    return _read(connection, TRAINING, _in_days(TRAINING.c.due_on, days))


def clear_family(connection: Connection, family: str, days: set[date] | None) -> None:
    """Delete what a build of ``days`` replaces: the family's daily rows of those days and its rows of the weeks and
    months that contain them (every row for ``None``). A build clears every family it rebuilds before it computes
    any: the deletes then run while the facts are still being read."""
    codes = REGISTRY.family_codes()[family]
    daily: ColumnElement[bool] = kpi_daily.c.kpi.in_(codes)
    if days is not None:
        daily = and_(daily, kpi_daily.c.kpi_date.in_(sorted(days)))
    connection.execute(delete(kpi_daily).where(daily))
    for period in ("week", "month"):
        periods = and_(kpi_period.c.kpi.in_(codes), kpi_period.c.period == period)
        if days is not None:
            periods = and_(periods, kpi_period.c.period_start.in_(period_starts(days, period)))
        connection.execute(delete(kpi_period).where(periods))


def write_daily(
    connection: Connection, parts: Iterable[pd.DataFrame], pipeline_run_id: str, now: object
) -> tuple[int, set[date]]:
    """Write a family's recomputed daily rows (their days cleared by ``clear_family``), one part at a time so that a
    full build never holds the whole family's rows; returns how many rows were written and on which days."""
    written, on_days = 0, set[date]()
    for batch in _batched(parts):
        rows = batch.assign(kpi_date=_as_dates(batch["kpi_date"]), pipeline_run_id=pipeline_run_id, computed_at=now)
        rows["value"] = rows["value"].astype("float64")
        written += insert_frame(connection, kpi_daily, rows)
        on_days |= set(rows["kpi_date"].unique())
    return written, on_days


_COPY_BATCH_ROWS = 250_000


def _batched(parts: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The parts gathered into frames of at least ``_COPY_BATCH_ROWS`` rows (the last one fewer): each COPY costs
    about 11 ms before its first row (measured into kpi_daily), and a one-day build made 65 of them in all."""
    pending: list[pd.DataFrame] = []
    size = 0
    for part in parts:
        if part.empty:
            continue
        if len(part) >= _COPY_BATCH_ROWS:  # large enough on its own: no copy into a gathered frame
            yield part
            continue
        pending.append(part)
        size += len(part)
        if size >= _COPY_BATCH_ROWS:
            yield pd.concat(pending, ignore_index=True)
            pending, size = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def _as_dates(values: pd.Series) -> pd.Series:
    """Days as dates, converted once per distinct day."""
    codes, uniques = pd.factorize(values)
    dates = pd.Series(pd.to_datetime(uniques)).dt.date.to_numpy(dtype=object)
    return pd.Series(dates[codes], index=values.index, dtype=object)


def period_starts(days: set[date], period: str) -> list[date]:
    """The starts of the weeks or months that contain ``days``."""
    from transforms.kpi_tables import period_start

    return sorted(set(period_start(pd.Series(sorted(days)), period)))


def write_periods(
    connection: Connection,
    days: set[date] | None,
    rows_of: Callable[[str, list[date] | None], pd.DataFrame],
    pipeline_run_id: str,
    now: object,
) -> None:
    """Write a family's weeks and months that contain a rebuilt day (all of them for ``None``; cleared by
    ``clear_family``). ``rows_of(period, starts)`` computes the rows of the periods starting on ``starts``
    (``None``: every period)."""
    parts = []
    for period in ("week", "month"):
        starts = None if days is None else period_starts(days, period)
        rows = rows_of(period, starts)
        if starts is not None and not rows.empty:
            rows = rows[rows["period_start"].isin(starts)]
        if not rows.empty:
            parts.append(rows)
    if parts:  # one COPY for both kinds of period
        _insert_periods(connection, pd.concat(parts, ignore_index=True), pipeline_run_id, now)


def read_daily(connection: Connection, family: str, days: set[date], period: str) -> pd.DataFrame:
    """The family's stored daily rows of the weeks or months that contain ``days``, in key order."""
    starts = period_starts(days, period)
    end = (
        pd.Timestamp(max(days)) + (pd.offsets.Week(weekday=0) if period == "week" else pd.offsets.MonthBegin())
    ).date()
    query = select(kpi_daily).where(
        kpi_daily.c.kpi.in_(REGISTRY.family_codes()[family]),
        kpi_daily.c.kpi_date >= starts[0],
        kpi_daily.c.kpi_date < end,
    )
    return _frame(connection, query.order_by(*kpi_daily.primary_key), whole=False)


def finish_build(connection: Connection, partitions: Partitions, days: set[date], now: object) -> None:
    """What follows the families' rows, in the same transaction: the calendar rows of new KPI days, the
    cross-source table, the account snapshots of rebuilt retention days, and the batches marked built."""
    _add_dates(connection, set(days))
    rebuilt = [family for family, d in partitions.days.items() if d is None or d]
    if rebuilt:
        full = any(partitions.days[family] is None for family in rebuilt)
        first = None if full else min(min(partitions.days[family]) for family in rebuilt)  # type: ignore[arg-type]
        _replace_training_outcomes(connection, now, first)
    if "retention" in rebuilt:
        replace_customer_snapshots(connection, partitions.days["retention"], now)
    if partitions.batch_ids:
        connection.execute(
            update(batch_ledger).where(batch_ledger.c.batch_id.in_(partitions.batch_ids)).values(kpis_built_at=now)
        )


def as_read(daily: pd.DataFrame) -> pd.DataFrame:
    """Just-built daily KPI rows ready for the period rollup, as if read back from the table.

    A period sums each KPI and place's days in day order, whether they were just built or read back in key order
    (floating-point sums depend on order): the builders emit each KPI and place's days in ascending order, so only
    the day needs a type that sorts and groups fast.
    """
    return daily.assign(kpi_date=pd.to_datetime(daily["kpi_date"]))


def _insert_periods(connection: Connection, rows: pd.DataFrame, pipeline_run_id: str, now: object) -> None:
    if rows.empty:
        return
    rows = rows.assign(pipeline_run_id=pipeline_run_id, computed_at=now)
    rows["value"] = rows["value"].astype("float64")
    insert_frame(connection, kpi_period, rows)


def read_cost(connection: Connection, days: set[date] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    ledger = _read(connection, COST_LEDGER, _in_days(COST_LEDGER.c.booked_on, days))
    return ledger, read_shipments(connection, days)


def read_customer(connection: Connection, days: set[date] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    complaints = _read(connection, COMPLAINTS, _in_days(COMPLAINTS.c.received_on, days))
    return complaints, read_shipments(connection, days)


def read_shipments(connection: Connection, days: set[date] | None) -> pd.DataFrame:
    return _read(connection, SHIPMENTS, _in_days(SHIPMENTS.c.shipped_on, days))


def read_accounts(connection: Connection) -> pd.DataFrame:
    return _read(connection, ACCOUNTS)


def activity_days(connection: Connection) -> set[date]:
    """Every calendar day from the first to the last shipment: the days retention is reported for."""
    first, last = connection.execute(select(func.min(SHIPMENTS.c.shipped_on), func.max(SHIPMENTS.c.shipped_on))).one()
    if first is None:
        return set()
    return _day_range(pd.Timestamp(first).date(), pd.Timestamp(last).date())


def _people_days(connection: Connection, ids: dict[str, list[str]], datasets: set[str]) -> set[date] | None:
    """Compliance and overdue counts are stocks: a change on a day moves every later day up to the as-of day."""
    if {"courses", "role_requirements"} & datasets:
        return None
    touched: set[date] = set()
    columns = (
        TRAINING.c.assigned_on,
        TRAINING.c.due_on,
        TRAINING.c.completed_on,
        EMPLOYEES.c.hired_on,
        EMPLOYEES.c.left_on,
    )
    for column in columns:
        touched |= _touched(connection, column, ids)
    as_of = training_as_of(connection)
    if not touched or as_of is None:
        return set()
    return _day_range(min(touched), as_of)


def people_days(connection: Connection) -> set[date]:
    """Every day from the first assignment to the as-of day: a full rebuild of the people KPIs."""
    first, as_of = connection.scalar(select(func.min(TRAINING.c.assigned_on))), training_as_of(connection)
    if first is None or as_of is None:
        return set()
    return _day_range(pd.Timestamp(first).date(), as_of)


def read_people(connection: Connection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Roster, courses, role requirements and, when there is a roster, every assignment (compliance needs history)."""
    employees = _read(connection, EMPLOYEES)
    if employees.empty:
        return employees, pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    return (
        employees,
        _read(connection, COURSES),
        _read(connection, REQUIREMENTS),
        _read(connection, TRAINING, True),
    )


def _replace_training_outcomes(connection: Connection, now: object, first: date | None) -> None:
    """Rebuild the cross-source table from the period KPIs: every period, or the week and month containing
    ``first`` and those after them (a period's row, and the trailing correlations of the periods after it, change
    with it). A rebuilt period's correlation needs the line's trailing periods before it, so each line's
    ``CORRELATION_WINDOW - 1`` earlier periods are read beside them."""
    from transforms.kpi_tables import CROSS_SOURCE_KPIS, period_start, training_vs_outcomes

    line_rows = and_(kpi_period.c.grain == "line", kpi_period.c.kpi.in_(list(CROSS_SOURCE_KPIS)))
    of_period = {period: and_(line_rows, kpi_period.c.period == period) for period in ("week", "month")}
    rebuilt_from: dict[str, date] = {}
    if first is None:
        periods = _line_periods(connection, or_(*of_period.values()))
    else:
        rebuilt_from = {period: period_start(pd.Series([first]), period).iloc[0] for period in of_period}
        # Most lines report every period: their trailing periods then lie just before the rebuilt ones. Read those;
        # only where a rebuilt line has fewer of them (a gap, a new line) find how far each line reaches back.
        reach = {period: _periods_before(start, period) for period, start in rebuilt_from.items()}
        periods = _line_periods(
            connection, or_(*[and_(of_period[p], kpi_period.c.period_start >= reach[p]) for p in of_period])
        )
        short = [p for p in of_period if not _trailing_periods_read(periods[periods["period"] == p], rebuilt_from[p])]
        if short:
            exact = {p: _trailing_start(connection, of_period[p], rebuilt_from[p]) for p in short}
            reread = _line_periods(
                connection, or_(*[and_(of_period[p], kpi_period.c.period_start >= exact[p]) for p in short])
            )
            periods = pd.concat([periods[~periods["period"].isin(short)], reread], ignore_index=True)
    rows = training_vs_outcomes(periods)
    replaced: ColumnElement[bool] = true()
    if first is not None:
        if not rows.empty:
            rows = rows[rows["period_start"] >= rows["period"].map(rebuilt_from)]
        replaced = or_(
            *[
                and_(training_outcomes.c.period == period, training_outcomes.c.period_start >= start)
                for period, start in rebuilt_from.items()
            ]
        )
    connection.execute(delete(training_outcomes).where(replaced))
    insert_frame(connection, training_outcomes, rows.assign(computed_at=now))


def _line_periods(connection: Connection, condition: ColumnElement[bool]) -> pd.DataFrame:
    wanted = ("kpi", "period", "period_start", "grain", "site_id", "line_id", "value")
    # In the build's transaction (it reads the periods just written); unordered: the outcome table pivots and sorts.
    return _frame(connection, select(*[kpi_period.c[name] for name in wanted]).where(condition), whole=False)


def _periods_before(start: date, period: str) -> date:
    """The start of the ``CORRELATION_WINDOW - 1``-th week or month before the one starting on ``start``."""
    from transforms.kpi_tables import CORRELATION_WINDOW

    back = CORRELATION_WINDOW - 1
    offset = pd.DateOffset(weeks=back) if period == "week" else pd.DateOffset(months=back)
    return (pd.Timestamp(start) - offset).date()


def _trailing_periods_read(periods: pd.DataFrame, rebuilt_from: date) -> bool:
    """Whether every line with a rebuilt week or month (one kind of period) has ``CORRELATION_WINDOW - 1`` earlier
    periods among ``periods``: then its trailing correlations need nothing older."""
    from transforms.kpi_tables import CORRELATION_WINDOW

    known = periods[periods["value"].notna()]  # a period whose values are all NULL is no row of the table
    starts = pd.to_datetime(known["period_start"]).dt.date
    places = known[["site_id", "line_id"]].assign(period_start=starts).drop_duplicates()
    rebuilt = places["period_start"] >= rebuilt_from
    earlier = places[~rebuilt].groupby("line_id").size()
    counts = earlier.reindex(places.loc[rebuilt, "line_id"].unique(), fill_value=0)
    return bool((counts >= CORRELATION_WINDOW - 1).all())


def _trailing_start(connection: Connection, condition: ColumnElement[bool], rebuilt_from: date) -> date:
    """The earliest start among each line's ``CORRELATION_WINDOW - 1`` periods before ``rebuilt_from``: the rows
    the rebuilt periods' trailing correlations reach back to (``rebuilt_from`` itself when there are none). A period
    counts where one of its KPIs has a value: ``training_vs_outcomes`` has no row for one whose values are all NULL."""
    from transforms.kpi_tables import CORRELATION_WINDOW

    earlier = (
        select(kpi_period.c.site_id, kpi_period.c.line_id, kpi_period.c.period_start)
        .where(condition, kpi_period.c.period_start < rebuilt_from, kpi_period.c.value.is_not(None))
        .distinct()
        .subquery()
    )
    back = func.row_number().over(partition_by=earlier.c.line_id, order_by=earlier.c.period_start.desc())
    ranked = select(earlier.c.period_start, back.label("back")).subquery()
    reach = connection.scalar(select(func.min(ranked.c.period_start)).where(ranked.c.back < CORRELATION_WINDOW))
    return rebuilt_from if reach is None else pd.Timestamp(reach).date()


def _add_dates(connection: Connection, days: set[object]) -> None:
    """Add the calendar rows of new KPI days to ``dim_date`` (days already there are left alone)."""
    from transforms.calendar import calendar_rows

    wanted = {pd.Timestamp(d).date() for d in days if d is not None}
    if not wanted:
        return
    known = set(
        _dates(
            connection.scalars(select(dim_date.c.date_day).where(dim_date.c.date_day.between(min(wanted), max(wanted))))
        )
    )
    missing = sorted(wanted - known)
    if missing:
        connection.execute(insert(dim_date), calendar_rows(missing))


def replace_customer_snapshots(connection: Connection, days: set[date] | None, now: object) -> None:
    """Rebuild the account snapshots of the retention family's days (every day on a full rebuild)."""
    from transforms.kpi_tables import customer_snapshots

    chosen = sorted(days if days is not None else activity_days(connection))
    if not chosen:
        return
    rows = customer_snapshots(read_accounts(connection), chosen)
    condition = true() if days is None else customer_snapshot.c.snapshot_date.in_(chosen)
    connection.execute(delete(customer_snapshot).where(condition))
    insert_frame(connection, customer_snapshot, rows.assign(computed_at=now))


def read_run_times(connection: Connection) -> pd.DataFrame:
    """Every run's product, step, start and finish, in the table's own order: what capability judges (a whole fact
    table, read as Arrow where the database streams it)."""
    query = select(RUNS.c.product_id, RUNS.c.step_id, RUNS.c.started_at, RUNS.c.finished_at)
    return _frame(connection, query, whole=True)


def replace_capability(connection: Connection, rows: pd.DataFrame, now: object) -> None:
    """Swap in the capability rows (every product, step and month: they are rebuilt whole)."""
    connection.execute(delete(process_capability))
    if not rows.empty:
        insert_frame(connection, process_capability, rows.assign(computed_at=now))
