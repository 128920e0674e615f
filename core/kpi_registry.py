"""The KPI registry: what each KPI is, declared once (``../shared/KPIS.md`` gives the formulas).

Everything else reads it: the KPI value functions and families (``transforms.kpi_tables``), which datasets hold
which KPI days (``warehouse.kpi_holds``), the BI views' column comments and ``docs/warehouse.md``, the report's
tiles, the run summary, and the words of alerts. Adding a KPI is one entry here, its formula where its family is
built, and its test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

Grain = Literal["step", "line", "site", "company"]
# How a KPI's value at a coarser grain or a longer period follows from its daily rows:
#   ratio          summed numerator over summed denominator, times ``scale`` (never an average of ratios)
#   amount         summed numerator (an amount or a count; the denominator is 1)
#   route_product  the product of the step FPYs on a line's route, for the same day or period (RTY)
#   quantile       a quantile of the facts themselves, per day; weeks and months come from the facts again
#   window         from the period's own start and end (retention: customers at start, at end, new)
Additivity = Literal["ratio", "amount", "route_product", "quantile", "window"]
# The unit a KPI's value is in; it decides how people read it (fractions are shown as percentages, KPIS.md).
Unit = Literal[
    "fraction",
    "score",
    "points",
    "per_million",
    "sigma",
    "per_unit",
    "per_thousand",
    "minutes",
    "hours",
    "currency",
    "count",
]
Chart = Literal["p_chart", "u_chart", "imr"]

ALL_GRAINS: tuple[Grain, ...] = ("step", "line", "site", "company")
LINE_UP: tuple[Grain, ...] = ("line", "site", "company")
SITE_UP: tuple[Grain, ...] = ("site", "company")

_FORMATS: dict[Unit, str] = {
    "fraction": "{:.2%}",
    "score": "{:+.1f}",
    "points": "{:,.1f}",
    "per_million": "{:,.0f}",
    "sigma": "{:.2f}",
    "per_unit": "{:,.3f}",
    "per_thousand": "{:,.2f}",
    "minutes": "{:,.1f}",
    "hours": "{:,.2f}",
    "currency": "{:,.2f}",
    "count": "{:,.0f}",
}
_UNIT_WORDS: dict[Unit, str] = {
    "fraction": "a fraction 0..1 (shown as a percentage)",
    "score": "points on -100..100",
    "points": "points (the course's scale)",
    "per_million": "per million opportunities",
    "sigma": "sigma (short-term, with the 1.5 shift)",
    "per_unit": "per unit",
    "per_thousand": "per 1,000 units",
    "minutes": "minutes",
    "hours": "hours",
    "currency": "currency (the ledger's)",
    "count": "a count",
}


# What follows a number in a KPI's unit where people read it (a percentage carries its sign in its format; a currency
# amount takes the ledger's currency code, which is configuration: ``Settings.ledger_currency``).
_SYMBOLS: dict[Unit, str] = {
    "fraction": "",
    "score": "pts",
    "points": "pts",
    "per_million": "ppm",
    "sigma": "sigma",
    "per_unit": "per unit",
    "per_thousand": "per 1000",
    "minutes": "min",
    "hours": "h",
    "currency": "",
    "count": "",
}


@dataclass(frozen=True)
class Measure:
    """What a numerator or denominator counts, from which dataset, dated by which of its columns; ``column`` is
    what the KPI build sums: a column of the family's prepared rows (``transforms.kpi_tables``)."""

    counts: str
    dataset: str
    date_column: str
    column: str


@dataclass(frozen=True)
class Family:
    """KPIs built together from one set of facts, partitioned by one kind of day.

    ``feeds``: each fact dataset whose rows decide the family's days, with the column that dates them; a blocked
    batch of one of them holds those days of every KPI of the family.
    """

    name: str
    feeds: dict[str, str]
    description: str


