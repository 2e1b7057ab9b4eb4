"""The distributed-PV methodology and its reference data: factors as DOMAIN.md gives them, exact whole-kg credits."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from tanhui.errors import InvalidRequest
from tanhui.methodologies import DISTRIBUTED_PV, methodology, versions
from tanhui.methodologies.distributed_pv import reduction_kg
from tanhui.reference import GRID_FACTORS_FILE, grid_factor, grid_factors, read_text


def test_the_factor_file_holds_domain_figures_with_source_and_tag() -> None:
    expected = {
        ("mee-nbs-average", 2023, "east"): ("0.5500", "V"),
        ("mee-nbs-average", 2023, "national"): ("0.5306", "V"),
        ("mee-nbs-average", 2022, "south"): ("0.3869", "V"),
        ("mee-nbs-fossil", 2021, "national"): ("0.8426", "V"),
        ("mee-nbs-excluding-market-non-fossil", 2023, "national"): ("0.6096", "V"),
        ("mee-nbs-average", 2022, "anhui"): ("0.6782", "V"),
        ("mee-nbs-average", 2022, "jiangsu"): ("0.5978", "T"),
        ("mee-nbs-average", 2023, "shanghai"): ("0.5737", "T"),
        ("national-ets-reporting", 2022, "national"): ("0.5703", "V"),
    }
    for (series, year, region), (value, tag) in expected.items():
        factor = grid_factor(series, year, region)
        assert (str(factor.value), factor.tag, factor.unit) == (value, tag, "tCO2/MWh")
        assert factor.source
    # DOMAIN.md section 4: 3 national averages, 2 + 3 other national series, 14 regional, 6 + 3 provincial, 1 ETS.
    assert len(grid_factors()) == 32
    rows = list(csv.DictReader(io.StringIO(read_text(GRID_FACTORS_FILE))))
    assert all(row["note"].startswith("unverified") for row in rows if row["tag"] == "T")
    assert all(not row["note"] for row in rows if row["tag"] == "V")


def test_an_unknown_factor_is_refused_with_what_exists() -> None:
    with pytest.raises(InvalidRequest, match=r"no grid emission factor mee-nbs-average/2019/east.*known: "):
        grid_factor("mee-nbs-average", 2019, "east")


def test_each_version_names_its_factor_and_tags_its_thresholds_as_placeholders() -> None:
    default = methodology()
    assert default.reference == "PV-DIST@1-EC2023"
    assert (default.grid_factor.series, default.grid_factor.data_year, default.grid_factor.region) == (
        "mee-nbs-average", 2023, "east")
    assert methodology("PV-DIST") == methodology("PV-DIST@") == methodology("") == default
    national = methodology("PV-DIST@1-CN2023")
    assert national.grid_factor.value == Decimal("0.5306")
    for version in versions():
        assert version.code == DISTRIBUTED_PV
        names = {parameter.name for parameter in version.parameters}
        assert names == {"clear_sky_margin", "low_light_allowance_w_m2", "capacity_tolerance", "peer_z_threshold"}
        assert all(parameter.tag == "R" and parameter.note for parameter in version.parameters)
    described = default.describe()
    assert described["grid_factor"]["tco2_per_mwh"] == 0.55
    assert described["grid_factor"]["source"].startswith("MEE & NBS")


@pytest.mark.parametrize("reference", ["PV-DIST@9", "EV-CHARGE@1", "pv-dist@1-EC2023"])
def test_an_unknown_methodology_is_refused_with_the_known_versions(reference: str) -> None:
    with pytest.raises(InvalidRequest, match="PV-DIST@1-EC2023, PV-DIST@1-CN2023"):
        methodology(reference)


def test_reductions_are_whole_kilograms_rounded_down_exactly() -> None:
    factor = Decimal("0.5306")
    # 15,000 kWh × 0.5306 t/MWh is 7,959 kg exactly; in binary floating point it is 7958.999999999999.
    assert 15_000.0 * 0.5306 < 7959
    assert reduction_kg(15_000.0, factor) == 7959
    assert reduction_kg(15_000.001, factor) == 7959
    assert reduction_kg(1.884, factor) == 0  # 0.9996 kg: not a whole kilogram
    assert reduction_kg(0.0, factor) == 0
    assert reduction_kg(-3.0, factor) == 0


def test_float_noise_of_a_sum_of_intervals_cannot_cost_a_kilogram() -> None:
    accepted = 0.0
    for _ in range(20_000):  # 20,000 intervals of 0.55 kWh: 11,000 kWh
        accepted += 0.55
    assert accepted < 11_000  # 10999.999999998197
    assert methodology().reduction_kg(accepted) == 6_050  # 11,000 kWh × 0.5500 kg/kWh
