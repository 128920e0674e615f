"""Fill the bounds of a suite's context checks for one batch: from the warehouse's dimensions and history.

The suites in ``expectations/`` stay static code; what depends on the warehouse (which lines exist, how many
rows a day usually brings, how scores are usually spread) reaches GX as expectation parameters, computed here
for each batch. Only incremental batches are judged on freshness, volume and distribution: a backfill or a
replay of quarantined rows is history by design, and a bound of ``None`` leaves it unjudged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

VOLUME_HISTORY_WEEKS = 4  # the trailing average covers this many earlier batches of the same weekday...
VOLUME_MIN_HISTORY = 3  # ...and needs at least this many to judge
DISTRIBUTION_HISTORY_DAYS = 90
DISTRIBUTION_MIN_HISTORY_ROWS = 200
DISTRIBUTION_MIN_BATCH_ROWS = 30  # below this a batch's mean says too little to judge


class WarehouseHistory(Protocol):
    """What the context checks read from the warehouse, handed to them (``warehouse.history`` serves it)."""

    def known_keys(self, dimension: str) -> list[str]:
        """Every key of ``dimension`` (a dataset name) that the warehouse holds."""
        ...

    def incremental_batches(self, dataset: str, until: datetime) -> pd.DataFrame:
        """The dataset's incremental batches up to ``until``, oldest first: batch_id, interval_end,
        rows_extracted, status."""
        ...

    def value_moments(
        self, dataset: str, column: str, time_column: str, since: datetime, until: datetime, other_than: str
    ) -> tuple[int, float | None, float | None]:
        """(count, mean, mean of squares) of ``column`` over loaded rows in [since, until), batch ``other_than``
        aside."""
        ...


@dataclass(frozen=True)
class BatchScope:
    """What the checks need to know about the batch under validation."""

    batch_id: str
    dataset: str
    kind: str  # incremental, backfill or replay
    interval_end: datetime | None

    @property
    def judged_on_history(self) -> bool:
        return self.kind == "incremental" and self.interval_end is not None


def expectation_parameters(
    history: WarehouseHistory, scope: BatchScope, expectations: list[Any], frame: pd.DataFrame
) -> dict[str, Any]:
    """The parameter values for the context checks among ``expectations``, for the batch's typed ``frame``."""
    rows = len(frame)
    parameters: dict[str, Any] = {}
    expected_rows: float | None = None
    volume_looked_up = False  # the floor and the ceiling share one history query
    for expectation in expectations:
        meta = expectation.meta or {}
        check = meta.get("check")
        if check == "known":
            dimension = meta["dimension"]
            keys = history.known_keys(dimension)
            # An empty dimension (its master data not loaded yet, or not a source here) can't judge references:
            # the check is unarmed, passes, and is recorded as not judged, instead of quarantining every row.
            parameters[f"known_{dimension}"] = keys or sorted(set(frame[expectation.column].dropna().astype(str)))
            parameters[f"known_{dimension}_armed"] = bool(keys)
        elif check == "fresh":
            # A batch without a usable row (every row failed to parse, say) has no newest record to judge.
            judged = scope.judged_on_history and not frame.empty
            parameters["fresh_after"] = (
                scope.interval_end - timedelta(hours=meta["lag_hours"]) if judged else None  # type: ignore[operator]
            )
        elif check == "volume":
            if not volume_looked_up:
                expected_rows, volume_looked_up = expected_volume(history, scope), True
            bound = None if expected_rows is None else meta["share"] * expected_rows
            parameters["volume_floor" if meta["bound"] == "floor" else "volume_ceiling"] = bound
        elif check == "distribution":
            parameters.update(
                distribution_bounds(
                    history, scope, expectation.column, meta["time_column"], meta["standard_errors"], rows
                )
            )
    return parameters


def expected_volume(history: WarehouseHistory, scope: BatchScope) -> float | None:
    """The rows a daily batch is expected to bring: the average of the same weekday's earlier daily batches.

    Plants and offices keep weekly rhythms (no production on Sundays, few surveys on Saturdays), so a Sunday is
    compared with Sundays. A batch's span is the time since the dataset's previous incremental batch; only
    batches spanning about a day are judged and used as history (event-triggered top-ups and catch-ups are
    neither). ``None`` when the batch isn't judged: not incremental, not daily, or fewer than
    ``VOLUME_MIN_HISTORY`` earlier batches of its weekday.
    """
    if not scope.judged_on_history or scope.interval_end is None:
        return None
    batches = history.incremental_batches(scope.dataset, scope.interval_end)
    batches["interval_end"] = pd.to_datetime(batches["interval_end"])
    span = batches["interval_end"].diff()
    batches["daily"] = span.between(timedelta(hours=12), timedelta(hours=36))
    batches["weekday"] = (batches["interval_end"] - span / 2).dt.weekday
    mine = batches.index[batches["batch_id"] == scope.batch_id]
    if mine.empty or not batches.loc[mine[0], "daily"]:
        return None
    earlier = batches.loc[: mine[0] - 1]
    same_weekday = earlier[
        (earlier["status"] == "loaded") & earlier["daily"] & (earlier["weekday"] == batches.loc[mine[0], "weekday"])
    ].tail(VOLUME_HISTORY_WEEKS)
    if len(same_weekday) < VOLUME_MIN_HISTORY:
        return None
    return float(same_weekday["rows_extracted"].mean())


def distribution_bounds(
    history: WarehouseHistory, scope: BatchScope, column: str, time_column: str, standard_errors: float, rows: int
) -> dict[str, float | None]:
    """Bounds for the batch's mean and standard deviation of ``column``: its history's, give or take
    ``standard_errors`` standard errors of a batch of ``rows`` rows (sd / sqrt(n) for the mean, about
    sd / sqrt(2(n - 1)) for the standard deviation of a roughly normal variable)."""
    names = [f"{column}_mean_min", f"{column}_mean_max", f"{column}_stdev_min", f"{column}_stdev_max"]
    unjudged: dict[str, float | None] = dict.fromkeys(names)
    if not scope.judged_on_history or scope.interval_end is None or rows < DISTRIBUTION_MIN_BATCH_ROWS:
        return unjudged
    since = scope.interval_end - timedelta(days=DISTRIBUTION_HISTORY_DAYS)
    # Its own rows aside, on a replay.
    count, mean, mean_square = history.value_moments(
        scope.dataset, column, time_column, since, scope.interval_end, scope.batch_id
    )
    if count < DISTRIBUTION_MIN_HISTORY_ROWS or mean is None or mean_square is None:
        return unjudged
    sd = math.sqrt(max(float(mean_square) - float(mean) ** 2, 0.0) * count / (count - 1))
    return dict(zip(names, distribution_band(float(mean), sd, rows, standard_errors), strict=True))


def distribution_band(mean: float, sd: float, rows: int, standard_errors: float) -> tuple[float, float, float, float]:
    """(mean min, mean max, sd min, sd max) for a batch of ``rows`` rows from a history of ``mean`` and ``sd``."""
    mean_band = standard_errors * sd / math.sqrt(rows)
    sd_band = standard_errors * sd / math.sqrt(2 * (rows - 1))
    return mean - mean_band, mean + mean_band, max(sd - sd_band, 0.0), sd + sd_band
