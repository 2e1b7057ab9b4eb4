"""Every write endpoint refuses the anonymous (401), other organisations and viewers (403); its role acts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tanhui.accounts.credit_report import profile_json
from tanhui.finance.loans import product_json
from tanhui.finance.products import example
from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.projects import declarations as declaring
from tanhui.projects import reports
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World, snapshot
from tests.finance.profiles import profile
from tests.mrv.test_mrv_registry import SiteSpec, register, write_report
from tests.points.world import walk_setup
from tests.projects.test_mrv_reports import upload as mrv_upload
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str, tmp_path: Path) -> Iterator[Api]:
    with serving(world, database_url, data_dir=tmp_path / "data") as api:
        yield api


@dataclass
class Case:
    """One write endpoint: who may call it, someone of another organisation who may not, and the request."""

    route: str
    right: Principal
    other: Principal | None
    body: Callable[[], dict[str, Any] | None]
    path: Callable[[], str] | None = None
    files: dict[str, Any] | None = None


def _viewers(world: World) -> dict[int, Principal]:
    """A viewer-role user in each organisation that acts below: they may read but never write."""
    viewers = {}
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        for org, kind, name in ((world.operator_org, "operator", "operator"),
                                (world.owner_org, "project_owner", "owner"),
                                (world.buyer_org, "buyer", "buyer"),
                                (world.bank_org, "bank", "bank")):
            identity.create_user(tx, world.operator, organization_id=org, username=f"{name}-viewer",
                                 password=PASSWORD, role="viewer")
            viewers[org] = Principal(f"user:{name}-viewer", org, kind, "viewer")
        tx.commit()
    return viewers


EV = {"pile_count": 1, "separately_metered": True}


def _ev_data(month: int) -> bytes:
    return f"charger_id,period_start,period_end,charged_kwh\nC1,2024-{month:02}-01,2024-{month:02}-20,100\n".encode()


def _lifecycle(world: World, data_dir: Path, viewers: dict[int, Principal],
               monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Declarations and reports in the states the walk's lifecycle endpoints act on, and a verifier."""
    op = world.operator
    with UnitOfWork(world.engine, op.actor) as tx:
        verifier_org = identity.create_organization(tx, op, name="Verifier", kind="verifier")["id"]
        for name, role in (("verifier-admin", "admin"), ("verifier-viewer", "viewer")):
            identity.create_user(tx, op, organization_id=verifier_org, username=name, password=PASSWORD, role=role)
        ids = {name: declaring.declare(tx, world.owner, name=name, owner_organization_id=world.owner_org,
                                       methodology="EV-CHARGE", region="SIP", design=EV)["id"]
               for name in ("edit", "announce", "approve", "reject", "reported")}
        ids["metered"] = declaring.declare(tx, world.owner, name="Rooftops", owner_organization_id=world.owner_org,
                                           methodology="PV-DIST", region="SIP",
                                           design={"max_grid_connection_kw": 450, "site_count": 1})["id"]
        for name in ("announce", "approve", "reject", "reported", "metered"):
            declaring.submit(tx, world.owner, ids[name])
        for name in ("approve", "reported", "metered"):
            declaring.announce(tx, op, ids[name], days=1)
        tx.commit()
    viewers[verifier_org] = Principal("user:verifier-viewer", verifier_org, "verifier", "viewer")
    verifier = Principal("user:verifier-admin", verifier_org, "verifier", "admin")
    monkeypatch.setattr(declaring, "utcnow", lambda: utcnow() + timedelta(days=2))  # the announcements end
    with UnitOfWork(world.engine, op.actor) as tx:
        project = declaring.approve(tx, op, ids["reported"])["project_id"]
        metered = declaring.approve(tx, op, ids["metered"])["project_id"]
        period = {"project_id": project, "verifier_organization_id": verifier_org}
        to_review, to_issue = (
            reports.submit_report(tx, world.owner, data_dir, period_start=date(2024, month, 1),
                                  period_end=date(2024, month, 20), data=_ev_data(month), **period)["id"]
            for month in (1, 2))
        reports.review(tx, verifier, to_issue, approve=True, findings=None)
        tx.commit()
    register(world.engine, op, [SiteSpec("M9", "Org project_owner")])
    return {**ids, "project": project, "metered": metered, "verifier": verifier, "verifier_org": verifier_org,
            "review": to_review, "issue": to_issue}


