"""Silence is an event: each dataset's newest delivery against its freshness deadline, as state and as alerts.

The scheme, in the words the README uses:
- A **delivery** is an incremental batch with rows in the ledger, whatever its status (a blocked or failed batch
  was delivered; it has its own alert). Its time is the data's newest change time (``watermark_to``: the newest
  ``updated_at`` it carried); file drops carry no change column, so theirs is the clock of the run that took the
  file (``interval_end``). Backfills, replays and deletion batches are history, not news, and don't count.
- A **rhythm** names the days a source's data comes: ``daily``, ``weekdays`` (Monday to Friday), day ranges or
  lists such as ``mon-sat`` or ``mon,wed,fri``, or ``off``. Data through some instant covers the day before that
  instant (data through Saturday 00:00 is Friday's); the next due day is the first rhythm day after it, and its
  data is **late** ``grace`` after that day ends (UTC). So a survey that delivers on weekdays, silent since Friday,
  is due Monday and late on Tuesday at 06:00 with the default grace of 6 h: the weekend is no silence.
- **Facts** are watched per source by default: any fact of the source counts, so a dataset that is quiet on some
  days (complaints, shipments on weekends) doesn't cry wolf while its source delivers. A dataset named in the
  configuration gets its own deadline. **Dimensions** (master data) change rarely and are not watched unless named.
- A watched subject that never delivered counts from the first run that watched it.

Every judgement uses the clock it is given (the run's), never the wall clock; a run whose clock is older than the
last judgement (a backfill of past days) leaves the state alone.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, func, select

from core.catalog import BY_NAME, DATASETS, SOURCES
from core.dialect import dialect_of
from warehouse import dq_alerts
from warehouse.schema import batch_ledger, source_freshness

WatchedAs = Literal["dataset", "source", "off"]
FRESH, LATE, NEVER_DELIVERED, NOT_WATCHED = "fresh", "late", "never_delivered", "not_watched"

# The rhythm of each source system: production and the ledgers move every day, the survey tool drops on weekdays.
DEFAULT_RHYTHMS: dict[str, str] = {"qms": "daily", "finance": "daily", "lms": "daily", "survey": "weekdays"}
DEFAULT_GRACE_HOURS = 6.0
OFF = "off"
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMED_RHYTHMS = {"daily": frozenset(range(7)), "weekdays": frozenset(range(5))}
_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class Rhythm:
    """The days of the week a subject's data is due (0 = Monday), and the name the configuration gave them."""

    name: str
    days: frozenset[int]


@dataclass(frozen=True)
class Watch:
    """How one dataset is watched: by its own deadline, by its source's, or not at all."""

    dataset: str
    source: str
    watched_as: WatchedAs
    rhythm: Rhythm | None

    @property
    def subject(self) -> str:
        """What a late alert names: the dataset, or its source when the source's deadline watches it."""
        return self.source if self.watched_as == "source" else self.dataset


@dataclass(frozen=True)
class Delivery:
    batch_id: str
    delivered_at: datetime  # the data's newest change time, or the run's clock for file drops


@dataclass(frozen=True)
class Freshness:
    """One dataset's freshness as a run's clock judged it."""

    watch: Watch
    last_delivery: Delivery | None  # the dataset's own newest delivery
    basis: Delivery | None  # the delivery the deadline counts from (the source's newest fact, for source watches)
    basis_at: datetime | None  # basis.delivered_at, or when watching began if nothing was delivered
    deadline_at: datetime | None
    state: str
    is_overdue: bool
    watched_since: datetime | None
    evaluated_at: datetime


def parse_rhythm(text: str) -> Rhythm | None:
    """``daily``, ``weekdays``, ``mon-sat``, ``mon,wed,fri`` (ranges and lists combine), or ``off`` (None)."""
    name = text.strip().lower()
    if name == OFF:
        return None
    if name in _NAMED_RHYTHMS:
        return Rhythm(name, _NAMED_RHYTHMS[name])
    days: set[int] = set()
    for part in name.split(","):
        first, _, last = part.strip().partition("-")
        if first not in _DAY_NAMES or (last and last not in _DAY_NAMES):
            raise ValueError(
                f"freshness rhythm {text!r}: expected daily, weekdays, off, or days such as mon-sat or mon,wed,fri"
            )
        start, end = _DAY_NAMES.index(first), _DAY_NAMES.index(last or first)
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)])
    return Rhythm(name, frozenset(days))


