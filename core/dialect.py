"""Every difference between the two databases QualityPulse runs on: SQLite (embedded, the default) and PostgreSQL.

The warehouse and the source databases are either. Code elsewhere asks its connection's dialect
(:func:`dialect_of`) for what differs, and never tests a database's name itself: how an engine is made, how a
writing transaction starts, upserts, bulk staging, advisory locks, BI view names, day arithmetic in view SQL,
comments, string collation, and how a source's rows are streamed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
from sqlalchemy import (
    URL,
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Select,
    String,
    Table,
    Text,
    create_engine,
    event,
    false,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

BI_SCHEMA = "bi"
_SQLITE_CHUNK = 50_000
_COPY_ROWS = 100_000
# Bulk staging casts staged values to the target's types (for example int8 to int4) on insert.
_ARROW_TYPES: dict[type, pa.DataType] = {
    String: pa.string(),
    Text: pa.string(),
    Integer: pa.int64(),
    BigInteger: pa.int64(),
    Float: pa.float64(),
    Date: pa.date32(),
    DateTime: pa.timestamp("us"),
    Boolean: pa.bool_(),
}


log = logging.getLogger(__name__)

# An INSERT with ``on_conflict_do_update`` and ``excluded``: both databases have one, each its own class.
Upsert = postgresql.Insert | sqlite.Insert


class Dialect:
    """What one database does its own way. The warehouse runs on SQLite or PostgreSQL; a source may be any
    database SQLAlchemy reaches, which needs only an engine and a cursor."""

    name: ClassVar[str]
    # Whether a source database of this kind streams its rows as Arrow (ADBC, binary COPY underneath).
    streams_arrow: ClassVar[bool] = False
    # Whether views and columns carry comments (BI tools show them).
    comments: ClassVar[bool] = False
    # Whether locks that outlive a transaction exist (a claim held by a live process, freed when it dies).
    session_locks: ClassVar[bool] = False
    # Whether login roles and grants exist (a read-only BI role); an SQLite file is guarded by file permissions.
    roles: ClassVar[bool] = False
    # Whether a second connection reads in parallel with a writing one (a server process each); an SQLite file is
    # read and written by the calling process itself.
    concurrent_reads: ClassVar[bool] = False

    def create_engine(self, url: URL) -> Engine:
        raise NotImplementedError

    def database_file(self, url: URL) -> Path | None:
        """The file that holds the database, for a database that is a file; None for a server's."""
        return None

    def begin_write(self, connection: Connection) -> None:
        """Start a transaction that reads, then writes what it read, safe beside other writing processes."""

    def commit_without_flush(self, connection: Connection) -> None:
        """Let this transaction's commit return before its log reaches the disk, for a transaction that writes only
        what can be derived again from the facts (the KPI tables) and marks the batches built: a crash may undo the
        whole of it, never part of it, and the next build redoes it."""

    def insert(self, table: Table) -> Upsert:
        """An INSERT that can ``on_conflict_do_update`` (an upsert)."""
        raise NotImplementedError

    def stage_rows(self, connection: Connection, stage: Table, target: Table, frame: pd.DataFrame) -> None:
        """Create the temporary table ``stage`` in the caller's transaction and fill it with ``frame``, in bulk."""
        raise NotImplementedError

    def append_rows(self, connection: Connection, target: Table, frame: pd.DataFrame) -> bool:
        """Append ``frame`` to ``target`` directly if that is this database's fastest path; False: stage it."""
        return False

    def serialize_writers(self, connection: Connection, table: Table, key: int) -> None:
        """Make concurrent transactions that call this with ``key`` take turns until they end."""
        raise NotImplementedError

    def refresh_statistics(self, connection: Connection, table: Table, changed_rows: int) -> None:
        """After a load changed ``changed_rows`` rows of ``table``: bring what the query planner knows of it up to
        date, so the next query (a KPI build right after the load) finds the rows through the indexes."""

    def try_session_lock(self, connection: Connection, key: str) -> bool:
        """Take a lock named ``key`` for the connection's life; False when another session holds it."""
        raise NotImplementedError

    def arrow_batches(self, engine: Engine, query: Select[Any], chunk_rows: int) -> Iterator[pa.RecordBatch]:
        """The query's rows as Arrow record batches of about ``chunk_rows`` rows (where ``streams_arrow``)."""
        raise NotImplementedError(f"{self.name} does not stream Arrow")

    def read_arrow(self, engine: Engine, query: Select[Any]) -> pa.Table:
        """The query's whole result as one Arrow table, on a connection of its own (where ``streams_arrow``): for
        rows the reading transaction did not write itself."""
        raise NotImplementedError(f"{self.name} does not stream Arrow")

    def read_arrow_in(self, connection: Connection, query: Select[Any]) -> pa.Table:
        """The query's result as one Arrow table, read in the connection's own transaction (where
        ``streams_arrow``): a few thousand rows, where a connection of its own would cost more than it saves."""
        raise NotImplementedError(f"{self.name} does not stream Arrow")

    def view_name(self, name: str) -> str:
        raise NotImplementedError

    def day_of(self, sql: str) -> str:
        """View SQL with ``day_of(timestamp)`` spelled as this database's calendar day of a timestamp, and
        ``hours_between(start, end)`` as the hours from one timestamp to another (NULL if either is)."""
        raise NotImplementedError


