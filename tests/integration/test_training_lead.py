"""Training as a leading indicator on the demo (its end date pinned by the fixtures), on both databases: S1-L2's
earlier lapse and dip are the history that raises the leading alert when its big lapse begins, before its yield
alert; no healthy line raises one; the relation is stored per line for analysts; the revision reverses."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import inspect, text

from core.engine import engine_for
from demo.source_systems import REGRESSION_LINE, REGRESSION_START, TRAINING_LAPSE_START, DemoSpec
from tests.conftest import DEMO_END
from tests.helpers import read_table
from warehouse.bi_views import qualified
from warehouse.migrate import alembic_config, upgrade

pytestmark = pytest.mark.integration

SPEC = DemoSpec(end_date=DEMO_END)


def _day(value: object) -> date:
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


def test_the_leading_training_alert_comes_before_the_yield_alert_on_the_story_line_only(demo_warehouse):
    settings, _ = demo_warehouse
    alerts = read_table(settings, "alert")
    leading = alerts[alerts.method == "leading"]
    [yield_alert] = alerts[
        (alerts.rule_name == "line_fraction_defective")
        & (alerts.line_id == REGRESSION_LINE)
        & (alerts.status == "open")
    ].itertuples()

    # One leading alert, on the story's line, raised during its lapse and before its yield regression was alerted.
    [lead] = leading.itertuples()
    assert lead.line_id == REGRESSION_LINE and lead.severity == "info" and lead.kpi == "training_compliance"
    began = _day(lead.since_date)
    assert SPEC.day(TRAINING_LAPSE_START) <= began < _day(yield_alert.since_date) <= SPEC.day(REGRESSION_START + 1)
    # It says what history says: the fall against the baseline, and how the yield followed before.
    assert lead.value < lead.limit_value < lead.centre_line
    assert lead.subject.startswith(f"Training compliance on line {REGRESSION_LINE} at site S1: ")
    assert " points below its trailing 28-day mean " in lead.rule and lead.rule in lead.subject
    assert "; first pass yield has followed it here by " in lead.rule and "(r = 0." in lead.rule
    [history] = json.loads(lead.contributors)
    assert history["outcome_kpi"] == "fpy" and 0 <= history["lag_days"] <= 28 and history["p_value"] <= 0.05
    assert history["correlation"] >= 0.5 and history["effective_pairs"] <= history["pairs"]
    assert "History here: first pass yield has followed training compliance by " in lead.message
    # The history that said so lay before the lapse: S1-L2's earlier yield dip, alerted and resolved at the time.
    earlier = alerts[
        (alerts.rule_name == "line_fraction_defective")
        & (alerts.line_id == REGRESSION_LINE)
        & (alerts.status == "resolved")
    ]
    assert len(earlier) >= 1 and (pd.to_datetime(earlier.since_date).dt.date < SPEC.day(TRAINING_LAPSE_START)).all()
    # The judged days are kept like every rule's: the flagged ones are the alert's.
    points = read_table(settings, "spc_point")
    flagged = points[(points.rule_name == lead.rule_name) & points.adverse]
    assert set(flagged.line_id) == {REGRESSION_LINE} and len(flagged) == lead.days_adverse


def test_the_relation_is_stored_per_line_and_read_through_its_view(demo_warehouse):
    settings, _ = demo_warehouse
    relations = read_table(settings, "training_lead").set_index("line_id")
    lines = read_table(settings, "dim_line")

    assert set(relations.index) == set(lines.line_id)  # every line, with or without a relation
    assert (relations.outcome_kpi == "fpy").all() and (pd.to_datetime(relations.as_of).dt.date == DEMO_END).all()
    story = relations.loc[REGRESSION_LINE]
    assert 0 <= story.lag_days <= 28 and story.correlation > 0.5 and story.pair_count >= 60
    assert story.effective_pairs < story.pair_count  # the yield regression makes the series autocorrelated
    healthy = relations.drop(index=REGRESSION_LINE)
    assert not healthy.is_established.astype(bool).any()
    assert (healthy.correlation.fillna(0) < 0.5).all()
    prefix = "bi." if settings.warehouse_url.startswith("postgresql") else "bi_"
    view = pd.read_sql(f"select * from {prefix}training_leads", settings.warehouse_url)
    assert len(view) == len(relations) and set(view.line) == set(relations.index)
    assert view.set_index("line").loc[REGRESSION_LINE, "lag_days"] == story.lag_days


def test_the_training_lead_revision_reverses(warehouse_url):
    engine = engine_for(warehouse_url)
    upgrade(engine)
    assert "training_lead" in inspect(engine).get_table_names()
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0025")  # drops the view that reads it too
    assert "training_lead" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.scalar(text("select version_num from alembic_version")) == "0025"
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.scalar(text(f"select count(*) from {qualified('training_leads', engine)}")) == 0
    engine.dispose()
