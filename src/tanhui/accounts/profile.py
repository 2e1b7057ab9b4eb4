"""A holder's carbon profile for one period: what a credit report shows and what a bank's loan rules read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Literal

# The six areas every carbon account belongs to (Quzhou's carbon-account areas, seed 004).
Area = Literal["industry", "energy", "buildings", "transport", "agriculture_forestry", "daily_life"]
AREAS: tuple[Area, ...] = ("industry", "energy", "buildings", "transport", "agriculture_forestry", "daily_life")

HolderKind = Literal["enterprise", "public_institution", "resident"]

# Quzhou's four colours, best first.
Label = Literal["dark_green", "light_green", "yellow", "red"]
# Carbon credit rating grades, best first.
Rating = Literal["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]


@dataclass(frozen=True)
class FactorUsed:
    """One factor a figure was computed with, and where it comes from."""

    name: str  # e.g. "grid:Jiangsu:2022" or "fuel:natural_gas:NCV"
    value: Fraction
    unit: str  # e.g. "tCO2/MWh"
    source: str
    tag: str  # "V", "T", "R" or "P" as in DOMAIN.md


@dataclass(frozen=True)
class DataQuality:
    """How much of the period's accounting rests on what kind of records."""

    records: int
    metered_records: int  # from meters (MRV data lake, utility bills) rather than declared
    declared_records: int
    months_covered: int  # months of the period with at least one energy record
    months_in_period: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one versioned evaluation scheme for the holder and period."""

    scheme: str  # e.g. "quzhou-four-colours@1"
    outcome: str  # a Label, a carbon-efficiency grade "1".."5", or a Rating
    score: Fraction | None  # the scheme's score or ratio (e.g. K), when it has one
    reasons: tuple[str, ...]  # one line per dimension or threshold that decided the outcome


@dataclass(frozen=True)
class CreditProfile:
    """Everything the carbon credit report of one holder and period states; all masses in integer kgCO2e."""

    holder_id: int
    holder_kind: HolderKind
    name: str
    unified_social_credit_code: str | None  # None for residents
    industry_code: str | None  # GB/T 4754 code, None for residents
    region_code: str
    area: Area
    period_start: date
    period_end: date  # inclusive
    emissions_kg: int  # gross scope 1 + scope 2, after the green-electricity deduction
    emissions_by_area_kg: dict[Area, int]
    emissions_by_scope_kg: dict[str, int]  # "scope1", "scope2"
    green_electricity_deducted_kg: int
    retired_offsets_kg: int  # shown beside emissions, never netted
    monthly_emissions_kg: tuple[tuple[str, int], ...]  # ("2025-01", kg), in month order
    value_added_10k_yuan: Fraction | None
    output_value_10k_yuan: Fraction | None
    intensity_per_value_added: Fraction | None  # tCO2e per 10k yuan value added
    intensity_per_output_value: Fraction | None  # tCO2e per 10k yuan output value
    benchmark_intensity: Fraction | None  # industry (and region) median intensity per value added, same unit
    benchmark_source: str | None  # "platform population 2025, n=412" or a loaded benchmark's source
    label: Evaluation | None  # four colours
    carbon_efficiency: Evaluation | None  # Zhejiang grade 1..5
    credit_rating: Evaluation | None  # AAA..C
    data_quality: DataQuality
    factors: tuple[FactorUsed, ...]