class SQLiteDialect(Dialect):
    name = "sqlite"

    def database_file(self, url: URL) -> Path | None:
        return Path(url.database) if url.database and url.database != ":memory:" else None

    def create_engine(self, url: URL) -> Engine:
        if (path := self.database_file(url)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def begin_write(self, connection: Connection) -> None:
        # SQLite's ordinary transaction takes its write lock at the first write; if another process committed since
        # this one first read, that upgrade fails at once with "database is locked" (no busy wait can help). So
        # the write lock is taken up front, waiting up to the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    def insert(self, table: Table) -> Upsert:
        return sqlite.insert(table)

    def stage_rows(self, connection: Connection, stage: Table, target: Table, frame: pd.DataFrame) -> None:
        stage.create(connection)
        _insert_many(connection, stage, frame)

    def append_rows(self, connection: Connection, target: Table, frame: pd.DataFrame) -> bool:
        _insert_many(connection, target, frame)  # batched executemany is SQLite's fastest path
        return True

    def serialize_writers(self, connection: Connection, table: Table, key: int) -> None:
        # A write first: SQLite then holds its one write lock for the rest of the transaction.
        connection.execute(table.update().where(false()).values({next(iter(table.columns)).name: None}))

    def try_session_lock(self, connection: Connection, key: str) -> bool:
        return True  # one writer at a time anyway; claims are judged by their process and age

    def view_name(self, name: str) -> str:
        return f"{BI_SCHEMA}_{name}"  # no schemas in SQLite: a prefix

    def day_of(self, sql: str) -> str:
        sql = re.sub(r"hours_between\(([^(),]*),([^(),]*)\)", r"((julianday(\2) - julianday(\1)) * 24)", sql)
        return re.sub(r"day_of\(([^()]*)\)", r"date(\1)", sql)  # SQLite has no cast to date


class PostgreSQLDialect(Dialect):
    name = "postgresql"
    streams_arrow = True
    comments = True
    session_locks = True
    roles = True
    concurrent_reads = True

    def create_engine(self, url: URL) -> Engine:
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")  # psycopg 3 for plain postgresql:// URLs
        # No JIT: the warehouse's queries take milliseconds to a second, and compiling one cost 65 ms of a 0.9 s
        # query here (measured on the benchmark year's defects), more than it ever saved. A random page read costs
        # about what a sequential one does where the hot tables sit in memory or on SSD; at PostgreSQL's default
        # (4, for spinning disks) the planner read all 5 M defects of the benchmark year to total a month's runs
        # (720 ms) instead of their 19 k rows by index (51 ms).
        # Dates in ISO and floats printed exactly, whatever the server or role defaults to: the Arrow reads parse
        # PostgreSQL's text output (``read_arrow_in``).
        options = "-c jit=off -c random_page_cost=1.1 -c datestyle=ISO,MDY -c extra_float_digits=1"
        return create_engine(url, pool_pre_ping=True, connect_args={"options": options})

    def commit_without_flush(self, connection: Connection) -> None:
        # Asynchronous commit: atomic and consistent still, only the last moments' commits can be lost in a crash.
        connection.exec_driver_sql("set local synchronous_commit = off")

    def insert(self, table: Table) -> Upsert:
        return postgresql.insert(table)

    def refresh_statistics(self, connection: Connection, table: Table, changed_rows: int) -> None:
        """What autovacuum would do some time later (or never, where it is off), done before the load commits:
        summarize the block ranges the load appended to the table's BRIN indexes (an unsummarized range matches
        every query, so a BRIN index is useless until then), and ANALYZE a table that was never analyzed or that
        the load changed by more than a tenth (autovacuum's own threshold). Without statistics, the planner read the
        5 M defects in full to find one day's batch (0.9 s, against 40 ms with them; benchmark year).

        Both need the table's owner: a load run by another role skips them (a warning), in a savepoint so that the
        load itself goes on."""
        try:
            with connection.begin_nested():
                self._refresh_statistics(connection, table, changed_rows)
        except DBAPIError as error:
            log.warning("statistics of %s left to autovacuum (%s)", table.name, type(error.orig).__name__)

    def _refresh_statistics(self, connection: Connection, table: Table, changed_rows: int) -> None:
        connection.execute(
            text(
                "select brin_summarize_new_values(i.indexrelid) from pg_index i"
                " join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam"
                " where i.indrelid = cast(:table as regclass) and a.amname = 'brin'"
            ),
            {"table": table.name},
        )
        estimated = connection.scalar(
            text("select reltuples from pg_class where oid = cast(:table as regclass)"), {"table": table.name}
        )
        if estimated is None or estimated < 0 or changed_rows > estimated / 10:
            connection.exec_driver_sql(f'analyze "{table.name}"')

    def stage_rows(self, connection: Connection, stage: Table, target: Table, frame: pd.DataFrame) -> None:
        """The frame as Arrow, encoded by pgpq as binary COPY (Rust, no Python per row) into the temporary table.

        Measured here on 1 M defect rows: CSV COPY via pyarrow ran the whole load at 0.22 M rows/s, binary COPY
        via pgpq at 0.40 M. The stage takes pgpq's own types; the insert from it casts them to the target's.
        """
        encoder, arrow = _encoded(target, frame)
        # pgpq's own DDL, but with text compared bytewise like the target's columns (a join across collations fails).
        columns_ddl = [
            f'"{name}" {column.data_type.ddl()}' + (' collate "C"' if column.data_type.ddl() == "TEXT" else "")
            for name, column in zip(arrow.schema.names, encoder.schema().columns, strict=True)
        ]
        connection.exec_driver_sql(f"create temporary table {stage.name} ({', '.join(columns_ddl)})")
        _copy(connection, stage.name, encoder, arrow)

    def append_rows(self, connection: Connection, target: Table, frame: pd.DataFrame) -> bool:
        """Binary COPY straight into the target when each column's binary form is the target's own (text, floats,
        dates, timestamps, booleans): no stage, no second write. An integer column (int8 against int4) is staged."""
        if any(type(target.c[name].type) not in _SAME_BINARY for name in frame.columns):
            return False
        encoder, arrow = _encoded(target, frame)
        _copy(connection, target.name, encoder, arrow)
        return True

    def arrow_batches(self, engine: Engine, query: Select[Any], chunk_rows: int) -> Iterator[pa.RecordBatch]:
        with _adbc_result(engine, query, batch_size_hint_bytes=chunk_rows * 100) as cursor:
            yield from cursor.fetch_record_batch()

    def read_arrow(self, engine: Engine, query: Select[Any]) -> pa.Table:
        with _adbc_result(engine, query) as cursor:
            return cursor.fetch_arrow_table()

    def read_arrow_in(self, connection: Connection, query: Select[Any]) -> pa.Table:
        # COPY out as CSV, parsed by Arrow's C++ reader and typed by the query's columns: 17,500 training
        # assignments took 85-190 ms as Python tuples through the driver and pandas, 40-90 ms this way. NULL is an
        # unquoted empty field (an empty line for a one-column row), an empty string a quoted one; sessions print
        # dates in ISO and floats exactly (``create_engine``), whatever the server's defaults.
        import pyarrow.csv as csv

        schema = pa.schema([(column.name, _ARROW_TYPES[type(column.type)]) for column in query.selected_columns])
        data = bytearray()
        with (
            driver_connection(connection).cursor() as cursor,
            cursor.copy(f"copy ({_literal_sql(query)}) to stdout (format csv)") as copy,
        ):
            for block in copy:
                data += block
        if not data:
            return schema.empty_table()
        return csv.read_csv(
            pa.py_buffer(data),
            read_options=csv.ReadOptions(column_names=schema.names),
            # A quoted value may hold a line break (free-text comments); a NULL alone on its line is a row.
            parse_options=csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=csv.ConvertOptions(
                column_types=schema,
                null_values=[""],  # not Arrow's default list, which reads a site called "NA" as NULL
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )

    def serialize_writers(self, connection: Connection, table: Table, key: int) -> None:
        connection.execute(select(func.pg_advisory_xact_lock(literal(key))))

    def try_session_lock(self, connection: Connection, key: str) -> bool:
        held = bool(connection.scalar(text("select pg_try_advisory_lock(hashtext(:key))"), {"key": key}))
        connection.commit()
        return held

    def view_name(self, name: str) -> str:
        return f"{BI_SCHEMA}.{name}"

    def day_of(self, sql: str) -> str:
        sql = re.sub(r"hours_between\(([^(),]*),([^(),]*)\)", r"(extract(epoch from (\2 - \1)) / 3600)", sql)
        return re.sub(r"day_of\(([^()]*)\)", r"cast(\1 as date)", sql)


class OtherDialect(Dialect):
    """Any other database SQLAlchemy reaches: a source system's (the warehouse is SQLite or PostgreSQL)."""

    name = "other"

    def create_engine(self, url: URL) -> Engine:
        return create_engine(url, pool_pre_ping=True)


_DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLiteDialect(), PostgreSQLDialect())}
_OTHER = OtherDialect()


