"""Run a dataset's GX suite on a typed batch and turn the result into row-level verdicts.

GX is imported here, inside the functions the tasks call, never at DAG parse time. One ephemeral GX context
serves a whole process.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.records import RuleResult

log = logging.getLogger(__name__)


@dataclass
class ValidationOutcome:
    row_failures: dict[int, list[str]] = field(default_factory=dict)  # critical row-level failures
    # Rows whose referential checks failed: {row: {column: dimension}}, the keys they wait for (as data, not text).
    missing_references: dict[int, dict[str, str]] = field(default_factory=dict)
    batch_failures: list[str] = field(default_factory=list)  # critical failures that block the batch
    results: list[RuleResult] = field(default_factory=list)

    @property
    def warnings(self) -> list[RuleResult]:
        return [r for r in self.results if not r.success and r.severity == "warning"]


class BatchValidator:
    """Validates typed batches with the suites in ``expectations/``. Its results are stored with the batch, and each
    batch's validation page is rendered from them (``report.validation_pages``): GX's own Data Docs need CDNs."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._source = self._context.data_sources.add_pandas("qualitypulse")
        self._checkpoints: dict[str, Any] = {}

    def _checkpoint(self, dataset: str) -> Any:
        if dataset not in self._checkpoints:
            gx = self._gx
            suite = self._context.suites.add(importlib.import_module(f"expectations.{dataset}").build_suite())
            batch_definition = self._source.add_dataframe_asset(dataset).add_batch_definition_whole_dataframe("batch")
            definition = self._context.validation_definitions.add(
                gx.ValidationDefinition(name=dataset, data=batch_definition, suite=suite)
            )
            self._checkpoints[dataset] = self._context.checkpoints.add(
                gx.Checkpoint(
                    name=dataset,
                    validation_definitions=[definition],
                    actions=[],
                    result_format={"result_format": "COMPLETE"},
                )
            )
        return self._checkpoints[dataset]

    def expectations(self, dataset: str) -> list[Any]:
        """The dataset's suite: what ``expectations.context`` reads to know which parameters to fill."""
        return list(self._checkpoint(dataset).validation_definitions[0].suite.expectations)

    def validate(
        self, dataset: str, frame: pd.DataFrame, batch_id: str, parameters: dict[str, Any] | None = None
    ) -> ValidationOutcome:
        """Run the dataset's suite on ``frame``; ``parameters`` fill the bounds of its context checks."""
        checkpoint = self._checkpoint(dataset)
        run = checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters or {},
            run_id=self._gx.RunIdentifier(run_name=batch_id),
        )
        outcome = ValidationOutcome()
        for validation in run.run_results.values():
            for result in validation.results:
                outcome.results.append(self._record(result, frame, outcome, parameters or {}))
        return outcome

    @staticmethod
    def _record(result: Any, frame: pd.DataFrame, outcome: ValidationOutcome, parameters: dict[str, Any]) -> RuleResult:
        config = result.expectation_config
        meta = config.meta or {}
        rule = meta.get("rule", config.type)
        severity = meta.get("severity", "critical")
        details = result.result or {}
        raised = (result.exception_info or {}).get("raised_exception", False)
        if raised:
            message = (result.exception_info or {}).get("exception_message")
            outcome.batch_failures.append(f"{rule}: the check could not run ({message})")
        elif not result.success and severity == "critical":
            rows = details.get("unexpected_index_list")
            if rows is None:  # a table-level expectation: the batch as a whole fails
                outcome.batch_failures.append(f"{rule} (observed {details.get('observed_value')!r})")
            for row in rows or []:
                row = row if isinstance(row, int) else int(next(iter(row.values())))
                outcome.row_failures.setdefault(row, []).append(f"rule: {rule}")
                if meta.get("check") == "known":
                    outcome.missing_references.setdefault(row, {})[config.kwargs["column"]] = meta["dimension"]
        observed = details.get("observed_value")
        return RuleResult(
            rule=rule,
            expectation_type=config.type,
            severity=severity,
            success=bool(result.success),
            element_count=details.get("element_count", len(frame)),
            unexpected_count=details.get("unexpected_count"),
            unexpected_percent=details.get("unexpected_percent"),
            observed_value=None if observed is None else json.dumps(observed, default=str),
            judged=_judged(meta, config.kwargs, parameters),
        )


def _judged(meta: dict[str, Any], kwargs: dict[str, Any], parameters: dict[str, Any]) -> bool:
    """Whether a context check judged the batch (see ``expectations.context``).

    A referential check is unarmed while its dimension is empty. A bounded check whose bounds were filled with
    ``None`` judged nothing; GX substitutes the parameters into the result's kwargs, dropping those bounds.
    """
    check = meta.get("check")
    if check == "known":
        return bool(parameters.get(f"known_{meta['dimension']}_armed", True))
    if check in ("fresh", "volume", "distribution"):
        return any(kwargs.get(k) is not None for k in ("min_value", "max_value"))
    return True
