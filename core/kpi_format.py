"""KPI values and names as people read them in alerts and reports (``KPIS.md``: ratios shown as percentages)."""

from __future__ import annotations

PERCENT_KPIS = {
    "fpy",
    "fraction_defective",
    "rty",
    "oee",
    "oee_availability",
    "oee_performance",
    "oee_quality",
    "rework_rate",
    "scrap_rate",
    "csat",
    "customer_retention",
    "training_compliance",
    "training_completion",
}


DISPLAY_NAMES = {
    "fpy": "First pass yield",
    "rty": "Rolled throughput yield",
    "dpu": "Defects per unit",
    "dpmo": "DPMO",
    "oee": "OEE",
    "nps": "NPS",
    "csat": "CSAT",
    "copq_share_of_revenue": "Cost of poor quality (share of revenue)",
    "coq_total": "Cost of quality",
    "complaint_rate": "Complaints per 1,000 units",
    "cycle_time_mean": "Cycle time (mean)",
}


def display_name(kpi: str) -> str:
    return DISPLAY_NAMES.get(kpi, kpi.replace("_", " ").capitalize())


def is_percent(kpi: str) -> bool:
    return kpi in PERCENT_KPIS or kpi.endswith("_share") or kpi.endswith("share_of_revenue")


def format_amount(kpi: str, amount: float) -> str:
    """A difference in the KPI's unit: percentage points for ratios."""
    return f"{amount * 100:g} pts" if is_percent(kpi) else f"{amount:g}"


def format_value(kpi: str, value: float) -> str:
    """A KPI value as people read it: ratios as percentages (``KPIS.md``), NPS in points, the rest as numbers."""
    if is_percent(kpi):
        return f"{value:.2%}"
    if kpi == "nps":
        return f"{value:+.1f}"
    return f"{value:,.2f}"


def contributors_text(contributors: list[dict[str, object]], kpi: str) -> str:
    if "defect_code" in contributors[0]:
        codes = ", ".join(f"{c['defect_code']} {float(c['share']):.0%}" for c in contributors)  # type: ignore[arg-type]
        return f"Top defect codes that day: {codes}."
    unit = (lambda v: f"{v * 100:+.1f} pts") if kpi in PERCENT_KPIS else (lambda v: f"{v:+.1f}")
    moved = ", ".join(f"{c['segment']} {unit(float(c['change']))}" for c in contributors)  # type: ignore[arg-type]
    return f"Customer segments that moved most against the baseline: {moved}."
