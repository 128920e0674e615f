"""Alert triage by hand: assign, cause and corrective action, notes, a day taken out of the baselines, and the
response times BI reads, on both warehouses."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from core.settings import Settings
from orchestration.connections import configured_channels
from pipeline.alerting import check_regressions
from tests.helpers import read_table, run_chain

pytestmark = pytest.mark.integration


def _view(settings: Settings, name: str) -> pd.DataFrame:
    prefix = "bi." if settings.warehouse_url.startswith("postgresql") else "bi_"
    return pd.read_sql(f"select * from {prefix}{name}", settings.warehouse_url)


def test_an_alert_is_triaged_from_the_cli_and_its_response_is_measured(settings, demo_sources, monkeypatch, capsys):
    from cli.main import main

    run_chain(settings)
    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)
    alerts = read_table(settings, "alert")
    # The regression's open alert (the line's earlier, smaller dip left resolved ones beside it).
    regression = alerts[
        (alerts.rule_name == "line_fraction_defective") & (alerts.line_id == "S1-L2") & (alerts.status == "open")
    ].iloc[0]
    alert_id = str(regression.alert_id)
    prefix = alert_id[:8]

    assert main(["alerts", "assign", prefix, "--to", "maria.lopez"]) == 0
    assert f"alert {alert_id[:12]} ({regression.subject}): assigned to maria.lopez" in capsys.readouterr().out
    assert main(["alerts", "cause", prefix, "--cause", "material", "--action", "supplier_action"]) == 0
    assert main(["alerts", "note", prefix, "--text", "Paste lot B-1142 on the SOLDER step", "--by", "maria"]) == 0
    assert main(["alerts", "ack", alert_id, "--by", "maria"]) == 0
    capsys.readouterr()
    assert main(["alerts", "cause", prefix, "--cause", "gremlins"]) == 1
    assert "unknown cause code 'gremlins'; the rules file's triage list has: material" in capsys.readouterr().err
    assert main(["alerts", "assign", alert_id[:3], "--to", "x"]) == 1
    assert "at least 6 characters" in capsys.readouterr().err
    assert main(["alerts", "assign", "ffffffff", "--to", "x"]) == 1
    assert "no alert with an id starting 'ffffffff'" in capsys.readouterr().err
    assert main(["alerts", "note", prefix, "--by", "maria"]) == 2
    assert "Missing option '--text'" in capsys.readouterr().err

    response = _view(settings, "alert_response").set_index("alert_id").loc[alert_id]
    assert (response.assignee, response.cause_code, response.action_code, response.notes) == (
        "maria.lopez",
        "material",
        "supplier_action",
        1,
    )
    assert response.alert_status == "acknowledged" and response.hours_to_acknowledge >= 0
    assert pd.isna(response.hours_to_resolve)  # it lasts
    by_owner = _view(settings, "alert_response_by_owner").set_index("owner")
    assert by_owner.loc[response.owner, "with_cause"] == 1 and by_owner["alerts"].sum() == len(alerts)

    # A day before the regression, with a cause the rules did not flag, taken out of the later baselines: the days
    # after it are judged against limits estimated without it.
    points = read_table(settings, "spc_point")
    line = points[(points.rule_name == "line_fraction_defective") & (points.line_id == "S1-L2")].copy()
    line["kpi_date"] = pd.to_datetime(line.kpi_date).dt.date
    line = line.sort_values("kpi_date")
    began = pd.Timestamp(regression.since_date).date()
    day = line[line.kpi_date < began].kpi_date.iloc[-1]
    later = line[line.kpi_date > day].set_index("kpi_date").centre_line
    assert (
        main(["alerts", "exclude", prefix, "--day", day.isoformat(), "--reason", "scale miscalibrated", "--by", "qa"])
        == 0
    )
    capsys.readouterr()
    assert main(["alerts", "exclude", prefix, "--day", "2031-01-01", "--reason", "x", "--by", "qa"]) == 1
    assert "is not a day line_fraction_defective judged at this place" in capsys.readouterr().err
    check_regressions("after-exclusion", settings, configured_channels)
    again = read_table(settings, "spc_point")
    again = again[(again.rule_name == "line_fraction_defective") & (again.line_id == "S1-L2")].copy()
    again["kpi_date"] = pd.to_datetime(again.kpi_date).dt.date
    moved = again.set_index("kpi_date").centre_line.reindex(later.index)
    assert (moved != later).any()  # the excluded day no longer sets the centre line of the days after it
    assert read_table(settings, "baseline_exclusion").kpi_date.astype(str).str[:10].tolist() == [day.isoformat()]
    assert isinstance(day, date)
