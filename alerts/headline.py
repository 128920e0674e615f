"""An alert in words: what fired, where, on which day and since when; the one wording every reader shows.

``alert_text`` turns an episode into the alert's ``rule`` (what fired), ``subject`` (the headline) and ``message``
(the headline, then what stands behind it). The alert row stores them, and the run summary, the report and the
e-mail, Slack and webhook digests show them as stored. The words come from the episode's data (the code of what
fired, the value, the line it was judged against, the days) and the KPI registry's label and unit: no rule code,
KPI code or ``ALL`` reaches them, and a value never reads the same as the line it crossed.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.evaluate import EITHER_SIDE_RULES, Episode
from core.alert_rules import CHARTS
from core.kpi_format import contributors_text, display_name, format_differences, format_values
from core.kpi_registry import REGISTRY

EVERYWHERE = "ALL"  # a place column's value above the row's grain
RULE_LENGTH = 120  # alert.rule


@dataclass(frozen=True)
class AlertText:
    rule: str  # what fired, in words (at most RULE_LENGTH characters)
    subject: str  # the headline: what, where, the value on its day, what fired, since when
    message: str  # the headline, then the baseline, the sample, the days and the drivers


def place_words(site_id: str, line_id: str, step_id: str) -> str:
    """``step SOLDER of line S1-L2 at site S1``, ``line S1-L2 at site S1``, ``site S1`` or ``the company``."""
    if step_id != EVERYWHERE:
        return f"step {step_id} of line {line_id} at site {site_id}"
    if line_id != EVERYWHERE:
        return f"line {line_id} at site {site_id}"
    return f"site {site_id}" if site_id != EVERYWHERE else "the company"


def regressed_where(kpi: str, window_days: int, site_id: str, line_id: str, step_id: str) -> str:
    """What is judged where: ``Fraction defective on line S1-L2 at site S1``, ``NPS, trailing 7 days, at site S1``."""
    name = display_name(kpi)
    if window_days > 1:
        name = f"{name}, trailing {window_days} days,"
    preposition = "on" if line_id != EVERYWHERE else ("at" if site_id != EVERYWHERE else "for")
    return f"{name} {preposition} {place_words(site_id, line_id, step_id)}"


def alert_text(episode: Episode) -> AlertText:
    """The alert's words (see the module's docstring)."""
    rule = episode.rule
    where = regressed_where(rule.kpi, rule.window_days, episode.site_id, episode.line_id, episode.step_id)
    reading, what, context = _words(episode)
    subject = f"{where}: {reading}, {what}; since {episode.since_date}"
    days = f"{episode.days_adverse} adverse day{'s' if episode.days_adverse != 1 else ''}"
    message = f"{subject}. {context} {days}."
    if episode.contributors:
        message += " " + contributors_text(episode.contributors, rule.kpi)
    return AlertText(what[:RULE_LENGTH], subject, message)


def _words(episode: Episode) -> tuple[str, str, str]:
    """The value as read on its day, what fired (in words, with the line it crossed), and the context behind it."""
    rule, fired = episode.rule, episode.fired
    up = rule.adverse == "up"
    side, limit_name = ("above", "upper") if up else ("below", "lower")
    either_side = fired in EITHER_SIDE_RULES
    numbers = [episode.value, episode.limit, episode.centre, *([episode.opposite_limit] if either_side else [])]
    value, limit, centre, *opposite = format_values(rule.kpi, numbers)
    reading = f"{value} on {episode.last_date}"
    sample = _sample(rule.kpi, episode.sample_size)
    if rule.method in CHARTS:
        if either_side:
            low, high = (opposite[0], limit) if up else (limit, opposite[0])
            what = {
                "nelson_7": f"15 days in a row within 1 sigma of the centre line {centre} ({low} to {high})",
                "nelson_8": f"8 days in a row beyond 1 sigma on either side of the centre line {centre} (outside "
                f"{low} to {high})",
            }[fired]
        else:
            beyond_limit = f"beyond the {limit_name} control limit {limit}"
            two_of_three = f"2 of the last 3 days beyond 2 sigma {side} the centre line {centre} (2-sigma line {limit})"
            four_of_five = f"4 of the last 5 days beyond 1 sigma {side} the centre line {centre} (1-sigma line {limit})"
            what = {
                "rule_1": beyond_limit,
                "rule_2": two_of_three,
                "rule_3": four_of_five,
                "rule_4": f"8 days in a row {side} the centre line {centre}",
                "nelson_1": beyond_limit,
                "nelson_2": f"9 days in a row {side} the centre line {centre}",
                "nelson_3": f"6 days in a row {'rising' if up else 'falling'} (centre line {centre})",
                "nelson_4": f"14 days in a row alternating up and down (centre line {centre})",
                "nelson_5": two_of_three,
                "nelson_6": four_of_five,
            }[fired]
        centre_line = "" if "centre line" in what else f" (centre line {centre})"
        context = f"Limits from the trailing {rule.baseline_days}-day in-control baseline{centre_line}{sample}."
        return reading, what, context
    if rule.method == "ewma":
        what = (
            f"beyond the EWMA's {limit_name} {rule.ewma_width:g}-sigma limit {limit} (lambda {rule.ewma_lambda:g}): "
            "a sustained shift"
        )
        context = f"The EWMA smooths the daily values; baseline mean {centre}{sample}."
        return f"EWMA {reading}", what, context
    if rule.method == "cusum":
        run = episode.run_days
        if run > 1:
            reading = f"{value} on average over the {run} days to {episode.last_date}"
        shift = "an upward" if up else "a downward"
        what = (
            f"{side} {limit}, where the CUSUM (k = {rule.cusum_k:g}, h = {rule.cusum_h:g} sigma) signals {shift} "
            f"shift over {run} day{'s' if run != 1 else ''}"
        )
        return reading, what, f"Baseline mean {centre}{sample}."
    if rule.method == "target":
        return reading, f"{side} the target {limit}", f"The target is a fixed bound{sample}."
    # drop, leading: a fall (rise) of more than the rule's points against the trailing baseline's mean
    gap, allowed = format_differences(rule.kpi, [abs(episode.value - episode.centre), rule.points or 0.0])
    what = f"{gap} {side} its trailing {rule.baseline_days}-day mean {centre}"
    if rule.method == "leading" and episode.contributors:
        history = episode.contributors[0]
        lag = int(history["lag_days"])  # type: ignore[call-overload]
        outcome = _in_a_sentence(display_name(str(history["outcome_kpi"])))
        what += f"; {outcome} has followed it here by {lag} day{'s' if lag != 1 else ''}"
        what += f" (r = {float(history['correlation']):.2f})"  # type: ignore[arg-type]
    change = "fall" if not up else "rise"
    return reading, what, f"A {change} of more than {allowed} is a regression{sample}."


def _sample(kpi: str, size: float) -> str:
    """``; n = 412`` for a ratio KPI (the day's denominator); nothing for an amount."""
    if kpi in REGISTRY and REGISTRY[kpi].denominator is None:
        return ""
    return f"; n = {size:,.0f}"


def _in_a_sentence(label: str) -> str:
    """``First pass yield`` -> ``first pass yield``; an acronym (``NPS``) stays as it is."""
    return label[0].lower() + label[1:] if label[1:2].islower() else label
