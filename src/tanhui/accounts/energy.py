"""Energy types a carbon account records, their units, scopes and the quantities they are given in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from tanhui.accounts.profile import Area
from tanhui.errors import InvalidRequest

# Quantities are kept to the thousandth of their unit (a Wh, a kg of fuel, a litre of gas), so the columnar
# path can carry them as integers.
QUANTITY_DECIMALS = 3
QUANTITY_SCALE = 10**QUANTITY_DECIMALS
MAX_QUANTITY = Decimal(10) ** 12


@dataclass(frozen=True, slots=True)
class EnergyType:
    """One kind of energy: the units it may be recorded in (each as a multiple of the factor's unit), its scope."""

    code: str
    name: str  # zh / en
    units: dict[str, Fraction]  # unit → how many of the factor's unit one of it is
    scope: str  # "scope1" (fuels burnt on site), "scope2" (bought electricity and heat), "deduction"


_TONNE = {"t": Fraction(1)}
FUELS = ("natural_gas", "anthracite", "bituminous_coal", "lignite", "washed_coal", "coke", "gasoline", "diesel",
         "lpg", "fuel_oil")
_FUEL_NAMES = {
    "natural_gas": "天然气 natural gas", "anthracite": "无烟煤 anthracite", "bituminous_coal": "烟煤 bituminous coal",
    "lignite": "褐煤 lignite", "washed_coal": "洗精煤 washed coal", "coke": "焦炭 coke", "gasoline": "汽油 gasoline",
    "diesel": "柴油 diesel", "lpg": "液化石油气 LPG", "fuel_oil": "燃料油 fuel oil",
}
ENERGY_TYPES: dict[str, EnergyType] = {
    "electricity": EnergyType("electricity", "电力 electricity", {"kWh": Fraction(1)}, "scope2"),
    "heat": EnergyType("heat", "外购热力 purchased heat", {"GJ": Fraction(1)}, "scope2"),
    "green_electricity": EnergyType("green_electricity", "绿色电力（绿证） green electricity with certificates",
                                    {"kWh": Fraction(1)}, "deduction"),
    **{fuel: EnergyType(fuel, _FUEL_NAMES[fuel],
                        {"10^4 Nm3": Fraction(1), "Nm3": Fraction(1, 10_000)} if fuel == "natural_gas" else _TONNE,
                        "scope1")
       for fuel in FUELS},
}


@dataclass(frozen=True, slots=True)
class EnergyRecord:
    """A quantity of one energy type over a period, from a source; ``area`` is the holder's unless given."""

    id: int
    energy_type: str
    unit: str
    quantity: Decimal
    period_start: date
    period_end: date  # inclusive
    source: str
    metered: bool
    area: Area
    certificate_id: str | None = None

    @property
    def month(self) -> str:
        """The month the record counts in: the month it starts."""
        return f"{self.period_start.year}-{self.period_start.month:02}"


def energy_type(code: str) -> EnergyType:
    found = ENERGY_TYPES.get(code)
    if found is None:
        raise InvalidRequest(f"unknown energy type {code!r}; known: {', '.join(ENERGY_TYPES)}")
    return found


def check_unit(code: str, unit: str) -> None:
    kind = energy_type(code)
    if unit not in kind.units:
        raise InvalidRequest(f"{code} is recorded in {' or '.join(kind.units)}, not {unit!r}")


def parse_quantity(text: str | Decimal | int) -> Decimal:
    """A non-negative quantity with at most three decimals, as an exact decimal."""
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidRequest(f"quantity {text!r} is not a number") from None
    if not value.is_finite() or value < 0 or value > MAX_QUANTITY:
        raise InvalidRequest(f"quantity {text!r} must be a number from 0 to {MAX_QUANTITY:,}")
    if value != value.quantize(Decimal("0.001")):
        raise InvalidRequest(f"quantity {text!r} has more than {QUANTITY_DECIMALS} decimals")
    return value.quantize(Decimal("0.001")).normalize() if value else Decimal(0)


def check_period(start: date, end: date) -> None:
    """A record's period: start on or before end, both in one calendar year (the accounting year)."""
    if start > end:
        raise InvalidRequest(f"the period starts {start}, after it ends {end}")
    if start.year != end.year:
        raise InvalidRequest(f"the period {start}..{end} spans two calendar years; split it at the year's end")