def dialect_of(bind: Engine | Connection | URL | str) -> Dialect:
    """The dialect of an engine, a connection, a URL (or its text) or a database name."""
    if isinstance(bind, (Engine, Connection)):
        name = bind.dialect.name
    elif isinstance(bind, URL) or "://" in bind:
        name = make_url(bind).get_backend_name()
    else:
        name = bind
    name = "postgresql" if name == "postgres" else name
    return _DIALECTS.get(name, _OTHER)


def bytewise(string_type: String) -> TypeEngine[Any]:
    """A string type that compares bytewise ("C" collation) on PostgreSQL too (SQLite compares bytewise already).

    Keys here are identifiers, and a locale collation (even C.UTF-8) makes PostgreSQL compare them with ``strcoll``
    and sort without abbreviated keys: measured on 5 M defect rows, the merge into the keyed fact table took 17.4 s
    with the database's C.UTF-8 collation and 13.5 s with "C". UTF-8 byte order is code point order, the same order
    C.UTF-8 gives, so nothing a user sees changes.
    """
    variant = type(string_type)(length=string_type.length, collation="C")
    return string_type.with_variant(variant, "postgresql")


# Index options for a column whose values follow load order (a batch's rows lie together on disk): PostgreSQL keeps
# a block-range index, one summary per 128 pages, which a 5 M-row load maintains almost for free where a B-tree on
# the batch column cost 20% of the load; the days a batch touched are then found without scanning the table.
# (SQLite ignores the option: a plain index on its small tables.)
LOAD_ORDER_INDEX: dict[str, Any] = {"postgresql_using": "brin"}


