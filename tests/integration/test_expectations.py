"""Every expectation of every suite fires on a crafted bad record and holds on good data.

The good data is what the demo run loaded (rows that passed validation), typed the way validation sees it.
For each row-level rule one row of the sample is broken for that rule alone; batch-level checks (freshness,
volume, distribution) are judged on the whole sample with bounds just inside and just outside what it holds.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from core.catalog import DATASETS, Dataset
from core.engine import engine_for
from expectations.context import BatchScope, distribution_band, expectation_parameters
from expectations.runner import BatchValidator
from tests.helpers import read_table
from transforms.conform import conform
from warehouse.history import WarehouseHistory
from warehouse.schema import FACT_TABLES

pytestmark = pytest.mark.integration

ROW_LEVEL = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_values_to_match_regex",
    "expect_compound_columns_to_be_unique",
}


@pytest.fixture(scope="module")
def validator() -> BatchValidator:
    return BatchValidator()


def _suite(dataset: Dataset) -> list[Any]:
    return list(importlib.import_module(f"expectations.{dataset.name}").build_suite().expectations)


def _good_sample(settings: Any, dataset: Dataset, rows: int) -> pd.DataFrame:
    """``rows`` loaded rows of the dataset (repeated with fresh keys if it has fewer), typed as validation sees them."""
    loaded = read_table(settings, FACT_TABLES[dataset.name].name)[list(dataset.columns)]
    sample = pd.concat([loaded] * (rows // len(loaded) + 1), ignore_index=True).head(rows)
    copy = sample.index // len(loaded)
    key = dataset.key[0]  # one key column made unique is enough; the others may be references (role_requirements)
    sample[key] = sample[key].astype(str) + copy.map(lambda n: "" if n == 0 else f"~{n}")
    return conform(sample, dataset).frame.reset_index(drop=True)


def _context(settings: Any, dataset: Dataset, expectations: list[Any], frame: pd.DataFrame) -> dict[str, Any]:
    """The warehouse's real parameters; a replay batch, so history checks are unjudged unless a case sets them."""
    engine = engine_for(settings.warehouse_url)
    try:
        with engine.connect() as connection:
            return expectation_parameters(
                WarehouseHistory(connection), BatchScope("b", dataset.name, "replay", None), expectations, frame
            )
    finally:
        engine.dispose()


def _shift(value: Any, down: bool) -> Any:
    """A value just below (or above) ``value`` in its own type."""
    step = timedelta(days=1) if isinstance(value, pd.Timestamp) else 1
    return value - step if down else value + step


def _break_row(frame: pd.DataFrame, row: int, expectation: Any) -> list[int]:
    """Break ``row`` for ``expectation`` alone; return the rows it must now flag."""
    kind, kw = expectation.expectation_type, expectation.configuration.kwargs
    column = kw.get("column")
    if kind == "expect_column_values_to_not_be_null":
        frame.loc[row, column] = None
    elif kind == "expect_column_values_to_be_unique":
        frame.loc[row + 1, column] = frame.loc[row, column]
        return [row, row + 1]
    elif kind == "expect_compound_columns_to_be_unique":
        for name in kw["column_list"]:
            frame.loc[row + 1, name] = frame.loc[row, name]
        return [row, row + 1]
    elif kind == "expect_column_values_to_be_between":
        low, high = kw.get("min_value"), kw.get("max_value")
        frame.loc[row, column] = low - 1 if low is not None else high + 1
    elif kind in ("expect_column_values_to_be_in_set", "expect_column_values_to_match_regex"):
        frame.loc[row, column] = "NOT-A-KNOWN-VALUE"
    elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kw["column_A"], kw["column_B"]
        anchor_b = frame.loc[row, b] if pd.notna(frame.loc[row, b]) else frame[b].dropna().iloc[0]
        frame.loc[row, b] = anchor_b
        frame.loc[row, a] = _shift(anchor_b, down=True)
    else:
        raise AssertionError(f"no crafted bad row for {kind}")
    return [row]


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda d: d.name)
def test_each_row_level_rule_flags_its_broken_row_and_nothing_else(demo_warehouse, validator, dataset):
    settings, _ = demo_warehouse
    expectations = [e for e in _suite(dataset) if e.expectation_type in ROW_LEVEL]
    frame = _good_sample(settings, dataset, rows=3 * len(expectations) + 20)
    parameters = _context(settings, dataset, _suite(dataset), frame)

    clean = validator.validate(dataset.name, frame, "clean", parameters)
    assert clean.row_failures == {} and clean.batch_failures == [], "good data must pass"
    assert all(r.success for r in clean.results)

    expected: dict[str, list[int]] = {}
    for i, expectation in enumerate(expectations):
        expected[expectation.meta["rule"]] = _break_row(frame, 3 * i, expectation)
    outcome = validator.validate(dataset.name, frame, "crafted", parameters)
    flagged = {
        rule: [row for row, rules in outcome.row_failures.items() if f"rule: {rule}" in rules] for rule in expected
    }
    missed = {rule: rows for rule, rows in expected.items() if not set(rows) <= set(flagged[rule])}
    assert missed == {}, "rules that did not flag their broken row"
    broken = {row for rows in expected.values() for row in rows}
    assert set(outcome.row_failures) <= broken, "a good row was flagged"


