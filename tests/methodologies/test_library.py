"""The methodology library's contract: reference figures with sources, templates, applicability, bad data refused."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tanhui.errors import BadInput, InvalidRequest, NotApplicable
from tanhui.methodologies.catalogue import MODULES, find, versions
from tanhui.methodologies.monitoring_data import parse_design, parse_rows, template_csv
from tanhui.reference import fuel_factor


def test_every_version_has_bilingual_titles_schemas_and_sourced_parameters() -> None:
    assert {m.code for m in versions()} == set(MODULES) == {
        "PV-DIST", "EV-CHARGE", "LIGHT-EFF", "WETLAND-SEQ", "TRAVEL-LOW"}
    for methodology in versions():
        assert methodology.title_zh and methodology.title_en and methodology.formula
        assert methodology.monitoring_fields and methodology.design_fields and methodology.conditions
        for parameter in methodology.parameters.values():
            assert parameter.tag in ("V", "T", "R") and parameter.source and parameter.unit
            # Placeholders say so, and unverified figures say they are.
            assert parameter.tag != "R" or parameter.note or parameter.source.endswith("platform engineering choice")
            assert parameter.tag != "T" or parameter.note.startswith("unverified")
    assert len({m.reference for m in versions()}) == len(versions())
    assert sum(m.default for m in versions()) == len(MODULES)


def test_the_ev_version_takes_gasoline_from_the_fuel_file() -> None:
    ev = find("EV-CHARGE")
    gasoline = fuel_factor("gasoline")
    assert (ev.value("fuel_ncv"), ev.parameters["fuel_ncv"].tag) == (gasoline.ncv, "T")
    assert gasoline.tco2_per_unit == Fraction("2.92505598")  # 43.070 × 18.9 × 0.98 × 44 / 12,000
    with pytest.raises(InvalidRequest, match=r"no fuel 'kerosene'.*known: gasoline"):
        fuel_factor("kerosene")


def test_a_template_is_the_header_that_parsing_expects() -> None:
    for methodology in versions():
        header = template_csv(methodology)
        assert header.count("\n") == 1
        with pytest.raises(BadInput, match="no data rows"):
            parse_rows(methodology, header)


@pytest.mark.parametrize(("design", "failure"), [
    ({"max_grid_connection_kw": "5999.9", "site_count": 40}, None),
    ({"max_grid_connection_kw": 6000, "site_count": 40}, "below 6 MW: max_grid_connection_kw is 6000, must be < 6000"),
])
def test_pv_applies_only_below_six_megawatts_per_connection(design: dict[str, object], failure: str | None) -> None:
    pv = find("PV-DIST")
    parsed = parse_design(pv, design)
    if failure is None:
        pv.check_applicability(parsed)
    else:
        with pytest.raises(NotApplicable, match=failure):
            pv.check_applicability(parsed)


def test_every_failed_condition_is_named_at_once() -> None:
    wetland = find("WETLAND-SEQ")
    design = parse_design(wetland, {"area_ha": 0, "ecosystem": "mangrove", "tenure_documented": False})
    with pytest.raises(NotApplicable) as raised:
        wetland.check_applicability(design)
    assert "area_ha is 0, must be > 0" in raised.value.detail
    assert "tenure_documented is false, must be == true" in raised.value.detail


@pytest.mark.parametrize(("design", "message"), [
    ({"pile_count": 0, "separately_metered": True}, "pile_count: 0 is below the smallest allowed value 1"),
    ({"pile_count": 2.5, "separately_metered": True}, "pile_count: '2.5' is not a whole number"),
    ({"pile_count": 2, "separately_metered": "maybe"}, "separately_metered: 'maybe' is not true or false"),
    ({"pile_count": 2, "separately_metered": True, "colour": "red"}, "unknown design field.*colour"),
    ({"separately_metered": True}, "pile_count is empty"),
])
def test_a_malformed_design_is_refused_naming_the_field(design: dict[str, object], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_design(find("EV-CHARGE"), design)


@pytest.mark.parametrize(("text", "message"), [
    ("charger_id,period_start,charged_kwh\nC1,2024-01-01,5\n", "missing column.*period_end"),
    ("charger_id,period_start,period_end,charged_kwh,colour\n", "unknown column.*colour"),
    ("charger_id,period_start,period_end,charged_kwh\nC1,2024-01-01,2024-01-31,-5\n",
     "row 2: charged_kwh: -5 is below the smallest allowed value 0"),
    ("charger_id,period_start,period_end,charged_kwh\nC1,2024-01-01,2024-01-31,5\nC2,2024-02-30,2024-03-01,x\n",
     "2 problem.*row 3: period_start: '2024-02-30' is not a date.*row 3: charged_kwh: 'x' is not a number"),
    ("charger_id,period_start,period_end,charged_kwh\nC1,2024-01-01,2024-01-31,1e30\n",
     "'1e30' is not a plausible figure in kWh"),
    ("charger_id,period_start,period_end,charged_kwh\nC1,2024-01-01,2024-01-31,NaN\n", "'NaN' is not a plausible"),
    ("charger_id,period_start,period_end,charged_kwh\nC1,2024-01-01,2024-01-31,5,6\n", "more cells than columns"),
    ("charger_id,period_start,period_end,charged_kwh\n,2024-01-01,2024-01-31,5\n", "row 2: charger_id is empty"),
])
def test_bad_monitoring_data_is_refused_whole_naming_rows(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_rows(find("EV-CHARGE"), text)


def test_rows_that_the_calculation_cannot_count_are_refused_naming_them() -> None:
    shenzhen = find("TRAVEL-LOW@1-SHENZHEN")
    rows = parse_rows(shenzhen, "participant_id,date,mode,trips,km\nr1,2024-03-01,bus,3,\nr2,2024-03-01,metro,2,\n")
    with pytest.raises(BadInput, match=r"row 2: mode 'bus' is not counted.*\(counted: e_bus, metro\).*"
                                       r"row 3: mode metro is counted in km, which is empty"):
        shenzhen.reductions(rows)
    lighting = find("LIGHT-EFF")
    rows = parse_rows(lighting, "fixture_group,period_start,period_end,method,baseline_kwh\n"
                                "a,2024-01-01,2024-01-31,metered,100\n")
    with pytest.raises(BadInput, match="row 2: metered needs project_kwh"):
        lighting.reductions(rows)


def test_unknown_methodologies_and_versions_list_what_exists() -> None:
    with pytest.raises(InvalidRequest, match=r"unknown methodology 'SOLAR'.*known: PV-DIST, EV-CHARGE"):
        find("SOLAR")
    with pytest.raises(InvalidRequest,
                       match=r"unknown version 'TRAVEL-LOW@2'.*TRAVEL-LOW@1-WUHAN, TRAVEL-LOW@1-SHENZHEN"):
        find("TRAVEL-LOW@2")
