"""Reading the warehouse's BI views, the report's only way in (the import contracts hold it to them)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from warehouse.bi_views import qualified


def read_view(connection: Connection, name: str, where: str = "", **params: Any) -> pd.DataFrame:
    """The rows of BI view ``name`` (on either database), filtered by ``where`` with bound ``params``."""
    sql = f"select * from {qualified(name, connection)} {where}"  # noqa: S608 (names are ours)
    return pd.read_sql(text(sql), connection, params=params)
