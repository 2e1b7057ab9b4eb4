"""The distributed-PV methodology: ER = accepted MWh × grid emission factor, in whole kgCO2e rounded down.

Each version (methodologies.toml) names the grid factor it uses (series, data year, region, from
grid_factors.csv) and the verification parameters that decide which intervals are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any

from tanhui.methodologies.methodology import Condition, Field, Line, Methodology, Parameter, Reductions, settle
from tanhui.reference import METHODOLOGIES_FILE, GridFactor, UnknownReference, grid_factor, methodology_entries

CODE = "PV-DIST"
# Accepted energy is summed in binary floating point; a site's sum is recorded (and converted to credits) at this
# many decimals of a kWh, far below a meter's resolution and far above the summation's rounding noise, so that
# the recorded figure and the credits computed from it agree exactly wherever they are recomputed.
ENERGY_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class DistributedPV:
    """One version of the distributed-PV methodology."""

    code: str
    version: str
    title: str
    scope: str
    grid_factor: GridFactor
    parameters: tuple[Parameter, ...]

    @property
    def reference(self) -> str:
        """``CODE@VERSION``, as commands take it."""
        return f"{self.code}@{self.version}"

    def parameter(self, name: str) -> float:
        """A verification threshold's value by name, as the float the interval checks compute with."""
        for parameter in self.parameters:
            if parameter.name == name:
                return float(parameter.value)
        raise UnknownReference(f"{self.reference} has no parameter {name} in {METHODOLOGIES_FILE}")

    def reduction_kg(self, accepted_kwh: float) -> int:
        """Whole kgCO2e for a site's accepted energy (kWh), rounded down; see `reduction_kg`."""
        return reduction_kg(accepted_kwh, self.grid_factor.value)

    def describe(self) -> dict[str, Any]:
        """The methodology as a monitoring report's summary records it."""
        return {"code": self.code, "version": self.version, "title": self.title, "scope": self.scope,
                "grid_factor": self.grid_factor.describe()}


def recorded_energy(kwh: float) -> float:
    """An energy sum as reports record it (kWh at `ENERGY_DECIMALS`)."""
    return round(kwh, ENERGY_DECIMALS)


def reduction_kg(accepted_kwh: float, tco2_per_mwh: Decimal) -> int:
    """ER in whole kgCO2e, rounded down: kWh × tCO2/MWh is kgCO2 (1 t/MWh = 1 kg/kWh).

    The energy is taken at its recorded decimals (`recorded_energy`) and multiplied as decimals, so no binary
    rounding can lift a product that is just below a whole kilogram over it.  Negative energy gives 0.
    """
    energy = Decimal(f"{recorded_energy(accepted_kwh):.{ENERGY_DECIMALS}f}")
    return max(int((energy * tco2_per_mwh).to_integral_value(rounding=ROUND_FLOOR)), 0)


def versions() -> list[DistributedPV]:
    """Every version of the methodology, in file order."""
    result = []
    for entry in methodology_entries():
        if entry["code"] != CODE:
            continue
        factor = entry["grid_factor"]
        result.append(DistributedPV(
            code=entry["code"], version=entry["version"], title=entry["title"], scope=entry["scope"],
            grid_factor=grid_factor(factor["series"], int(factor["data_year"]), factor["region"]),
            parameters=tuple(Parameter.from_reference(name, p) for name, p in entry["parameters"].items()),
        ))
    return result


def methodology(reference: str | None = None) -> DistributedPV:
    """The version named ``CODE@VERSION`` (or the default version for ``CODE`` alone or None)."""
    if reference is not None and not reference.strip():
        reference = None
    code, _, version = (reference or CODE).partition("@")
    known = versions()
    if code != CODE:
        raise UnknownReference(f"unknown methodology {reference!r}: this platform verifies {CODE} "
                               f"(versions {', '.join(m.reference for m in known)})")
    if not version:
        defaults = [entry["version"] for entry in methodology_entries() if entry["code"] == CODE and entry["default"]]
        version = defaults[0]
    for candidate in known:
        if candidate.version == version:
            return candidate
    raise UnknownReference(f"unknown methodology version {reference!r}; known: "
                           f"{', '.join(m.reference for m in known)}")


# The same methodology in the library's form (`methodologies.catalogue`), for monitoring data uploaded as a
# template rather than verified from meter readings by `tanhui mrv verify`.
FORMULA = "ER = Σ accepted_kwh × EF_grid (tCO2/MWh = kgCO2/kWh), rounded down"
DESIGN_FIELDS = (
    Field("max_grid_connection_kw", "decimal", "kW", "单个并网点最大装机容量",
          "capacity of the largest single grid connection", minimum=Decimal(0)),
    Field("site_count", "integer", "sites", "站点数量", "number of sites", minimum=Decimal(1)),
)
MONITORING_FIELDS = (
    Field("meter_id", "text", "", "电表编号", "meter id"),
    Field("period_start", "date", "", "监测期开始", "first day of the monitoring period"),
    Field("period_end", "date", "", "监测期结束", "last day of the monitoring period"),
    Field("accepted_kwh", "decimal", "kWh", "核证发电量", "verified generation or net export", minimum=Decimal(0)),
)
CONDITIONS = (
    Condition("max_grid_connection_kw", "<", "单个并网点容量须小于 6 MW",
              "each single grid connection must be below 6 MW", parameter="max_grid_connection_kw"),
)


def calculate(version: Methodology, rows: Sequence[Mapping[str, Any]]) -> Reductions:
    """Accepted energy per meter at the version's grid factor."""
    lines = [Line(row["_row"], row["meter_id"], Fraction(row["accepted_kwh"]) * version.grid_kg_per_kwh, Fraction(0),
                  Fraction(row["accepted_kwh"]) * version.grid_kg_per_kwh) for row in rows]
    return settle(version.reference, lines)
