"""The improvement loop on the demo: the register (file and CLI), each change judged before and after on both
warehouses, and what `qp improvement` says."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import read_table

pytestmark = pytest.mark.integration

KEY = ["improvement_id", "kpi"]


def _effects(settings) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return read_table(settings, "improvement_effect").set_index(KEY).sort_index()


def test_the_demos_changes_are_judged_by_their_kpis_before_and_after(demo_warehouse):
    settings, _ = demo_warehouse
    effects = _effects(settings)
    paste = effects.loc["cheaper-solder-paste-on-s1-l2"]
    # The cheaper paste is where S1-L2's yield regression began: every KPI it should have helped got worse, each
    # after-stage day beyond the before stage's own limits, and the line's site paid for it.
    assert set(paste.index) == {"fpy", "dpmo", "rework_rate"}
    assert (paste["verdict"] == "worsened").all() and (paste["p_value"] < 1e-6).all()
    assert (paste["after_beyond_adverse"] == paste["after_days"]).all() and (
        paste["after_beyond_favourable"] == 0
    ).all()
    fpy = paste.loc["fpy"]
    assert fpy["before_value"] > fpy["before_lcl"] > fpy["after_value"]  # the after mean sits below the before LCL
    assert fpy["ci_high"] < 0 and fpy["test"] == "two-proportion z-test"
    assert fpy["copq_per_day_after"] > fpy["copq_per_day_before"] and fpy["data_flags"] == ""
    # The refresher ended the line's training lapse: completion is up; its yield has not recovered yet.
    refresher = effects.loc["soldering-refresher-training-on-s1-l2"]
    assert refresher.loc["training_completion", "verdict"] == "improved"
    assert refresher.loc["training_completion", "after_value"] > refresher.loc["training_completion", "before_value"]
    assert refresher.loc["fpy", "verdict"] != "improved"
    # The BI view carries the same, with the names and the net saving a dashboard shows.
    view = pd.read_sql(
        "select * from "
        + ("bi.improvement_effects" if "postgresql" in settings.warehouse_url else "bi_improvement_effects"),
        settings.warehouse_url,
    )
    row = view[(view.improvement_id == "cheaper-solder-paste-on-s1-l2") & (view.kpi_name == "fpy")].iloc[0]
    assert row["improvement_name"] == "Cheaper solder paste on S1-L2" and row["verdict"] == "worsened"
    expected_saving = (fpy["copq_per_day_before"] - fpy["copq_per_day_after"]) - (
        fpy["prevention_per_day_after"] - fpy["prevention_per_day_before"]
    )
    assert row["net_saving_per_day"] == pytest.approx(expected_saving) and expected_saving < 0
    if "postgresql" in settings.warehouse_url:  # a comment with a percent sign reads as written
        import psycopg
        from sqlalchemy import make_url

        with psycopg.connect(make_url(settings.warehouse_url).render_as_string(False)) as connection:
            comments = connection.execute(
                "select col_description('bi.improvement_effects'::regclass, ordinal_position) "
                "from information_schema.columns where table_schema = 'bi' and table_name = 'improvement_effects' "
                "and column_name = 'ci_low'"
            ).fetchone()
        assert comments == ("lower end of the difference's 95% interval",)


def test_the_cli_registers_lists_and_refuses_mistakes(settings, monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)
    add = ["improvement", "add", "--name", "Poka-yoke on packing", "--date", "2026-11-01", "--scope", "S1/S1-L1/PACK"]
    assert main([*add, "--kpi", "scrap_rate", "--kpi", "fpy"]) == 0
    assert "improvement poka-yoke-on-packing registered" in capsys.readouterr().out
    assert main([*add, "--kpi", "fpy"]) == 1
    assert "registered already" in capsys.readouterr().err
    assert main(["improvement", "add", "--name", "Other", "--date", "2026-11-01", "--kpi", "yield"]) == 1
    assert "unknown KPI yield" in capsys.readouterr().err
    assert main(["improvement", "add", "--name", "Other", "--kpi", "fpy"]) == 2
    assert "Missing option '--date'" in capsys.readouterr().err
    assert main(["improvement", "list"]) == 0
    assert "poka-yoke-on-packing  2026-11-01  S1/S1-L1/PACK  (cli): Poka-yoke on packing" in capsys.readouterr().out
    # The same name in the improvements file is refused with both places named.
    settings.improvements.parent.mkdir(parents=True, exist_ok=True)
    settings.improvements.write_text(
        "improvements:\n  - {name: Poka-yoke on packing, change_date: 2026-11-02, kpis: [fpy]}\n"
    )
    assert main(["improvement", "evaluate"]) == 1
    assert "registered by `qp improvement add` and listed in the file" in capsys.readouterr().err
