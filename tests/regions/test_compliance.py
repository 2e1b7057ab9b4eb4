"""Compliance surrender under a region's rules, tested at their boundaries: at the cap, and one unit over."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient

from tanhui.api.app import create_app
from tanhui.config import Settings
from tanhui.errors import Conflict, InvalidRequest
from tanhui.journal.audit import verify
from tanhui.regions import compliance
from tanhui.regions.catalogue import region, regions, same_area
from tanhui.regions.offsetting import OffsetRefused
from tanhui.registry import ledger
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World, balance, invariant_problems, serial_range, snapshot


def obligation(world: World, region_code: str, year: int, emissions: int) -> int:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        row = compliance.record_obligation(tx, world.operator, organization_id=world.buyer_org, region=region_code,
                                           compliance_year=year, verified_emissions_kg=emissions)
        tx.commit()
    return int(row["id"])


def surrender(world: World, obligation_id: int, **asked: object) -> None:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        compliance.surrender(tx, world.operator, obligation_id=obligation_id, account_id=world.buyer_account,
                             **asked)  # type: ignore[arg-type]
        tx.commit()


def refused(world: World, obligation_id: int, message: str, **asked: object) -> None:
    before = snapshot(world.engine)
    with pytest.raises(OffsetRefused, match=message):
        surrender(world, obligation_id, **asked)
    assert snapshot(world.engine) == before


def project_in(world: World, region_code: str, methodology: str) -> int:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        row = ledger.register_project(tx, world.operator, name=f"{region_code} project", methodology=methodology,
                                      owner_organization_id=world.owner_org, region=region_code)
        tx.commit()
    return int(row["id"])


def credits_to_buyer(world: World, project: int, quantity: int, vintage: int = 2024) -> ledger.ActResult:
    issued = world.act(world.operator, "issue", registry="TH", project_id=project, vintage=vintage,
                       period_start=date(vintage, 1, 1), period_end=date(vintage, 12, 31), quantity=quantity,
                       account_id=world.owner_account, credit_type="PHCER")
    world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
              serial_range=serial_range(issued, 1, quantity))
    return issued


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, world_factory: Callable[..., World]) -> World:
    return world_factory(request.param)


def test_the_seed_story_a_wujiang_enterprise_surrenders_500_t_from_the_park_exactly_at_the_cap(world: World) -> None:
    credits_to_buyer(world, world.project, 600_000)  # the world's project is a SIP PV project
    # 10,000 t verified emissions × 5 % (Wujiang's placeholder cap) = 500 t; SIP is outside Wujiang.
    duty = obligation(world, "WUJIANG", 2025, 10_000_000)
    surrender(world, duty, quantity=500_000)
    refused(world, duty, r"500,001 kgCO2e would exceed the cap of 500,000 .* 0 may still be surrendered", quantity=1)
    view = compliance.obligation_view(world.engine.connect(), duty)
    assert (view["surrendered_kg"], view["surrendered_outside_kg"], view["remaining_kg"]) == (500_000, 500_000, 0)
    assert balance(world.engine, world.buyer_account) == (100_000, 0)
    assert invariant_problems(world.engine) == [] and verify(world.engine).ok


def test_the_cap_rounds_down_and_counts_every_surrender_of_the_year(world: World) -> None:
    credits_to_buyer(world, world.project, 600_000)
    duty = obligation(world, "WUJIANG", 2025, 10_000_019)  # × 0.05 = 500,000.95 → a cap of 500,000
    surrender(world, duty, quantity=300_000)
    refused(world, duty, "would exceed the cap of 500,000.*200,000 may still be surrendered", quantity=200_001)
    surrender(world, duty, quantity=200_000)


def test_beijing_caps_credits_from_outside_at_half_the_cap(world: World) -> None:
    credits_to_buyer(world, world.project, 30_000)            # SIP credits: outside Beijing
    inside = credits_to_buyer(world, project_in(world, "BEIJING", "LIGHT-EFF"), 30_000)
    duty = obligation(world, "BEIJING", 2025, 1_000_000)      # cap 5 % = 50,000; outside 2.5 % = 25,000
    refused(world, duty, "25,001 kgCO2e from outside the region would exceed its cap of 25,000", quantity=25_001)
    surrender(world, duty, quantity=25_000)
    surrender(world, duty, serial_range=serial_range(inside, 1, 25_000))
    refused(world, duty, "50,001 kgCO2e would exceed the cap of 50,000",
            serial_range=serial_range(inside, 25_001, 25_001))


def test_wuhan_refuses_outside_credits_other_methodologies_and_old_vintages(world: World) -> None:
    credits_to_buyer(world, world.project, 1_000)  # SIP
    charging = credits_to_buyer(world, project_in(world, "WUHAN", "EV-CHARGE"), 1_000)
    old = credits_to_buyer(world, project_in(world, "WUHAN", "PV-DIST"), 1_000, vintage=2021)
    duty = obligation(world, "WUHAN", 2024, 10_000_000)
    refused(world, duty, "SIP PHCER PV-DIST vintage 2024: WUHAN accepts no credits from outside the region",
            quantity=500)
    refused(world, duty, r"EV-CHARGE vintage 2024: methodology not accepted \(accepted: PV-DIST, TRAVEL-LOW\)",
            serial_range=serial_range(charging, 1, 10))
    refused(world, duty, "vintage 2021: vintage outside 2022-2024", serial_range=serial_range(old, 1, 10))


def test_bad_obligations_and_surrenders_are_refused(world: World) -> None:
    duty = obligation(world, "WUJIANG", 2025, 1_000_000)
    before = snapshot(world.engine)
    with pytest.raises(Conflict, match="already recorded"):
        obligation(world, "WUJIANG", 2025, 5)
    with pytest.raises(InvalidRequest, match="CHUZHOU has no offsetting rules for compliance year 2025"):
        obligation(world, "CHUZHOU", 2025, 5)
    with pytest.raises(InvalidRequest, match="unknown region 'MARS'"):
        obligation(world, "MARS", 2025, 5)
    with pytest.raises(InvalidRequest, match="positive whole number"):
        obligation(world, "WUJIANG", 2026, 0)
    with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(InvalidRequest, match="not the emitter"):
        compliance.surrender(tx, world.operator, obligation_id=duty, account_id=world.owner_account, quantity=1)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(Exception, match="only the registry"):
        compliance.surrender(tx, world.buyer, obligation_id=duty, account_id=world.buyer_account, quantity=1)
    assert snapshot(world.engine) == before


def test_every_seed_region_is_there_with_tagged_rules() -> None:
    assert {"SIP", "WUJIANG", "WUHAN", "CHUZHOU", "CHENGDU", "JIAXING", "HAILING", "QUZHOU", "HEFEI"} <= set(regions())
    assert region("SIP").parent == "JIANGSU" and not same_area("SIP", "WUJIANG") and same_area("SIP", "JIANGSU")
    beijing = region("BEIJING").rules_for(2025)
    assert (str(beijing.cap_share.value), beijing.cap_share.tag) == ("0.05", "V")
    for known in regions().values():
        for rules in known.rules:
            for figure in (rules.cap_share, rules.outside_cap_share, rules.vintage_years):
                assert figure.tag in ("V", "R") and figure.source and (figure.tag == "V" or figure.note)


def test_the_regulator_exports_the_year_and_the_public_reads_the_rules(world: World) -> None:
    credits_to_buyer(world, world.project, 1_000)
    duty = obligation(world, "WUJIANG", 2025, 1_000_000)
    surrender(world, duty, quantity=700)
    settings = Settings(database_url=world.engine.url.render_as_string(hide_password=False))
    with TestClient(create_app(settings, engine=world.engine)) as client:
        token = client.post("/api/v1/auth/token", data={"username": "operator", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        exported = client.get("/api/v1/compliance/surrenders.csv?region=WUJIANG&compliance_year=2025",
                              headers=headers)
        assert exported.status_code == 200, exported.text
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["organization"], r["quantity_kg"], r["outside_region_kg"], r["cap_kg"]) for r in rows] == [
            ("Org buyer", "700", "700", "50000")]
        assert rows[0]["serials"].startswith("TH1.SIP.PHCER.P")
        assert rows[0]["surrendered_at"].endswith("+00:00")  # the surrender's own time, in UTC
        assert client.get("/api/v1/public/regions/WUHAN").json()["parent"] == "HUBEI"
        assert client.get("/api/v1/public/regions/ATLANTIS").status_code == 404
        small = obligation(world, "WUJIANG", 2026, 4_000)  # a cap of 200
        refused_body = client.post("/api/v1/compliance/surrenders", headers=headers,
                                   json={"obligation_id": small, "account_id": world.buyer_account, "quantity": 300})
        assert refused_body.status_code == 422 and refused_body.json()["type"] == "/problems/offset-refused"
