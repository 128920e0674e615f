"""Configuration files in YAML (the rules, the improvements, the specs): read, validated by a pydantic model, and a
mistake reported with the file, the entry (by its name where it has one) and the field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def load_validated(path: Path, model: type[Model], error: type[ValueError], entries: tuple[str, str]) -> Model:
    """``path`` parsed as YAML and validated as ``model``. ``entries``: the key of the file's list of entries and
    what one is called (``("rules", "rule")``), to name an entry in a message. Raises ``error`` with every problem
    (a missing file raises FileNotFoundError: whether that is a mistake is the caller's to say)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as problem:
        raise error(f"{path}: not valid YAML: {problem}") from None
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as problems:
        lines = [f"  {_place(raw, p['loc'], *entries)}: {_message(model, p)}" for p in problems.errors()]
        raise error(f"{path}: {len(lines)} problem(s)\n" + "\n".join(lines)) from None


def _message(model: type[BaseModel], problem: Mapping[str, Any]) -> str:
    """Pydantic's message, and for a field the model doesn't have (a typo), the fields it does have."""
    if problem["type"] == "extra_forbidden":
        owner = _model_at(model, problem["loc"][:-1])
        if owner is not None:
            return f"unknown field; the fields here are: {', '.join(owner.model_fields)}"
    return problem["msg"]


def _model_at(model: type[BaseModel], location: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the value at ``location`` (``("rules", 3)``: a rule), if one does."""
    annotation: object = model
    for part in location:
        if isinstance(part, str):
            owner = _as_model(annotation)
            field = owner.model_fields.get(part) if owner is not None else None
            if field is None:
                return None
            annotation = field.annotation
        else:  # an index into a list: its items' type
            annotation = next(iter(get_args(annotation)), None)
    return _as_model(annotation)


def _as_model(annotation: object) -> type[BaseModel] | None:
    """``annotation`` as a model, looking through ``X | None``."""
    if get_origin(annotation) in (Union, UnionType):
        return next((m for m in map(_as_model, get_args(annotation)) if m is not None), None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _place(raw: object, location: tuple[int | str, ...], key: str, noun: str) -> str:
    """``rules[3].target`` as ``rule site_nps, field target`` when the entry has a name."""
    if len(location) >= 2 and location[0] == key and isinstance(location[1], int) and isinstance(raw, dict):
        listed = raw.get(key) or []
        index = location[1]
        name = listed[index].get("name") if index < len(listed) and isinstance(listed[index], dict) else None
        entry = f"{noun} {name}" if name else f"{noun} #{index + 1}"
        rest = ".".join(str(p) for p in location[2:] if not str(p).startswith("function-after"))
        return f"{entry}, field {rest}" if rest else entry
    return ".".join(str(p) for p in location) or "the file"