@dataclass(frozen=True)
class Kpi:
    code: str
    label: str
    family: str
    unit: Unit
    higher_is_better: bool
    numerator: Measure
    denominator: Measure | None  # None: an amount, a count or a quantile (the stored denominator is 1)
    additivity: Additivity
    grains: tuple[Grain, ...]
    chart: Chart  # the control chart that judges it by default
    description: str
    scale: float = 1.0  # value = numerator / denominator x scale, for ratios
    short_label: str | None = None  # where a table column is narrow (the run summary)
    tile: bool = False  # a tile of the report
    summary: bool = False  # a row of the run summary
    contributors: Literal["defect_codes", "segments"] | None = None  # what an alert names as its drivers
    derived: str | None = None  # the formula, when the value is not numerator / denominator x scale
    part_of: str | None = None  # the KPI this amount is a part of (the PAF categories of the cost of quality)
    quantile: float | None = None  # for quantile KPIs: which one

    @property
    def is_percent(self) -> bool:
        return self.unit == "fraction"

    @property
    def display_format(self) -> str:
        return _FORMATS[self.unit]

    @property
    def unit_symbol(self) -> str:
        """What follows a value in this unit ("ppm", "min"; "" for percentages, counts and currency amounts)."""
        return _SYMBOLS[self.unit]

    def with_unit(self, value: float, currency: str) -> str:
        """``value`` in the display format, followed by its unit (``currency``: the code of a currency amount)."""
        symbol = currency if self.unit == "currency" else self.unit_symbol
        shown = self.display_format.format(value)
        return f"{shown} {symbol}" if symbol else shown

    @property
    def unit_words(self) -> str:
        return _UNIT_WORDS[self.unit]

    @property
    def additive(self) -> bool:
        """Whether weekly and monthly rows come from summed daily numerators and denominators."""
        return self.additivity in ("ratio", "amount")

    @property
    def narrow_label(self) -> str:
        return self.short_label or self.label


