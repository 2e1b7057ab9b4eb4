"""Transfers across regions through the API: the seed-000 story end to end, and the approval path via escrow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tanhui.api.app import create_app
from tanhui.config import Settings
from tanhui.journal.audit import verify
from tests.factories import PASSWORD, World, balance, invariant_problems, snapshot


class Api:
    def __init__(self, world: World, client: TestClient) -> None:
        self.world, self.client = world, client
        self.tokens = {name: self._login(name) for name in ("operator", "project-owner-admin", "buyer-admin")}

    def _login(self, username: str) -> dict[str, str]:
        token = self.client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def post(self, who: str, path: str, body: Any) -> Any:
        return self.client.post(f"/api/v1{path}", headers=self.tokens[who], json=body)

    def ok(self, who: str, path: str, body: Any, status: int = 201) -> Any:
        response = self.post(who, path, body)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, world_factory: Callable[..., World]) -> Iterator[Api]:
    world = world_factory(request.param)
    settings = Settings(database_url=world.engine.url.render_as_string(hide_password=False))
    with TestClient(create_app(settings, engine=world.engine)) as client:
        api = Api(world, client)
        api.ok("operator", f"/organizations/{world.owner_org}/region", {"region": "SIP"}, 200)
        api.ok("operator", "/issuances", {"project_id": world.project, "vintage": 2024,
                                          "period_start": "2024-01-01", "period_end": "2024-12-31",
                                          "quantity": 1_000_000, "account_id": world.owner_account})
        yield api


def test_seed_000_a_wujiang_enterprise_buys_500_t_from_the_park_and_surrenders_them(api: Api) -> None:
    w = api.world
    api.ok("operator", f"/organizations/{w.buyer_org}/region", {"region": "WUJIANG"}, 200)
    # Wujiang admits credits from outside freely: an ordinary transfer.
    api.ok("project-owner-admin", "/transfers", {"from_account_id": w.owner_account,
                                                 "to_account_id": w.buyer_account, "quantity": 500_000})
    duty = api.ok("operator", "/compliance/obligations", {"organization_id": w.buyer_org, "region": "WUJIANG",
                                                          "compliance_year": 2025,
                                                          "verified_emissions_kg": 10_000_000})
    done = api.ok("operator", "/compliance/surrenders", {"obligation_id": duty["id"],
                                                         "account_id": w.buyer_account, "quantity": 500_000})
    assert (done["surrendered_kg"], done["surrendered_outside_kg"], done["remaining_kg"]) == (500_000, 500_000, 0)
    assert balance(w.engine, w.buyer_account) == (0, 0)
    assert invariant_problems(w.engine) == [] and verify(w.engine).ok


def test_a_region_that_approves_incoming_credits_holds_them_in_escrow_until_it_decides(api: Api) -> None:
    w = api.world
    api.ok("operator", f"/organizations/{w.buyer_org}/region", {"region": "WUHAN"}, 200)
    before = snapshot(w.engine)
    direct = api.post("project-owner-admin", "/transfers", {"from_account_id": w.owner_account,
                                                            "to_account_id": w.buyer_account, "quantity": 100})
    assert direct.status_code == 409 and direct.json()["type"] == "/problems/cross-regional-transfer"
    assert "enter WUHAN only with its operator's approval" in direct.json()["detail"]
    assert snapshot(w.engine) == before

    asked = api.ok("project-owner-admin", "/cross-regional-transfers", {
        "from_account_id": w.owner_account, "to_account_id": w.buyer_account, "quantity": 100})
    assert (asked["status"], asked["from_regions"], asked["to_region"]) == ("pending", "SIP", "WUHAN")
    assert balance(w.engine, w.owner_account) == (999_900, 0)
    assert balance(w.engine, asked["escrow_account_id"]) == (100, 0)
    for code in ("WUHAN", "SIP"):  # both regions' records show it
        listed = api.client.get(f"/api/v1/regions/{code}/cross-regional-transfers", headers=api.tokens["operator"])
        assert [t["id"] for t in listed.json()] == [asked["id"]]
    assert api.post("buyer-admin", f"/cross-regional-transfers/{asked['id']}/decide",
                    {"approve": True}).status_code == 403
    approved = api.ok("operator", f"/cross-regional-transfers/{asked['id']}/decide", {"approve": True}, 200)
    assert approved["status"] == "approved" and balance(w.engine, w.buyer_account) == (100, 0)
    assert api.post("operator", f"/cross-regional-transfers/{asked['id']}/decide",
                    {"approve": False, "reason": "late"}).status_code == 409

    second = api.ok("project-owner-admin", "/cross-regional-transfers", {
        "from_account_id": w.owner_account, "to_account_id": w.buyer_account, "quantity": 50})
    assert api.post("operator", f"/cross-regional-transfers/{second['id']}/decide",
                    {"approve": False}).status_code == 422
    refused = api.ok("operator", f"/cross-regional-transfers/{second['id']}/decide",
                     {"approve": False, "reason": "vintage not accepted in Wuhan"}, 200)
    assert refused["status"] == "refused" and balance(w.engine, w.owner_account) == (999_900, 0)
    assert invariant_problems(w.engine) == [] and verify(w.engine).ok


def test_requests_that_need_no_approval_are_sent_back_to_transfers(api: Api) -> None:
    w = api.world
    api.ok("operator", f"/organizations/{w.buyer_org}/region", {"region": "SIP"}, 200)
    before = snapshot(w.engine)
    response = api.post("project-owner-admin", "/cross-regional-transfers", {
        "from_account_id": w.owner_account, "to_account_id": w.buyer_account, "quantity": 10})
    assert response.status_code == 422 and "send it with POST /api/v1/transfers" in response.json()["detail"]
    unknown = api.post("operator", f"/organizations/{w.buyer_org}/region", {"region": "ATLANTIS"})
    assert unknown.status_code == 422 and "unknown region 'ATLANTIS'" in unknown.json()["detail"]
    assert snapshot(w.engine) == before


def test_a_regions_own_operator_decides_what_crosses_into_it_and_no_other_region(api: Api) -> None:
    w = api.world
    api.ok("operator", f"/organizations/{w.buyer_org}/region", {"region": "WUHAN"}, 200)
    for username, region in (("wuhan-bureau", "WUHAN"), ("hubei-bureau", "HUBEI"), ("sip-bureau", "SIP")):
        made = api.ok("operator", f"/organizations/{w.operator_org}/users",
                      {"username": username, "password": PASSWORD, "role": "admin", "region": region})
        assert made["region"] == region
        api.tokens[username] = api._login(username)
    before = snapshot(w.engine)
    not_operator = api.post("operator", f"/organizations/{w.buyer_org}/users",
                            {"username": "buyer-bureau", "password": PASSWORD, "role": "admin", "region": "WUHAN"})
    assert not_operator.status_code == 422 and "only operator users have a region" in not_operator.json()["detail"]
    unknown = api.post("operator", f"/organizations/{w.operator_org}/users",
                       {"username": "mars-bureau", "password": PASSWORD, "role": "admin", "region": "MARS"})
    assert unknown.status_code == 422 and "MARS" in unknown.json()["detail"]
    assert snapshot(w.engine) == before

    asked = api.ok("project-owner-admin", "/cross-regional-transfers", {
        "from_account_id": w.owner_account, "to_account_id": w.buyer_account, "quantity": 100})
    before = snapshot(w.engine)
    other = api.post("sip-bureau", f"/cross-regional-transfers/{asked['id']}/decide", {"approve": True})
    assert other.status_code == 403
    assert ("operator of region SIP, so may not decide cross-regional transfers for region WUHAN"
            in other.json()["detail"])
    records = api.client.get("/api/v1/regions/WUHAN/cross-regional-transfers", headers=api.tokens["sip-bureau"])
    assert records.status_code == 403
    assert snapshot(w.engine) == before
    # The province's operator reads its district's records; the district's own operator decides.
    province = api.client.get("/api/v1/regions/WUHAN/cross-regional-transfers", headers=api.tokens["hubei-bureau"])
    assert [t["id"] for t in province.json()] == [asked["id"]]
    decided = api.ok("wuhan-bureau", f"/cross-regional-transfers/{asked['id']}/decide", {"approve": True}, 200)
    assert decided["status"] == "approved" and balance(w.engine, w.buyer_account) == (100, 0)
    assert verify(w.engine).ok
