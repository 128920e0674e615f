"""Demo source systems, deterministic from a seed: a QMS/MES database, survey CSV drops, an LMS export.

The data tells one story a quality manager would recognise. On line ``S1-L2`` training lapses from
``TRAINING_LAPSE_START`` (on-time completion collapses), yield regresses from ``REGRESSION_START`` (solder
defects triple on the SOLDER and TEST steps) and site S1's NPS dips from ``NPS_DIP_START``. It has happened there
before: a shorter lapse from ``EARLY_LAPSE_START`` was followed some three weeks later by a smaller yield dip from
``EARLY_DIP_START``, so when the big lapse begins the line's history already says that its yield follows its
training (the leading training alert). Meanwhile on ``S2-L1`` an assembly fixture wears from ``DRIFT_START``: its
ASSY step's defect rate creeps up by ``DRIFT_PER_DAY`` a day, a slow drift the EWMA rule catches days before a
Shewhart chart would. Each source also
carries the bad records real sources produce: nulls, double-posted rows, out-of-range scores, a defective
count above the inspected count, an unparseable file and a file that lacks a column.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Column, Date, DateTime, Float, Integer, MetaData, String, Table, insert

from core.catalog import PRODUCTION_RUNS
from core.engine import engine_for
from core.progress import OnStep, Step
from core.settings import Settings

log = logging.getLogger(__name__)

STEPS = ("ASSY", "SOLDER", "TEST", "PACK")
STEP_NAMES = {"ASSY": "Assembly", "SOLDER": "Soldering", "TEST": "Functional test", "PACK": "Packing"}
BASE_PRODUCTS = {
    "P100": ("Motor controller", 12, 120.0),
    "P200": ("Sensor module", 20, 85.0),
    "P300": ("Power supply", 8, 60.0),
}
IDEAL_CYCLE_SECONDS = {"ASSY": 15.0, "SOLDER": 12.0, "TEST": 14.0, "PACK": 8.0}
PLANNED_MINUTES = 120.0  # per run: a two-hour slot, breaks excluded
DEFECT_CODES = ("SOLDER_BRIDGE", "COLD_JOINT", "MISALIGNED", "SCRATCH", "MISSING_PART", "LABEL_ERROR")
DEFECT_CATEGORIES = {
    "SOLDER_BRIDGE": ("Solder bridge between pads", "workmanship"),
    "COLD_JOINT": ("Cold solder joint", "process"),
    "MISALIGNED": ("Component misaligned", "workmanship"),
    "SCRATCH": ("Scratch on housing", "cosmetic"),
    "MISSING_PART": ("Component missing", "component"),
    "LABEL_ERROR": ("Wrong or unreadable label", "process"),
}
BASE_CODE_WEIGHTS = np.array([0.12, 0.10, 0.25, 0.25, 0.18, 0.10])
REGRESSION_CODE_WEIGHTS = np.array([0.45, 0.35, 0.06, 0.06, 0.05, 0.03])
COURSES = ("C-SAFETY", "C-SOLDER", "C-SPC", "C-5S")

REGRESSION_LINE = "S1-L2"
REGRESSION_SITE = "S1"
# Day offsets from the first demo day.
TRAINING_LAPSE_START = 55
REGRESSION_START = 78
TRAINING_LAPSE_END = REGRESSION_START + 5  # the soldering refresher: assignments due from then on are done on time
NPS_DIP_START = 80
DRIFT_LINE, DRIFT_STEP = "S2-L1", "ASSY"
DRIFT_START = 20
DRIFT_PER_DAY = 0.025  # of the step's own rate: +25% after ten days, +150% after sixty
# The earlier, shorter episode on the same line: recertifications missed, then SOLDER and TEST defectives up 60%.
EARLY_LAPSE_START = -6
EARLY_LAPSE_DAYS = 16
EARLY_DIP_START = 17
EARLY_DIP_DAYS = 18
EARLY_DIP_FACTOR = 1.6
LAPSE_MISSED = 0.9  # the share of the line's assignments falling due in a lapse that are missed
UNPARSEABLE_FILE_DAY = 20
MISSING_COLUMN_FILE_DAY = 45


@dataclass(frozen=True)
class DemoSpec:
    """What to generate. ``end_date`` is the last day with data; the first is ``end_date - days + 1``."""

    end_date: date
    days: int = 90
    seed: int = 7
    # Size. The story (regression, training lapse, NPS dip) plays on site S1, line S1-L2: keep at least
    # one site with two lines.
    sites: int = 2
    lines_per_site: int = 3
    products: int = 3
    customers: int = 400
    employees_per_line: int = 12

    def __post_init__(self) -> None:
        if self.sites < 1 or self.lines_per_site < 2 or self.products < 1:
            raise ValueError("the demo needs at least 1 site, 2 lines per site and 1 product (its story is on S1-L2)")

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    def day(self, offset: int) -> date:
        return self.start_date + timedelta(days=offset)

    @property
    def site_lines(self) -> dict[str, tuple[str, ...]]:
        return {
            f"S{i}": tuple(f"S{i}-L{j}" for j in range(1, self.lines_per_site + 1)) for i in range(1, self.sites + 1)
        }

    @property
    def product_catalog(self) -> dict[str, tuple[str, int, float]]:
        """Product id -> (name, defect opportunities per unit, unit price)."""
        catalog = dict(list(BASE_PRODUCTS.items())[: self.products])
        for k in range(len(BASE_PRODUCTS), self.products):
            catalog[f"P{100 * (k + 1)}"] = (f"Product {k + 1}", 8 + (5 * k) % 14, 50.0 + (17 * k) % 90)
        return catalog

    @property
    def line_products(self) -> dict[str, str]:
        """Each line makes one product; a site's lines take the catalogue in turn."""
        catalog = list(self.product_catalog)
        return {line: catalog[j % len(catalog)] for lines in self.site_lines.values() for j, line in enumerate(lines)}

    def line_of(self, site_id: str, product_id: str) -> str | None:
        """The first line of the site that makes the product."""
        return next((line for line in self.site_lines[site_id] if self.line_products[line] == product_id), None)


