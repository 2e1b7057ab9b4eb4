"""The points scheme of points_rules.toml: factors (from the methodology), caps, speeds, rebate."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from tanhui.errors import UnknownReference
from tanhui.methodologies import personal_travel
from tanhui.methodologies.catalogue import find
from tanhui.methodologies.methodology import Methodology, Parameter
from tanhui.reference import GRID_FACTORS_FILE, TAGS, GridFactor, grid_factor, read_text

RULES_FILE = "points_rules.toml"
ELECTRICITY_SAVING = "electricity_saving"
# What one event of each kind of behaviour measures: a trip, a distance, or saved energy.
PER_TRIP, PER_KM, PER_KWH = "trips", "km", "kWh"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """A behaviour that earns points: its unit, factor in gCO2e per unit (with source) and fraud rules.

    ``mode`` is the methodology's travel mode the behaviour is packaged as, None for household electricity.
    """

    name: str
    unit: str
    factor: Parameter
    daily_cap: Parameter
    max_speed_kmh: Parameter | None
    mode: str | None

    @property
    def grams_per_unit(self) -> Fraction:
        return Fraction(self.factor.value)

    @property
    def travel(self) -> bool:
        return self.unit != PER_KWH

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "mode": self.mode,
            "factor": self.factor.describe(),
            "daily_cap": self.daily_cap.describe(),
            "max_speed_kmh": self.max_speed_kmh.describe() if self.max_speed_kmh else None,
        }


@dataclass(frozen=True, slots=True)
class Rebate:
    """Loan-interest rebate: ``points_per_unit`` g buy ``yuan_per_unit`` yuan; ≤ ``annual_cap_yuan``/year."""

    points_per_unit: Parameter
    yuan_per_unit: Parameter
    annual_cap_yuan: Parameter

    @property
    def grams_per_fen(self) -> Fraction:
        """Points (g) one fen (0.01 yuan) of rebate costs: 1,000 g / 200 fen = 5 g under the Wuhan scheme."""
        return Fraction(self.points_per_unit.value) / (Fraction(self.yuan_per_unit.value) * 100)

    @property
    def annual_cap_fen(self) -> int:
        return int(self.annual_cap_yuan.value * 100)

    def describe(self) -> dict[str, Any]:
        return {
            p.name: p.describe() for p in (self.points_per_unit, self.yuan_per_unit, self.annual_cap_yuan)
        }


@dataclass(frozen=True, slots=True)
class Scheme:
    """One immutable version of the points rules; every event records the version it was awarded under."""

    version: str
    default: bool
    methodology: Methodology
    timezone: ZoneInfo
    grid_factor: GridFactor
    expiry_days: Parameter
    behaviours: dict[str, Behaviour]
    rebate: Rebate

    def behaviour(self, name: str) -> Behaviour:
        found = self.behaviours.get(name)
        if found is None:
            raise UnknownReference(
                f"unknown behaviour {name!r} in points scheme {self.version}; known: "
                f"{', '.join(self.behaviours)}"
            )
        return found

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "default": self.default,
            "methodology": self.methodology.reference,
            "timezone": str(self.timezone),
            "grid_factor": self.grid_factor.describe(),
            "expiry_days": self.expiry_days.describe(),
            "behaviours": [b.describe() for b in self.behaviours.values()],
            "rebate": self.rebate.describe(),
        }


def _figure(name: str, entry: dict[str, Any]) -> Parameter:
    figure = Parameter(
        name,
        Decimal(str(entry["value"])),
        entry["unit"],
        entry["tag"],
        entry["source"],
        entry.get("note", ""),
    )
    # The file is ours, but a bad edit must not pass silently: placeholders say so, figures are positive.
    assert figure.tag in TAGS and figure.value > 0, figure
    assert figure.tag != "R" or figure.note.startswith("placeholder"), figure
    return figure


def _scheme(entry: dict[str, Any]) -> Scheme:
    methodology = find(entry["methodology"])
    counted = personal_travel.modes(methodology)
    factor = entry["electricity_grid_factor"]
    grid = grid_factor(factor["series"], int(factor["data_year"]), factor["region"])
    behaviours = {}
    for name, rules in entry["behaviours"].items():
        if name == ELECTRICITY_SAVING:
            # tCO2/MWh is kgCO2/kWh; points are grams.
            source = (
                f"{grid.source} ({GRID_FACTORS_FILE}: {grid.series}/{grid.data_year}/{grid.region}) × 1000"
            )
            grams = Parameter("grid_g_per_kwh", grid.value * 1000, "gCO2e/kWh", grid.tag, source, grid.note)
            behaviours[name] = Behaviour(
                name, PER_KWH, grams, _figure("daily_cap", rules["daily_cap"]), None, None
            )
            continue
        assert name in counted, f"{RULES_FILE}: {name} is not a mode of {methodology.reference}"
        column, parameter = counted[name]
        behaviours[name] = Behaviour(
            name,
            PER_TRIP if column == "trips" else PER_KM,
            methodology.parameters[parameter],
            _figure("daily_cap", rules["daily_cap"]),
            _figure("max_speed_kmh", rules["max_speed_kmh"]),
            name,
        )
    assert set(counted) <= set(behaviours), f"{RULES_FILE}: every mode of {methodology.reference} needs rules"
    rebate = entry["rebate"]
    return Scheme(
        version=entry["version"],
        default=bool(entry["default"]),
        methodology=methodology,
        timezone=ZoneInfo(entry["timezone"]),
        grid_factor=grid,
        expiry_days=_figure("expiry_days", entry["expiry_days"]),
        behaviours=behaviours,
        rebate=Rebate(
            *(_figure(name, rebate[name]) for name in ("points_per_unit", "yuan_per_unit", "annual_cap_yuan"))
        ),
    )


@cache
def schemes() -> tuple[Scheme, ...]:
    """Every scheme version, in file order."""
    built = tuple(_scheme(entry) for entry in tomllib.loads(read_text(RULES_FILE))["scheme"])
    assert sum(s.default for s in built) == 1, f"{RULES_FILE}: exactly one default scheme"
    return built


def scheme(version: str | None = None) -> Scheme:
    """The scheme ``version``, or the default one; `UnknownReference` lists what exists."""
    for candidate in schemes():
        if candidate.version == version or (version is None and candidate.default):
            return candidate
    raise UnknownReference(
        f"unknown points scheme {version!r}; known: {', '.join(s.version for s in schemes())}"
    )