def watch_plan(rhythms: Mapping[str, str]) -> dict[str, Watch]:
    """How every dataset is watched, from per-source or per-dataset rhythms merged over the defaults.

    A name that is neither a source nor a dataset is an error, so a typo doesn't silently watch nothing.
    """
    unknown = sorted(set(rhythms) - set(SOURCES) - set(BY_NAME))
    if unknown:
        raise ValueError(f"freshness: {', '.join(unknown)}: not a source ({', '.join(SOURCES)}) or dataset")
    per_source: dict[str, str] = {**DEFAULT_RHYTHMS, **{k: v for k, v in rhythms.items() if k in SOURCES}}
    plan: dict[str, Watch] = {}
    for dataset in DATASETS:
        if dataset.name in rhythms:
            rhythm = parse_rhythm(rhythms[dataset.name])
            watched_as: WatchedAs = "dataset" if rhythm else "off"
        elif dataset.is_dimension:
            rhythm, watched_as = None, "off"
        else:
            rhythm = parse_rhythm(per_source.get(dataset.source, OFF))
            watched_as = "source" if rhythm else "off"
        plan[dataset.name] = Watch(dataset.name, dataset.source, watched_as, rhythm)
    return plan


def data_day(delivered_at: datetime) -> date:
    """The last day data through ``delivered_at`` covers: through Saturday 00:00 is Friday's data."""
    return (delivered_at - _JUST_BEFORE).date()


def deadline_after(delivered_at: datetime, rhythm: Rhythm, grace: timedelta) -> datetime:
    """When the data of the first rhythm day after the one ``delivered_at`` covers is late."""
    due = data_day(delivered_at) + timedelta(days=1)
    while due.weekday() not in rhythm.days:
        due += timedelta(days=1)
    return datetime.combine(due + timedelta(days=1), time(0)) + grace


def judge(
    plan: Mapping[str, Watch],
    deliveries: Mapping[str, Delivery],
    watched_since: Mapping[str, datetime],
    now: datetime,
    grace: timedelta,
) -> list[Freshness]:
    """Each planned dataset's freshness at ``now``, from the newest deliveries (dataset -> delivery).

    ``watched_since``: when each dataset was first watched; a subject that never delivered counts from then.
    """
    judged = []
    for name, watch in plan.items():
        own = deliveries.get(name)
        if watch.rhythm is None:
            judged.append(Freshness(watch, own, None, None, None, NOT_WATCHED, False, None, now))
            continue
        if watch.watched_as == "source":  # any fact of the source counts
            facts = (w.dataset for w in plan.values() if w.source == watch.source)
            peers = [d for d in facts if not BY_NAME[d].is_dimension]
        else:
            peers = [name]
        delivered = [deliveries[p] for p in peers if p in deliveries]
        basis = max(delivered, key=lambda d: d.delivered_at) if delivered else None
        since = min((watched_since.get(p, now) for p in peers), default=now)
        basis_at = basis.delivered_at if basis else since
        deadline = deadline_after(basis_at, watch.rhythm, grace)
        overdue = now > deadline
        state = NEVER_DELIVERED if basis is None else LATE if overdue else FRESH
        judged.append(Freshness(watch, own, basis, basis_at, deadline, state, overdue, since, now))
    return judged


def alert_message(freshness: Freshness) -> str:
    """The late alert in words: what is silent, since when, and the deadline it missed."""
    watch, deadline = freshness.watch, freshness.deadline_at
    assert watch.rhythm is not None and deadline is not None and freshness.basis_at is not None
    due = f"(deadline {deadline:%Y-%m-%d %H:%M} UTC)"
    if freshness.basis is None:
        began = f"{freshness.basis_at:%Y-%m-%d %H:%M} UTC"
        head = f"no {watch.subject} data delivered since freshness checks began on {began} {due}"
    else:
        head = f"no {watch.subject} data since {data_day(freshness.basis_at):%Y-%m-%d} {due}"
    days = watch.rhythm.name if watch.rhythm.name == "daily" else f"on {watch.rhythm.name}"
    return f"{head}; data is expected {days}. Check the source and its export; this resolves when data arrives"


