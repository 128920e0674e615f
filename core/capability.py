"""Specification limits for process capability (``QP_CAPABILITY_SPECS``, YAML; optional): per product and process
step, the limits of a characteristic a run measures. Validated on load: a mistake names the file, the entry and the
field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config_files import load_validated

ALL = "ALL"
# What a run measures that a spec can bound: its process cycle time (KPIS.md: finished_at - started_at), in minutes.
CHARACTERISTICS = ("cycle_time_minutes",)


class Spec(BaseModel):
    """The specification of one characteristic for a product (ALL: every product) at a process step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product: str = ALL
    step: str
    characteristic: Literal["cycle_time_minutes"] = "cycle_time_minutes"
    lsl: float | None = None
    usl: float | None = None
    target: float | None = None

    @model_validator(mode="after")
    def _limits(self) -> Spec:
        if self.lsl is None and self.usl is None:
            raise ValueError("a spec needs lsl, usl or both")
        if self.lsl is not None and self.usl is not None and not self.lsl < self.usl:
            raise ValueError(f"lsl must be below usl, not {self.lsl} and {self.usl}")
        return self


class SpecsFileError(ValueError):
    """The specs file is not YAML or breaks the schema; the message names the place."""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    specs: list[Spec] = Field(default_factory=list)


def load_specs(path: Path) -> list[Spec]:
    """The specs a file lists (none when it does not exist). A product's own spec for a step wins over ALL's."""
    if not path.exists():
        return []
    specs = load_validated(path, _File, SpecsFileError, ("specs", "spec")).specs
    keys = [(s.product, s.step, s.characteristic) for s in specs]
    twice = sorted({"/".join(k) for k in keys if keys.count(k) > 1})
    if twice:
        raise SpecsFileError(f"{path}: one spec per product, step and characteristic: {', '.join(twice)}")
    return specs
