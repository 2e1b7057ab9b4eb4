"""Known answers for every methodology, each worked out by hand from its formula and its reference figures."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tanhui.methodologies.catalogue import find
from tanhui.methodologies.monitoring_data import parse_rows


def reductions(reference: str, csv_text: str):  # type: ignore[no-untyped-def]
    methodology = find(reference)
    return methodology.reductions(parse_rows(methodology, csv_text))


def test_distributed_pv_is_accepted_energy_times_the_versions_grid_factor() -> None:
    data = ("meter_id,period_start,period_end,accepted_kwh\n"
            "M1,2024-01-01,2024-01-31,1000.5\nM2,2024-01-01,2024-01-31,2000\nM3,2024-01-01,2024-01-31,0.9\n")
    # 3,001.4 kWh × 0.5500 kg/kWh (East China 2023) = 1,650.77 kg → 1,650.
    assert reductions("PV-DIST@1-EC2023", data).net_kg == 1650
    # 3,001.4 kWh × 0.5306 (national 2023) = 1,592.54284 kg → 1,592.
    assert reductions("PV-DIST@1-CN2023", data).net_kg == 1592


def test_ev_charging_credits_the_gasoline_car_avoided_less_the_grid_electricity() -> None:
    result = reductions("EV-CHARGE@1-EC2023", "charger_id,period_start,period_end,charged_kwh\n"
                                              "C1,2024-01-01,2024-01-31,10000\n")
    # 10,000 kWh ÷ 15 kWh/100 km = 66,666.67 km; × 7 L/100 km = 4,666.67 L; × 0.73 kg/L = 3.406667 t gasoline.
    # Gasoline: 43.070 GJ/t × 18.9 tC/TJ × 0.98 × 44/12 = 2,925.05598 kgCO2/t, so BE = 9,964.690705 kg.
    # PE = 10,000 kWh × 0.5500 = 5,500 kg.  ER = 4,464.690705 → 4,464.
    line = result.lines[0]
    assert line.baseline_kg == Fraction(1022, 300) * Fraction("2925.05598")
    assert f"{float(line.baseline_kg):.6f}" == "9964.690705"
    assert line.project_kg == 5500
    assert (result.net_kg, result.buffer_kg, result.issuable_kg) == (4464, 0, 4464)


def test_lighting_counts_metered_and_rated_groups_at_the_grid_factor() -> None:
    result = reductions(
        "LIGHT-EFF@1-EC2023",
        "fixture_group,period_start,period_end,method,baseline_kwh,project_kwh,baseline_count,baseline_watts,"
        "project_count,project_watts,operating_hours\n"
        "hall,2024-01-01,2024-06-30,rated,,,200,40,200,18,3000\n"
        "garage,2024-01-01,2024-06-30,metered,5000.5,2000.25,,,,,\n")
    # hall: 200 × 40 W × 3,000 h = 24,000 kWh before, 200 × 18 W × 3,000 h = 10,800 after: 13,200 kWh × 0.55 = 7,260.
    # garage: (5,000.5 − 2,000.25) kWh × 0.55 = 1,650.1375.  Total 8,910.1375 → 8,910.
    assert [line.reduction_kg for line in result.lines] == [7260, Fraction("1650.1375")]
    assert result.net_kg == 8910


def test_a_group_that_uses_more_after_the_retrofit_counts_against_the_others() -> None:
    result = reductions("LIGHT-EFF@1-EC2023",
                        "fixture_group,period_start,period_end,method,baseline_kwh,project_kwh\n"
                        "a,2024-01-01,2024-01-31,metered,1000,400\nb,2024-01-01,2024-01-31,metered,100,300\n")
    # (600 − 200) kWh × 0.55 = 220.
    assert result.net_kg == 220
    only_worse = reductions("LIGHT-EFF@1-EC2023",
                            "fixture_group,period_start,period_end,method,baseline_kwh,project_kwh\n"
                            "b,2024-01-01,2024-01-31,metered,100,300\n")
    assert only_worse.net_kg == 0  # never negative credits


def test_wetland_deducts_leakage_and_withholds_a_buffer_share() -> None:
    result = reductions("WETLAND-SEQ@1-IPCC2013",
                        "parcel_id,ecosystem,area_ha,period_start,period_end,leakage_kg\n"
                        "W1,mangrove,100,2024-01-01,2024-12-31,1000\n")
    # 100 ha × 1.62 tC/ha/yr × 1 yr (the whole of leap year 2024) × 44/12 = 594 tCO2 = 594,000 kg.
    # Less 1,000 kg leakage = 593,000; 10 % buffer = 59,300 to the buffer account; 533,700 to the project.
    assert result.gross_kg == 594_000
    assert (result.net_kg, result.buffer_kg, result.issuable_kg) == (593_000, 59_300, 533_700)


def test_wetland_years_count_each_calendar_years_days_and_stay_exact() -> None:
    result = reductions("WETLAND-SEQ@1-IPCC2013",
                        "parcel_id,ecosystem,area_ha,period_start,period_end\n"
                        "A,tidal_marsh,12,2023-01-01,2023-12-31\n"
                        "B,seagrass,10,2023-12-01,2024-01-31\n")
    # A: 12 ha × 0.91 × 1 yr × 44/12 = 40.04 t = 40,040 kg exactly (a decimal 44/12 would floor it to 40,039).
    # B: 10 ha × 0.43 tC/ha/yr × (31/365 + 31/366 = 0.169631) yr = 0.729413 tC × 44/12 = 2,674.5148 kg.
    assert result.lines[0].reduction_kg == 40_040
    expected_b = 10 * Fraction("0.43") * (Fraction(31, 365) + Fraction(31, 366)) * 44 * 1000 / 12
    assert result.lines[1].reduction_kg == expected_b
    assert f"{float(expected_b):.4f}" == "2674.5148"
    assert result.net_kg == 42_714  # 42,714.51 → 42,714
    assert result.buffer_kg == 4272  # 4,271.4 rounded up: the buffer errs on the side of the atmosphere


def test_personal_travel_uses_the_wuhan_factors_per_trip_and_per_km() -> None:
    result = reductions("TRAVEL-LOW@1-WUHAN",
                        "participant_id,date,mode,trips,km\n"
                        "r1,2024-03-01,bus,1000,\nr2,2024-03-01,metro,,1000\nr3,2024-03-02,shared_bike,,100\n")
    # 1,000 trips × 212.5 g + 1,000 km × 78.4 g + 100 km × 93.3 g = 212,500 + 78,400 + 9,330 g = 300.23 kg → 300.
    assert [line.reduction_kg for line in result.lines] == [Fraction("212.5"), Fraction("78.4"), Fraction("9.33")]
    assert result.net_kg == 300


def test_personal_travel_uses_the_shenzhen_person_km_factors() -> None:
    result = reductions("TRAVEL-LOW@1-SHENZHEN",
                        "participant_id,date,mode,trips,km\nr1,2024-03-01,e_bus,,1000\nr2,2024-03-01,metro,,500\n")
    # 1,000 km × 26.9 g + 500 km × 46.7 g = 26,900 + 23,350 g = 50.25 kg → 50.
    assert result.net_kg == 50


@pytest.mark.parametrize(("reference", "code"), [
    ("PV-DIST", "PV-DIST@1-EC2023"), ("EV-CHARGE", "EV-CHARGE@1-EC2023"), ("LIGHT-EFF", "LIGHT-EFF@1-EC2023"),
    ("WETLAND-SEQ", "WETLAND-SEQ@1-IPCC2013"), ("TRAVEL-LOW", "TRAVEL-LOW@1-WUHAN"),
])
def test_a_code_alone_names_its_default_version(reference: str, code: str) -> None:
    assert find(reference).reference == code
