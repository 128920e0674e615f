"""The regression rules from configuration (``alerts/rules.yaml``, or ``QP_ALERT_RULES``), validated on load.

A mistake in the file is reported with the file, the rule and the field, before anything is judged.
"""

from __future__ import annotations

from collections.abc import Collection
from difflib import get_close_matches
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config_files import load_validated
from core.kpi_registry import REGISTRY

# The bundled rules live with the alerting they configure.
DEFAULT_RULES_FILE = Path(__file__).resolve().parents[1] / "alerts" / "rules.yaml"

Severity = Literal["critical", "warning", "info"]
# A chart's run rules: Western Electric 1-4 (``rule_1`` ..) or Nelson 1-8 (``nelson_1`` ..), chosen per rule.
ChartRule = Literal[
    "rule_1", "rule_2", "rule_3", "rule_4",
    "nelson_1", "nelson_2", "nelson_3", "nelson_4", "nelson_5", "nelson_6", "nelson_7", "nelson_8",
]  # fmt: skip
CHARTS = ("p_chart", "u_chart", "laney_p", "laney_u", "imr")  # Shewhart charts, judged by run rules
COUNT_CHARTS = ("p_chart", "u_chart", "laney_p", "laney_u")  # judged from numerators over denominators
DRIFT_CHARTS = ("ewma", "cusum")  # time-weighted charts of the daily values, for slow drifts


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseline_days: int = Field(28, ge=2)
    min_baseline_days: int = Field(14, ge=2)
    resolve_after_days: int = Field(3, ge=1)
    notify_owner: bool = True


# The assignable-cause categories of an Ishikawa diagram (the 6 Ms), plus the data itself; and the usual kinds of
# corrective action. A plant replaces them with its own lists under `triage` in the rules file.
DEFAULT_CAUSES = ("material", "machine", "method", "people", "measurement", "environment", "data_error", "unknown")
DEFAULT_ACTIONS = (
    "containment",
    "rework_or_scrap",
    "process_change",
    "supplier_action",
    "maintenance",
    "training",
    "none_needed",
)


class Triage(BaseModel):
    """The codes an alert's triage may use (``qp alerts cause``)."""

    model_config = ConfigDict(extra="forbid")

    causes: list[str] = Field(default_factory=lambda: list(DEFAULT_CAUSES), min_length=1)
    actions: list[str] = Field(default_factory=lambda: list(DEFAULT_ACTIONS), min_length=1)


class Incidents(BaseModel):
    """How KPI alerts group into incidents (``alerts/incidents.py``)."""

    model_config = ConfigDict(extra="forbid")

    # Alerts at one site whose active days come within this many days of each other are one incident: customer
    # effects (complaints, NPS, the cost of poor quality) lag the production problem that causes them.
    gap_days: int = Field(7, ge=0)


