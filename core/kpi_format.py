"""KPI values and names as people read them in alerts, the report and the summary, from the KPI registry.

Ratios are shown as percentages (``KPIS.md``), NPS in signed points, the rest in the KPI's unit.
"""

from __future__ import annotations

from core.kpi_registry import REGISTRY, Registry


def display_name(kpi: str, registry: Registry = REGISTRY) -> str:
    return registry[kpi].label if kpi in registry else kpi.replace("_", " ").capitalize()


def is_percent(kpi: str, registry: Registry = REGISTRY) -> bool:
    return kpi in registry and registry[kpi].is_percent


def format_amount(kpi: str, amount: float, registry: Registry = REGISTRY) -> str:
    """A difference in the KPI's unit: percentage points for ratios."""
    return f"{amount * 100:g} pts" if is_percent(kpi, registry) else f"{amount:g}"


def format_value(kpi: str, value: float, registry: Registry = REGISTRY) -> str:
    """A KPI value as people read it, in the registry's display format for its unit."""
    return registry[kpi].display_format.format(value) if kpi in registry else f"{value:,.2f}"


def contributors_text(contributors: list[dict[str, object]], kpi: str, registry: Registry = REGISTRY) -> str:
    """What drives a regression, in words: the Pareto head of defect codes, the segments that moved most, or (for a
    leading KPI) how the outcome followed it in the place's history."""
    if "lag_days" in contributors[0]:
        h = contributors[0]
        lag, pairs = int(h["lag_days"]), int(h["pairs"])  # type: ignore[call-overload]
        return (
            f"History here: {display_name(str(h['outcome_kpi']), registry).lower()} has followed "
            f"{display_name(kpi, registry).lower()} by {lag} day{'s' if lag != 1 else ''} "
            f"(r = {float(h['correlation']):.2f}, one-sided p = {float(h['p_value']):.3f} over {pairs} days, "  # type: ignore[arg-type]
            f"worth about {float(h['effective_pairs']):.0f} independent ones, corrected for the lags tried)."  # type: ignore[arg-type]
        )
    if "defect_code" in contributors[0]:
        codes = ", ".join(f"{c['defect_code']} {float(c['share']):.0%}" for c in contributors)  # type: ignore[arg-type]
        return f"Top defect codes that day: {codes}."
    percent = is_percent(kpi, registry)
    unit = (lambda v: f"{v * 100:+.1f} pts") if percent else (lambda v: f"{v:+.1f}")
    moved = ", ".join(f"{c['segment']} {unit(float(c['change']))}" for c in contributors)  # type: ignore[arg-type]
    return f"Customer segments that moved most against the baseline: {moved}."