@pytest.mark.parametrize(
    "dataset", [d for d in DATASETS if any(e.meta.get("check") == "fresh" for e in _suite(d))], ids=lambda d: d.name
)
def test_stale_data_blocks_the_batch(demo_warehouse, validator, dataset):
    settings, _ = demo_warehouse
    expectations = _suite(dataset)
    (fresh,) = [e for e in expectations if e.meta.get("check") == "fresh"]
    frame = _good_sample(settings, dataset, rows=50)
    parameters = _context(settings, dataset, expectations, frame)
    newest = frame[fresh.configuration.kwargs["column"]].max()

    on_time = validator.validate(dataset.name, frame, "fresh", {**parameters, "fresh_after": newest})
    stale = validator.validate(
        dataset.name, frame, "stale", {**parameters, "fresh_after": newest + timedelta(seconds=1)}
    )

    assert on_time.batch_failures == []
    assert len(stale.batch_failures) == 1 and stale.batch_failures[0].startswith(fresh.meta["rule"])


@pytest.mark.parametrize(
    "dataset", [d for d in DATASETS if any(e.meta.get("check") == "volume" for e in _suite(d))], ids=lambda d: d.name
)
def test_volume_collapse_blocks_and_a_surge_warns(demo_warehouse, validator, dataset):
    settings, _ = demo_warehouse
    expectations = _suite(dataset)
    frame = _good_sample(settings, dataset, rows=50)
    parameters = _context(settings, dataset, expectations, frame)

    typical = validator.validate(
        dataset.name, frame, "typical", {**parameters, "volume_floor": 50, "volume_ceiling": 50}
    )
    collapse = validator.validate(dataset.name, frame, "collapse", {**parameters, "volume_floor": 51})
    surge = validator.validate(dataset.name, frame, "surge", {**parameters, "volume_ceiling": 49})

    assert typical.batch_failures == [] and typical.warnings == []
    assert len(collapse.batch_failures) == 1 and "row count at least" in collapse.batch_failures[0]
    assert surge.batch_failures == [] and [w.rule for w in surge.warnings] == [
        e.meta["rule"] for e in expectations if e.meta.get("bound") == "ceiling"
    ]


@pytest.mark.parametrize("column", ["nps_score", "csat_score"])
def test_a_shifted_or_collapsed_score_distribution_warns_and_loads(demo_warehouse, validator, column):
    settings, _ = demo_warehouse
    dataset = next(d for d in DATASETS if d.name == "feedback")
    expectations = _suite(dataset)
    frame = _good_sample(settings, dataset, rows=200)
    scores = frame[column].dropna().astype(float)
    band = distribution_band(scores.mean(), scores.std(), len(frame), standard_errors=4.0)
    parameters = {
        **_context(settings, dataset, expectations, frame),
        **dict(
            zip(
                [f"{column}_mean_min", f"{column}_mean_max", f"{column}_stdev_min", f"{column}_stdev_max"],
                band,
                strict=True,
            )
        ),
    }
    low = 0 if column == "nps_score" else 1

    usual = validator.validate(dataset.name, frame, "usual", parameters)
    shifted = validator.validate(
        dataset.name, frame.assign(**{column: frame[column].where(frame.index % 2 == 0, low)}), "shifted", parameters
    )
    flat = validator.validate(dataset.name, frame.assign(**{column: int(scores.median())}), "flat", parameters)

    assert usual.warnings == []
    assert f"mean {column} within the band of its history" in [w.rule for w in shifted.warnings]
    assert f"spread of {column} within the band of its history" in [w.rule for w in flat.warnings]
    assert shifted.batch_failures == flat.batch_failures == []  # a warning: the rows load


def test_every_rule_is_covered_by_a_crafted_case():
    """A new kind of expectation needs a crafted bad record here before it can ship."""
    checks = {"fresh", "volume", "distribution"}
    uncovered = [
        (d.name, e.meta["rule"])
        for d in DATASETS
        for e in _suite(d)
        if e.expectation_type not in ROW_LEVEL and e.meta.get("check") not in checks
    ]
    assert uncovered == []


def test_a_referential_check_is_unarmed_while_its_dimension_is_empty(demo_warehouse, settings, validator):
    """Feedback arriving before any master data (or where no CRM feeds customers) loads, its checks recorded as
    not judged; against a warehouse that has the dimensions, an unknown customer is quarantined."""
    demo_settings, _ = demo_warehouse
    dataset = next(d for d in DATASETS if d.name == "feedback")
    frame = _good_sample(demo_settings, dataset, rows=40)
    frame.loc[0, "customer_id"] = "C-NOBODY"

    empty = validator.validate(dataset.name, frame, "early", _context(settings, dataset, _suite(dataset), frame))
    armed = validator.validate(dataset.name, frame, "armed", _context(demo_settings, dataset, _suite(dataset), frame))

    known = "customer_id is a known customer_accounts"
    assert empty.row_failures == {} and [r.judged for r in empty.results if r.rule == known] == [False]
    assert armed.row_failures == {0: [f"rule: {known}"]} and [r.judged for r in armed.results if r.rule == known] == [
        True
    ]
