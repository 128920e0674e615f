"""Grouping KPI alerts into incidents: place, the gap between their active days, bridging, resolution, stable ids."""

from __future__ import annotations

from datetime import date

import pytest

from alerts.incidents import Member, group_incidents, incident_id_of, title_of
from core.alert_rules import load_rules

pytestmark = pytest.mark.unit


def _alert(
    alert_id: str,
    since: str,
    end: str,
    *,
    site: str = "S1",
    line: str = "ALL",
    step: str = "ALL",
    kpi: str = "nps",
    severity: str = "warning",
    resolved: bool = False,
) -> Member:
    return Member(
        alert_id, kpi, severity, site, line, step, date.fromisoformat(since), date.fromisoformat(end), resolved
    )


def _groups(members: list[Member], gap_days: int = 7, previous: dict[str, str] | None = None) -> list[list[str]]:
    return [[m.alert_id for m in i.members] for i in group_incidents(members, gap_days, previous)]


@pytest.mark.parametrize(
    ("second_begins", "groups"),
    [
        ("2026-11-08", [["yield", "nps"]]),  # 7 days after the first ended: within the gap
        ("2026-11-09", [["yield"], ["nps"]]),  # 8 days: two incidents
    ],
)
def test_alerts_join_when_one_begins_within_the_gap_after_the_other_ends(second_begins, groups):
    members = [
        _alert("yield", "2026-10-25", "2026-11-01", line="S1-L2", kpi="fraction_defective"),
        _alert("nps", second_begins, "2026-11-12"),
    ]
    assert _groups(members) == groups


def test_a_gap_of_zero_joins_only_alerts_active_on_a_common_day():
    members = [_alert("a", "2026-11-01", "2026-11-05"), _alert("b", "2026-11-05", "2026-11-06")]
    assert _groups(members, gap_days=0) == [["a", "b"]]
    members[1] = _alert("b", "2026-11-06", "2026-11-07")
    assert _groups(members, gap_days=0) == [["a"], ["b"]]


def test_line_and_step_alerts_belong_to_their_site_and_company_alerts_group_only_with_each_other():
    members = [
        _alert("line", "2026-11-01", "2026-11-10", line="S1-L2", kpi="fraction_defective"),
        _alert("step", "2026-11-02", "2026-11-10", line="S1-L2", step="SOLDER", kpi="fraction_defective"),
        _alert("site", "2026-11-05", "2026-11-10", kpi="nps"),
        _alert("other-site", "2026-11-01", "2026-11-10", site="S2", line="S2-L1", kpi="oee"),
        _alert("company", "2026-11-01", "2026-11-10", site="ALL", kpi="nps"),
        _alert("company-2", "2026-11-12", "2026-11-14", site="ALL", kpi="csat"),
    ]
    incidents = group_incidents(members, 7)
    assert sorted(sorted(m.alert_id for m in i.members) for i in incidents) == [
        ["company", "company-2"],
        ["line", "site", "step"],
        ["other-site"],
    ]
    assert {i.site_id for i in incidents} == {"S1", "S2", "ALL"}


def test_a_later_alert_that_bridges_two_incidents_merges_them_under_the_older_ones_id():
    before = [
        _alert("early", "2026-11-01", "2026-11-03", line="S1-L2", kpi="fraction_defective"),
        _alert("late", "2026-11-20", "2026-11-24", kpi="nps"),
    ]
    first = group_incidents(before, 7)
    assert len(first) == 2
    previous = {m.alert_id: i.incident_id for i in first for m in i.members}

    bridge = _alert("bridge", "2026-11-09", "2026-11-14", kpi="copq_share_of_revenue")
    [merged] = group_incidents([*before, bridge], 7, previous)
    assert [m.alert_id for m in merged.members] == ["early", "bridge", "late"]
    assert merged.incident_id == previous["early"] == incident_id_of("early")
    assert (merged.first_date, merged.last_date) == (date(2026, 11, 1), date(2026, 11, 24))


