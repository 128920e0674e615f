"""Typing raw batches: each value that does not fit its column is named, never silently dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from core.catalog import FEEDBACK
from core.records import PARSE_ERROR
from transforms.conform import conform, exact_duplicates, row_hashes

pytestmark = pytest.mark.unit


def _raw(**overrides: object) -> dict[str, object]:
    row = {
        "response_id": "R1",
        "responded_at": "2026-11-01T09:00:00",
        "customer_id": "C1",
        "site_id": "S1",
        "nps_score": "9",
        "csat_score": "5",
        "comment": None,
        PARSE_ERROR: None,
    }
    return {**row, **overrides}


def test_values_that_do_not_fit_their_type_are_named_with_the_column():
    raw = pd.DataFrame(
        [
            _raw(),
            _raw(response_id="R2", nps_score="ten"),
            _raw(response_id="R3", nps_score="7.5"),
            _raw(response_id="R4", responded_at="yesterday"),
        ]
    )
    conformed = conform(raw, FEEDBACK)
    assert conformed.row_errors == {
        1: ["type: nps_score 'ten' is not a valid int"],
        2: ["type: nps_score '7.5' is not a valid int"],
        3: ["type: responded_at 'yesterday' is not a valid datetime"],
    }
    assert conformed.frame.loc[0, "nps_score"] == 9
    assert str(conformed.frame["nps_score"].dtype) == "Int64"


def test_an_empty_optional_value_is_missing_not_an_error():
    conformed = conform(pd.DataFrame([_raw(csat_score="", comment="")]), FEEDBACK)
    assert conformed.row_errors == {}
    assert pd.isna(conformed.frame.loc[0, "csat_score"])


def test_a_missing_required_column_fails_the_whole_batch():
    raw = pd.DataFrame([_raw()]).drop(columns=["nps_score"])
    assert conform(raw, FEEDBACK).batch_error == "missing required column(s): nps_score"


def test_parse_errors_from_extraction_are_carried_to_the_row():
    raw = pd.DataFrame({"_raw_line": ["garbage"], PARSE_ERROR: ["file could not be parsed: bad bytes"]})
    conformed = conform(raw, FEEDBACK)
    assert conformed.batch_error is None
    assert conformed.row_errors == {0: ["parse: file could not be parsed: bad bytes"]}


def test_exact_duplicates_and_row_hashes():
    frame = pd.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "x"]})
    assert exact_duplicates(frame).tolist() == [False, True, False]
    hashes = row_hashes(frame)
    assert hashes[0] == hashes[1] != hashes[2] and len(hashes[0]) == 16
