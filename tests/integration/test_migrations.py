"""The migrations create exactly the schema the code declares, on SQLite and PostgreSQL, idempotently."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from warehouse.db import engine_for
from warehouse.migrate import upgrade
from warehouse.schema import metadata

pytestmark = pytest.mark.integration


def test_migrated_schema_matches_the_declared_tables(warehouse_url):
    engine = engine_for(warehouse_url)
    upgrade(engine)
    upgrade(engine)  # a second upgrade is a no-op
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert set(inspect(engine).get_table_names()) >= set(metadata.tables)
    engine.dispose()
    assert diff == []
