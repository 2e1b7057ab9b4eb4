"""Monitoring data and project designs checked against a methodology's schema: CSV templates, all-or-nothing parsing."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from tanhui.errors import BadInput
from tanhui.methodologies.methodology import Field, Methodology

_TRUE, _FALSE = ("true", "yes", "1", "是"), ("false", "no", "0", "否")
# Beyond this a figure is a unit or typing mistake, not monitoring data (10^15 kWh is ~100 years of China's use).
_LARGEST = Decimal(10) ** 15
_SHOWN_ERRORS = 20


def template_csv(methodology: Methodology) -> str:
    """The monitoring-data template: a header of the version's columns, nothing else (fill one row per line)."""
    return ",".join(f.name for f in methodology.monitoring_fields) + "\n"


def parse_value(spec: Field, raw: str) -> Any:
    """One cell as its field's kind; ``ValueError`` says what is wrong with it."""
    text = raw.strip()
    if spec.kind == "text":
        if spec.choices and text not in spec.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(spec.choices)}")
        return text
    if spec.kind == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not true or false")
    if spec.kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date like 2024-01-31") from None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite() or abs(number) >= _LARGEST:
        raise ValueError(f"{text!r} is not a plausible figure in {spec.unit}")
    if spec.kind == "integer" and number != number.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number")
    if spec.minimum is not None and number < spec.minimum:
        raise ValueError(f"{text} is below the smallest allowed value {spec.minimum} {spec.unit}")
    return int(number) if spec.kind == "integer" else number


def parse_rows(methodology: Methodology, text: str, *, source: str = "monitoring data") -> list[dict[str, Any]]:
    """Every row of a monitoring CSV, typed; `BadInput` names each bad row and column, and nothing is returned."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    fields = methodology.monitoring_fields
    missing = [f.name for f in fields if f.required and f.name not in header]
    if missing:
        raise BadInput(f"{source}: missing column(s) {', '.join(missing)}; {methodology.reference} expects "
                       f"{', '.join(f.name for f in fields)} (download its template)")
    unknown = [name for name in header if name not in {f.name for f in fields}]
    if unknown:
        raise BadInput(f"{source}: unknown column(s) {', '.join(unknown)} for {methodology.reference}")
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        row, problems = _typed(fields, {(k or "").strip(): v for k, v in raw.items()})
        if None in raw:
            problems.append("more cells than columns")
        errors.extend(f"row {number}: {problem}" for problem in problems)
        rows.append({"_row": number, **row})
    if errors:
        shown = "; ".join(errors[:_SHOWN_ERRORS])
        more = f" (and {len(errors) - _SHOWN_ERRORS} more)" if len(errors) > _SHOWN_ERRORS else ""
        raise BadInput(f"{source}: {len(errors)} problem(s), nothing was taken: {shown}{more}")
    if not rows:
        raise BadInput(f"{source}: no data rows under the header")
    return rows


def parse_design(methodology: Methodology, design: Mapping[str, Any]) -> dict[str, Any]:
    """A project's declared design (JSON-like values) typed by the version's design fields; `BadInput` otherwise."""
    unknown = sorted(set(design) - {f.name for f in methodology.design_fields})
    if unknown:
        raise BadInput(f"unknown design field(s) {', '.join(unknown)} for {methodology.reference}; expected "
                       f"{', '.join(f.name for f in methodology.design_fields)}")
    typed, problems = _typed(methodology.design_fields,
                             {name: _as_text(value) for name, value in design.items() if value is not None})
    if problems:
        raise BadInput(f"design of a {methodology.reference} project: " + "; ".join(problems))
    return typed


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _typed(fields: Sequence[Field], raw: Mapping[str, str | None]) -> tuple[dict[str, Any], list[str]]:
    row: dict[str, Any] = {}
    problems = []
    for spec in fields:
        cell = raw.get(spec.name)
        if cell is None or not str(cell).strip():
            if spec.required:
                problems.append(f"{spec.name} is empty")
            continue
        try:
            row[spec.name] = parse_value(spec, str(cell))
        except ValueError as exc:
            problems.append(f"{spec.name}: {exc}")
    return row, problems
