"""Every write endpoint refuses the anonymous (401), other organisations and viewers (403); its role acts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World, snapshot
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[Api]:
    with serving(world, database_url) as api:
        yield api


@dataclass
class Case:
    """One write endpoint: who may call it, someone of another organisation who may not, and the request."""

    route: str
    right: Principal
    other: Principal | None
    body: Callable[[], dict[str, Any] | None]
    path: Callable[[], str] | None = None


def _viewers(world: World) -> dict[int, Principal]:
    """A viewer-role user in each organisation that acts below: they may read but never write."""
    viewers = {}
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        for org, kind, name in ((world.operator_org, "operator", "operator"),
                                (world.owner_org, "project_owner", "owner"),
                                (world.bank_org, "bank", "bank")):
            identity.create_user(tx, world.operator, organization_id=org, username=f"{name}-viewer",
                                 password=PASSWORD, role="viewer")
            viewers[org] = Principal(f"user:{name}-viewer", org, kind, "viewer")
        tx.commit()
    return viewers


def test_every_write_endpoint_checks_who_acts(api: Api, world: World, subtests: pytest.Subtests) -> None:
    viewers = _viewers(world)
    made: dict[str, int] = {}
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
    ]
    posts = {path.removeprefix("/api/v1") for path, methods in api.app.openapi()["paths"].items()
             if "post" in methods}
    assert {case.route for case in cases} == posts - {"/auth/token"}, "walk every write endpoint"

    for case in cases:
        with subtests.test(case.route):
            path = case.path() if case.path else case.route
            body = case.body()
            before = snapshot(world.engine)
            assert_problem(api.post(path, body), 401, "log in")
            if case.other is not None:
                assert_problem(api.post(path, body, who=case.other), 403)
            assert_problem(api.post(path, body, who=viewers[case.right.organization_id]), 403)
            assert snapshot(world.engine) == before
            response = api.post(path, body, who=case.right)
            assert response.status_code in (200, 201), response.text
            result = response.json()
            if case.route == "/pledges":
                made["pledge"] = result["pledge"]["id"]
            if case.route == "/api-keys":
                made["key"] = result["id"]


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
