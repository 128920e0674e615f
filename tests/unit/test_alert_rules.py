"""The rules file: the bundled defaults cover every KPI family of KPIS.md; mistakes are named clearly."""

from __future__ import annotations

import re
import textwrap

import pytest

from core.alert_rules import RulesFileError, load_rules

pytestmark = pytest.mark.unit


def test_the_default_rules_cover_every_kpi_family_and_route_every_severity():
    config = load_rules()
    kpis = {r.kpi for r in config.rules}
    # First pass yield (as fraction defective), DPMO (as the sigma level), OEE, cost of quality, NPS, CSAT,
    # customer retention, training completion and compliance.
    assert {
        "fraction_defective",
        "sigma_level",
        "oee",
        "copq_share_of_revenue",
        "nps",
        "csat",
        "customer_retention",
        "training_completion",
        "training_compliance",
    } <= kpis
    assert all(config.channels_for(r.severity) for r in config.rules)
    line_rule = next(r for r in config.rules if r.name == "line_fraction_defective")
    assert (line_rule.method, line_rule.baseline_days, line_rule.resolve_after_days) == ("p_chart", 28, 3)


def _write(tmp_path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


ROUTES = "routes:\n  critical: [qp_alert_email]\n"


def test_a_chart_without_rules_and_a_target_without_a_bound_are_named(tmp_path):
    path = _write(
        tmp_path,
        ROUTES
        + textwrap.dedent("""
        rules:
          - {name: yield_chart, kpi: fraction_defective, scope: line, method: p_chart, adverse: up, severity: critical}
          - {name: oee_floor, kpi: oee, scope: line, method: target, adverse: down, severity: critical}
        """),
    )
    with pytest.raises(RulesFileError) as error:
        load_rules(path)
    message = str(error.value)
    assert str(path) in message and "2 problem(s)" in message
    assert "rule yield_chart" in message and "needs `rules`" in message
    assert "rule oee_floor" in message and "needs `target`" in message


def test_unknown_fields_values_kpis_and_unrouted_severities_are_refused(tmp_path):
    typo = _write(
        tmp_path,
        ROUTES
        + textwrap.dedent("""
        rules:
          - {name: nps, kpi: nps, scope: region, method: drop, adverse: down, points: 20, severity: critical, pionts: 3}
        """),
    )
    with pytest.raises(RulesFileError, match=r"rule nps, field scope.*\n.*rule nps, field pionts"):
        load_rules(typo)
    unrouted = _write(
        tmp_path,
        ROUTES
        + "rules:\n  - {name: nps, kpi: nps, scope: site, method: drop, adverse: down, points: 20, severity: info}\n",
    )
    with pytest.raises(RulesFileError, match="no route for severity info"):
        load_rules(unrouted)
    unknown_kpi = _write(
        tmp_path,
        ROUTES
        + "rules:\n  - {name: x, kpi: yeild, scope: line, method: target, adverse: down, target: 1, "
        + "severity: critical}\n",
    )
    with pytest.raises(RulesFileError, match="rule x: unknown KPI 'yeild'"):
        load_rules(unknown_kpi, known_kpis={"fpy"})
    with pytest.raises(RulesFileError, match="not valid YAML"):
        load_rules(_write(tmp_path, "rules: [unclosed"))
    with pytest.raises(RulesFileError, match="no such rules file"):
        load_rules(tmp_path / "missing.yaml")


def test_drift_rules_take_their_own_settings_with_defaults_and_refuse_the_others(tmp_path):
    rule = "{name: drift, kpi: fraction_defective, scope: line, method: %s, adverse: up, severity: critical%s}"
    second = (rule % ("cusum", ", cusum_h: 4")).replace("drift", "drift_sums")
    ok = _write(tmp_path, ROUTES + "rules:\n  - " + rule % ("ewma", "") + "\n  - " + second)
    ewma, cusum = load_rules(ok).rules
    assert (ewma.ewma_lambda, ewma.ewma_width, ewma.cusum_k) == (0.2, 3.0, None)
    assert (cusum.cusum_k, cusum.cusum_h) == (0.5, 4.0)
    for method, extra, complaint in (
        ("ewma", ", cusum_k: 1", "cusum_k: for method cusum only, not ewma"),
        ("p_chart", ", rules: [rule_1], ewma_lambda: 0.1", "ewma_lambda: for method ewma only, not p_chart"),
        ("cusum", ", rules: [rule_1]", "`rules` (run rules) apply to the Shewhart charts"),
        ("ewma", ", ewma_lambda: 1.5", "rule drift, field ewma_lambda"),
    ):
        with pytest.raises(RulesFileError, match=re.escape(complaint)):
            load_rules(_write(tmp_path, ROUTES + "rules:\n  - " + rule % (method, extra)))


def test_a_leading_rule_names_what_it_leads_and_its_mistakes_are_named(tmp_path):
    config = load_rules()
    [leading] = [r for r in config.rules if r.method == "leading"]
    assert (leading.kpi, leading.leads) == ("training_compliance", "fpy")
    assert (leading.scope, leading.severity) == ("line", "info")
    assert leading.max_lag_days == 28 and 0 < leading.min_correlation <= 1 and 0 < leading.max_p_value <= 0.05

    base = "{name: %s, kpi: training_compliance, scope: line, method: leading, adverse: down, severity: critical"
    path = _write(
        tmp_path,
        ROUTES
        + "rules:\n"
        + "\n".join(
            f"  - {base % name}{extra}}}"
            for name, extra in (
                ("no_outcome", ", points: 0.15"),
                ("no_points", ", leads: fpy"),
                ("itself", ", leads: training_compliance, points: 0.15"),
                ("too_far", ", leads: fpy, points: 0.15, max_lag_days: 60"),
                ("no_strength", ", leads: fpy, points: 0.15, min_correlation: 0"),
            )
        )
        + "\n  - {name: drop_leads, kpi: nps, scope: site, method: drop, adverse: down, points: 20, leads: fpy, "
        + "severity: critical}\n"
        + "  - {name: upward, kpi: training_compliance, scope: line, method: leading, adverse: up, leads: fpy, "
        + "points: 0.1, severity: critical}\n"
        + "  - {name: site_wide, kpi: training_compliance, scope: site, method: leading, adverse: down, leads: fpy, "
        + "points: 0.1, severity: critical}\n",
    )
    with pytest.raises(RulesFileError) as error:
        load_rules(path)
    message = str(error.value)
    assert "8 problem(s)" in message
    assert "rule no_outcome" in message and "method leading needs `leads`" in message
    assert "rule no_points" in message and "method leading needs `points`" in message
    assert "rule itself" in message and "a KPI cannot lead itself" in message
    assert "rule too_far, field max_lag_days" in message and "less than or equal to 28" in message
    assert "rule no_strength, field min_correlation" in message
    assert "rule drop_leads" in message and "`leads` applies to method leading only" in message
    assert "rule upward" in message and "`adverse` must be down" in message
    assert "rule site_wide" in message and "`scope` must be line" in message
    unknown = _write(
        tmp_path,
        ROUTES + f"rules:\n  - {base % 'typo'}, leads: fyp, points: 0.1}}\n",
    )
    with pytest.raises(RulesFileError, match="rule typo: `leads` names an unknown KPI 'fyp'"):
        load_rules(unknown, known_kpis={"fpy", "training_compliance"})


def test_a_rule_is_checked_against_the_kpi_registry_and_mistakes_list_what_is_allowed(tmp_path):
    from core.kpi_registry import REGISTRY

    path = _write(
        tmp_path,
        ROUTES
        + textwrap.dedent("""
        rules:
          - {name: typo, kpi: oe, scope: line, method: target, adverse: down, target: 0.6, severity: critical}
          - {name: nps_per_line, kpi: nps, scope: line, method: drop, adverse: down, points: 20, severity: critical}
          - {name: made_up, kpi: happiness, scope: site, method: drop, adverse: down, points: 1, severity: critical}
        """),
    )
    with pytest.raises(RulesFileError) as error:
        load_rules(path)  # the registry's KPIs, no list given
    lines = str(error.value).splitlines()
    every_code = ", ".join(REGISTRY.codes())
    assert lines == [
        f"{path}: 3 problem(s)",
        f"  rule typo: unknown KPI 'oe' (did you mean oee?); the KPIs are: {every_code}",
        "  rule nps_per_line: KPI nps is not computed at scope line; its scopes: site, company",
        f"  rule made_up: unknown KPI 'happiness'; the KPIs are: {every_code}",
    ]

    misspelt = _write(
        tmp_path,
        ROUTES + "rules:\n  - {name: oee, kpi: oee, scope: line, method: imr, adverse: down, rules: [rule_1], "
        "severty: critical}\n",
    )
    with pytest.raises(RulesFileError) as error:
        load_rules(misspelt)
    message = str(error.value)
    assert "rule oee, field severity: Field required" in message
    assert (
        "rule oee, field severty: unknown field; the fields here are: name, kpi, scope, method, adverse, severity"
        in message
    )
    typo_in_defaults = _write(tmp_path, ROUTES + "defaults: {baseline_dys: 20}\nrules: []\n")
    with pytest.raises(
        RulesFileError, match=r"defaults\.baseline_dys: unknown field; the fields here are: baseline_days"
    ):
        load_rules(typo_in_defaults)
