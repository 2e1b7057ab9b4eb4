"""Known answers of carbon accounting, worked by hand in comments: every fuel, heat, two provinces × two years."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tanhui.accounts.accounting import account, intensity, province_factors, round_half_up
from tanhui.accounts.energy import EnergyRecord, parse_quantity
from tanhui.accounts.factors import province_of
from tanhui.errors import InvalidRequest, UnknownReference


def rec(energy_type: str, quantity: str, unit: str = "t", *, month: int = 1, year: int = 2023, rid: int = 1,
        area: str = "industry", certificate: str | None = None) -> EnergyRecord:
    return EnergyRecord(rid, energy_type, unit, Decimal(quantity), date(year, month, 1), date(year, month, 28),
                        "bill", True, area, certificate)  # type: ignore[arg-type]


ZHEJIANG = province_factors("zhejiang")


def one(record: EnergyRecord, province: str = "zhejiang") -> int:
    return account([record], province_factors(province)).emissions_kg


# E [kg] = FC [t] × NCV [GJ/t] × CC [tC/TJ] × OF × 44/12 (GJ→TJ and t→kg cancel).
@pytest.mark.parametrize(("fuel", "quantity", "unit", "kg"), [
    # gasoline 43.070 × 18.9 = 814.023; × 0.98 = 797.74254; × 44/12 = 2925.05598 kg/t; × 2 t = 5850.11196 → 5850
    ("gasoline", "2", "t", 5850),
    # diesel 42.652 × 20.2 = 861.5704; × 0.98 = 844.338992; × 11/3 = 3095.909637… kg/t; × 10 t = 30959.096… → 30959
    ("diesel", "10", "t", 30959),
    # LPG 50.179 × 17.2 = 863.0788; × 0.98 = 845.817224; × 11/3 = 3101.329821… kg/t; × 1.5 t = 4651.9947… → 4652
    ("lpg", "1.5", "t", 4652),
    # natural gas 389.31 GJ/10⁴Nm³ × 15.3 = 5956.443; × 0.99 = 5896.87857; × 11/3 = 21621.88809 kg/10⁴Nm³;
    # × 3 = 64865.66427 → 64866
    ("natural_gas", "3", "10^4 Nm3", 64866),
    # the same gas in Nm³: 12,345 Nm³ = 1.2345 × 10⁴ Nm³; × 21621.88809 = 26692.2208… → 26692
    ("natural_gas", "12345", "Nm3", 26692),
    # fuel oil 41.816 × 21.1 = 882.3176; × 0.98 = 864.671248; × 11/3 = 3170.461242… kg/t; × 0.5 t = 1585.2306… → 1585
    ("fuel_oil", "0.5", "t", 1585),
    # anthracite 20.304 × 27.49 = 558.15696; × 0.94 = 524.6675424; × 11/3 = 1923.7809888 kg/t; × 100 = 192378.09888
    ("anthracite", "100", "t", 192378),
    # bituminous 19.570 × 26.18 = 512.3426; × 0.93 = 476.478618; × 11/3 = 1747.088266 kg/t; × 100 = 174708.8266
    ("bituminous_coal", "100", "t", 174709),
    # lignite 14.080 × 28.00 = 394.24; × 0.96 = 378.4704; × 11/3 = 1387.7248 kg/t; × 10 = 13877.248 → 13877
    ("lignite", "10", "t", 13877),
    # washed coal 26.344 × 25.40 = 669.1376; × 0.90 = 602.22384; × 11/3 = 2208.15408 kg/t; × 10 = 22081.5408 → 22082
    ("washed_coal", "10", "t", 22082),
    # coke 28.435 × 29.42 = 836.5577; × 0.93 = 777.998661; × 11/3 = 2852.661757 kg/t; × 10 = 28526.61757 → 28527
    ("coke", "10", "t", 28527),
    # purchased heat 0.11 tCO2/GJ = 110 kg/GJ; × 123.456 GJ = 13580.16 → 13580
    ("heat", "123.456", "GJ", 13580),
    # a half rounds up: 110 kg/GJ × 0.15 GJ = 16.5 → 17 (banker's rounding would give 16)
    ("heat", "0.15", "GJ", 17),
])
def test_each_fuel_and_heat(fuel: str, quantity: str, unit: str, kg: int) -> None:
    accounted = account([rec(fuel, quantity, unit)], ZHEJIANG)
    assert accounted.emissions_kg == kg
    assert accounted.by_scope_kg == ({"scope1": 0, "scope2": kg} if fuel == "heat" else {"scope1": kg, "scope2": 0})


# Electricity: kWh × grid factor (tCO2/MWh = kgCO2/kWh) of the record's year and the holder's province.
@pytest.mark.parametrize(("province", "year", "kwh", "kg", "factor"), [
    ("zhejiang", 2022, "10000", 5153, "grid:zhejiang:2022"),     # 10,000 × 0.5153 = 5153
    ("zhejiang", 2023, "10000.5", 4974, "grid:zhejiang:2023"),   # 10,000.5 × 0.4974 = 4974.2487 → 4974
    ("jiangsu", 2022, "1234.5", 738, "grid:jiangsu:2022"),       # 1,234.5 × 0.5978 = 737.9841 → 738
    ("jiangsu", 2023, "2000", 1165, "grid:jiangsu:2023"),        # 2,000 × 0.5827 = 1165.4 → 1165
    ("anhui", 2022, "1000", 678, "grid:anhui:2022"),             # 1,000 × 0.6782 = 678.2 → 678
    # Anhui has no 2023 provincial factor: the 2023 national average 0.5306; 1,000 × 0.5306 = 530.6 → 531
    ("anhui", 2023, "1000", 531, "grid:national:2023"),
])
def test_electricity_by_province_and_year(province: str, year: int, kwh: str, kg: int, factor: str) -> None:
    accounted = account([rec("electricity", kwh, "kWh", year=year)], province_factors(province))
    assert accounted.emissions_kg == kg
    [line] = accounted.lines
    assert line.factor.name == factor
    assert bool(line.factor.note) == (factor == "grid:national:2023")
    assert line.factor.used[0].tag == ("V" if province == "anhui" or factor.startswith("grid:national") else "T")


def test_a_year_without_any_grid_factor_is_refused() -> None:
    with pytest.raises(UnknownReference, match="accounting year 2025"):
        account([rec("electricity", "1", "kWh", year=2025)], ZHEJIANG)


def test_green_electricity_counts_against_the_same_months_electricity_and_offsets_stay_apart() -> None:
    records = [
        rec("electricity", "10000", "kWh", rid=1),              # 10,000 × 0.4974 = 4974
        rec("natural_gas", "1", "10^4 Nm3", rid=2),              # 21621.88809 → 21622
        rec("green_electricity", "4000", "kWh", rid=3, certificate="GEC-1"),  # 4,000 × 0.4974 = 1989.6 → 1990
        rec("green_electricity", "1000", "kWh", month=2, rid=4, certificate="GEC-2"),  # no Feb electricity: 497
    ]
    accounted = account(records, ZHEJIANG, retired_offsets_kg=5000)
    assert accounted.scope1_kg == 21622
    assert accounted.scope2_gross_kg == 4974
    assert accounted.green_deducted_kg == 1990
    assert accounted.green_unused_kg == 497  # 1,000 × 0.4974 = 497.4 → 497, nothing to count it against
    assert accounted.emissions_kg == 21622 + 4974 - 1990 == 24606
    assert accounted.retired_offsets_kg == 5000  # shown, not subtracted
    assert accounted.monthly_kg == (("2023-01", 24606),)
    assert accounted.emissions_by_area_kg["industry"] == 24606
    lines = accounted.breakdown()
    assert [line["record_id"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["kg"] == 4974 and lines[0]["factor"] == "grid:zhejiang:2023"
    assert lines[1]["exact_kg"] == str(Fraction("21621.88809"))
    assert sum(line["kg"] for line in lines[:2]) == accounted.scope1_kg + accounted.scope2_gross_kg
    assert {f.name for f in accounted.factors} == {"grid:zhejiang:2023", "fuel:natural_gas:NCV",
                                                   "fuel:natural_gas:CC", "fuel:natural_gas:OF"}


def test_areas_and_months_add_up_to_the_total() -> None:
    records = [rec("diesel", "1", area="transport", rid=1), rec("electricity", "100", "kWh", month=3, rid=2),
               rec("lpg", "1", area="daily_life", month=3, rid=3)]
    accounted = account(records, ZHEJIANG)
    # diesel 3095.9096 → 3096; 100 kWh × 0.4974 = 49.74 → 50; LPG 3101.3298 → 3101
    assert accounted.emissions_by_area_kg == {"industry": 50, "energy": 0, "buildings": 0, "transport": 3096,
                                              "agriculture_forestry": 0, "daily_life": 3101}
    assert accounted.monthly_kg == (("2023-01", 3096), ("2023-03", 3151))
    assert accounted.emissions_kg == 6247


def test_intensity_is_tonnes_per_10k_yuan() -> None:
    assert intensity(24606, Fraction(50)) == Fraction(24606, 50_000)  # 24.606 t / 50 (10k yuan)
    assert intensity(1, None) is None and intensity(1, Fraction(0)) is None


def test_quantities_and_rounding() -> None:
    assert round_half_up(Fraction(5, 2)) == 3 and round_half_up(Fraction(49, 10)) == 5
    assert round_half_up(Fraction(24, 10)) == 2
    assert parse_quantity("1,234.500") == Decimal("1234.5")
    for bad in ("-1", "1.0001", "abc", "nan"):
        with pytest.raises(InvalidRequest):
            parse_quantity(bad)


def test_regions_lie_in_their_province() -> None:
    assert province_of("QUZHOU") == "zhejiang" and province_of("SIP") == "jiangsu" and province_of("HEFEI") == "anhui"
