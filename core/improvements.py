"""Improvements to judge (KPIS.md: before/after of an improvement): a name, the day of the change, a scope and the
KPIs it should move. Registered with ``qp improvement add`` or listed in an improvements file (``QP_IMPROVEMENTS``,
YAML), validated on load: a mistake names the file, the improvement and the field.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.config_files import load_validated
from core.kpi_registry import REGISTRY, Kpi

ALL = "ALL"
DEFAULT_WINDOW_DAYS = 28  # KPIS.md's default baseline: the trailing 28 days


class Improvement(BaseModel):
    """One change: the after stage starts on ``change_date``; each stage spans ``window_days``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    change_date: date
    scope: str = Field(ALL, description="site, site/line or site/line/step; ALL for the company")
    kpis: tuple[str, ...] = Field(min_length=1)
    window_days: int = Field(DEFAULT_WINDOW_DAYS, ge=7, le=366)
    description: str | None = None

    @field_validator("scope")
    @classmethod
    def _scope_levels(cls, scope: str) -> str:
        parts = scope.split("/")
        if scope != ALL and (len(parts) > 3 or any(not part or part == ALL for part in parts)):
            raise ValueError(f"scope {scope!r}: expected ALL, SITE, SITE/LINE or SITE/LINE/STEP")
        return scope

    @field_validator("kpis")
    @classmethod
    def _known_kpis(cls, kpis: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [code for code in kpis if code not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown KPI {', '.join(unknown)}; known: {', '.join(REGISTRY.codes())}")
        return tuple(dict.fromkeys(kpis))

    @property
    def improvement_id(self) -> str:
        """The name as an id: lower case, words joined by hyphens."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")[:80] or "improvement"

    @property
    def place(self) -> tuple[str, str, str]:
        """(site, line, step), ALL above the level the scope names."""
        parts = [] if self.scope == ALL else self.scope.split("/")
        return tuple(parts + [ALL] * (3 - len(parts)))  # type: ignore[return-value]

    @property
    def grain(self) -> str:
        return ("company", "site", "line", "step")[sum(part != ALL for part in self.place)]

    def judged_kpis(self) -> list[Kpi]:
        """The KPIs that exist at the scope's grain (a line's NPS does not: NPS is a site KPI)."""
        return [REGISTRY[code] for code in self.kpis if self.grain in REGISTRY[code].grains]


class ImprovementsFileError(ValueError):
    """The improvements file is not YAML or breaks the schema; the message names the place."""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    improvements: list[Improvement] = Field(default_factory=list)


def load_improvements(path: Path) -> list[Improvement]:
    """The improvements a file lists (none when it does not exist: the file is optional)."""
    if not path.exists():
        return []
    listed = load_validated(path, _File, ImprovementsFileError, ("improvements", "improvement")).improvements
    ids = [i.improvement_id for i in listed]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ImprovementsFileError(f"{path}: improvement names must differ: {', '.join(twice)}")
    return listed