def newest_deliveries(connection: Connection, datasets: Collection[str]) -> dict[str, Delivery]:
    """Each dataset's newest delivery: incremental batches with rows, any status, ordered by the data's time."""
    delivered_at = func.coalesce(batch_ledger.c.watermark_to, batch_ledger.c.interval_end, batch_ledger.c.landed_at)
    ranked = (
        select(
            batch_ledger.c.dataset,
            batch_ledger.c.batch_id,
            delivered_at.label("delivered_at"),
            func.row_number()
            .over(partition_by=batch_ledger.c.dataset, order_by=(delivered_at.desc(), batch_ledger.c.batch_id.desc()))
            .label("rank"),
        )
        .where(
            batch_ledger.c.dataset.in_(list(datasets)),
            batch_ledger.c.batch_kind == "incremental",
            batch_ledger.c.rows_extracted > 0,
        )
        .subquery()
    )
    rows = connection.execute(
        select(ranked.c.dataset, ranked.c.batch_id, ranked.c.delivered_at).where(ranked.c.rank == 1)
    ).all()
    return {r.dataset: Delivery(r.batch_id, r.delivered_at) for r in rows}


def check(
    engine: Engine,
    now: datetime,
    rhythms: Mapping[str, str],
    grace_hours: float = DEFAULT_GRACE_HOURS,
    sources: Collection[str] | None = None,
) -> list[Freshness]:
    """Judge the freshness of the datasets of ``sources`` (default: all) at ``now``; store it, open or resolve alerts.

    One late alert per silent subject (a source, or a dataset with its own deadline), resolved by the first check
    after data arrives. Returns the judgement, or nothing when a later clock has judged these datasets already.
    """
    plan = {n: w for n, w in watch_plan(rhythms).items() if sources is None or w.source in sources}
    with engine.begin() as connection:
        _serialize(connection)
        stored = {r.dataset: r for r in connection.execute(select(source_freshness)).all()}
        if any(stored[n].evaluated_at > now for n in plan if n in stored):
            return []  # a backfill's clock: the state a later run judged stays
        since = {n: r.watched_since for n, r in stored.items() if r.watched_since is not None and r.watched_as != "off"}
        judged = judge(plan, newest_deliveries(connection, list(plan)), since, now, timedelta(hours=grace_hours))
        for freshness in judged:
            _store(connection, freshness)
        _raise_or_resolve_alerts(connection, judged, now)
    return judged


def _serialize(connection: Connection) -> None:
    """Concurrent checks (one per ingest task) take turns, so two never open the same alert twice."""
    dialect_of(connection).serialize_writers(connection, source_freshness, 0x51F7E5)


def _store(connection: Connection, freshness: Freshness) -> None:
    watch, own = freshness.watch, freshness.last_delivery
    row = {
        "dataset": watch.dataset,
        "source": watch.source,
        "watched_as": watch.watched_as,
        "rhythm": watch.rhythm.name if watch.rhythm else None,
        "last_delivery_at": own.delivered_at if own else None,
        "last_batch_id": own.batch_id if own else None,
        "deadline_basis_at": freshness.basis_at,
        "deadline_at": freshness.deadline_at,
        "state": freshness.state,
        "is_overdue": freshness.is_overdue,
        "watched_since": freshness.watched_since,
        "evaluated_at": freshness.evaluated_at,
    }
    statement = dialect_of(connection).insert(source_freshness).values(**row)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["dataset"], set_={k: statement.excluded[k] for k in row if k != "dataset"}
        )
    )


def _raise_or_resolve_alerts(connection: Connection, judged: list[Freshness], now: datetime) -> None:
    """One alert per overdue subject (the datasets of a source share its deadline); every other one is resolved."""
    overdue = {f.watch.subject: f for f in judged if f.is_overdue}
    for subject, freshness in overdue.items():
        basis = freshness.basis
        observed = {
            "watched_as": freshness.watch.watched_as,
            "rhythm": freshness.watch.rhythm.name if freshness.watch.rhythm else None,
            "last_delivery_at": basis.delivered_at.isoformat() if basis else None,
            "deadline_at": freshness.deadline_at.isoformat() if freshness.deadline_at else None,
        }
        dq_alerts.record_silence(
            connection, subject, basis.batch_id if basis else "", alert_message(freshness), json.dumps(observed), now
        )
    # Fresh again, or no longer watched (the configuration changed): nothing to be late for.
    judged_subjects = {f.watch.dataset for f in judged} | {f.watch.source for f in judged}
    for subject in sorted(judged_subjects - set(overdue)):
        dq_alerts.resolve_silence(connection, subject, now)
