"""Reference data shipped with Tanhui: published figures with their source and tag, read from versioned files.

Tags follow DOMAIN.md: ``V`` seen in the named publication, ``T`` only in secondary tables (shipped, labelled
unverified), ``R`` a placeholder the operator is expected to replace.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from tanhui.errors import InvalidRequest

GRID_FACTORS_FILE = "grid_factors.csv"
METHODOLOGIES_FILE = "methodologies.toml"
TAGS = ("V", "T", "R")


class UnknownReference(InvalidRequest):
    """A factor, methodology or other reference figure that the shipped reference data does not hold."""

    code, title = "unknown-reference", "No such reference data"


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


@cache
def methodology_entries() -> tuple[dict[str, Any], ...]:
    """The methodology versions of methodologies.toml, as parsed."""
    return tuple(tomllib.loads(read_text(METHODOLOGIES_FILE))["methodology"])