def test_every_write_endpoint_checks_who_acts(api: Api, world: World, subtests: pytest.Subtests, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    viewers = _viewers(world)
    made: dict[str, int] = {}
    life = _lifecycle(world, tmp_path / "data", viewers, monkeypatch)
    verifier = life["verifier"]
    points = walk_setup(world, monkeypatch)
    resident, aggregator = points["resident"], points["aggregator"]
    viewers |= {resident.organization_id: points["resident_viewer"],
                aggregator.organization_id: points["aggregator_viewer"]}
    retire_account = {"organization_id": world.owner_org, "kind": "retirement", "name": "owner retirement"}
    cases = [
        Case("/organizations", world.operator, world.owner, lambda: {"name": "Org new", "kind": "buyer"}),
        Case("/organizations/{organization_id}/users", world.owner, world.buyer,
             lambda: {"username": "owner-rep", "password": PASSWORD, "role": "representative"},
             lambda: f"/organizations/{world.owner_org}/users"),
        Case("/accounts", world.owner, world.buyer, lambda: retire_account),
        Case("/projects", world.owner, world.buyer, lambda: {
            "name": "Chargers", "owner_organization_id": world.owner_org, "methodology": "EV-CHARGE",
            "region": "SIP"}),
        Case("/issuances", world.operator, world.owner, lambda: {
            "project_id": world.project, "vintage": 2024, "period_start": "2024-01-01",
            "period_end": "2024-12-31", "quantity": 1000, "account_id": world.owner_account}),
        Case("/transfers", world.owner, world.buyer, lambda: {
            "from_account_id": world.owner_account, "to_account_id": world.buyer_account, "quantity": 100}),
        Case("/retirements", world.owner, world.buyer, lambda: {
            "account_id": world.owner_account, "quantity": 10, "beneficiary": "Suzhou Widgets",
            "purpose": "2024 neutrality"}),
        Case("/cancellations", world.operator, world.owner, lambda: {
            "account_id": world.owner_account, "quantity": 10, "purpose": "compliance",
            "compliance_year": 2024}),
        Case("/pledges", world.owner, world.buyer, lambda: {
            "account_id": world.owner_account, "bank_organization_id": world.bank_org, "quantity": 50}),
        Case("/pledges/{pledge_id}/release", world.bank, world.buyer, lambda: None,
             lambda: f"/pledges/{made['pledge']}/release"),
        Case("/revocations", world.operator, world.owner, lambda: {
            "account_id": world.owner_account, "quantity": 5, "reason": "double-counted meter"}),
        Case("/mrv/sites", world.owner, world.buyer, lambda: [{
            "meter_id": "M1", "site_id": "S1", "owner": "Org project_owner", "capacity_kw": 10.0,
            "latitude": 31.3, "longitude": 120.72, "region": "SIP", "commissioned": "2023-05-01"}]),
        Case("/mrv/claims", world.owner, world.buyer, lambda: {
            "meter_id": "M1", "first_day": "2024-01-01", "last_day": "2024-01-31",
            "instrument": "green_certificate", "reference": "GEC-1"}),
        # An API key always belongs to the caller's own organisation, so there is no "other" to refuse.
        Case("/api-keys", world.owner, None, lambda: {"name": "meter gateway", "role": "representative"}),
        Case("/api-keys/{key_id}/revoke", world.owner, world.buyer, lambda: None,
             lambda: f"/api-keys/{made['key']}/revoke"),
        Case("/declarations", world.owner, world.buyer, lambda: {
            "name": "Chargers", "owner_organization_id": world.owner_org, "methodology": "EV-CHARGE",
            "region": "SIP", "design": EV}),
        Case("/declarations/{declaration_id}/edit", world.owner, world.buyer, lambda: {"design": EV},
             lambda: f"/declarations/{life['edit']}/edit"),
        Case("/declarations/{declaration_id}/attachments", world.owner, world.buyer, lambda: None,
             lambda: f"/declarations/{life['edit']}/attachments",
             files={"file": ("sites.csv", b"site_id,capacity_kw\nS1,40\n", "text/csv")}),
        Case("/declarations/{declaration_id}/submit", world.owner, world.buyer, lambda: None,
             lambda: f"/declarations/{life['edit']}/submit"),
        Case("/declarations/{declaration_id}/return", world.operator, world.owner, lambda: {"reason": "site list"},
             lambda: f"/declarations/{life['edit']}/return"),
        Case("/declarations/{declaration_id}/announce", world.operator, world.owner, lambda: {"days": 7},
             lambda: f"/declarations/{life['announce']}/announce"),
        Case("/declarations/{declaration_id}/approve", world.operator, world.owner, lambda: {},
             lambda: f"/declarations/{life['approve']}/approve"),
        Case("/declarations/{declaration_id}/reject", world.operator, world.owner, lambda: {"reason": "duplicate"},
             lambda: f"/declarations/{life['reject']}/reject"),
        Case("/projects/{project_id}/reports", world.owner, world.buyer, lambda: {
            "period_start": "2024-03-01", "period_end": "2024-03-20", "verifier_organization_id": life["verifier_org"],
            "data": _ev_data(3).decode()}, lambda: f"/projects/{life['project']}/reports"),
        Case("/projects/{project_id}/reports/mrv", world.owner, world.buyer,
             lambda: {"verifier_organization_id": str(life["verifier_org"])},
             lambda: f"/projects/{life['metered']}/reports/mrv", files=mrv_upload(
                 write_report(tmp_path / "mrv", [SiteSpec("M9", "Org project_owner")]))),
        Case("/reports/{report_id}/review", verifier, world.owner, lambda: {"approve": True},
             lambda: f"/reports/{life['review']}/review"),
        Case("/reports/{report_id}/issue", world.operator, world.owner, lambda: {"account_id": world.owner_account},
             lambda: f"/reports/{life['issue']}/issue"),
        Case("/compliance/obligations", world.operator, world.owner, lambda: {
            "organization_id": world.buyer_org, "region": "WUJIANG", "compliance_year": 2025,
            "verified_emissions_kg": 1_000_000}),
        Case("/compliance/surrenders", world.operator, world.owner, lambda: {
            "obligation_id": made["obligation"], "account_id": world.buyer_account, "quantity": 10}),
        Case("/organizations/{organization_id}/region", world.operator, world.owner, lambda: {"region": "WUHAN"},
             lambda: f"/organizations/{world.buyer_org}/region"),
        Case("/cross-regional-transfers", world.owner, world.buyer, lambda: {
            "from_account_id": world.owner_account, "to_account_id": world.buyer_account, "quantity": 10}),
        Case("/cross-regional-transfers/{transfer_id}/decide", world.operator, world.owner,
             lambda: {"approve": True}, lambda: f"/cross-regional-transfers/{made['crossing']}/decide"),
        Case("/points/events", world.operator, world.owner, lambda: {
            "resident_id": resident.organization_id, "source": "walk", "event_id": "walk-new",
            "behaviour": "bus",
            "started_at": "2024-05-03T08:00:00+08:00", "ended_at": "2024-05-03T08:30:00+08:00",
            "distance_km": "4"}),
        Case("/points/events/{event_id}/reverse", world.operator, world.owner, lambda: {"reason": "car GPS"},
             lambda: f"/points/events/{points['reverse']}/reverse"),
        Case("/points/expire", world.operator, world.owner, lambda: {"as_of": "2025-01-01T00:00:00+00:00"}),
        Case("/points/catalogue", world.operator, world.owner, lambda: {
            "code": "WALK", "name_zh": "步行奖", "name_en": "Walk prize", "price_g": 100, "stock": 1}),
        Case("/points/catalogue/{code}/restock", world.operator, world.owner, lambda: {"added": 1},
             lambda: "/points/catalogue/WALK/restock"),
        Case("/points/redemptions", resident, world.owner, lambda: {
            "resident_id": resident.organization_id, "code": "WALK"}),
        Case("/points/rebates", resident, world.owner, lambda: {
            "resident_id": resident.organization_id, "rebate_fen": 100, "loan_reference": "GL-walk"}),
        Case("/points/residents/{resident_id}/choices", resident, world.owner, lambda: {"leaderboard": False},
             lambda: f"/points/residents/{resident.organization_id}/choices"),
        Case("/points/packages", aggregator, world.owner, lambda: {
            "project_id": points["project"], "period_start": "2024-05-01", "period_end": "2024-05-31",
            "verifier_organization_id": points["verifier"]}),
        Case("/carbon-accounts/holders", world.operator, world.owner, lambda: {
            "reference": "QZ-001", "kind": "enterprise", "name": "Quzhou Cement", "region": "QUZHOU",
            "area": "industry", "unified_social_credit_code": "91330800MA2X0K4L1F", "industry_code": "C3011"}),
        Case("/carbon-accounts/economics", world.operator, world.owner, lambda: {
            "reference": "QZ-001", "period_start": "2023-01-01", "period_end": "2023-12-31",
            "value_added_10k_yuan": "300", "source": "statistics bureau"}),
        Case("/carbon-accounts/records", world.operator, world.owner, lambda: {
            "reference": "QZ-001", "energy_type": "electricity", "unit": "kWh", "quantity": "1000",
            "period_start": "2023-01-01", "period_end": "2023-01-31", "source": "bill"}),
        Case("/carbon-accounts/holders/{holder_id}/meters", world.operator, world.owner, lambda: {"meter_id": "QZ-M1"},
             lambda: f"/carbon-accounts/holders/{made['holder']}/meters"),
        Case("/carbon-accounts/imports/{kind}", world.operator, world.owner, lambda: None,
             lambda: "/carbon-accounts/imports/records",
             files={"file": ("records.csv", b"reference,energy_type,unit,quantity,period_start,period_end,source\n"
                             b"QZ-001,diesel,t,1,2023-02-01,2023-02-28,declared\n", "text/csv")}),
        Case("/carbon-accounts/benchmarks/compute", world.operator, world.owner, lambda: {"year": 2023}),
        Case("/methodologies/{reference}/publish", world.operator, world.owner, lambda: None,
             lambda: "/methodologies/TRAVEL-LOW@1-SHENZHEN/publish"),
        Case("/methodologies/{reference}/supersede", world.operator, world.owner, lambda: {"by": "PV-DIST@1-EC2023"},
             lambda: "/methodologies/PV-DIST@1-CN2023/supersede"),
        # The buyer stands for the enterprise holding that carbon account.
        Case("/carbon-accounts/holders/{holder_id}/organization", world.operator, world.owner,
             lambda: {"organization_id": world.buyer_org},
             lambda: f"/carbon-accounts/holders/{made['holder']}/organization"),
        Case("/credit-reports", world.operator, world.owner, lambda: {
            "profile": profile_json(profile(holder_id=made["holder"], name="Quzhou Cement",
                                            unified_social_credit_code="91330800MA2X0K4L1F"))}),
        Case("/consents", world.buyer, world.owner, lambda: {
            "holder_id": made["holder"], "bank_organization_id": world.bank_org, "scope": "full", "days": 30}),
        Case("/consents/{consent_id}/revoke", world.buyer, world.owner, lambda: None,
             lambda: f"/consents/{made['consent']}/revoke"),
        Case("/finance/loan-products", world.bank, world.buyer, lambda: {
            "bank_organization_id": world.bank_org,
            "definition": product_json(example("QZ-INDUSTRIAL-CARBON-REDUCTION"))}),
    ]
    posts = {path.removeprefix("/api/v1") for path, methods in api.app.openapi()["paths"].items()
             if "post" in methods}
    # Logging in and commenting on a public announcement are open to anyone by design.
    public = {"/auth/token", "/public/announcements/{declaration_id}/comments"}
    assert {case.route for case in cases} == posts - public, "walk every write endpoint"

    for case in cases:
        with subtests.test(case.route):
            path = case.path() if case.path else case.route
            body = case.body()
            before = snapshot(world.engine)
            assert_problem(api.post(path, body, files=case.files), 401, "log in")
            if case.other is not None:
                assert_problem(api.post(path, body, who=case.other, files=case.files), 403)
            assert_problem(api.post(path, body, who=viewers[case.right.organization_id], files=case.files), 403)
            assert snapshot(world.engine) == before
            response = api.post(path, body, who=case.right, files=case.files)
            assert response.status_code in (200, 201), response.text
            result = response.json()
            if case.route == "/pledges":
                made["pledge"] = result["pledge"]["id"]
            if case.route == "/api-keys":
                made["key"] = result["id"]
            if case.route == "/compliance/obligations":
                made["obligation"] = result["id"]
            if case.route == "/cross-regional-transfers":
                made["crossing"] = result["id"]
            if case.route == "/carbon-accounts/holders":
                made["holder"] = result["id"]
            if case.route == "/consents":
                made["consent"] = result["id"]


def test_viewers_read_but_do_not_write(api: Api, world: World) -> None:
    viewer = _viewers(world)[world.owner_org]
    assert api.ok(api.get(f"/accounts/{world.owner_account}", who=viewer))["id"] == world.owner_account
    assert_problem(api.post("/transfers", {"from_account_id": world.owner_account,
                                           "to_account_id": world.buyer_account, "quantity": 1}, who=viewer),
                   403, "viewer role")


def test_reads_are_limited_to_the_callers_organisation(api: Api, world: World) -> None:
    retired = api.post("/retirements", {"account_id": world.owner_account, "quantity": 5, "beneficiary": "B",
                                        "purpose": "P"}, who=world.owner)
    assert_problem(retired, 409, "holds 0 available units")
    act = api.issue(100)
    assert_problem(api.get(f"/accounts/{world.owner_account}", who=world.buyer), 403, "another organisation")
    assert_problem(api.get(f"/accounts/{world.owner_account}/blocks", who=world.buyer), 403)
    assert_problem(api.get(f"/accounts/{world.owner_account}/statement", who=world.buyer), 403)
    assert_problem(api.get(f"/acts/{act['id']}", who=world.buyer), 403, "other organisations")
    assert_problem(api.get(f"/projects/{world.project}", who=world.buyer), 403)
    assert_problem(api.get(f"/organizations/{world.owner_org}", who=world.buyer), 403)
    assert_problem(api.get("/accounts/999999", who=world.buyer), 404, "account 999999 does not exist")
    assert [o["id"] for o in api.ok(api.get("/organizations", who=world.buyer))["items"]] == [world.buyer_org]
    assert {a["id"] for a in api.ok(api.get("/accounts", who=world.buyer))["items"]} == {world.buyer_account}
    assert len(api.ok(api.get("/accounts", who=world.operator))["items"]) == 3
    # The pledgee bank sees the pledge and its act, though it holds no account in it.
    pledged = api.ok(api.post("/pledges", {"account_id": world.owner_account,
                                           "bank_organization_id": world.bank_org, "quantity": 10},
                              who=world.owner))
    assert api.ok(api.get(f"/acts/{pledged['id']}", who=world.bank))["pledge"]["quantity"] == 10
    assert api.ok(api.get(f"/pledges/{pledged['pledge']['id']}", who=world.bank))["status"] == "active"
    assert_problem(api.get(f"/pledges/{pledged['pledge']['id']}", who=world.buyer), 403)
