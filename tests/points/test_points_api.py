"""Residents' points over the API: events, replays, the account, redemption, rebates, choices, packaging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.journal.audit import verify
from tanhui.points import ledger as points_ledger
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World, snapshot
from tests.points.world import MORNING, travel_project
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str, tmp_path: Path) -> Iterator[Api]:
    with serving(world, database_url, data_dir=tmp_path / "data") as api:
        yield api


def _user(world: World, org: int, username: str, kind: str) -> Principal:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        identity.create_user(
            tx, world.operator, organization_id=org, username=username, password=PASSWORD, role="admin"
        )
        tx.commit()
    return Principal(f"user:{username}", org, kind, "admin")


def _resident(api: Api, name: str) -> Principal:
    org = api.ok(
        api.post("/organizations", {"name": f"Resident {name}", "kind": "individual"}, who=api.world.operator)
    )["id"]
    api.ok(api.post(f"/organizations/{org}/region", {"region": "WUHAN"}, who=api.world.operator))
    return _user(api.world, org, f"resident-{name.lower()}", "individual")


def _event(
    who: Principal,
    event_id: str,
    behaviour: str = "metro",
    start: int = 0,
    minutes: int = 30,
    **quantity: Any,
) -> dict[str, Any]:
    started = MORNING + timedelta(minutes=start)
    return {
        "resident_id": who.organization_id,
        "source": "metro-app",
        "event_id": event_id,
        "behaviour": behaviour,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=minutes)).isoformat(),
        **(quantity or {"distance_km": "5"}),
    }


def test_a_residents_points_through_the_api(api: Api, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    li = _resident(api, "Li")
    op = world.operator
    first = api.ok(api.post("/points/events", _event(li, "m1", distance_km=50), who=op))
    assert (first["status"], first["points_g"], first["replayed"]) == ("accepted", 3920, False)
    again = api.ok(api.post("/points/events", _event(li, "m1", distance_km="50.000"), who=op))
    assert (again["id"], again["replayed"]) == (first["id"], True)
    assert_problem(api.post("/points/events", _event(li, "m1", distance_km=51), who=op), 409, "other data")
    fast = api.ok(api.post("/points/events", _event(li, "m2", start=60, minutes=10, distance_km=20), who=op))
    assert (fast["status"], fast["reason"]) == ("refused", "impossible_speed")  # 120 km/h on the metro
    before = snapshot(world.engine)
    bad = assert_problem(
        api.post("/points/events", _event(li, "m3", distance_km=0.0001), who=op),
        422,
        "more than three decimals",
    )
    assert bad["type"] == "/problems/bad-input"
    assert_problem(
        api.post("/points/events", {**_event(li, "m3"), "behaviour": "taxi"}, who=op),
        422,
        "unknown behaviour 'taxi'",
    )
    assert snapshot(world.engine) == before

    account = api.ok(api.get(f"/points/residents/{li.organization_id}", who=li))
    assert account["balance_g"] == 3920 and [e["kind"] for e in account["entries"]] == ["earn"]
    assert [e["status"] for e in account["events"]] == ["refused", "accepted"]
    assert_problem(api.get(f"/points/residents/{li.organization_id}", who=world.buyer), 404)

    api.ok(
        api.post(
            "/points/catalogue",
            {"code": "TEA", "name_zh": "茶叶", "name_en": "Tea", "price_g": 1000, "stock": 1},
            who=op,
        )
    )
    assert api.ok(api.get("/public/points/catalogue"))[0]["stock"] == 1
    api.ok(api.post("/points/redemptions", {"resident_id": li.organization_id, "code": "TEA"}, who=li))
    out = assert_problem(
        api.post("/points/redemptions", {"resident_id": li.organization_id, "code": "TEA"}, who=li),
        409,
        "has 0 left",
    )
    assert out["type"] == "/problems/out-of-stock"
    rebate = api.ok(
        api.post(
            "/points/rebates",
            {"resident_id": li.organization_id, "rebate_fen": 500, "loan_reference": "GL-2024-7"},
            who=li,
        )
    )
    assert (rebate["points_g"], rebate["rebate_fen"]) == (2500, 500)  # 5 yuan = 2,500 g
    short = assert_problem(
        api.post(
            "/points/rebates",
            {"resident_id": li.organization_id, "rebate_fen": 500, "loan_reference": "GL-2024-7"},
            who=li,
        ),
        409,
    )
    assert short["type"] == "/problems/insufficient-points"
    assert api.ok(api.get(f"/points/residents/{li.organization_id}", who=op))["balance_g"] == 420

    # Choices and the public leaderboard.
    board = {"region": "WUHAN", "start": "2024-05-01", "end": "2024-05-31"}
    assert api.ok(api.get("/public/points/leaderboard", **board)) == []
    api.ok(
        api.post(
            f"/points/residents/{li.organization_id}/choices",
            {"leaderboard": True, "nickname": "绿色小李", "packaging_consent": True},
            who=li,
        )
    )
    assert api.ok(api.get("/public/points/leaderboard", **board)) == [
        {"rank": 1, "nickname": "绿色小李", "points_g": 3920}
    ]
    scheme = api.ok(api.get("/public/points/scheme"))
    assert scheme["methodology"] == "TRAVEL-LOW@1-WUHAN" and scheme["rebate"]["annual_cap_yuan"]["tag"] == "V"

    # The aggregator packages Li's accepted metro ride into its project's monitoring report.
    aggregator, project, verifier = travel_project(world, monkeypatch)
    _user(world, aggregator.organization_id, "aggregator-admin", "aggregator")
    period = {
        "project_id": project,
        "period_start": "2024-05-01",
        "period_end": "2024-05-31",
        "verifier_organization_id": verifier,
    }
    made = api.ok(api.post("/points/packages", period, who="aggregator-admin", key="package-may"))
    assert (made["events"], made["residents"], made["net_kg"]) == (1, 1, 3)  # 3.92 kg → 3
    assert api.ok(api.post("/points/packages", period, who="aggregator-admin", key="package-may")) == made
    assert_problem(api.post("/points/packages", period, who="aggregator-admin"), 409, "already packaged")
    report = api.client.get(
        f"/api/v1/reports/{made['report_id']}/data", headers=api.headers("aggregator-admin")
    ).text
    assert report.splitlines()[1] == f"R{li.organization_id},2024-05-01,metro,,50"
    assert (
        api.ok(api.get(f"/points/packages/{made['id']}", who="aggregator-admin"))["report_id"]
        == made["report_id"]
    )
    assert_problem(api.get(f"/points/packages/{made['id']}", who=li), 404)
    mine = api.ok(api.get(f"/points/residents/{li.organization_id}", who=li))["events"]
    assert [(e["event_id"], e["package_id"]) for e in mine] == [("m2", None), ("m1", made["id"])]

    # Expiry: nothing is due now; two years after earning, what is left expires, once.
    assert api.ok(api.post("/points/expire", {}, who=op)) == {"lots": 0, "points_g": 0, "residents": 0}
    later = {"as_of": "2099-01-01T00:00:00+00:00"}
    assert_problem(api.post("/points/expire", later, who=op), 422, "is in the future")
    monkeypatch.setattr(points_ledger, "utcnow", lambda: datetime(2099, 1, 1, tzinfo=UTC))
    assert api.ok(api.post("/points/expire", {}, who=op)) == {"lots": 1, "points_g": 420, "residents": 1}
    assert api.ok(api.post("/points/expire", later, who=op))["lots"] == 0
    # Every row written above is described by the hash-chained journal.
    audit = verify(world.engine)
    assert audit.ok, audit


def test_bad_requests_name_the_field_and_change_nothing(api: Api, world: World) -> None:
    li = _resident(api, "Li")
    op = world.operator
    before = snapshot(world.engine)
    cases = [
        ("/points/events", {**_event(li, "x"), "distanse_km": "5"}, op, "body.distanse_km"),
        ("/points/events", {**_event(li, "x"), "started_at": "yesterday"}, op, "is not a time"),
        ("/points/events", {**_event(li, "x"), "resident_id": world.owner_org}, op, "not a resident"),
        (
            "/points/rebates",
            {"resident_id": li.organization_id, "rebate_fen": 0, "loan_reference": "L"},
            li,
            "body.rebate_fen",
        ),
        (
            "/points/redemptions",
            {"resident_id": li.organization_id, "code": "NOPE"},
            li,
            "catalogue item 'NOPE' does not exist",
        ),
        ("/points/residents/{id}/choices", {"leaderboard": True}, li, "a nickname is required"),
        (
            "/points/catalogue",
            {"code": "X", "name_zh": "x", "name_en": "x", "price_g": 0, "stock": 1},
            op,
            "body.price_g",
        ),
        ("/points/expire", {"as_of": "2024-05-01T00:00:00"}, op, "has no UTC offset"),
    ]
    for path, body, who, phrase in cases:
        response = api.post(path.replace("{id}", str(li.organization_id)), body, who=who)
        assert response.status_code in (404, 422), response.text
        assert phrase in response.json()["detail"], response.text
    assert_problem(
        api.get("/public/points/leaderboard", region="ATLANTIS", start="2024-05-01", end="2024-05-31"),
        422,
        "unknown region 'ATLANTIS'",
    )
    assert snapshot(world.engine) == before