@dataclass(frozen=True)
class DemoLocations:
    qms_url: str
    survey_drop_dir: Path
    lms_store_dir: Path
    finance_url: str = ""  # empty: beside the QMS database
    improvements_file: Path | None = None  # where the demo's improvements go (YAML); None: not written
    capability_file: Path | None = None  # where the demo's specification limits go (YAML); None: not written

    @classmethod
    def of(cls, settings: Settings) -> DemoLocations:
        """Where the demo writes for ``settings``: the source systems, and the improvements and specs files."""
        return cls(
            settings.qms_url,
            settings.survey_drop_dir,
            settings.lms_store_dir,
            settings.finance_url,
            settings.improvements,
            settings.capability_specs,
        )


def demo_improvements(spec: DemoSpec) -> list[dict[str, object]]:
    """The changes the demo's story holds (``demo/improvements.yaml``), dated for ``spec``."""
    import yaml

    moments = {
        "training_lapse_start": TRAINING_LAPSE_START,
        "training_lapse_end": TRAINING_LAPSE_END,
        "regression_start": REGRESSION_START,
        "nps_dip_start": NPS_DIP_START,
    }
    listed = yaml.safe_load((Path(__file__).parent / "improvements.yaml").read_text())["improvements"]
    dated = []
    for entry in listed:
        moment, days_after = entry.pop("moment"), entry.pop("days_after", 0)
        dated.append({**entry, "change_date": spec.day(moments[moment] + days_after)})
    return dated


def generate(spec: DemoSpec, where: DemoLocations, on_step: OnStep | None = None) -> dict[str, int]:
    """Write all three demo sources; returns the row count of each source table or export. ``on_step`` hears of
    each part as it is written."""
    parts = ("production and customer data", "QMS/MES database", "finance database", "survey drops", "LMS/HR exports")
    started = time.monotonic()

    def finished(part: str) -> None:
        nonlocal started
        if on_step:
            on_step(Step(parts.index(part) + 1, len(parts), part, seconds=time.monotonic() - started))
        started = time.monotonic()

    rng = np.random.default_rng(spec.seed)
    runs = _production_runs(spec, rng)
    defects = _defects(runs, spec, rng)
    runs, defects = _with_earlier_dip(runs, defects, spec)
    runs = _with_bad_runs(runs, rng)
    defects = _with_bad_defects(defects)
    runs, defects = _with_late_changes(runs, defects, spec)
    master = _master_data(spec, datetime.combine(spec.start_date, datetime.min.time()))
    accounts = _customer_accounts(spec, rng)
    shipments = _shipments(spec, rng, accounts)
    complaints = _complaints(spec, rng, shipments)
    ledger = _cost_ledger(spec, runs, complaints)
    finished("production and customer data")
    _write_database(where.qms_url, {**master, "production_runs": runs, "defects": defects, "complaints": complaints})
    finished("QMS/MES database")
    finance_url = where.finance_url or where.qms_url.replace("qms.db", "finance.db")
    _write_database(finance_url, {"customer_accounts": accounts, "shipments": shipments, "cost_ledger": ledger})
    finished("finance database")
    feedback_rows = _write_survey_drops(spec, rng, where.survey_drop_dir)
    finished("survey drops")
    assignments = _with_missed_recertifications(_training_assignments(spec), spec)
    hr = _hr_exports(spec)
    _write_lms_exports({"training_assignments": assignments, **hr}, spec, where.lms_store_dir)
    finished("LMS/HR exports")
    if where.improvements_file is not None:
        import yaml

        where.improvements_file.parent.mkdir(parents=True, exist_ok=True)
        where.improvements_file.write_text(yaml.safe_dump({"improvements": demo_improvements(spec)}, sort_keys=False))
    if where.capability_file is not None:
        where.capability_file.parent.mkdir(parents=True, exist_ok=True)
        where.capability_file.write_text((Path(__file__).parent / "capability.yaml").read_text())
    counts = {
        **{name: len(frame) for name, frame in master.items()},
        "production_runs": len(runs),
        "defects": len(defects),
        "complaints": len(complaints),
        "customer_accounts": len(accounts),
        "shipments": len(shipments),
        "cost_ledger": len(ledger),
        "feedback": feedback_rows,
        "training_assignments": len(assignments),
        **{name: len(rows) for name, rows in hr.items()},
    }
    log.info("demo sources written for %s..%s: %s", spec.start_date, spec.end_date, counts)
    return counts


# --- QMS / MES --------------------------------------------------------------------------------------------


