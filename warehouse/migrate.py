"""Bring a warehouse to the newest schema: Alembic revisions, then the BI views (idempotent)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic revisions, then re-create the BI views (a repeatable migration: views hold no data)."""
    from warehouse import bi_views

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if revision == "head":
            bi_views.create_or_replace(connection)


class WarehouseBehind(RuntimeError):
    """The warehouse's schema is older (or newer) than the code's newest revision."""


def require_current(engine: Engine) -> None:
    """Fail with what to do, rather than with an SQL error later, when the warehouse isn't at the newest revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current != head:
        url = engine.url.render_as_string(hide_password=True)
        raise WarehouseBehind(
            f"the warehouse {url} is at revision {current or 'none (empty)'}, this version needs {head}: "
            "run `qp migrate`"
        )
