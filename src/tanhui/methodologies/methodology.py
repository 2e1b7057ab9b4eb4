"""What every methodology version is made of: parameters, data schemas, applicability conditions, a calculation."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tanhui.errors import InvalidRequest, NotApplicable
from tanhui.reference import METHODOLOGIES_FILE, GridFactor

KINDS = ("decimal", "integer", "text", "date", "boolean")
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
}


@dataclass(frozen=True, slots=True)
class Parameter:
    """A figure a version uses, exactly as its reference file gives it, with unit, tag (V/T/R) and source."""

    name: str
    value: Decimal
    unit: str
    tag: str
    source: str
    note: str = ""

    @classmethod
    def from_reference(cls, name: str, entry: Mapping[str, Any]) -> Parameter:
        """A parameter as the methodologies reference file states it (value, unit, tag, source?, note?)."""
        return cls(name, Decimal(str(entry["value"])), entry["unit"], entry["tag"],
                   entry.get("source", f"{METHODOLOGIES_FILE}: platform engineering choice"), entry.get("note", ""))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "value": str(self.value), "unit": self.unit, "tag": self.tag,
                "source": self.source, "note": self.note}


@dataclass(frozen=True, slots=True)
class Field:
    """A column of monitoring data or a field of a project's design, with its kind, unit and meaning (zh / en)."""

    name: str
    kind: str
    unit: str
    zh: str
    en: str
    required: bool = True
    choices: tuple[str, ...] = ()
    minimum: Decimal | None = None  # decimals and integers: the smallest value allowed (inclusive)

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"name": self.name, "kind": self.kind, "unit": self.unit, "zh": self.zh,
                                     "en": self.en, "required": self.required}
        if self.choices:
            described["choices"] = list(self.choices)
        if self.minimum is not None:
            described["minimum"] = str(self.minimum)
        return described


@dataclass(frozen=True, slots=True)
class Condition:
    """An applicability condition on one design field: ``field op threshold`` (a parameter's value or a literal)."""

    field: str
    op: str
    zh: str
    en: str
    parameter: str | None = None
    literal: Any = None

    def __post_init__(self) -> None:
        assert self.op in _COMPARISONS and (self.parameter is None) != (self.literal is None), self

    def threshold(self, parameters: Mapping[str, Parameter]) -> Any:
        return parameters[self.parameter].value if self.parameter else self.literal

    def shown(self, parameters: Mapping[str, Parameter]) -> str:
        """The threshold as documents and messages write it."""
        return shown_value(self.threshold(parameters))

    def holds(self, value: Any, parameters: Mapping[str, Parameter]) -> bool:
        return _COMPARISONS[self.op](value, self.threshold(parameters))


@dataclass(frozen=True, slots=True)
class Line:
    """One row of monitoring data and the reduction it contributes, in exact (unrounded) kgCO2e.

    Amounts are fractions so that nothing is rounded before the one rounding of the total: a product that is a
    whole kilogram stays one, whatever divisions (kWh per km, days per year) led to it.
    """

    row: int
    key: str
    baseline_kg: Fraction
    project_kg: Fraction
    reduction_kg: Fraction
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reductions:
    """What a monitoring period's data come to, in whole kgCO2e (ER = baseline − project − leakage).

    ``net_kg`` is rounded down once from the exact sum (conservative); of it, ``buffer_kg`` (rounded up, also
    conservative) goes to the registry's buffer account and ``issuable_kg`` to the project.
    """

    reference: str
    lines: tuple[Line, ...]
    gross_kg: Fraction
    leakage_kg: Fraction
    net_kg: int
    buffer_kg: int

    @property
    def issuable_kg(self) -> int:
        return self.net_kg - self.buffer_kg

    def describe(self) -> dict[str, Any]:
        return {
            "methodology": self.reference, "gross_kg": shown(self.gross_kg), "leakage_kg": shown(self.leakage_kg),
            "net_kg": self.net_kg, "buffer_kg": self.buffer_kg, "issuable_kg": self.issuable_kg,
            "lines": [{"row": line.row, "key": line.key, "baseline_kg": shown(line.baseline_kg),
                       "project_kg": shown(line.project_kg), "reduction_kg": shown(line.reduction_kg),
                       **dict(line.detail)} for line in self.lines],
        }