def _master_data(spec: DemoSpec, changed_at: datetime) -> dict[str, pd.DataFrame]:
    route = ",".join(STEPS)
    return {
        "sites": pd.DataFrame(
            [
                {
                    "site_id": site,
                    "site_name": f"Plant {site}",
                    "region": "EU" if site == "S1" else "US",
                    "updated_at": changed_at,
                }
                for site in spec.site_lines
            ]
        ),
        "lines": pd.DataFrame(
            [
                {
                    "line_id": line,
                    "site_id": site,
                    "line_name": f"Line {line}",
                    "owner_email": f"owner.{line.lower()}@example.com",
                    "updated_at": changed_at,
                }
                for site, lines in spec.site_lines.items()
                for line in lines
            ]
        ),
        "process_steps": pd.DataFrame(
            [
                {"step_id": step, "step_name": STEP_NAMES[step], "step_sequence": i + 1, "updated_at": changed_at}
                for i, step in enumerate(STEPS)
            ]
        ),
        "defect_codes": pd.DataFrame(
            [
                {"defect_code": code, "description": text, "category": category, "updated_at": changed_at}
                for code, (text, category) in DEFECT_CATEGORIES.items()
            ]
        ),
        "products": pd.DataFrame(
            [
                {
                    "product_id": pid,
                    "product_name": name,
                    "opportunities_per_unit": opp,
                    "route": route,
                    "updated_at": changed_at,
                }
                for pid, (name, opp, _) in spec.product_catalog.items()
            ]
        ),
    }


def _fraction_defective(line_id: str, step_id: str, offset: int) -> float:
    base = {"ASSY": 0.012, "SOLDER": 0.022, "TEST": 0.015, "PACK": 0.005}[step_id]
    base *= 1.0 + 0.15 * (int(line_id[-1]) % 3)  # lines differ a little, deterministically
    if line_id == REGRESSION_LINE and offset >= REGRESSION_START and step_id in ("SOLDER", "TEST"):
        base *= 3.0
    if line_id == DRIFT_LINE and step_id == DRIFT_STEP and offset > DRIFT_START:
        base *= 1.0 + DRIFT_PER_DAY * (offset - DRIFT_START)
    return base


def _production_runs(spec: DemoSpec, rng: np.random.Generator, offsets: Iterable[int] | None = None) -> pd.DataFrame:
    rows = []
    for offset in range(spec.days) if offsets is None else offsets:
        day = spec.day(offset)
        if day.weekday() == 6:  # no production on Sundays
            continue
        weekday_factor = 0.7 if day.weekday() == 5 else 1.0
        for site_id, lines in spec.site_lines.items():
            for line_id in lines:
                for shift, shift_start in (("A", 6), ("B", 14)):
                    entered = int(rng.poisson(380 * weekday_factor * (0.92 if shift == "B" else 1.0)))
                    for step_index, step_id in enumerate(STEPS):
                        p = _fraction_defective(line_id, step_id, offset)
                        defective = int(rng.binomial(entered, p))
                        reworked = int(rng.binomial(defective, 0.6))
                        started = datetime.combine(day, datetime.min.time()) + timedelta(
                            hours=shift_start + 2 * step_index, minutes=int(rng.integers(0, 20))
                        )
                        finished = started + timedelta(minutes=int(rng.integers(80, 140)))
                        regressed = line_id == REGRESSION_LINE and offset >= REGRESSION_START
                        downtime = float(min(rng.poisson(14 if regressed else 7), 60))
                        rows.append(
                            {
                                "run_id": f"{line_id}-{day:%Y%m%d}-{shift}-{step_id}",
                                "site_id": site_id,
                                "line_id": line_id,
                                "step_id": step_id,
                                "product_id": spec.line_products[line_id],
                                "production_date": day,
                                "shift": shift,
                                "started_at": started,
                                "finished_at": finished,
                                "units_entered": entered,
                                "units_first_pass": entered - defective,
                                "units_reworked": reworked,
                                "units_scrapped": defective - reworked,
                                "units_inspected": entered,
                                "units_defective": defective,
                                "planned_minutes": PLANNED_MINUTES,
                                "downtime_minutes": downtime,
                                "ideal_cycle_seconds": IDEAL_CYCLE_SECONDS[step_id],
                                "updated_at": finished + timedelta(minutes=5),
                            }
                        )
    return pd.DataFrame(rows, columns=list(PRODUCTION_RUNS.columns))  # a Sunday alone has no rows, still columns


