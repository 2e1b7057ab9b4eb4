"""Carbon accounting of one holder and period: each record times its factor, exactly, with the trace of each figure.

Rounding (documented in docs/carbon-accounts.md): each record's emission is computed exactly (a Fraction) and
rounded once, half up, to whole kgCO2; every total is the sum of those whole kilograms, so a breakdown adds up
to the figure it explains.  Green electricity counts against the electricity of the same month and area; what
is left over is shown as unused, never carried.  Retired offsets are shown beside emissions and never netted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction

from tanhui.accounts.energy import EnergyRecord, energy_type
from tanhui.accounts.factors import RecordFactor, record_factor
from tanhui.accounts.profile import AREAS, Area, FactorUsed

FactorLookup = Callable[[str, str, int], RecordFactor]  # (energy type, unit, year) → factor


def round_half_up(value: Fraction) -> int:
    """The nearest whole number, halves away from zero for the non-negative values accounting makes."""
    assert value >= 0, value
    return int((value * 2 + 1) // 2)


@dataclass(frozen=True, slots=True)
class Line:
    """One record's part of the figure: quantity × factor = exact kg, rounded to kg."""

    record: EnergyRecord
    scope: str
    factor: RecordFactor
    exact_kg: Fraction
    kg: int


@dataclass(frozen=True, slots=True)
class Accounting:
    """A holder's emissions for a period, by scope, area and month, with every line that makes them."""

    lines: tuple[Line, ...]  # emission records (fuels, electricity, heat), in record order
    green_lines: tuple[Line, ...]  # green electricity records, at the grid factor they displace
    scope1_kg: int
    scope2_gross_kg: int
    green_deducted_kg: int
    green_unused_kg: int
    emissions_by_area_kg: dict[Area, int]
    monthly_kg: tuple[tuple[str, int], ...]
    retired_offsets_kg: int

    @property
    def scope2_kg(self) -> int:
        return self.scope2_gross_kg - self.green_deducted_kg

    @property
    def emissions_kg(self) -> int:
        """Scope 1 + scope 2 after the green-electricity deduction; offsets are not subtracted."""
        return self.scope1_kg + self.scope2_kg

    @property
    def by_scope_kg(self) -> dict[str, int]:
        return {"scope1": self.scope1_kg, "scope2": self.scope2_kg}

    @property
    def factors(self) -> tuple[FactorUsed, ...]:
        """Each published figure used, once, in first-use order."""
        seen: dict[str, FactorUsed] = {}
        for line in (*self.lines, *self.green_lines):
            for used in line.factor.used:
                seen.setdefault(used.name, used)
        return tuple(seen.values())

    def breakdown(self) -> list[dict[str, object]]:
        """Every line as plain values: the record, its factor and source, and its kilograms."""
        return [{
            "record_id": line.record.id, "energy_type": line.record.energy_type, "quantity": str(line.record.quantity),
            "unit": line.record.unit, "period_start": line.record.period_start.isoformat(),
            "period_end": line.record.period_end.isoformat(), "source": line.record.source,
            "certificate_id": line.record.certificate_id, "scope": line.scope, "area": line.record.area,
            "factor": line.factor.name, "kg_per_unit": str(line.factor.kg_per_unit),
            "factor_sources": sorted({f"{u.name}={u.value} {u.unit} [{u.tag}] {u.source}" for u in line.factor.used}),
            "factor_note": line.factor.note, "exact_kg": str(line.exact_kg), "kg": line.kg,
        } for line in (*self.lines, *self.green_lines)]


def province_factors(province: str) -> FactorLookup:
    """Factors for a holder in ``province``: the grid factor of each record's accounting year."""
    return lambda code, unit, year: record_factor(code, unit, year=year, province=province)


def account(records: Iterable[EnergyRecord], factors: FactorLookup, *, retired_offsets_kg: int = 0) -> Accounting:
    """Account a holder's records (already chosen for the period) with the factors of its province."""
    lines: list[Line] = []
    green: list[Line] = []
    for record in records:
        scope = energy_type(record.energy_type).scope
        factor = factors(record.energy_type, record.unit, record.period_start.year)
        exact = Fraction(record.quantity) * factor.kg_per_unit
        line = Line(record, scope, factor, exact, round_half_up(exact))
        (green if scope == "deduction" else lines).append(line)

    electricity: dict[tuple[Area, str], int] = defaultdict(int)
    by_area: dict[Area, int] = dict.fromkeys(AREAS, 0)
    monthly: dict[str, int] = defaultdict(int)
    scope1 = scope2 = 0
    for line in lines:
        by_area[line.record.area] += line.kg
        monthly[line.record.month] += line.kg
        if line.scope == "scope1":
            scope1 += line.kg
        else:
            scope2 += line.kg
        if line.record.energy_type == "electricity":
            electricity[line.record.area, line.record.month] += line.kg
    offered: dict[tuple[Area, str], int] = defaultdict(int)
    for line in green:
        offered[line.record.area, line.record.month] += line.kg
    deducted = 0
    for (area, month), kg in offered.items():
        taken = min(kg, electricity.get((area, month), 0))
        if not taken:
            continue
        by_area[area] -= taken
        monthly[month] -= taken
        deducted += taken
    return Accounting(
        lines=tuple(lines), green_lines=tuple(green), scope1_kg=scope1, scope2_gross_kg=scope2,
        green_deducted_kg=deducted, green_unused_kg=sum(offered.values()) - deducted,
        emissions_by_area_kg=by_area, monthly_kg=tuple(sorted(monthly.items())),
        retired_offsets_kg=retired_offsets_kg,
    )


def intensity(emissions_kg: int, value_10k_yuan: Fraction | None) -> Fraction | None:
    """tCO2e per 10k yuan (of value added or output value); None without a positive value."""
    if value_10k_yuan is None or value_10k_yuan <= 0:
        return None
    return Fraction(emissions_kg, 1000) / value_10k_yuan
