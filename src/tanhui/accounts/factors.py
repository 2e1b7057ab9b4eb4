"""The factors carbon accounting multiplies by: fuels' NCV × CC × OF, grid factors by year and province, heat."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from tanhui.accounts.energy import energy_type
from tanhui.accounts.profile import FactorUsed
from tanhui.errors import UnknownReference
from tanhui.reference import fuel_factor, grid_factors, read_text
from tanhui.regions.catalogue import region as find_region

HEAT_FACTORS_FILE = "heat_factors.csv"
GRID_SERIES = "mee-nbs-average"
HEAT_SERIES = "purchased-heat-default"
CO2_PER_C = Fraction(44, 12)


@dataclass(frozen=True, slots=True)
class RecordFactor:
    """kgCO2 per unit of an energy type as recorded, exactly, and the published figures it is made of."""

    name: str  # what the breakdown shows, e.g. "grid:zhejiang:2023" or "fuel:diesel"
    kg_per_unit: Fraction
    used: tuple[FactorUsed, ...]
    note: str = ""


@cache
def heat_factor() -> FactorUsed:
    """The purchased-heat factor of heat_factors.csv (tCO2/GJ)."""
    for row in csv.DictReader(io.StringIO(read_text(HEAT_FACTORS_FILE))):
        if row["series"] == HEAT_SERIES:
            assert row["unit"] == "tCO2/GJ" and row["tag"] in ("V", "T", "P"), row
            return FactorUsed(f"heat:{HEAT_SERIES}", Fraction(row["value"]), row["unit"], row["source"], row["tag"])
    raise UnknownReference(f"no {HEAT_SERIES} factor in {HEAT_FACTORS_FILE}")


def province_of(region_code: str) -> str:
    """The province a region lies in, as grid_factors.csv names it (the top of its parent chain, lower case)."""
    found = find_region(region_code)
    while found.parent is not None:
        found = find_region(found.parent)
    return found.code.lower()


def grid_factor_for(year: int, province: str) -> RecordFactor:
    """The average grid factor of the accounting year and province, else that year's national average.

    tCO2/MWh is kgCO2/kWh.  A year without any published factor is refused: a later year's figure is not
    quietly used for an earlier one, nor the reverse.
    """
    by_key = {(f.data_year, f.region): f for f in grid_factors() if f.series == GRID_SERIES}
    note = ""
    factor = by_key.get((year, province))
    if factor is None:
        factor = by_key.get((year, "national"))
        note = f"no {year} factor for {province} in grid_factors.csv: the {year} national average is used"
    if factor is None:
        years = sorted({y for y, _ in by_key})
        raise UnknownReference(f"no {GRID_SERIES} grid factor for accounting year {year}; years with factors: "
                               f"{', '.join(map(str, years))}")
    used = FactorUsed(f"grid:{factor.region}:{factor.data_year}", Fraction(factor.value), factor.unit,
                      factor.source, factor.tag)
    return RecordFactor(used.name, Fraction(factor.value), (used,), note)


def record_factor(code: str, unit: str, *, year: int, province: str) -> RecordFactor:
    """kgCO2 per recorded unit of ``code``: E = FC × NCV × CC × OF × 44/12 for fuels, kWh × grid, GJ × heat."""
    scale = energy_type(code).units[unit]
    if code in ("electricity", "green_electricity"):
        grid = grid_factor_for(year, province)
        return RecordFactor(grid.name, grid.kg_per_unit * scale, grid.used, grid.note)
    if code == "heat":
        heat = heat_factor()
        return RecordFactor(heat.name, heat.value * 1000 * scale, (heat,))
    fuel = fuel_factor(code)
    used = (
        FactorUsed(f"fuel:{code}:NCV", Fraction(fuel.ncv), fuel.ncv_unit, fuel.source, fuel.tag),
        FactorUsed(f"fuel:{code}:CC", Fraction(fuel.carbon_content), fuel.carbon_content_unit, fuel.source,
                   fuel.tag),
        FactorUsed(f"fuel:{code}:OF", Fraction(fuel.oxidation), "fraction", fuel.source, fuel.tag),
    )
    # NCV [GJ/unit] × CC [tC/TJ] is kgC per unit (GJ→TJ and t→kg cancel); × OF × 44/12 makes it kgCO2.
    kg = Fraction(fuel.ncv) * Fraction(fuel.carbon_content) * Fraction(fuel.oxidation) * CO2_PER_C
    return RecordFactor(f"fuel:{code}", kg * scale, used)