def _defects(runs: pd.DataFrame, spec: DemoSpec, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for run in runs.itertuples(index=False):
        if run.units_defective == 0:
            continue
        offset = (run.production_date - spec.start_date).days
        regressed = run.line_id == REGRESSION_LINE and offset >= REGRESSION_START and run.step_id in ("SOLDER", "TEST")
        weights = REGRESSION_CODE_WEIGHTS if regressed else BASE_CODE_WEIGHTS
        # A defective unit carries one defect, sometimes more.
        defect_total = int(run.units_defective + rng.poisson(0.3 * run.units_defective))
        for code, count in zip(DEFECT_CODES, rng.multinomial(defect_total, weights), strict=True):
            if count:
                rows.append(
                    {
                        "defect_id": f"{run.run_id}-{code}",
                        "run_id": run.run_id,
                        "defect_code": code,
                        "defect_count": int(count),
                        "recorded_at": run.finished_at,
                        "updated_at": run.updated_at,
                    }
                )
    return pd.DataFrame(rows)


def _with_earlier_dip(runs: pd.DataFrame, defects: pd.DataFrame, spec: DemoSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The earlier yield dip on the story's line: SOLDER and TEST make ``EARLY_DIP_FACTOR`` times their defectives
    for ``EARLY_DIP_DAYS`` days from ``EARLY_DIP_START``, the extra defects mostly solder bridges and cold joints.

    Drawn from a stream of its own, so the rest of the data stays as it was."""
    rng = np.random.default_rng([spec.seed, 3])
    runs, defects = runs.copy(), defects.copy()
    offsets = (pd.to_datetime(runs["production_date"]) - pd.Timestamp(spec.start_date)).dt.days
    dipped = (
        (runs["line_id"] == REGRESSION_LINE)
        & runs["step_id"].isin(["SOLDER", "TEST"])
        & offsets.between(EARLY_DIP_START, EARLY_DIP_START + EARLY_DIP_DAYS - 1)
    )
    extra_rows = []
    counts = defects.set_index("defect_id")["defect_count"] if not defects.empty else pd.Series(dtype="int64")
    for index in np.flatnonzero(dipped.to_numpy()):
        run = runs.iloc[index]
        base = _fraction_defective(str(run.line_id), str(run.step_id), 0)
        extra = int(rng.binomial(int(run.units_first_pass), base * (EARLY_DIP_FACTOR - 1) / (1 - base)))
        if not extra:
            continue
        reworked = int(rng.binomial(extra, 0.6))
        label = runs.index[index]
        runs.loc[label, "units_first_pass"] -= extra
        runs.loc[label, "units_defective"] += extra
        runs.loc[label, "units_reworked"] += reworked
        runs.loc[label, "units_scrapped"] += extra - reworked
        total = int(extra + rng.poisson(0.3 * extra))
        for code, count in zip(DEFECT_CODES, rng.multinomial(total, REGRESSION_CODE_WEIGHTS), strict=True):
            if not count:
                continue
            defect_id = f"{run.run_id}-{code}"
            if defect_id in counts.index:
                counts[defect_id] += int(count)
            else:
                extra_rows.append(
                    {
                        "defect_id": defect_id,
                        "run_id": run.run_id,
                        "defect_code": code,
                        "defect_count": int(count),
                        "recorded_at": run.finished_at,
                        "updated_at": run.updated_at,
                    }
                )
    if not defects.empty:
        defects["defect_count"] = defects["defect_id"].map(counts).astype("int64")
    if extra_rows:  # the same dtypes as the rest (an empty frame of objects would turn every column into objects)
        defects = pd.concat([defects, pd.DataFrame(extra_rows).astype(defects.dtypes.to_dict())], ignore_index=True)
    return runs, defects


def _with_bad_runs(runs: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    runs = runs.copy()
    picks = rng.choice(len(runs), size=7, replace=False)
    runs["line_id"] = runs["line_id"].astype(object)
    runs.loc[picks[:3], "line_id"] = None  # a line id lost in an MES interface
    over = picks[3:5]
    runs.loc[over, "units_defective"] = runs.loc[over, "units_inspected"] + 3  # defective above inspected
    double_posted = runs.iloc[picks[5:7]]  # the same run booked twice
    return pd.concat([runs, double_posted], ignore_index=True)


def _with_bad_defects(defects: pd.DataFrame) -> pd.DataFrame:
    defects = defects.copy()
    defects.loc[defects.index[[10, 500]], "defect_count"] = -1  # a reversal booked as a negative count
    # A code the shop floor still books but the catalogue retired: the warehouse can't attribute it.
    defects.loc[defects.index[[min(900, len(defects) - 1)]], "defect_code"] = "BENT_PIN_OLD"
    return defects


def _with_late_changes(runs: pd.DataFrame, defects: pd.DataFrame, spec: DemoSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows that change after the day they describe, as in a real QMS: inspection records uploaded one to three
    days late, and runs corrected the next day (their ``updated_at`` moves, the business date doesn't)."""
    rng = np.random.default_rng([spec.seed, 2])  # its own stream: the rest of the data stays as it was
    defects, runs = defects.copy(), runs.copy()
    late = rng.random(len(defects)) < 0.01
    defects.loc[late, "updated_at"] += pd.to_timedelta(rng.integers(1, 4, int(late.sum())), unit="D")
    corrected = rng.random(len(runs)) < 0.005
    runs.loc[corrected, "updated_at"] += pd.Timedelta(days=1)
    end = pd.Timestamp(spec.end_date) + pd.Timedelta(hours=23, minutes=59)
    defects["updated_at"] = defects["updated_at"].clip(upper=end)  # nothing from the future
    runs["updated_at"] = runs["updated_at"].clip(upper=end)
    return runs, defects


def _write_database(url: str, frames: dict[str, pd.DataFrame]) -> None:
    metadata = MetaData()
    # Like many legacy QMS databases, business keys are not enforced unique: double postings happen.
    tables = {name: _qms_table(metadata, name, frame) for name, frame in frames.items()}
    engine = engine_for(url)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        with engine.begin() as connection:
            for name, frame in frames.items():
                records = frame.astype(object).where(frame.notna(), None).to_dict("records")
                connection.execute(insert(tables[name]), records)
    finally:
        engine.dispose()


def _qms_table(metadata: MetaData, name: str, frame: pd.DataFrame) -> Table:
    def sql_type(series: pd.Series) -> type:
        if pd.api.types.is_integer_dtype(series):
            return Integer
        if pd.api.types.is_float_dtype(series):
            return Float
        if pd.api.types.is_datetime64_any_dtype(series):
            return DateTime
        if pd.api.types.is_object_dtype(series) and series.map(lambda v: isinstance(v, date)).any():
            return Date
        return String

    columns = [Column(col, Date if col == "production_date" else sql_type(frame[col])) for col in frame.columns]
    return Table(name, metadata, Column("id", Integer, primary_key=True, autoincrement=True), *columns)


# --- Survey tool: one CSV export per day --------------------------------------------------------------------

FEEDBACK_COLUMNS = ("response_id", "responded_at", "customer_id", "site_id", "nps_score", "csat_score", "comment")


def _feedback_day(spec: DemoSpec, offset: int, rng: np.random.Generator) -> list[dict[str, object]]:
    day = spec.day(offset)
    rows: list[dict[str, object]] = []
    for site_id in spec.site_lines:
        dipped = site_id == REGRESSION_SITE and offset >= NPS_DIP_START
        # promoters / passives / detractors
        mix = [0.30, 0.32, 0.38] if dipped else [0.55, 0.30, 0.15]
        n = int(rng.poisson(9 if day.weekday() >= 5 else 16))
        for i in range(n):
            group = rng.choice(3, p=mix)
            nps = int(rng.integers(9, 11) if group == 0 else rng.integers(7, 9) if group == 1 else rng.integers(0, 7))
            csat = int(np.clip(round(nps / 2.2 + rng.normal(0, 0.6)), 1, 5))
            rows.append(
                {
                    "response_id": f"R-{day:%Y%m%d}-{site_id}-{i:03d}",
                    "responded_at": (
                        datetime.combine(day, datetime.min.time()) + timedelta(minutes=int(rng.integers(420, 1260)))
                    ).isoformat(),
                    "customer_id": f"C{int(rng.integers(1, spec.customers)):04d}",
                    "site_id": site_id,
                    "nps_score": nps,
                    "csat_score": csat if rng.random() < 0.8 else "",
                    "comment": "late delivery, unit failed at install" if dipped and group == 2 else "",
                }
            )
    return rows


def _write_survey_drops(spec: DemoSpec, rng: np.random.Generator, drop_dir: Path) -> int:
    drop_dir.mkdir(parents=True, exist_ok=True)
    for old in drop_dir.glob("feedback_*"):
        old.unlink()
    total = 0
    for offset in range(spec.days):
        rows = _feedback_day(spec, offset, rng)
        if offset == 10 and len(rows) > 6:
            rows[0]["nps_score"] = 11  # out of range
            rows[1]["customer_id"] = ""  # missing customer
            rows[2]["csat_score"] = 7  # out of range
            rows.append(dict(rows[3]))  # the export repeats a row
        if offset == 50 and len(rows) > 3:
            rows[0]["nps_score"] = "ten"  # free text in a numeric field
            rows.append(dict(rows[1]))
        path = drop_dir / f"feedback_{spec.day(offset):%Y-%m-%d}.csv"
        columns: tuple[str, ...] = FEEDBACK_COLUMNS
        if offset == MISSING_COLUMN_FILE_DAY:
            columns = tuple(c for c in FEEDBACK_COLUMNS if c != "nps_score")  # a changed export template
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        if offset == UNPARSEABLE_FILE_DAY:
            # A transfer that mangled the file: Latin-1 bytes and a row cut off inside a quoted field.
            path.write_bytes(path.read_bytes() + b'R-BROKEN,2026-01-01T10:00:00,C\xe9\xe9,"S1,9\n')
        total += len(rows) + (1 if offset == UNPARSEABLE_FILE_DAY else 0)
        _mark_complete(path, len(rows), with_manifest=offset % 7 == 3)
    return total


def _mark_complete(path: Path, rows: int, with_manifest: bool) -> None:
    """Say the file is complete, as survey tools do: a ready marker, or (some days) a manifest with its checksum."""
    if with_manifest:
        entry = {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "rows": rows}
        path.with_name(f"{path.stem}.manifest.json").write_text(json.dumps({"files": [entry]}), encoding="utf-8")
    else:
        path.with_name(f"{path.name}.ready").touch()


# --- LMS: a JSON export of training assignments -------------------------------------------------------------


def _training_assignments(spec: DemoSpec) -> list[dict[str, object]]:
    # A stream of its own: the production data drawn before it depends on the weekdays the 90 days cover, and the
    # training story (the lapses ahead of the yield dips) must be the same whatever day the demo ends.
    rng = np.random.default_rng([spec.seed, 5])
    rows: list[dict[str, object]] = []
    for employee_id, site_id, line_id in _employee_ids(spec):
        # Assignments every ~14 days from half a year back, staggered per employee, each due 14 days later.
        offset = int(rng.integers(0, 14)) - HISTORY_DAYS
        while offset < spec.days:
            assigned_on = spec.day(offset)
            due_on = assigned_on + timedelta(days=14)
            due_offset = offset + 14
            lapsed = line_id == REGRESSION_LINE and TRAINING_LAPSE_START <= due_offset < TRAINING_LAPSE_END
            p_on_time = 0.35 if lapsed else 0.93
            status, completed_on, score = "assigned", None, None
            if rng.random() < 0.03:
                status = "exempt"
            elif rng.random() < p_on_time:
                completed_on = assigned_on + timedelta(days=int(rng.integers(1, 15)))
            elif rng.random() < 0.5:
                completed_on = due_on + timedelta(days=int(rng.integers(1, 10)))  # late
            if completed_on is not None and completed_on > spec.end_date:
                completed_on = None
            if completed_on is not None:
                status, score = "completed", float(rng.integers(62, 100))
            last_change = completed_on or assigned_on
            rows.append(
                {
                    "assignment_id": f"A-{employee_id}-{assigned_on:%Y%m%d}",
                    "employee_id": employee_id,
                    "site_id": site_id,
                    "line_id": line_id,
                    "course_id": _course_due(employee_id, offset, int(rng.integers(0, len(COURSES)))),
                    "assigned_on": assigned_on.isoformat(),
                    "due_on": due_on.isoformat(),
                    "completed_on": completed_on.isoformat() if completed_on else None,
                    "status": status,
                    "score": score,
                    "updated_at": f"{max(last_change, spec.start_date).isoformat()}T18:00:00",
                }
            )
            offset += 14
    # Bad records an LMS export really carries.
    rows[5]["employee_id"] = None
    rows[40]["completed_on"] = "2000-01-01"  # completed before it was assigned
    rows[41]["status"] = "completed"
    rows[80]["score"] = 130.0
    rows.append(dict(rows[120]))
    return rows


def _with_missed_recertifications(rows: list[dict[str, object]], spec: DemoSpec) -> list[dict[str, object]]:
    """The story's line misses most assignments falling due in its lapses (the earlier one from
    ``EARLY_LAPSE_START``, the big one from ``TRAINING_LAPSE_START``): done only after the lapse, if at all, so
    certificates expire and compliance falls. Drawn from a stream of its own, so the rest stays as it was.

    A missed soldering recertification lets the certificate lapse five days after the renewal fell due: the previous
    one was taken the day after it was assigned, 55 days before. So compliance falls as the lapse's due days pass,
    whatever the draws, and leads the yield dip that follows each lapse by one to two weeks.
    """
    rng = np.random.default_rng([spec.seed, 4])
    # (first due day, last due day + 1, a missed assignment is done this many days after the lapse: from, to)
    lapses = (
        (EARLY_LAPSE_START, EARLY_LAPSE_START + EARLY_LAPSE_DAYS, (5, 20)),  # caught up slowly
        (TRAINING_LAPSE_START, TRAINING_LAPSE_END, (1, 6)),  # the refresher training catches up within days
    )
    by_id = Counter(str(row["assignment_id"]) for row in rows)
    plain = {str(row["assignment_id"]): row for row in rows if by_id[str(row["assignment_id"])] == 1 and _plain(row)}
    for row in rows:
        if row["line_id"] != REGRESSION_LINE or row["status"] == "exempt" or str(row["assignment_id"]) not in plain:
            continue  # the export's deliberate flaws stay as they are
        due_offset = (date.fromisoformat(str(row["due_on"])) - spec.start_date).days
        lapse = next(((end, catch_up) for start, end, catch_up in lapses if start <= due_offset < end), None)
        if lapse is None or rng.random() >= LAPSE_MISSED:
            continue
        caught_up = spec.day(lapse[0] + int(rng.integers(*lapse[1])))
        if caught_up > spec.end_date:
            row.update(status="assigned", completed_on=None, score=None)
            row["updated_at"] = f"{max(date.fromisoformat(str(row['assigned_on'])), spec.start_date)}T18:00:00"
        else:
            row.update(status="completed", completed_on=caught_up.isoformat(), score=float(rng.integers(62, 100)))
            row["updated_at"] = f"{caught_up.isoformat()}T18:00:00"
        if row["course_id"] == "C-SOLDER":
            previous_on = date.fromisoformat(str(row["assigned_on"])) - timedelta(days=14 * 3)  # the cycle's last
            previous = plain.get(f"A-{row['employee_id']}-{previous_on:%Y%m%d}")
            if previous is not None and previous["course_id"] == "C-SOLDER":
                taken = previous_on + timedelta(days=1)
                previous.update(status="completed", completed_on=taken.isoformat(), score=float(rng.integers(75, 100)))
                previous["updated_at"] = f"{max(taken, spec.start_date).isoformat()}T18:00:00"
    return rows + _refresher(rows, spec, rng)


def _refresher(rows: list[dict[str, object]], spec: DemoSpec, rng: np.random.Generator) -> list[dict[str, object]]:
    """The soldering refresher that ends the lapse: on ``TRAINING_LAPSE_END`` everyone on the story's line is booked
    on one of six daily sessions, each taken the day before it falls due, so the days after it show on-time
    completion back whatever else falls due then."""
    assigned = spec.day(TRAINING_LAPSE_END)
    operators = sorted({str(r["employee_id"]) for r in rows if r["line_id"] == REGRESSION_LINE and r["employee_id"]})
    booked = []
    for n, employee_id in enumerate(operators):
        due = assigned + timedelta(days=1 + n % 6)
        taken = due - timedelta(days=1)
        if taken > spec.end_date:
            continue
        booked.append(
            {
                "assignment_id": f"A-{employee_id}-{assigned:%Y%m%d}-REFRESHER",
                "employee_id": employee_id,
                "site_id": REGRESSION_SITE,
                "line_id": REGRESSION_LINE,
                "course_id": "C-SOLDER",
                "assigned_on": assigned.isoformat(),
                "due_on": due.isoformat(),
                "completed_on": taken.isoformat(),
                "status": "completed",
                "score": float(rng.integers(75, 100)),
                "updated_at": f"{taken.isoformat()}T18:00:00",
            }
        )
    return booked


def _plain(row: dict[str, object]) -> bool:
    """An assignment without any of the export's deliberate flaws (those must stay as they are)."""
    completed, score = row["completed_on"], row["score"]
    return (
        row["employee_id"] is not None
        and row["status"] in ("assigned", "completed")
        and (row["status"] == "completed") == (completed is not None)
        and (completed is None or str(completed) >= str(row["assigned_on"]))
        and (score is None or 0 <= float(score) <= 100)  # type: ignore[arg-type]
    )


RECERTIFICATION_CYCLE = ("C-SOLDER", "C-SPC", "C-SAFETY", "C-SOLDER", "C-SPC", "C-5S")


def _course_due(employee_id: str, offset: int, drawn: int) -> str:
    """The course an assignment is for: the LMS schedules recertification, so every third assignment renews the
    soldering certificate (valid 60 days) and the others cycle through the rest. ``drawn``, the course the demo once
    drew at random, is still drawn so that everything drawn after it stays as it was."""
    del drawn
    step = (offset + HISTORY_DAYS) // 14 + int(employee_id[-2:])
    return RECERTIFICATION_CYCLE[step % len(RECERTIFICATION_CYCLE)]


HISTORY_DAYS = 190  # the LMS export reaches back half a year, so earlier completions count for compliance
# course: (title, hours, pass mark, days a completion stays valid)
COURSE_CATALOG = {
    "C-SAFETY": ("Safety essentials", 2.0, 70.0, 365),
    "C-SOLDER": ("Soldering certification", 4.0, 75.0, 60),
    "C-SPC": ("Statistical process control", 3.0, 70.0, 120),
    "C-5S": ("5S workplace", 1.0, 60.0, 365),
}
ROLE_COURSES = {
    "operator": ("C-SAFETY", "C-SOLDER"),
    "technician": ("C-SAFETY", "C-SOLDER", "C-SPC"),
    "lead": ("C-SAFETY", "C-SOLDER", "C-SPC", "C-5S"),
}


def _employee_ids(spec: DemoSpec) -> list[tuple[str, str, str]]:
    return [
        (f"E-{line_id}-{n:02d}", site_id, line_id)
        for site_id, lines in spec.site_lines.items()
        for line_id in lines
        for n in range(spec.employees_per_line)
    ]


def _hr_exports(spec: DemoSpec) -> dict[str, list[dict[str, object]]]:
    rng = np.random.default_rng([spec.seed, 6])  # its own stream, as the training assignments': see there
    changed_at = f"{spec.start_date.isoformat()}T06:00:00"
    employees: list[dict[str, object]] = []
    for employee_id, site_id, line_id in _employee_ids(spec):
        n = int(employee_id[-2:])
        role = "lead" if n == 0 else "technician" if n < 3 else "operator"
        left_on = spec.day(int(rng.integers(10, spec.days))) if rng.random() < 0.05 else None
        employees.append(
            {
                "employee_id": employee_id,
                "site_id": site_id,
                "line_id": line_id,
                "role": role,
                "hired_on": spec.day(-int(rng.integers(200, 2000))).isoformat(),
                "left_on": left_on.isoformat() if left_on else None,
                "updated_at": f"{(left_on or spec.start_date).isoformat()}T06:00:00",
            }
        )
    courses: list[dict[str, object]] = [
        {
            "course_id": course,
            "title": title,
            "hours": hours,
            "pass_mark": mark,
            "validity_days": days,
            "updated_at": changed_at,
        }
        for course, (title, hours, mark, days) in COURSE_CATALOG.items()
    ]
    requirements: list[dict[str, object]] = [
        {"role": role, "course_id": course, "updated_at": changed_at}
        for role, required in ROLE_COURSES.items()
        for course in required
    ]
    return {"employees": employees, "courses": courses, "role_requirements": requirements}


def _write_lms_exports(exports: dict[str, list[dict[str, object]]], spec: DemoSpec, folder: Path) -> None:
    """One JSON document per dataset in the LMS/HR store (which the demo API serves)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in exports.items():
        write_lms_store(folder / f"{name}.json", rows, spec.end_date)


def write_lms_store(path: Path, records: list[dict[str, object]], as_of: date) -> None:
    """Replace one resource of the LMS/HR store atomically (the API may be reading it)."""
    tmp = path.with_suffix(".tmp")
    document = {"exported_at": f"{as_of.isoformat()}T23:00:00", "records": records}
    tmp.write_text(json.dumps(document, indent=1), encoding="utf-8")
    tmp.replace(path)


# --- Finance / ERP: customer accounts, shipments, the quality cost ledger; QMS complaints -------------------


def _customer_accounts(spec: DemoSpec, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    sites = list(spec.site_lines)
    for i in range(spec.customers):
        site_id = sites[i % len(sites)]
        offset = int(rng.integers(-900, -30)) if rng.random() < 0.85 else int(rng.integers(0, spec.days))
        acquired = spec.day(offset)
        churned = None
        for day_offset in range(max(offset, 0) + 1, spec.days):
            # Churn hazard per day: about 1% a month, five times that at S1 once customers feel the regression.
            hazard = 0.0017 if site_id == REGRESSION_SITE and day_offset >= NPS_DIP_START else 0.0003
            if rng.random() < hazard:
                churned = spec.day(day_offset)
                break
        rows.append(
            {
                "customer_id": f"C{i + 1:04d}",
                "customer_name": f"Customer {i + 1:04d}",
                "site_id": site_id,
                "segment": ["OEM", "Distributor", "Retail"][i % 3],
                "acquired_on": acquired,
                "churned_on": churned,
                "updated_at": datetime.combine(max(churned or acquired, spec.start_date), datetime.min.time())
                + timedelta(hours=9),
            }
        )
    return pd.DataFrame(rows)


def _shipments(
    spec: DemoSpec, rng: np.random.Generator, accounts: pd.DataFrame, offsets: Iterable[int] | None = None
) -> pd.DataFrame:
    rows = []
    for offset in range(spec.days) if offsets is None else offsets:
        day = spec.day(offset)
        if day.weekday() >= 5:
            continue
        for site_id in spec.site_lines:
            made_here = sorted({spec.line_products[line] for line in spec.site_lines[site_id]})
            active = accounts[
                (accounts.site_id == site_id)
                & (accounts.acquired_on <= day)
                & (accounts.churned_on.isna() | (accounts.churned_on > day))
            ]
            for n in range(6):
                product_id = made_here[int(rng.integers(0, len(made_here)))]
                units = int(rng.poisson(120)) + 1
                rows.append(
                    {
                        "shipment_id": f"SH-{day:%Y%m%d}-{site_id}-{n}",
                        "customer_id": active.customer_id.iloc[int(rng.integers(0, len(active)))],
                        "site_id": site_id,
                        "product_id": product_id,
                        "shipped_on": day,
                        "units": units,
                        "revenue": round(units * spec.product_catalog[product_id][2], 2),
                        "updated_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=17),
                    }
                )
    return pd.DataFrame(rows)


def _complaints(spec: DemoSpec, rng: np.random.Generator, shipments: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for shipment in shipments.itertuples(index=False):
        line_id = spec.line_of(shipment.site_id, shipment.product_id)
        offset = (shipment.shipped_on - spec.start_date).days
        regressed = line_id == REGRESSION_LINE and offset >= REGRESSION_START + 2
        per_thousand = 9.0 if regressed else 1.5
        for n in range(int(rng.poisson(shipment.units * per_thousand / 1000))):
            received = shipment.shipped_on + timedelta(days=int(rng.integers(1, 4)))
            if received > spec.end_date:
                continue
            weights = REGRESSION_CODE_WEIGHTS if regressed else BASE_CODE_WEIGHTS
            rows.append(
                {
                    "complaint_id": f"CP-{shipment.shipment_id}-{n}",
                    "customer_id": shipment.customer_id,
                    "site_id": shipment.site_id,
                    "line_id": line_id,
                    "product_id": shipment.product_id,
                    "received_on": received,
                    "defect_code": DEFECT_CODES[int(rng.choice(6, p=weights))],
                    "updated_at": datetime.combine(received, datetime.min.time()) + timedelta(hours=11),
                }
            )
    return pd.DataFrame(rows)


def _cost_ledger(
    spec: DemoSpec, runs: pd.DataFrame, complaints: pd.DataFrame, offsets: Iterable[int] | None = None
) -> pd.DataFrame:
    """Quality costs by PAF category, derived from what happened: scrap, rework, inspection, complaints."""
    rows = []

    def book(day: date, site_id: str, line_id: str | None, category: str, element: str, amount: float) -> None:
        if amount > 0:
            rows.append(
                {
                    "entry_id": f"CL-{day:%Y%m%d}-{site_id}-{line_id or 'SITE'}-{element}",
                    "site_id": site_id,
                    "line_id": line_id,
                    "booked_on": day,
                    "category": category,
                    "cost_element": element,
                    "amount": round(amount, 2),
                    "updated_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=20),
                }
            )

    valid = runs.dropna(subset=["line_id"]).drop_duplicates("run_id")
    per_line = valid.groupby(["production_date", "site_id", "line_id", "product_id"], as_index=False)[
        ["units_scrapped", "units_reworked", "units_inspected"]
    ].sum()
    for row in per_line.itertuples(index=False):
        price = spec.product_catalog[row.product_id][2]
        book(
            row.production_date, row.site_id, row.line_id, "internal_failure", "scrap", row.units_scrapped * price * 0.6
        )
        book(row.production_date, row.site_id, row.line_id, "internal_failure", "rework", row.units_reworked * 4.0)
        book(row.production_date, row.site_id, row.line_id, "appraisal", "inspection", row.units_inspected * 0.05)
    for offset in range(spec.days) if offsets is None else offsets:
        day = spec.day(offset)
        for site_id in spec.site_lines:
            lapsed = site_id == REGRESSION_SITE and TRAINING_LAPSE_START <= offset < REGRESSION_START
            book(day, site_id, None, "prevention", "training", 150.0 if lapsed else 400.0)
            book(day, site_id, None, "prevention", "quality_planning", 200.0)
            if day.weekday() == 0:
                book(day, site_id, None, "appraisal", "audit", 600.0)
    if not complaints.empty:
        per_site = complaints.groupby(["received_on", "site_id", "product_id"]).size().reset_index(name="count")
        for row in per_site.itertuples(index=False):
            book(
                row.received_on,
                row.site_id,
                None,
                "external_failure",
                f"complaint_handling_{row.product_id}",
                row.count * 150.0,
            )
            book(
                row.received_on,
                row.site_id,
                None,
                "external_failure",
                f"warranty_{row.product_id}",
                row.count * spec.product_catalog[row.product_id][2],
            )
    return pd.DataFrame(rows)
