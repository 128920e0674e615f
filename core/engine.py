"""The one adapter from a configured URL to a SQLAlchemy engine; no other module builds engines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def engine_for(url: str) -> Engine:
    """An engine for a warehouse or source URL; plain ``postgresql://`` URLs get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets BI readers query while a load writes; foreign keys are off by default in SQLite.
    cursor.execute("pragma journal_mode=wal")
    cursor.execute("pragma foreign_keys=on")
    cursor.close()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads, then writes what it read, safe beside other writing processes.

    SQLite's ordinary transaction takes its write lock at the first write; if another process committed since this
    one first read, that upgrade fails at once with "database is locked" (no busy wait can help). On SQLite the
    transaction takes the write lock up front (``BEGIN IMMEDIATE``, waiting up to the busy timeout); PostgreSQL
    needs nothing of the kind.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection


def driver_connection(connection: Connection) -> Any:
    """The DB-API connection (psycopg on PostgreSQL) under a SQLAlchemy connection, in its transaction."""
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("the SQLAlchemy connection has no open DB-API connection")
    return raw
