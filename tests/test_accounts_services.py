"""Carbon accounts in the database: imports all-or-nothing, certificates deducted once, profiles by hand."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook

from tanhui.accounts import importing, meter_feed, register
from tanhui.accounts.periods import Period
from tanhui.accounts.profiles import compute_benchmarks, credit_profile, statement
from tanhui.errors import BadInput, Conflict, InvalidRequest, PermissionDenied
from tanhui.identity import services as identity
from tanhui.journal.audit import verify
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot

HOLDERS = """reference,kind,name,unified_social_credit_code,industry_code,region,area,organization_id
QZ-001,enterprise,Quzhou Cement,91330800MA2X0K4L1F,C3011,QUZHOU,industry,
QZ-002,enterprise,Quzhou Clinker,91330800MA2X0K4L2J,3012,QUZHOU,industry,
QZ-003,enterprise,Quzhou Glass,91330800MA2X0K4L3M,C3041,quzhou,industry,
QZ-010,public_institution,Quzhou No. 1 School,123308000025663724,P8331,QUZHOU,buildings,
"""
ECONOMICS = """reference,period_start,period_end,output_value_10k_yuan,value_added_10k_yuan,pollution_score,source
QZ-001,2023-01-01,2023-12-31,1000,300,95,statistics bureau
QZ-002,2023-01-01,2023-12-31,1000,200,,statistics bureau
QZ-003,2023-01-01,2023-12-31,500,100,,statistics bureau
QZ-001,2022-01-01,2022-12-31,900,250,,statistics bureau
"""
RECORDS = """reference,energy_type,unit,quantity,period_start,period_end,source,metered,area,certificate_id
QZ-001,electricity,kWh,100000,2023-01-01,2023-01-31,State Grid bill,true,,
QZ-001,natural_gas,10^4 Nm3,2,2023-02-01,2023-02-28,gas bill,true,,
QZ-001,green_electricity,kWh,20000,2023-01-01,2023-01-31,green certificate,false,,GEC-QZ-1
QZ-002,electricity,kWh,200000,2023-01-01,2023-01-31,State Grid bill,true,,
QZ-003,diesel,t,10,2023-03-01,2023-03-31,declared,false,transport,
QZ-001,electricity,kWh,100000,2022-06-01,2022-06-30,State Grid bill,true,,
"""


def _import(world: World, kind: str, data: bytes, filename: str = "") -> importing.Imported:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        done = importing.import_file(tx, world.operator, kind, data, filename)
        tx.commit()
    return done


@pytest.fixture
def quzhou(world: World) -> World:
    for kind, text in (("holders", HOLDERS), ("economics", ECONOMICS), ("records", RECORDS)):
        assert _import(world, kind, text.encode()).rows == text.count("\n") - 1
    return world


def _id(world: World, reference: str) -> int:
    with world.engine.connect() as conn:
        found = register.holder_by_reference(conn, reference)
        assert found is not None
        return int(found["id"])


def test_a_credit_profile_by_hand(quzhou: World) -> None:
    world = quzhou
    issued = world.issue(1000)
    assert issued.act["quantity"] == 1000
    world.act(world.owner, "retire", account_id=world.owner_account, beneficiary="Quzhou Cement",
              purpose="2023 neutrality", quantity=500, period_start=date(2023, 1, 1), period_end=date(2023, 12, 31))
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        made = compute_benchmarks(tx, world.operator, 2023)
        tx.commit()
    # QZ-001 2023 (Zhejiang 2023 grid 0.4974): 100,000 kWh → 49740; gas 2 × 21621.88809 = 43243.78 → 43244;
    # green 20,000 kWh → 9948 deducted: 83036 kg over 300 (10k yuan) = 0.27679 t/10k yuan.
    # QZ-002: 200,000 kWh → 99480 kg / 200 = 0.4974.  QZ-003: diesel 10 t → 30959 kg / 100 = 0.30959.
    by_key = {(b.industry, b.region): b for b in made}
    cement = by_key["C30", "QUZHOU"]
    assert cement.holders == 3 and cement.median == Fraction(30959, 100_000)  # the 2nd of 3
    assert cement.average == Fraction(83036 + 99480 + 30959, 600_000) == by_key["*", "QUZHOU"].average
    with world.engine.connect() as conn:
        profile = credit_profile(conn, _id(world, "QZ-001"), Period.parse("2023"))
    assert profile.emissions_kg == 83036 and profile.green_electricity_deducted_kg == 9948
    assert profile.emissions_by_scope_kg == {"scope1": 43244, "scope2": 39792}
    assert profile.retired_offsets_kg == 500  # shown, not netted
    assert profile.monthly_emissions_kg == (("2023-01", 39792), ("2023-02", 43244))
    assert profile.intensity_per_value_added == Fraction(83036, 300_000)
    assert profile.intensity_per_output_value == Fraction(83036, 1_000_000)
    assert profile.benchmark_intensity == cement.median
    # K = (83036/300000) / (213475/600000) = 166072/213475 = 0.778 → grade 2 (≤ 0.8)
    assert profile.carbon_efficiency is not None and profile.carbon_efficiency.outcome == "2"
    assert profile.carbon_efficiency.score == Fraction(166072, 213475)
    # industry 0.2768/0.30959 = 0.894 → 80; region K 0.778 → 100; history 0.2768 / (51530/250000 = 0.2061)
    # = 1.343 → 30: 0.5 × 80 + 0.25 × 100 + 0.25 × 30 = 72.5 → light green
    assert profile.label is not None and (profile.label.outcome, profile.label.score) == ("light_green",
                                                                                           Fraction("72.5"))
    # economy 0.3 → 80, energy 20000/100000 = 0.2 → 80, pollution 95 → 100, carbon 0.778 → 90:
    # 16 + 16 + 20 + 36 = 88 → AA
    assert profile.credit_rating is not None and profile.credit_rating.outcome == "AA"
    assert profile.credit_rating.score == 88
    assert profile.data_quality.records == 3 and profile.data_quality.metered_records == 2
    assert (profile.data_quality.months_covered, profile.data_quality.months_in_period) == (2, 12)
    assert {f.name for f in profile.factors} >= {"grid:zhejiang:2023", "fuel:natural_gas:NCV"}
    assert profile.industry_code == "C3011" and profile.region_code == "QUZHOU"
    report = verify(world.engine)  # every carbon-account write is in the journal, and the journal matches
    assert report.ok, report.problems


def test_bad_rows_are_named_and_nothing_is_imported(quzhou: World) -> None:
    world = quzhou
    before = snapshot(world.engine)
    bad = RECORDS.splitlines()[0] + "\n" + "\n".join([
        "QZ-002,electricity,kWh,5,2023-04-01,2023-04-30,State Grid bill,true,,",   # row 2: good
        "QZ-002,steam,t,5,2023-04-01,2023-04-30,x,true,,",                          # row 3: unknown type
        "QZ-002,diesel,t,-5,2023-04-01,2023-04-30,x,true,,",                        # row 4: negative
        "QZ-002,green_electricity,kWh,5,2023-04-01,2023-04-30,x,false,,GEC-QZ-1",   # row 5: certificate used
        "QZ-999,diesel,t,5,2023-04-01,2023-04-30,x,true,,",                         # row 6: no such holder
        "QZ-002,natural_gas,t,5,2023-04-01,2023-04-30,x,true,,",                    # row 7: wrong unit
        "QZ-002,electricity,kWh,5,2023-04-01,2023-04-30,State Grid bill,true,,",    # row 8: repeats row 2
        "QZ-002,diesel,t,5,2023-12-01,2024-01-31,x,true,,",                         # row 9: two years
    ]) + "\n"
    with pytest.raises(BadInput) as raised:
        _import(world, "records", bad.encode())
    detail = raised.value.detail
    for expected in ("row 3, column energy_type", "row 4, column quantity", "row 5, column certificate_id",
                     "row 6, column reference", "row 7, column unit", "row 8, column source: repeats row 2",
                     "row 9, column period_end"):
        assert expected in detail
    assert "row 2," not in detail
    assert snapshot(world.engine) == before


def test_holder_rules_and_one_certificate_once(quzhou: World) -> None:
    world = quzhou
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        individual = identity.create_organization(tx, world.operator, name="Li Lei", kind="individual")["id"]
        tx.commit()
    resident = {"reference": "QZ-R1", "kind": "resident", "name": "Li Lei", "region": "QUZHOU",
                "area": "daily_life", "organization_id": str(individual)}
    cases = [
        ({**resident, "organization_id": str(world.buyer_org)}, Conflict, "kind individual"),
        ({**resident, "unified_social_credit_code": "91350100M000100Y43"}, InvalidRequest, "a resident has none"),
        ({"reference": "QZ-9", "kind": "enterprise", "name": "X", "region": "QUZHOU", "area": "industry",
          "industry_code": "C30"}, InvalidRequest, "unified_social_credit_code: is required"),
        ({"reference": "QZ-9", "kind": "enterprise", "name": "X", "region": "QUZHOU", "area": "industry",
          "industry_code": "C30", "unified_social_credit_code": "91330800MA2X0K4L1F"}, Conflict, "already belongs"),
        ({**resident, "region": "ATLANTIS"}, InvalidRequest, "unknown region"),
    ]
    before = snapshot(world.engine)
    for fields, error, why in cases:
        with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(error, match=why):
            register.register_holder(tx, world.operator, fields)
    with UnitOfWork(world.engine, world.owner.actor) as tx, pytest.raises(PermissionDenied):
        register.register_holder(tx, world.owner, resident)
    assert snapshot(world.engine) == before
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        made = register.register_holder(tx, world.operator, resident)
        tx.commit()
    assert made["organization_id"] == individual and made["unified_social_credit_code"] is None
    green = {"reference": "QZ-002", "energy_type": "green_electricity", "unit": "kWh", "quantity": "10",
             "period_start": "2023-05-01", "period_end": "2023-05-31", "source": "another", "metered": "false",
             "certificate_id": "GEC-QZ-1"}
    with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(Conflict, match="already deducted"):
        register.add_record(tx, world.operator, green)
    assert snapshot(world.engine)["energy_records"] == before["energy_records"]


def test_xlsx_import_with_date_cells(world: World) -> None:
    _import(world, "holders", HOLDERS.encode())
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["reference", "energy_type", "unit", "quantity", "period_start", "period_end", "source",
                  "metered"])
    sheet.append(["QZ-003", "lpg", "t", 1.5, datetime(2023, 4, 1), datetime(2023, 4, 30), "declared", False])
    sheet.append([None] * 8)  # an empty row is skipped
    sheet.append(["QZ-003", "heat", "GJ", "0.15", date(2023, 5, 1), date(2023, 5, 31), "declared", "no"])
    data = io.BytesIO()
    book.save(data)
    assert _import(world, "records", data.getvalue(), "records.xlsx").rows == 2
    with world.engine.connect() as conn:
        accounted = statement(conn, _id(world, "QZ-003"), Period.parse("2023")).accounting
    # LPG 1.5 t × 3101.329821 = 4651.99 → 4652; heat 0.15 GJ × 110 = 16.5 → 17
    assert [line.kg for line in accounted.lines] == [4652, 17]
    sheet.append(["QZ-003", "lpg", "t", "x", date(2023, 6, 1), date(2023, 6, 30), "declared", False])
    data = io.BytesIO()
    book.save(data)
    with pytest.raises(BadInput, match="row 5, column quantity") as raised:
        _import(world, "records", data.getvalue(), "records.xlsx")
    assert "row 2" in raised.value.detail  # the rows already imported are duplicates now


def _intervals(path: Path) -> Path:
    """A verify output's intervals.parquet: meter M1 over local 31 Jan 23:00 - 1 Feb 01:00, and meter M9."""
    start = datetime(2023, 1, 31, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    ts = [start + timedelta(minutes=15 * i) for i in range(8)]
    frame = pl.DataFrame({
        "meter_id": ["M1"] * 8 + ["M9"],
        "ts": [*ts, start],
        "kwh": [1.25] * 9,
        "flags": [[]] * 3 + [["gap"]] + [[]] * 5,
        "accepted_kwh": [1.25, 1.25, 1.25, 0.0, 1.25, 1.25, 1.25, 1.25, 1.25],
    }, schema_overrides={"ts": pl.Datetime("us", "UTC"), "flags": pl.List(pl.String)})
    frame.write_parquet(path / "intervals.parquet")
    return path


def test_meter_months_from_a_verify_output(quzhou: World, tmp_path: Path) -> None:
    world = quzhou
    holder_id = _id(world, "QZ-002")
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        register.link_meter(tx, world.operator, holder_id=holder_id, meter_id="M1")
        tx.commit()
    out = _intervals(tmp_path)
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        ids = meter_feed.feed(tx, world.operator, out)
        tx.commit()
    assert len(ids) == 2  # January's last hour and February's first; M9 is linked to no holder
    with world.engine.connect() as conn:
        jan = statement(conn, holder_id, Period.parse("2023-01")).accounting
        feb = statement(conn, holder_id, Period.parse("2023-02")).accounting
    fed = [line for line in jan.lines if line.record.source == "mrv:M1"]
    # 23:00-24:00 local: 4 intervals, one flagged: 3 × 1.25 = 3.75 kWh; × 0.4974 = 1.86525 → 2 kg
    assert [(str(line.record.quantity), line.record.period_start, line.kg) for line in fed] == [
        ("3.75", date(2023, 1, 31), 2)]
    # 00:00-01:00 on 1 Feb: 4 × 1.25 = 5 kWh; × 0.4974 = 2.487 → 2 kg
    assert [(str(line.record.quantity), line.record.metered) for line in feb.lines] == [("5", True)]
    before = snapshot(world.engine)
    with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(Conflict, match="already fed"):
        meter_feed.feed(tx, world.operator, out)
    assert snapshot(world.engine) == before
    with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(Conflict, match="already feeds"):
        register.link_meter(tx, world.operator, holder_id=_id(world, "QZ-001"), meter_id="M1")
