"""docs/warehouse.md is generated from the schema; it must match what the schema says now."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.docs import TABLE_DOCS, render
from warehouse.schema import metadata

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"


def test_warehouse_doc_matches_the_schema():
    assert DOC.read_text() == render(), "docs/warehouse.md is stale: run `qp docs`"


def test_every_table_is_documented():
    assert set(metadata.tables) <= set(TABLE_DOCS)
