"""Carbon accounts over HTTP: import, accounting with its trace, the profile, and who may read them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World, snapshot
from tests.test_accounts_services import ECONOMICS, HOLDERS, RECORDS
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str, tmp_path: Path) -> Iterator[Api]:
    with serving(world, database_url, data_dir=tmp_path / "data") as api:
        yield api


def _upload(api: Api, kind: str, text: str, who: Principal) -> object:
    return api.post(f"/carbon-accounts/imports/{kind}", who=who,
                    files={"file": (f"{kind}.csv", text.encode(), "text/csv")})


def test_import_account_and_profile_over_http(api: Api, world: World) -> None:
    for kind, text in (("holders", HOLDERS), ("economics", ECONOMICS), ("records", RECORDS)):
        assert api.ok(_upload(api, kind, text, world.operator))["rows"] == text.count("\n") - 1
    before = snapshot(world.engine)
    bad = _upload(api, "records", RECORDS.splitlines()[0] + "\nQZ-001,coal,t,1,2023-01-01,2023-01-31,x,,,\n",
                  world.operator)
    assert_problem(bad, 422, "row 2, column energy_type")
    assert snapshot(world.engine) == before
    assert api.ok(api.post("/carbon-accounts/benchmarks/compute", {"year": 2023}, who=world.operator))["items"]
    holder = api.ok(api.post("/carbon-accounts/holders", {
        "reference": "QZ-020", "kind": "enterprise", "name": "Quzhou Paper", "region": "QUZHOU", "area": "industry",
        "unified_social_credit_code": "91340100MA2N0Q3T12", "industry_code": "C2221"}, who=world.operator))
    assert holder["industry_code"] == "C2221" and holder["meters"] == []
    ids = {h: api.ok(api.get(f"/carbon-accounts/holders/{i}", who=world.operator))["reference"] for h, i in
           (("first", 1), ("new", holder["id"]))}
    assert ids == {"first": "QZ-001", "new": "QZ-020"}
    accounting = api.ok(api.get("/carbon-accounts/holders/1/accounting", who=world.operator, period="2023"))
    assert accounting["emissions_kg"] == 83036 and len(accounting["lines"]) == 3
    assert accounting["lines"][0]["factor"] == "grid:zhejiang:2023" and accounting["lines"][0]["kg"] == 49740
    assert any("[T]" in s for s in accounting["lines"][0]["factor_sources"])
    profile = api.ok(api.get("/carbon-accounts/holders/1/profile", who=world.operator, period="2023"))
    assert profile["emissions_kg"] == 83036
    assert profile["intensity_per_value_added"] == "20759/75000"  # 83036 / 300000, reduced
    assert profile["label"]["outcome"] == "light_green" and profile["credit_rating"]["outcome"] == "AA"
    assert profile["carbon_efficiency"]["scheme"] == "zhejiang-carbon-efficiency@1"
    assert_problem(api.get("/carbon-accounts/holders/1/profile", who=world.owner, period="2023"), 403)
    assert_problem(api.get("/carbon-accounts/holders/1/profile", who=world.operator, period="20x3"), 422)
    assert_problem(api.get("/carbon-accounts/benchmarks", who=world.owner), 403)
    benchmarks = api.ok(api.get("/carbon-accounts/benchmarks", who=world.operator, year=2023))["items"]
    assert [b["industry"] for b in benchmarks] == ["*", "C30"]
    assert {s["reference"] for s in api.ok(api.get("/carbon-accounts/schemes"))} == {
        "zhejiang-carbon-efficiency@1", "quzhou-four-colours@1", "carbon-credit-rating@1"}


def test_a_resident_reads_only_its_own_account(api: Api, world: World) -> None:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        org = identity.create_organization(tx, world.operator, name="Li Lei", kind="individual")["id"]
        identity.create_user(tx, world.operator, organization_id=org, username="li-lei", password=PASSWORD,
                             role="admin")
        tx.commit()
    li = Principal("user:li-lei", org, "individual", "admin")
    made = api.ok(api.post("/carbon-accounts/holders", {
        "reference": "QZ-R1", "kind": "resident", "name": "Li Lei", "region": "QUZHOU", "area": "daily_life",
        "organization_id": org}, who=world.operator))
    assert api.ok(api.get(f"/carbon-accounts/holders/{made['id']}", who=li))["organization_id"] == org
    assert api.ok(api.get(f"/carbon-accounts/holders/{made['id']}/accounting", who=li, period="2023"))[
        "emissions_kg"] == 0
    assert_problem(api.get(f"/carbon-accounts/holders/{made['id']}", who=world.buyer), 403)
    assert_problem(api.post("/carbon-accounts/records", {
        "reference": "QZ-R1", "energy_type": "electricity", "unit": "kWh", "quantity": "1",
        "period_start": "2023-01-01", "period_end": "2023-01-31", "source": "self"}, who=li), 403)
