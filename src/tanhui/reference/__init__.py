"""Reference data shipped with Tanhui: published figures with their source and tag, read from versioned files.

Tags follow DOMAIN.md: ``V`` seen in the named publication, ``T`` only in secondary tables (shipped, labelled
unverified), ``R`` a recollected figure and ``P`` a placeholder, both for the operator to replace.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from importlib.resources import files
from typing import Any

from tanhui.errors import UnknownReference

GRID_FACTORS_FILE = "grid_factors.csv"
FUEL_FACTORS_FILE = "fuel_factors.csv"
METHODOLOGIES_FILE = "methodologies.toml"
TAGS = ("V", "T", "R", "P")


@dataclass(frozen=True, slots=True)
class GridFactor:
    """A grid emission factor (tCO2/MWh, equal to kgCO2/kWh) as its publication gives it, digits kept exactly."""

    series: str
    data_year: int
    region: str
    region_name: str
    value: Decimal
    unit: str
    source: str
    tag: str
    note: str

    def describe(self) -> dict[str, Any]:
        """The factor as a monitoring report's summary records it."""
        described: dict[str, Any] = {
            "series": self.series, "data_year": self.data_year, "region": self.region,
            "region_name": self.region_name, "tco2_per_mwh": float(self.value), "value": str(self.value),
            "unit": self.unit, "source": self.source, "tag": self.tag,
        }
        if self.note:
            described["note"] = self.note
        return described


def read_text(name: str) -> str:
    """A reference file's text, from the installed package."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


@cache
def grid_factors() -> tuple[GridFactor, ...]:
    """Every grid emission factor in grid_factors.csv, in file order."""
    rows = list(csv.DictReader(io.StringIO(read_text(GRID_FACTORS_FILE))))
    factors = tuple(
        GridFactor(series=row["series"], data_year=int(row["data_year"]), region=row["region"],
                   region_name=row["region_name"], value=Decimal(row["value"]), unit=row["unit"],
                   source=row["source"], tag=row["tag"], note=row["note"])
        for row in rows
    )
    for factor in factors:
        # The file is ours, but a bad edit must not slip into a report: [T] figures say they are unverified.
        assert factor.tag in TAGS and factor.value > 0 and factor.unit == "tCO2/MWh", factor
        assert factor.tag != "T" or factor.note.startswith("unverified"), factor
    return factors


def grid_factor(series: str, data_year: int, region: str) -> GridFactor:
    """The factor of a series, data year and region; `UnknownReference` lists what exists otherwise."""
    for factor in grid_factors():
        if (factor.series, factor.data_year, factor.region) == (series, data_year, region):
            return factor
    known = sorted({f"{f.series}/{f.data_year}/{f.region}" for f in grid_factors()})
    raise UnknownReference(f"no grid emission factor {series}/{data_year}/{region} in {GRID_FACTORS_FILE}; "
                           f"known: {', '.join(known)}")


@dataclass(frozen=True, slots=True)
class FuelFactor:
    """A fuel's net calorific value, carbon content per energy and oxidation rate, digits kept exactly."""

    fuel: str
    fuel_name: str
    ncv: Decimal
    ncv_unit: str
    carbon_content: Decimal
    carbon_content_unit: str
    oxidation: Decimal
    source: str
    tag: str
    note: str

    @property
    def tco2_per_unit(self) -> Fraction:
        """tCO2 per unit of fuel (t, or 10^4 Nm3 for gas): NCV × CC × OF × 44/12, with CC in tC/TJ; exact."""
        return Fraction(self.ncv) * Fraction(self.carbon_content) * Fraction(self.oxidation) * 44 / 12_000


@cache
def fuel_factors() -> tuple[FuelFactor, ...]:
    """Every fuel of fuel_factors.csv, in file order."""
    rows = csv.DictReader(io.StringIO(read_text(FUEL_FACTORS_FILE)))
    factors = tuple(
        FuelFactor(fuel=row["fuel"], fuel_name=row["fuel_name"], ncv=Decimal(row["ncv"]), ncv_unit=row["ncv_unit"],
                   carbon_content=Decimal(row["carbon_content"]), carbon_content_unit=row["carbon_content_unit"],
                   oxidation=Decimal(row["oxidation"]), source=row["source"], tag=row["tag"], note=row["note"])
        for row in rows
    )
    for factor in factors:
        assert factor.tag in TAGS and factor.carbon_content_unit == "tC/TJ" and 0 < factor.oxidation <= 1, factor
        assert factor.tag != "T" or factor.note.startswith("unverified"), factor
        assert factor.tag != "P" or factor.note.startswith("placeholder"), factor
    return factors


def fuel_factor(fuel: str) -> FuelFactor:
    """A fuel's factors; `UnknownReference` lists the fuels that exist otherwise."""
    for factor in fuel_factors():
        if factor.fuel == fuel:
            return factor
    raise UnknownReference(f"no fuel {fuel!r} in {FUEL_FACTORS_FILE}; known: "
                           f"{', '.join(f.fuel for f in fuel_factors())}")


@cache
def methodology_entries() -> tuple[dict[str, Any], ...]:
    """The methodology versions of methodologies.toml, as parsed."""
    return tuple(tomllib.loads(read_text(METHODOLOGIES_FILE))["methodology"])
