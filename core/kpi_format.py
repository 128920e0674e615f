"""KPI values and names as people read them in alerts, the report and the summary, from the KPI registry.

Ratios are shown as percentages (``KPIS.md``), NPS in signed points, the rest in the KPI's unit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import combinations

from core.kpi_registry import REGISTRY, Registry


def display_name(kpi: str, registry: Registry = REGISTRY) -> str:
    return registry[kpi].label if kpi in registry else kpi.replace("_", " ").capitalize()


def is_percent(kpi: str, registry: Registry = REGISTRY) -> bool:
    return kpi in registry and registry[kpi].is_percent


FALLBACK_FORMAT = "{:,.2f}"  # a KPI the registry doesn't know (a test's own)
MORE_DECIMALS = 6  # at most this many decimals more than the unit's format, to tell two close numbers apart


def _display_format(kpi: str, registry: Registry) -> str:
    return registry[kpi].display_format if kpi in registry else FALLBACK_FORMAT


def _with_more_decimals(display_format: str, more: int) -> str:
    return re.sub(r"\.(\d+)", lambda m: f".{int(m.group(1)) + more}", display_format, count=1)


def _apart(display_format: str, values: Sequence[float]) -> list[str]:
    """``values`` in ``display_format``, with as many more decimals as it takes for different numbers to read
    differently (a value just above its limit never reads as the limit itself)."""
    texts: list[str] = []
    for more in range(MORE_DECIMALS + 1):
        texts = [_with_more_decimals(display_format, more).format(v) for v in values]
        if all(texts[a] != texts[b] for a, b in combinations(range(len(values)), 2) if values[a] != values[b]):
            break
    return texts


def format_value(kpi: str, value: float, registry: Registry = REGISTRY) -> str:
    """A KPI value as people read it, in the registry's display format for its unit."""
    return _display_format(kpi, registry).format(value)


def format_values(kpi: str, values: Sequence[float], registry: Registry = REGISTRY) -> list[str]:
    """KPI values that are read together (a value and the limit it crossed), each as ``format_value`` puts it, with
    more decimals where two different numbers would otherwise read the same."""
    return _apart(_display_format(kpi, registry), values)


def format_differences(kpi: str, amounts: Sequence[float], registry: Registry = REGISTRY) -> list[str]:
    """Sizes of differences in the KPI's unit, told apart as ``format_values`` does: points (of a percentage) for
    ratios and for scores (NPS), else the unit's number."""
    if is_percent(kpi, registry):
        decimals = int(re.search(r"\.(\d+)", _display_format(kpi, registry)).group(1))  # type: ignore[union-attr]
        return [f"{t} points" for t in _apart(f"{{:.{decimals}f}}", [a * 100 for a in amounts])]
    words = " points" if kpi in registry and registry[kpi].unit == "score" else ""
    unsigned = _display_format(kpi, registry).replace("+", "")
    return [f"{t}{words}" for t in _apart(unsigned, amounts)]


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
