"""OEE's quality factor at pooled grains, as KPIS.md defines it: sum(ideal cycle time x good count) / sum(ideal cycle
time x total count), so that availability x performance x quality = OEE on every row. It was good / total count,
which equals it for one run but not where runs of different ideal cycle times are pooled (a line, a site, a week).

The stored rows are rebuilt here, exactly as a KPI build now writes them: the new numerator is OEE's own (fully
productive minutes) and the new denominator performance's numerator (ideal minutes), both summed over the same runs
and stored on the same key, and the value is their ratio (NULL where no ideal minutes). The control charts and alerts
follow on the next regression check, which judges the whole KPI history again (``spc_point`` and ``alert`` are
derived by every check).

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_KEYS = {
    "kpi_daily": ("kpi_date", "site_id", "line_id", "step_id"),
    "kpi_period": ("period", "period_start", "site_id", "line_id", "step_id"),
}


def _rebuild(table: str, numerator: tuple[str, str], denominator: tuple[str, str]) -> None:
    """Set OEE quality's numerator and denominator to those (KPI, column) of the same key, and its value to their
    ratio."""

    def of_same_key(kpi: str, column: str) -> str:
        match = " and ".join(f"o.{key} = {table}.{key}" for key in _KEYS[table])
        return f"(select o.{column} from {table} o where o.kpi = '{kpi}' and {match})"

    new_numerator, new_denominator = of_same_key(*numerator), of_same_key(*denominator)
    op.execute(
        f"update {table} set numerator = {new_numerator}, denominator = {new_denominator} "
        f"where kpi = 'oee_quality' and {new_numerator} is not null and {new_denominator} is not null"
    )
    op.execute(
        f"update {table} set value = case when denominator = 0 then null else numerator / denominator end "
        "where kpi = 'oee_quality'"
    )


def upgrade() -> None:
    for table in _KEYS:
        _rebuild(table, ("oee", "numerator"), ("oee_performance", "numerator"))


def downgrade() -> None:
    # Back to good / total count: first-pass units over units entered, which FPY counts on the same key.
    for table in _KEYS:
        _rebuild(table, ("fpy", "numerator"), ("fpy", "denominator"))