# Column types whose binary COPY form is the same for pgpq's Arrow encoding and the target's declared type.
_SAME_BINARY = (String, Text, Float, Date, DateTime, Boolean)


def _encoded(target: Table, frame: pd.DataFrame) -> tuple[Any, pa.Table]:
    from pgpq import ArrowToPostgresBinaryEncoder

    # An explicit schema from the target table, so a column that is all null still has its type.
    schema = pa.schema([(name, _ARROW_TYPES[type(target.c[name].type)]) for name in frame.columns])
    arrow = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return ArrowToPostgresBinaryEncoder(arrow.schema), arrow


def _copy(connection: Connection, table: str, encoder: Any, arrow: pa.Table) -> None:
    """COPY ``arrow`` in PostgreSQL's binary format into ``table``, in the connection's transaction."""
    raw = driver_connection(connection)  # the psycopg connection of this transaction
    columns = ", ".join(f'"{c}"' for c in arrow.schema.names)
    with raw.cursor() as cursor, cursor.copy(f"copy {table} ({columns}) from stdin (format binary)") as copy:
        copy.write(encoder.write_header())
        for batch in arrow.to_batches(max_chunksize=_COPY_ROWS):
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())


def _literal_sql(query: Select[Any]) -> str:
    """The query as PostgreSQL text with its values inline, for statements sent without parameters (COPY, ADBC's
    streaming path). Rendered for a named-parameter driver: psycopg's own rendering doubles every ``%`` for its
    parameter syntax, which a statement sent as-is would keep (``'50%%'`` matches nothing)."""
    return str(query.compile(dialect=_NAMED_PARAMETERS, compile_kwargs={"literal_binds": True}))