def shown(amount: Fraction) -> str:
    """An exact amount as reports show it: six decimals, rounded half even (the credits use the exact value)."""
    return f"{Decimal(amount.numerator) / Decimal(amount.denominator):.6f}"


def settle(reference: str, lines: Sequence[Line], *, leakage_kg: Fraction = Fraction(0),
           buffer_share: Fraction = Fraction(0)) -> Reductions:
    """Sum exact lines, deduct leakage, round down once, and set the buffer share aside (rounded up)."""
    gross = sum((line.reduction_kg for line in lines), Fraction(0))
    net = max(math.floor(gross - leakage_kg), 0)
    buffer = min(math.ceil(net * buffer_share), net)
    return Reductions(reference, tuple(lines), gross, leakage_kg, net, buffer)


Calculation = Callable[["Methodology", Sequence[Mapping[str, Any]]], Reductions]


@dataclass(frozen=True, slots=True)
class Methodology:
    """One immutable version of a methodology; a project stays pinned to the version it declared under."""

    code: str
    version: str
    title_zh: str
    title_en: str
    scope: str
    default: bool
    parameters: Mapping[str, Parameter]
    grid_factor: GridFactor | None
    design_fields: tuple[Field, ...]
    monitoring_fields: tuple[Field, ...]
    conditions: tuple[Condition, ...]
    formula: str
    calculation: Calculation

    @property
    def reference(self) -> str:
        """``CODE@VERSION``, as commands and projects name it."""
        return f"{self.code}@{self.version}"

    def value(self, name: str) -> Fraction:
        """A parameter's exact value."""
        return Fraction(self.parameters[name].value)

    @property
    def grid_kg_per_kwh(self) -> Fraction:
        """The version's grid factor: tCO2/MWh is kgCO2/kWh."""
        assert self.grid_factor is not None, self.reference
        return Fraction(self.grid_factor.value)

    def applicability(self, design: Mapping[str, Any]) -> list[str]:
        """The conditions a (parsed) design fails, each as one sentence; empty when the methodology applies."""
        failures = []
        for condition in self.conditions:
            value = design.get(condition.field)
            if value is None:
                failures.append(f"{condition.field} is missing; needed for: {condition.en}")
            elif not condition.holds(value, self.parameters):
                failures.append(f"{condition.en}: {condition.field} is {shown_value(value)}, must be "
                                f"{condition.op} {condition.shown(self.parameters)}")
        return failures

    def check_applicability(self, design: Mapping[str, Any]) -> None:
        """Refuse a design that fails any condition, naming every failure."""
        failures = self.applicability(design)
        if failures:
            raise NotApplicable(f"{self.reference} does not apply: " + "; ".join(failures))

    def reductions(self, rows: Sequence[Mapping[str, Any]]) -> Reductions:
        """The reductions of parsed monitoring rows (see `monitoring_data.parse_rows`)."""
        return self.calculation(self, rows)

    def describe(self) -> dict[str, Any]:
        """The version as the public catalogue shows it."""
        return {
            "code": self.code, "version": self.version, "reference": self.reference, "title_zh": self.title_zh,
            "title_en": self.title_en, "scope": self.scope, "default": self.default, "formula": self.formula,
            "parameters": [parameter.describe() for parameter in self.parameters.values()],
            "grid_factor": self.grid_factor.describe() if self.grid_factor else None,
            "design_fields": [f.describe() for f in self.design_fields],
            "monitoring_fields": [f.describe() for f in self.monitoring_fields],
            "conditions": [{"field": c.field, "op": c.op, "threshold": c.shown(self.parameters),
                            "zh": c.zh, "en": c.en} for c in self.conditions],
        }


def shown_value(value: Any) -> str:
    """A design value or threshold as text: booleans as true / false, as the data files write them."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def period_years(start: date, end: date) -> Fraction:
    """An inclusive period's length in years, each calendar year's days counted against that year's length."""
    if end < start:
        raise InvalidRequest(f"period ends ({end}) before it starts ({start})")
    years = Fraction(0)
    for year in range(start.year, end.year + 1):
        first, last = max(start, date(year, 1, 1)), min(end, date(year, 12, 31))
        length = (date(year + 1, 1, 1) - date(year, 1, 1)).days
        years += Fraction((last - first).days + 1, length)
    return years