def test_the_id_stays_on_a_rerun_and_when_alerts_join_even_one_that_began_earlier():
    yield_alert = _alert("yield", "2026-11-13", "2026-11-24", line="S1-L2", kpi="fraction_defective")
    [first] = group_incidents([yield_alert], 7)
    assert first.incident_id == incident_id_of("yield")
    assert group_incidents([yield_alert], 7) == [first]  # the same alerts: the same incident

    nps = _alert("nps", "2026-11-16", "2026-11-24")
    [joined] = group_incidents([yield_alert, nps], 7, {"yield": first.incident_id})
    assert joined.incident_id == first.incident_id

    # A pooled rule flags a day that precedes the incident's first: without the previous grouping the id would move.
    earlier = _alert("training", "2026-11-10", "2026-11-12", line="S1-L2", kpi="training_completion")
    previous = {"yield": first.incident_id, "nps": first.incident_id}
    [kept] = group_incidents([yield_alert, nps, earlier], 7, previous)
    assert kept.incident_id == first.incident_id and kept.first_date == date(2026, 11, 10)
    assert group_incidents([yield_alert, nps, earlier], 7)[0].incident_id == incident_id_of("training")


def test_a_smaller_gap_splits_an_incident_and_only_one_part_keeps_its_id():
    members = [_alert("a", "2026-11-01", "2026-11-02"), _alert("b", "2026-11-06", "2026-11-08")]
    [whole] = group_incidents(members, 7)
    previous = {"a": whole.incident_id, "b": whole.incident_id}
    parts = group_incidents(members, 1, previous)
    assert [p.incident_id for p in parts] == [whole.incident_id, incident_id_of("b")]


def test_an_incident_resolves_when_every_member_has_and_takes_the_worst_severity():
    members = [
        _alert("yield", "2026-11-01", "2026-11-09", line="S1-L2", kpi="fraction_defective", severity="critical",
               resolved=True),
        _alert("csat", "2026-11-05", "2026-11-12", severity="warning"),
    ]  # fmt: skip
    [incident] = group_incidents(members, 7)
    assert (incident.status, incident.severity, incident.open_count) == ("open", "critical", 1)
    members[1] = _alert("csat", "2026-11-05", "2026-11-12", severity="warning", resolved=True)
    [incident] = group_incidents(members, 7)
    assert (incident.status, incident.open_count, incident.last_date) == ("resolved", 0, date(2026, 11, 12))


def test_an_alert_resolved_without_a_day_is_active_to_its_last_adverse_day():
    row = {
        "alert_id": "a",
        "kpi": "nps",
        "severity": "critical",
        "site_id": "S1",
        "line_id": "ALL",
        "step_id": "ALL",
        "since_date": date(2026, 11, 1),
        "last_date": date(2026, 11, 4),
        "resolved_date": None,  # its days were corrected by a replay
        "status": "resolved",
    }
    member = Member.of(row)
    assert (member.end_date, member.resolved) == (date(2026, 11, 4), True)
    assert Member.of({**row, "resolved_date": date(2026, 11, 7)}).end_date == date(2026, 11, 7)


def test_the_title_names_the_site_and_what_regressed_worst_first():
    members = [
        _alert("nps", "2026-11-16", "2026-11-24", kpi="nps", severity="critical"),
        _alert("copq", "2026-11-18", "2026-11-24", kpi="copq_share_of_revenue", severity="warning"),
        _alert("yield", "2026-11-13", "2026-11-24", line="S1-L2", kpi="fraction_defective", severity="critical"),
        _alert("yield-again", "2026-11-20", "2026-11-24", line="S1-L2", kpi="fraction_defective",
               severity="critical"),
    ]  # fmt: skip
    assert title_of("S1", members) == "S1: fraction defective on S1-L2, NPS, COPQ / revenue"
    assert title_of("ALL", members[:1]) == "Company: NPS"
    many = [_alert(f"l{i}", "2026-11-01", "2026-11-02", line=f"S1-L{i:02d}", kpi="oee") for i in range(40)]
    long = title_of("S1", many)
    assert len(long) <= 200 and long.endswith(" more") and long.startswith("S1: OEE on S1-L00, OEE on S1-L01")


def test_the_rules_file_sets_the_gap_and_it_defaults_to_a_week(tmp_path):
    assert load_rules().incidents.gap_days == 7
    path = tmp_path / "rules.yaml"
    path.write_text(
        "routes: {critical: [qp_alert_email]}\nincidents: {gap_days: 3}\n"
        "rules: [{name: r, kpi: nps, scope: site, method: target, adverse: down, target: 0, severity: critical}]\n"
    )
    assert load_rules(path).incidents.gap_days == 3
    path.write_text(path.read_text().replace("gap_days: 3", "gap_days: -1"))
    with pytest.raises(ValueError, match="gap_days"):
        load_rules(path)