_NAMED_PARAMETERS = postgresql.psycopg.dialect(paramstyle="named")


@contextmanager
def _adbc_result(engine: Engine, query: Select[Any], batch_size_hint_bytes: int | None = None) -> Iterator[Any]:
    """An ADBC cursor (its own PostgreSQL connection) that has run ``query``, its result waiting as Arrow."""
    import adbc_driver_postgresql.dbapi as adbc

    # Bounds inline (rendered and quoted by SQLAlchemy; they are our own timestamps): with bound parameters the
    # driver runs a prepared statement and holds the whole result in memory (measured: 1.9 GB for 5 M rows);
    # without, it streams the result with COPY (0.2 GB).
    sql = _literal_sql(query)
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc.connect(uri) as connection, connection.cursor() as cursor:
        if batch_size_hint_bytes is not None:
            cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_size_hint_bytes)})
        cursor.execute(sql)
        yield cursor


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets BI readers query while a load writes; foreign keys are off by default in SQLite.
    cursor.execute("pragma journal_mode=wal")
    cursor.execute("pragma foreign_keys=on")
    cursor.close()


def _insert_many(connection: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Batched ``executemany``, NaN and NaT as NULL."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for start in range(0, len(records), _SQLITE_CHUNK):
        connection.execute(table.insert(), records[start : start + _SQLITE_CHUNK])


def driver_connection(connection: Connection) -> Any:
    """The DB-API connection (psycopg on PostgreSQL) under a SQLAlchemy connection, in its transaction."""
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("the SQLAlchemy connection has no open DB-API connection")
    return raw
