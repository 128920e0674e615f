"""The one adapter from a configured URL to a SQLAlchemy engine, and the warehouse object a stage works through.

No other module builds engines. A pipeline stage opens one :class:`Warehouse` and hands it down to everything it
calls, so one engine (one connection pool) serves the stage and is disposed when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from core.dialect import Dialect, dialect_of


def engine_for(url: str) -> Engine:
    """An engine for a warehouse or source URL, made the way its database needs (``core.dialect``)."""
    parsed = make_url(url)
    return dialect_of(parsed).create_engine(parsed)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads, then writes what it read, safe beside other writing processes."""
    with engine.begin() as connection:
        dialect_of(connection).begin_write(connection)
        yield connection


class Warehouse:
    """The warehouse for one stage: its engine and dialect, from the stage's start to its end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)
        self.dialect: Dialect = dialect_of(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def stage_warehouse(url: str, warehouse: Warehouse | None = None) -> Iterator[Warehouse]:
    """The warehouse a stage works through: the one its caller hands down, else one opened for this stage."""
    if warehouse is not None:
        yield warehouse
        return
    with Warehouse(url) as opened:
        yield opened