class Rule(BaseModel):
    """One regression rule: a KPI at a scope, judged by a chart, a target or a drop against its baseline."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kpi: str
    scope: Literal["company", "site", "line", "step"]
    method: Literal["p_chart", "u_chart", "laney_p", "laney_u", "imr", "ewma", "cusum", "target", "drop", "leading"]
    adverse: Literal["up", "down"]
    severity: Severity
    rules: list[ChartRule] = Field(default_factory=list)
    target: float | None = None
    points: float | None = Field(None, gt=0)
    # Judge the pooled value of the trailing N calendar days instead of each day alone: for KPIs with few
    # observations a day (a site's daily NPS rests on a dozen responses).
    window_days: int = Field(1, ge=1)
    # The drift charts' parameters (transforms.spc.ewma_chart and cusum_chart), in sigma units of the daily values.
    ewma_lambda: float | None = Field(None, gt=0, le=1)  # default 0.2: the weight of the newest day
    ewma_width: float | None = Field(None, gt=0)  # default 3.0: L, the limits' width
    cusum_k: float | None = Field(None, ge=0)  # default 0.5: the allowance, half the shift to detect
    cusum_h: float | None = Field(None, gt=0)  # default 5.0: the decision interval
    baseline_days: int | None = Field(None, ge=2)
    min_baseline_days: int | None = Field(None, ge=2)
    resolve_after_days: int | None = Field(None, ge=1)
    notify_owner: bool | None = None
    # method leading: the KPI this one leads (its outcome), how far ahead it may lead, and how strong and how far
    # beyond chance the relation in the line's own history must be before a fall of the leading KPI is alerted.
    leads: str | None = None
    max_lag_days: int = Field(28, ge=0, le=28)
    min_correlation: float = Field(0.5, gt=0, le=1)
    max_p_value: float = Field(0.05, gt=0, le=1)

    @model_validator(mode="after")
    def _method_needs(self) -> Rule:
        if self.method in CHARTS and not self.rules:
            raise ValueError(
                f"method {self.method} needs `rules`: the Western Electric (rule_1 ..) or Nelson (nelson_1 ..) rules "
                "that raise an alert"
            )
        if self.method not in CHARTS and self.rules:
            raise ValueError(
                f"`rules` (run rules) apply to the Shewhart charts {', '.join(CHARTS)}, not to {self.method}"
            )
        drift_settings = [
            f for f in ("ewma_lambda", "ewma_width", "cusum_k", "cusum_h") if getattr(self, f) is not None
        ]
        misplaced = [f for f in drift_settings if not f.startswith(f"{self.method}_")]
        if misplaced:
            owner = misplaced[0].split("_")[0]
            raise ValueError(f"{', '.join(misplaced)}: for method {owner} only, not {self.method}")
        if self.method == "ewma":
            self.ewma_lambda = 0.2 if self.ewma_lambda is None else self.ewma_lambda
            self.ewma_width = 3.0 if self.ewma_width is None else self.ewma_width
        if self.method == "cusum":
            self.cusum_k = 0.5 if self.cusum_k is None else self.cusum_k
            self.cusum_h = 5.0 if self.cusum_h is None else self.cusum_h
        if self.method == "target" and self.target is None:
            raise ValueError("method target needs `target`: the bound in the KPI's unit")
        if self.method in ("drop", "leading") and self.points is None:
            raise ValueError(f"method {self.method} needs `points`: how far from the baseline mean is a regression")
        if self.method == "leading":
            if not self.leads:
                raise ValueError("method leading needs `leads`: the code of the outcome KPI it leads")
            if self.leads == self.kpi:
                raise ValueError(f"a KPI cannot lead itself: `leads` must name another KPI than {self.kpi}")
            if self.adverse != "down":
                raise ValueError("method leading alerts a fall of the leading KPI: `adverse` must be down")
            if self.scope != "line":
                raise ValueError("method leading relates a line's own history: `scope` must be line")
        elif self.leads is not None:
            raise ValueError(f"`leads` applies to method leading only, not to method {self.method}")
        return self


class AlertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: Defaults = Field(default_factory=lambda: Defaults())
    routes: dict[Severity, list[str]]
    rules: list[Rule]
    triage: Triage = Field(default_factory=lambda: Triage())
    incidents: Incidents = Field(default_factory=lambda: Incidents())

    @model_validator(mode="after")
    def _consistent(self) -> AlertConfig:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        unrouted = sorted({r.severity for r in self.rules} - set(self.routes))
        if unrouted:
            raise ValueError(f"no route for severity {', '.join(unrouted)}: add it under `routes`")
        for rule in self.rules:  # a rule's own settings, else the defaults
            for setting in ("baseline_days", "min_baseline_days", "resolve_after_days", "notify_owner"):
                if getattr(rule, setting) is None:
                    setattr(rule, setting, getattr(self.defaults, setting))
        return self

    def channel_ids(self) -> tuple[str, ...]:
        """Every channel any route names, once each."""
        return tuple(dict.fromkeys(c for channels in self.routes.values() for c in channels))

    def channels_for(self, severity: str) -> list[str]:
        return list(self.routes.get(severity, []))  # type: ignore[call-overload]


class RulesFileError(ValueError):
    """The rules file is missing, not YAML, or breaks the schema; the message names the place."""


def load_rules(path: Path | None = None, known_kpis: Collection[str] | None = None) -> AlertConfig:
    """Read and validate the rules file. A rule's KPI must be one of ``known_kpis`` (default: the KPI registry's),
    and for a registry KPI, its scope a grain the KPI is computed at."""
    path = path or DEFAULT_RULES_FILE
    try:
        config = load_validated(path, AlertConfig, RulesFileError, ("rules", "rule"))
    except FileNotFoundError:
        raise RulesFileError(f"{path}: no such rules file (QP_ALERT_RULES)") from None
    known = tuple(REGISTRY.codes() if known_kpis is None else known_kpis)
    problems = []
    for rule in config.rules:
        if rule.kpi not in known:
            problems.append(f"  rule {rule.name}: {_unknown_kpi(rule.kpi, known)}")
        elif rule.kpi in REGISTRY and rule.scope not in REGISTRY[rule.kpi].grains:
            grains = REGISTRY[rule.kpi].grains
            problems.append(
                f"  rule {rule.name}: KPI {rule.kpi} is not computed at scope {rule.scope}; its scopes: "
                + ", ".join(grains)
            )
        if rule.leads is not None and rule.leads not in known:
            problems.append(f"  rule {rule.name}: `leads` names an {_unknown_kpi(rule.leads, known)}")
    if problems:
        raise RulesFileError(f"{path}: {len(problems)} problem(s)\n" + "\n".join(problems))
    return config


def _unknown_kpi(code: str, known: tuple[str, ...]) -> str:
    """What a rule naming a KPI nobody computes is told: the nearest codes first, then every one there is."""
    near = get_close_matches(code, known, n=2)
    guess = f" (did you mean {' or '.join(near)}?)" if near else ""
    return f"unknown KPI {code!r}{guess}; the KPIs are: {', '.join(known)}"
