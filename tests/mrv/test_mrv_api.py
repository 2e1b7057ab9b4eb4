"""The MRV routes over HTTP: registering meters (CSV or JSON), declaring claims, and a serial's provenance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World, snapshot
from tests.mrv.test_mrv_registry import M1_KG, M2_KG, VERSION, SiteSpec, issue, owners, register, write_report
from tests.test_api_support import Api, assert_problem, serving

HEADER = "meter_id,site_id,owner,capacity_kw,latitude,longitude,region,commissioned,tilt,azimuth,grid_point\n"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def api(world: World, database_url: str, data_dir: Path) -> Iterator[Api]:
    with serving(world, database_url, data_dir=data_dir) as api:
        yield api


def post_csv(api: Api, text: str, *, who: Principal | None, key: str | None = None, **params: Any) -> httpx.Response:
    headers = api.headers(who, **({"Idempotency-Key": key} if key else {})) | {"Content-Type": "text/csv"}
    return api.client.post("/api/v1/mrv/sites", content=text.encode(), headers=headers, params=params)


def site_json(meter_id: str, owner: str, **changes: Any) -> dict[str, Any]:
    return {"meter_id": meter_id, "site_id": f"S-{meter_id}", "owner": owner, "capacity_kw": 10.0,
            "latitude": 31.3, "longitude": 120.72, "region": "SIP", "commissioned": "2023-05-01"} | changes


def test_an_owner_registers_its_sites_from_csv_and_sees_only_its_own(api: Api, world: World) -> None:
    owner, _ = owners(world)
    text = HEADER + f"000000000001,SIP-1,{owner},12.5,31.30,120.72,SIP,2023-05-01,25,180,T1-07\n" \
                    f"000000000002,SIP-2,{owner},8,31.31,120.70,SIP,2023-06-01,,,\n"
    done = api.ok(post_csv(api, text, who=world.owner, key="sites-1"))
    assert done == {"registered": ["000000000001", "000000000002"], "updated": [], "unchanged": 0}
    replay = post_csv(api, text, who=world.owner, key="sites-1")
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == done
    assert api.ok(post_csv(api, text, who=world.owner))["unchanged"] == 2

    mine = api.ok(api.get("/mrv/sites", who=world.owner))
    assert [m["meter_id"] for m in mine["items"]] == ["000000000001", "000000000002"]
    first = mine["items"][0]
    assert (first["capacity_kw"], first["latitude"], first["tilt"], first["grid_point"], first["owner"]) == \
        (12.5, 31.3, 25.0, "T1-07", owner)
    assert mine["items"][1]["tilt"] is None
    assert api.ok(api.get("/mrv/sites", who=world.buyer))["items"] == []
    assert len(api.ok(api.get("/mrv/sites", who=world.operator, limit=1))["items"]) == 1
    assert_problem(api.get("/mrv/sites/000000000001", who=world.buyer), 403, "another organisation")
    assert_problem(api.get("/mrv/sites/nope", who=world.owner), 404, "'nope' is not registered")
    assert api.ok(api.get("/mrv/sites/000000000002", who=world.operator))["capacity_kw"] == 8.0


def test_sites_as_json_and_explicit_updates(api: Api, world: World) -> None:
    owner, _ = owners(world)
    assert api.ok(api.post("/mrv/sites", [site_json("M1", owner)], who=world.operator))["registered"] == ["M1"]
    before = snapshot(world.engine)
    changed = [site_json("M1", owner, capacity_kw=11.0)]
    assert_problem(api.post("/mrv/sites", changed, who=world.operator), 422,
                   "meter M1: capacity_kw 10.0 → 11.0", "import with update")
    assert snapshot(world.engine) == before
    response = api.client.post("/api/v1/mrv/sites", json=changed, params={"update": "true"},
                               headers=api.headers(world.operator))
    assert api.ok(response)["updated"] == ["M1"]


def test_bad_site_bodies_are_refused_naming_what_is_wrong(api: Api, world: World) -> None:
    owner, _ = owners(world)
    before = snapshot(world.engine)
    bad_csv = HEADER + (f"M1,S1,{owner},10,31.3,120.7,SIP,2023-05-01,,,\n"
                        f"M2,S2,{owner},ten,31.3,120.7,SIP,2023-05-01,,,\n")
    assert_problem(post_csv(api, bad_csv, who=world.owner), 422, "the CSV body: line 3: column capacity_kw is not a "
                                                                 "number")
    body = assert_problem(api.post("/mrv/sites", [site_json("M1", owner, latitude="north")], who=world.owner), 422)
    assert body["errors"][0]["field"] == "body.0.latitude"
    assert_problem(api.client.post("/api/v1/mrv/sites", content=b"M1", headers=api.headers(world.owner)
                                   | {"Content-Type": "text/plain"}), 422, "send the sites as text/csv")
    assert_problem(api.post("/mrv/sites", [site_json("M1", "Nobody Ltd")], who=world.owner), 422,
                   "'Nobody Ltd' on rows 1")
    assert snapshot(world.engine) == before


def test_claims_are_declared_listed_and_refused_when_days_are_taken(api: Api, world: World) -> None:
    owner, _ = owners(world)
    register(world.engine, world.operator, [SiteSpec("M1", owner)])
    claim = {"meter_id": "M1", "first_day": "2024-03-01", "last_day": "2024-03-31",
             "instrument": "green_certificate", "reference": "GEC-2024-03-0001"}
    declared = api.ok(api.post("/mrv/claims", claim, who=world.owner))
    assert (declared["report_id"], declared["declared_by"]) == (None, "user:project-owner-admin")
    before = snapshot(world.engine)
    overlapping = claim | {"first_day": "2024-03-31", "last_day": "2024-04-02", "instrument": "other_registry",
                           "reference": "VCS-99"}
    assert_problem(api.post("/mrv/claims", overlapping, who=world.operator), 409,
                   f"meter M1 on 2024-03-31 by green_certificate GEC-2024-03-0001 (claim {declared['id']})")
    assert_problem(api.post("/mrv/claims", claim | {"instrument": "tanhui_credit"}, who=world.owner), 422)
    assert_problem(api.post("/mrv/claims", claim | {"meter_id": "M404"}, who=world.owner), 404)
    assert snapshot(world.engine) == before
    listed = api.ok(api.get("/mrv/sites/M1/claims", who=world.owner))
    assert listed == {"items": [declared], "next_cursor": None}
    assert_problem(api.get("/mrv/sites/M1/claims", who=world.buyer), 403)


def test_provenance_of_a_serial_over_http(api: Api, world: World, tmp_path: Path, data_dir: Path) -> None:
    owner, buyer = owners(world)
    specs = [SiteSpec("M1", owner), SiteSpec("M2", buyer, kwh=0.5)]
    register(world.engine, world.operator, specs)
    done = issue(world, write_report(tmp_path / "r", specs), data_dir / "reports", account=world.owner_account)
    serial = done.issuance.serials[0]
    prefix = serial.rsplit(".", 1)[0]

    assert_problem(api.get(f"/serials/{prefix}.70/provenance"), 401)
    view = api.ok(api.get(f"/serials/{prefix}.70/provenance", who=world.bank, limit=40))
    assert (view["serial"], view["quantity"]) == (f"{prefix}.70-70", 1)
    assert view["report"]["methodology"] == {"code": "PV-DIST", "version": "1-EC2023", "title": VERSION.title}
    assert view["report"]["grid_factor"] == VERSION.grid_factor.describe()
    assert (view["report"]["period_start"], view["report"]["period_end"]) == ("2024-01-01", "2024-01-03")
    # Owners in id order: the project owner's M1 has the first units, the buyer's M2 the rest (unit 70 among them).
    assert M1_KG < 70 <= M1_KG + M2_KG
    assert [(s["meter_id"], s["owner"], s["serial"], s["flag_counts"]) for s in view["sites"]] == [
        ("M2", buyer, f"{prefix}.{M1_KG + 1}-{M1_KG + M2_KG}", {"outlier": 3})]
    assert view["issuance"]["serial"] == serial and view["issuance"]["account_id"] is None
    assert len(view["intervals"]) == 40 and view["next_cursor"]
    rest = api.ok(api.get(f"/serials/{prefix}.70/provenance", who=world.bank, limit=500,
                          cursor=view["next_cursor"]))
    assert len(view["intervals"]) + len(rest["intervals"]) == 3 * 31 and rest["next_cursor"] is None
    everything = api.ok(api.get(f"/serials/{serial}/provenance", who=world.bank, limit=1, intervals="all"))
    assert [s["meter_id"] for s in everything["sites"]] == ["M1", "M2"]
    assert everything["intervals"][0]["flags"] == [] and everything["intervals"][0]["kwh"] == 0.0

    direct = api.issue(100)
    assert_problem(api.get(f"/serials/{direct['serials'][0]}/provenance", who=world.bank), 404,
                   "issued directly, not from a monitoring report")
    assert_problem(api.get("/serials/nonsense/provenance", who=world.bank), 422)


def test_the_mrv_write_endpoints_check_who_acts(api: Api, world: World) -> None:
    """As tests/test_api_authorization.py does for every write endpoint: 401, 403 for another organisation and
    for a viewer, then the right caller succeeds."""
    owner, _ = owners(world)
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        identity.create_user(tx, world.operator, organization_id=world.owner_org, username="owner-viewer",
                             password=PASSWORD, role="viewer")
        tx.commit()
    viewer = Principal("user:owner-viewer", world.owner_org, "project_owner", "viewer")
    cases = [("/mrv/sites", [site_json("M1", owner)]),
             ("/mrv/claims", {"meter_id": "M1", "first_day": "2024-01-01", "last_day": "2024-01-31",
                              "instrument": "green_certificate", "reference": "GEC-1"})]
    for path, body in cases:
        before = snapshot(world.engine)
        assert_problem(api.post(path, body), 401, "log in")
        assert_problem(api.post(path, body, who=world.buyer), 403)
        assert_problem(api.post(path, body, who=viewer), 403, "viewer role")
        assert snapshot(world.engine) == before
        api.ok(api.post(path, body, who=world.owner))