class Registry:
    """The KPIs and their families. Read it when a KPI is needed, never copy it into a module's constants: a test
    may add a KPI for its duration (:meth:`extended`), and everything derived must see it."""

    def __init__(self, families: tuple[Family, ...], kpis: tuple[Kpi, ...], headline: str) -> None:
        self.families = families
        self.headline = headline  # the KPI the run summary shows line by line
        self._kpis: tuple[Kpi, ...] = ()
        self._set(kpis)

    def _set(self, kpis: tuple[Kpi, ...]) -> None:
        by_code = {k.code: k for k in kpis}
        if len(by_code) != len(kpis):
            raise ValueError("KPI codes must be unique")
        names = {f.name for f in self.families}
        for kpi in kpis:
            if kpi.family not in names:
                raise ValueError(f"KPI {kpi.code}: unknown family {kpi.family!r}")
        if self.headline not in by_code:
            raise ValueError(f"the headline KPI {self.headline!r} is not in the registry")
        self._kpis, self._by_code = kpis, by_code

    @property
    def kpis(self) -> tuple[Kpi, ...]:
        return self._kpis

    def __iter__(self) -> Iterator[Kpi]:
        return iter(self._kpis)

    def __getitem__(self, code: str) -> Kpi:
        return self._by_code[code]

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def of_family(self, family: str) -> tuple[str, ...]:
        return tuple(k.code for k in self._kpis if k.family == family)

    def family_codes(self) -> dict[str, tuple[str, ...]]:
        """Each family's KPI codes, families in build order."""
        return {f.name: self.of_family(f.name) for f in self.families}

    def held_by(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """dataset -> (the column that dates its rows, the families whose days its batches hold)."""
        out: dict[str, tuple[str, tuple[str, ...]]] = {}
        for family in self.families:
            for dataset, column in family.feeds.items():
                known_column, families = out.get(dataset, (column, ()))
                if known_column != column:
                    raise ValueError(f"{dataset}: dated by {known_column} and by {column} in different families")
                out[dataset] = (column, (*families, family.name))
        return out

    def tiles(self) -> tuple[Kpi, ...]:
        return tuple(k for k in self._kpis if k.tile)

    def summary_rows(self) -> tuple[Kpi, ...]:
        return tuple(k for k in self._kpis if k.summary)

    @contextmanager
    def extended(self, *kpis: Kpi) -> Iterator[Registry]:
        """The registry with more KPIs for the duration (a test's toy KPI): one entry, and every layer knows it."""
        before = self._kpis
        self._set((*before, *kpis))
        try:
            yield self
        finally:
            self._set(before)


def _m(counts: str, dataset: str, date_column: str, column: str) -> Measure:
    return Measure(counts, dataset, date_column, column)


_RUNS = "production_runs"
_ENTERED = _m("units that entered the step", _RUNS, "production_date", "units_entered")
_INSPECTED = _m("units inspected", _RUNS, "production_date", "units_inspected")
_DEFECTS = _m("defects recorded on the runs", "defects", "recorded_at", "defect_count")
_PLANNED = _m("planned production minutes", _RUNS, "production_date", "planned_minutes")
_RUN_TIME = _m("run minutes (planned - down)", _RUNS, "production_date", "run_minutes")
_IDEAL = _m("ideal minutes: ideal cycle time x units entered", _RUNS, "production_date", "ideal_minutes")
_FULLY_PRODUCTIVE = _m(
    "fully productive minutes: ideal cycle time x good units", _RUNS, "production_date", "good_ideal_minutes"
)
_LEDGER_TOTAL = _m("cost of quality booked (all four PAF categories)", "cost_ledger", "booked_on", "amount")
_HEADCOUNT = _m("active employees on the day", "employees", "hired_on", "headcount")
_SCORED = _m("completed assessments with a score", "training_assignments", "completed_on", "scored")

FAMILIES: tuple[Family, ...] = (
    Family(
        "production",
        {"production_runs": "production_date", "defects": "recorded_at"},
        "yield, defects, OEE and cycle time, from the production runs and their defects",
    ),
    Family(
        "cost",
        {"shipments": "shipped_on", "cost_ledger": "booked_on"},
        "cost of quality by PAF category, from the cost ledger and the revenue of shipments",
    ),
    Family(
        "customer",
        {"shipments": "shipped_on", "complaints": "received_on"},
        "complaints, against the units shipped",
    ),
    Family(
        "retention",
        {"shipments": "shipped_on", "cost_ledger": "booked_on", "complaints": "received_on"},
        "customer retention, from the customer accounts, on the days of customer activity",
    ),
    Family("feedback", {"feedback": "responded_at"}, "NPS and CSAT, from the survey responses"),
    Family("training", {"training_assignments": "due_on"}, "training completion, from the assignments falling due"),
    Family(
        "people",
        {"training_assignments": "due_on"},
        "compliance, overdue training, assessments and training hours, from the LMS and the HR roster",
    ),
)

KPIS: tuple[Kpi, ...] = (
    # Manufacturing, in the order a quality review reads them.
    Kpi(
        "fpy",
        "First pass yield",
        "production",
        "fraction",
        True,
        _m(
            "units that passed the step the first time (no rework, no scrap)",
            _RUNS,
            "production_date",
            "units_first_pass",
        ),
        _ENTERED,
        "ratio",
        ALL_GRAINS,
        "p_chart",
        "units that pass a step the first time / units that entered it",
        tile=True,
        summary=True,
        contributors="defect_codes",
    ),
    Kpi(
        "rty",
        "Rolled throughput yield",
        "production",
        "fraction",
        True,
        _m("the product of the route's step FPYs (stored as the value)", _RUNS, "production_date", "rty"),
        None,
        "route_product",
        ("line",),
        "imr",
        "the product of the step FPYs on the line's route, for the same day and line",
        tile=True,
        contributors="defect_codes",
        derived="product of the step FPYs on the line's route",
    ),
    Kpi(
        "fraction_defective",
        "Fraction defective",
        "production",
        "fraction",
        False,
        _m("defective units", _RUNS, "production_date", "units_defective"),
        _INSPECTED,
        "ratio",
        ALL_GRAINS,
        "p_chart",
        "fraction defective (p): defective units / inspected units",
        tile=True,
        contributors="defect_codes",
    ),
    Kpi(
        "dpmo",
        "DPMO",
        "production",
        "per_million",
        False,
        _DEFECTS,
        _m(
            "opportunities: units inspected x the product's opportunities per unit",
            _RUNS,
            "production_date",
            "opportunities",
        ),
        "ratio",
        ALL_GRAINS,
        "u_chart",
        "defects per million opportunities",
        scale=1_000_000,
        tile=True,
        summary=True,
        contributors="defect_codes",
    ),
    Kpi(
        "sigma_level",
        "Sigma level",
        "production",
        "sigma",
        True,
        _DEFECTS,
        _m(
            "opportunities: units inspected x the product's opportunities per unit",
            _RUNS,
            "production_date",
            "opportunities",
        ),
        "ratio",
        ALL_GRAINS,
        "imr",
        "short-term sigma level from DPMO, with the 1.5 shift",
        tile=True,
        summary=True,
        contributors="defect_codes",
        derived="NormInv(1 - DPMO / 1e6) + 1.5; NULL with no defects",
    ),
    Kpi(
        "dpu",
        "Defects per unit",
        "production",
        "per_unit",
        False,
        _DEFECTS,
        _INSPECTED,
        "ratio",
        ALL_GRAINS,
        "u_chart",
        "defects per unit inspected",
        tile=True,
        contributors="defect_codes",
    ),
    Kpi(
        "rework_rate",
        "Rework rate",
        "production",
        "fraction",
        False,
        _m("units reworked", _RUNS, "production_date", "units_reworked"),
        _ENTERED,
        "ratio",
        ALL_GRAINS,
        "p_chart",
        "reworked units / units entering the step",
        tile=True,
    ),
    Kpi(
        "scrap_rate",
        "Scrap rate",
        "production",
        "fraction",
        False,
        _m("units scrapped", _RUNS, "production_date", "units_scrapped"),
        _ENTERED,
        "ratio",
        ALL_GRAINS,
        "p_chart",
        "scrapped units / units entering the step",
        tile=True,
    ),
    Kpi(
        "oee",
        "OEE",
        "production",
        "fraction",
        True,
        _FULLY_PRODUCTIVE,
        _PLANNED,
        "ratio",
        ALL_GRAINS,
        "imr",
        "overall equipment effectiveness: availability x performance x quality",
        tile=True,
        summary=True,
        contributors="defect_codes",
    ),
    Kpi(
        "oee_availability",
        "OEE availability",
        "production",
        "fraction",
        True,
        _RUN_TIME,
        _PLANNED,
        "ratio",
        ALL_GRAINS,
        "imr",
        "run time / planned production time",
    ),
    Kpi(
        "oee_performance",
        "OEE performance",
        "production",
        "fraction",
        True,
        _IDEAL,
        _RUN_TIME,
        "ratio",
        ALL_GRAINS,
        "imr",
        "ideal cycle time x total count / run time",
    ),
    Kpi(
        "oee_quality",
        "OEE quality",
        "production",
        "fraction",
        True,
        # Weighted by ideal cycle time (KPIS.md), so availability x performance x quality = OEE on every row, also
        # where runs of different ideal cycle times are pooled; for one run it is good / total.
        _FULLY_PRODUCTIVE,
        _IDEAL,
        "ratio",
        ALL_GRAINS,
        "imr",
        "good count / total count; pooled: sum(ideal cycle time x good) / sum(ideal cycle time x total)",
        contributors="defect_codes",
    ),
    Kpi(
        "cycle_time_mean",
        "Cycle time (mean)",
        "production",
        "minutes",
        False,
        _m("minutes from start to finish, summed over runs", _RUNS, "production_date", "cycle_minutes"),
        _m("runs", _RUNS, "production_date", "run_count"),
        "ratio",
        ALL_GRAINS,
        "imr",
        "mean process cycle time (finished - started)",
        tile=True,
    ),
    Kpi(
        "cycle_time_median",
        "Cycle time (median)",
        "production",
        "minutes",
        False,
        _m(
            "the median run's minutes from start to finish (stored as the value)",
            _RUNS,
            "production_date",
            "cycle_minutes",
        ),
        None,
        "quantile",
        ALL_GRAINS,
        "imr",
        "median process cycle time",
        derived="median of the runs' cycle times",
        quantile=0.5,
    ),
    Kpi(
        "cycle_time_p90",
        "Cycle time (90th percentile)",
        "production",
        "minutes",
        False,
        _m("the 90th percentile of the runs' minutes (stored as the value)", _RUNS, "production_date", "cycle_minutes"),
        None,
        "quantile",
        ALL_GRAINS,
        "imr",
        "90th percentile of process cycle time",
        derived="90th percentile of the runs' cycle times",
        quantile=0.9,
    ),
    # Cost of quality (the PAF model).
    Kpi(
        "coq_total",
        "Cost of quality",
        "cost",
        "currency",
        False,
        _LEDGER_TOTAL,
        None,
        "amount",
        SITE_UP,
        "imr",
        "prevention + appraisal + internal failure + external failure",
        tile=True,
    ),
    Kpi(
        "copq",
        "Cost of poor quality",
        "cost",
        "currency",
        False,
        _m("internal and external failure costs booked", "cost_ledger", "booked_on", "copq_amount"),
        None,
        "amount",
        SITE_UP,
        "imr",
        "internal failure + external failure",
    ),
    Kpi(
        "copq_share_of_revenue",
        "Cost of poor quality (share of revenue)",
        "cost",
        "fraction",
        False,
        _m("internal and external failure costs booked", "cost_ledger", "booked_on", "copq_amount"),
        _m("revenue shipped", "shipments", "shipped_on", "revenue"),
        "ratio",
        SITE_UP,
        "imr",
        "COPQ as a fraction of revenue",
        short_label="COPQ / revenue",
        tile=True,
        summary=True,
    ),
    *(
        Kpi(
            f"coq_{category}",
            f"Cost of quality: {words}",
            "cost",
            "currency",
            False,
            _m(f"{words} costs booked", "cost_ledger", "booked_on", category),
            None,
            "amount",
            SITE_UP,
            "imr",
            f"{words} costs",
            short_label=words.capitalize(),
            part_of="coq_total",
        )
        for category, words in (
            ("prevention", "prevention"),
            ("appraisal", "appraisal"),
            ("internal_failure", "internal failure"),
            ("external_failure", "external failure"),
        )
    ),
    *(
        Kpi(
            f"coq_{category}_share",
            f"Cost of quality: {words} share",
            "cost",
            "fraction",
            higher,
            _m(f"{words} costs booked", "cost_ledger", "booked_on", category),
            _LEDGER_TOTAL,
            "ratio",
            SITE_UP,
            "imr",
            f"{words} as a share of the cost of quality",
        )
        # Spending shifted to prevention and appraisal is the aim of the PAF model; failure shares should fall.
        for category, words, higher in (
            ("prevention", "prevention", True),
            ("appraisal", "appraisal", True),
            ("internal_failure", "internal failure", False),
            ("external_failure", "external failure", False),
        )
    ),
    # Customers.
    Kpi(
        "complaint_rate",
        "Complaints per 1,000 units",
        "customer",
        "per_thousand",
        False,
        _m("customer complaints received", "complaints", "received_on", "complaint"),
        _m("units shipped", "shipments", "shipped_on", "units"),
        "ratio",
        SITE_UP,
        "u_chart",
        "complaints per 1,000 units shipped",
        scale=1000,
        short_label="Complaints /1000 units",
        tile=True,
        summary=True,
    ),
    Kpi(
        "complaints",
        "Complaints",
        "customer",
        "count",
        False,
        _m("customer complaints received, by the line they name", "complaints", "received_on", "complaints_received"),
        None,
        "amount",
        LINE_UP,
        "imr",
        "customer complaints",
    ),
    Kpi(
        "nps",
        "NPS",
        "feedback",
        "score",
        True,
        _m("promoters (9-10) less detractors (0-6)", "feedback", "responded_at", "net_promoters"),
        _m("responses with an NPS score", "feedback", "responded_at", "scored"),
        "ratio",
        SITE_UP,
        "imr",
        "net promoter score on -100..100",
        scale=100,
        tile=True,
        summary=True,
        contributors="segments",
    ),
    Kpi(
        "csat",
        "CSAT",
        "feedback",
        "fraction",
        True,
        _m("responses scoring 4 or 5", "feedback", "responded_at", "satisfied"),
        _m("responses with a CSAT score", "feedback", "responded_at", "csat_scored"),
        "ratio",
        SITE_UP,
        "p_chart",  # each response is a trial: satisfied or not
        "customer satisfaction: share of responses scoring 4 or 5",
        tile=True,
        contributors="segments",
    ),
    Kpi(
        "customer_retention",
        "Customer retention",
        "retention",
        "fraction",
        True,
        _m("customers at the end of the window, less those acquired in it", "customer_accounts", "acquired_on", "kept"),
        _m("customers at the start of the window", "customer_accounts", "acquired_on", "at_start"),
        "window",
        SITE_UP,
        "imr",
        "(customers at end - new customers) / customers at start, per day, week or month",
        tile=True,
    ),
    # People.
    Kpi(
        "training_completion",
        "Training completion",
        "training",
        "fraction",
        True,
        _m("assignments completed by their due date", "training_assignments", "due_on", "on_time"),
        _m("assignments due, exempted ones aside", "training_assignments", "due_on", "eligible"),
        "ratio",
        LINE_UP,
        "p_chart",  # each assignment due is a trial: done on time or not
        "share of assignments due completed by their due date",
        tile=True,
        summary=True,
    ),
    Kpi(
        "training_compliance",
        "Training compliance",
        "people",
        "fraction",
        True,
        _m(
            "active employees holding every required, unexpired course",
            "training_assignments",
            "completed_on",
            "compliant",
        ),
        _HEADCOUNT,
        "ratio",
        LINE_UP,
        "imr",
        "share of active employees holding every required, unexpired course for their role",
        tile=True,
        summary=True,
    ),
    Kpi(
        "overdue_training",
        "Overdue training",
        "people",
        "fraction",
        False,
        _m("assignments past due and not completed", "training_assignments", "due_on", "overdue"),
        _m("assignments open on the day", "training_assignments", "assigned_on", "open"),
        "ratio",
        LINE_UP,
        "imr",
        "share of open assignments that are past due",
    ),
    Kpi(
        "overdue_training_count",
        "Overdue training (count)",
        "people",
        "count",
        False,
        _m("assignments past due and not completed", "training_assignments", "due_on", "overdue"),
        None,
        "amount",
        LINE_UP,
        "imr",
        "assignments past due and not completed",
    ),
    Kpi(
        "training_hours_per_employee",
        "Training hours per employee",
        "people",
        "hours",
        True,
        _m("course hours completed", "training_assignments", "completed_on", "hours"),
        _HEADCOUNT,
        "ratio",
        LINE_UP,
        "imr",
        "completed training hours / active headcount",
    ),
    Kpi(
        "assessment_score",
        "Assessment score",
        "people",
        "points",
        True,
        _m("scores of completed assessments, summed", "training_assignments", "completed_on", "score_sum"),
        _SCORED,
        "ratio",
        LINE_UP,
        "imr",
        "mean score of completed assessments",
    ),
    Kpi(
        "assessment_pass_rate",
        "Assessment pass rate",
        "people",
        "fraction",
        True,
        _m(
            "completed assessments at or above the course's pass mark", "training_assignments", "completed_on", "passed"
        ),
        _SCORED,
        "ratio",
        LINE_UP,
        "imr",
        "share of completed assessments that passed",
    ),
)

REGISTRY = Registry(FAMILIES, KPIS, headline="fpy")
