"""What went wrong, for a person at a terminal: known failures as a line or two that name the setting and the fix.

``explain`` is the one place that knows them; ``cli.main`` prints its answer instead of a traceback (``-v`` shows
the traceback as well). A failure it doesn't know keeps its traceback: that is a bug to report, not a setting to fix.
Every message passes through ``core.redaction``: no credential of a URL reaches the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.redaction import redact
from core.settings import Settings

# What libpq (PostgreSQL) and sqlite3 say when a connection can't be made, and what it means. psycopg leaves the
# SQLSTATE empty for a failed connection, so the server's words are all there is to go by.
_UNREACHABLE = re.compile(
    r"connection refused|could not connect|could not translate host name|timeout expired|no route to host|"
    r"network is unreachable|name or service not known|server closed the connection unexpectedly",
    re.IGNORECASE,
)
_NO_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')
_NOT_ALLOWED = re.compile(
    r"password authentication failed|authentication failed|role \"[^\"]+\" does not exist|"
    r"is not permitted to log in|no pg_hba\.conf entry|password is required|fe_sendauth",
    re.IGNORECASE,
)


class Refused(Exception):
    """A command declines what it was asked (an unknown batch, a name registered twice); the message says why."""


class WarehouseMissing(RuntimeError):
    """The configured SQLite warehouse file isn't there (a typo in the path, or never migrated)."""


def explain(error: BaseException, settings: Settings | None) -> str | None:
    """One or two lines saying what failed and what to do, or None for a failure this module doesn't know."""
    for cause in _chain(error):
        said = _explain_one(cause, settings)
        if said is not None:
            return redact(said)
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it, outermost first (as Python prints them, minus suppressed contexts)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _explain_one(error: BaseException, settings: Settings | None) -> str | None:
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError

    from core.alert_rules import RulesFileError
    from core.improvements import ImprovementsFileError
    from report.build import ReportRangeError
    from sources.extract import SourceUnavailable
    from warehouse.migrate import WarehouseBehind

    if isinstance(error, Refused | WarehouseMissing | WarehouseBehind):
        return str(error)
    if isinstance(error, ReportRangeError):
        return f"{error}; the report already there is left as it was (--from and --to take YYYY-MM-DD)"
    if isinstance(error, RulesFileError):
        return f"the alert rules file (QP_ALERT_RULES) is wrong: {error}"
    if isinstance(error, ImprovementsFileError):
        return f"the improvements file (QP_IMPROVEMENTS) is wrong: {error}"
    if isinstance(error, SourceUnavailable):
        if error.http_status in (401, 403):
            return f"{error}: the LMS API refused the token, check QP_LMS_API_TOKEN (and QP_LMS_API_URL)"
        return str(error)
    if isinstance(error, ValidationError) and error.title == Settings.__name__:
        return "; ".join(f"QP_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())
    if isinstance(error, DBAPIError):
        return _connection_failure(str(error.orig or error), settings)
    if type(error).__name__ == "OperationalError" and type(error).__module__.split(".")[0] in ("psycopg", "sqlite3"):
        return _connection_failure(str(error), settings)  # the driver's own, where no engine wrapped it
    return None


def _connection_failure(reason: str, settings: Settings | None) -> str | None:
    """A failed warehouse connection, by what the database said; None when it wasn't about connecting."""
    url = settings.warehouse_url_redacted if settings else "the warehouse"
    first = " ".join(reason.split()).removeprefix("connection failed: ")
    if missing := _NO_DATABASE.search(reason):
        return (
            f"QP_WAREHOUSE_URL: database {missing['name']} does not exist on the server of {url}: create it "
            f"(createdb {missing['name']}) or correct the URL, then run `qp migrate`"
        )
    if _NOT_ALLOWED.search(reason):
        return f"QP_WAREHOUSE_URL: authentication failed at {url} ({first}): check the user and password in the URL"
    if _UNREACHABLE.search(reason):
        return f"QP_WAREHOUSE_URL: the warehouse at {url} is unreachable ({first}): is the server running there?"
    if "unable to open database file" in reason:
        return f"QP_WAREHOUSE_URL: can't open the SQLite warehouse of {url}: check the path and its permissions"
    return None


def sqlite_file_missing(settings: Settings) -> str | None:
    """Why the configured warehouse file (SQLite) can't be used as it is, its file or folder missing; else None.
    Asked before connecting, which would create both."""
    from sqlalchemy.engine import make_url

    from core.dialect import dialect_of

    url = make_url(settings.warehouse_url)
    path = dialect_of(url).database_file(url)
    if path is None or path.exists():
        return None
    if not path.parent.is_dir():
        return (
            f"QP_WAREHOUSE_URL: no SQLite warehouse at {path}: the folder {path.parent} does not exist "
            "(correct the path, or run `qp migrate` to create the warehouse there)"
        )
    return f"QP_WAREHOUSE_URL: no SQLite warehouse at {path}: run `qp migrate` to create it (or correct the path)"


def require_current_warehouse(settings: Settings) -> None:
    """Fail before any work when the warehouse isn't there or isn't at the code's newest schema revision."""
    from core.engine import Warehouse
    from warehouse.migrate import require_current

    missing = sqlite_file_missing(settings)
    if missing:
        raise WarehouseMissing(missing)
    with Warehouse(settings.warehouse_url) as warehouse:
        require_current(warehouse.engine)
