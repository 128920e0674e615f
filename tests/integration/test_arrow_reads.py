"""A few days' facts come as Arrow from inside the reading transaction, with the values the driver itself returns."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    make_url,
    select,
)

from core.dialect import dialect_of
from core.engine import engine_for

pytestmark = pytest.mark.integration

ROWS = [
    # An empty string is not NULL, nor are "NA" and "NULL" (a site may be called NA); quotes, commas and line
    # breaks survive; floats keep every bit; microseconds stay.
    {
        "id": 1,
        "name": "",
        "note": None,
        "flag": True,
        "day": pd.Timestamp("2026-01-01").date(),
        "score": 0.1 + 0.2,
        "at": pd.Timestamp("2026-01-06 07:08:09.123456").to_pydatetime(),
        "count": 3,
    },
    {
        "id": 2,
        "name": 'say "hi", then\nleave',
        "note": "n",
        "flag": False,
        "day": None,
        "score": math.pi / 3,
        "at": None,
        "count": None,
    },
    {"id": 3, "name": "NA", "note": "NULL", "flag": None, "day": None, "score": 1e-310, "at": None, "count": 0},
    {
        "id": 4,
        "name": None,
        "note": "",
        "flag": None,
        "day": pd.Timestamp("2025-12-29").date(),
        "score": None,
        "at": pd.Timestamp("2026-01-01").to_pydatetime(),
        "count": -(2**40),
    },
]


def test_an_in_transaction_arrow_read_returns_what_the_driver_returns(postgres_url):
    table = Table(
        "arrow_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(80)),
        Column("note", String(10)),
        Column("flag", Boolean),
        Column("day", Date),
        Column("score", Float),
        Column("at", DateTime),
        Column("count", BigInteger),
    )
    # A database whose sessions print dates day-first and round floats: the warehouse's sessions override both.
    admin = engine_for(postgres_url)
    with admin.connect() as connection:
        name = make_url(postgres_url).database
        connection.exec_driver_sql(f"alter database \"{name}\" set datestyle = 'SQL, DMY'")
        connection.exec_driver_sql(f'alter database "{name}" set extra_float_digits = -3')
        connection.commit()
    admin.dispose()
    engine = engine_for(postgres_url)
    try:
        with engine.connect() as connection, connection.begin():
            table.create(connection)
            connection.execute(insert(table), ROWS)  # not committed yet: the read must see it
            query = select(table).order_by(table.c.id)
            by_driver = connection.execute(query).all()
            arrow = dialect_of(connection).read_arrow_in(connection, query)
            assert arrow.schema.names == [c.name for c in table.columns]
            assert [tuple(row.values()) for row in arrow.to_pylist()] == [tuple(row) for row in by_driver]
            empty = dialect_of(connection).read_arrow_in(connection, query.where(table.c.id < 0))
            assert empty.num_rows == 0 and empty.schema.names == arrow.schema.names
            connection.rollback()  # leaves nothing behind
    finally:
        engine.dispose()


def test_an_arrow_read_keeps_line_breaks_across_blocks_lone_nulls_and_percent_signs(postgres_url):
    """Over a megabyte of comments with line breaks (Arrow reads CSV in blocks), a one-column NULL row (an empty
    line), and a literal with a percent sign (psycopg's rendering would double it)."""
    table = Table("arrow_comments", MetaData(), Column("id", Integer, primary_key=True), Column("comment", String))
    rows = [
        {"id": i, "comment": None if i % 7 == 0 else f'line one {i}\nline two, 50% "sure"\n'} for i in range(40_000)
    ]
    engine = engine_for(postgres_url)
    try:
        with engine.connect() as connection, connection.begin():
            table.create(connection)
            connection.execute(insert(table), rows)
            dialect = dialect_of(connection)
            arrow = dialect.read_arrow_in(connection, select(table).order_by(table.c.id))
            assert arrow.to_pylist() == rows
            comments = dialect.read_arrow_in(connection, select(table.c.comment).order_by(table.c.id))
            assert comments.column("comment").to_pylist() == [row["comment"] for row in rows]
            percent = select(table.c.id).where(table.c.comment == rows[1]["comment"])
            assert dialect.read_arrow_in(connection, percent).column("id").to_pylist() == [1]
            connection.rollback()
    finally:
        engine.dispose()
