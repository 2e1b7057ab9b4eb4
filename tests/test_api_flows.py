"""The API end to end: credit lifecycle, statements, serial histories, pages, the public register, logins."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tanhui.api import security
from tanhui.api.app import create_app
from tanhui.api.security import ALGORITHM, signing_key
from tanhui.config import Settings
from tanhui.identity.tables import users
from tanhui.journal.tables import journal_entries
from tests.factories import PASSWORD, World, invariant_problems, snapshot
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[Api]:
    with serving(world, database_url) as api:
        yield api


def _prefix(act: dict[str, Any]) -> str:
    """The serial prefix (everything but the unit range) of an issuance act."""
    return str(act["issuance"]["serial"].rsplit(".", 1)[0])


def test_issue_transfer_retire_pledge_release(api: Api, world: World) -> None:
    issued = api.issue(1000)
    prefix = _prefix(issued)
    assert issued["serials"] == [f"{prefix}.1-1000"] == [issued["issuance"]["serial"]]
    assert issued["issuance"]["blocks"] == [{"serial": f"{prefix}.1-1000", "first": 1, "last": 1000,
                                             "quantity": 1000}]
    moved = api.transfer(300)
    retired = api.ok(api.post("/retirements", {
        "account_id": world.buyer_account, "quantity": 100, "beneficiary": "Suzhou Widgets Co.",
        "purpose": "2024 carbon neutrality", "period_start": "2024-01-01", "period_end": "2024-12-31",
        "note": "board resolution 7"}, who=world.buyer))
    pledged = api.ok(api.post("/pledges", {"account_id": world.buyer_account,
                                           "bank_organization_id": world.bank_org, "quantity": 50,
                                           "note": "loan 88"}, who=world.buyer))
    buyer = api.ok(api.get(f"/accounts/{world.buyer_account}", who=world.buyer))["balances"]
    assert buyer == {"available": 150, "pledged": 50, "retired": 100, "cancelled": 0, "revoked": 0}
    pledged_units = {"from_account_id": world.buyer_account, "to_account_id": world.owner_account,
                     "serial_range": f"{prefix}.101-150"}
    assert_problem(api.post("/transfers", pledged_units, who=world.buyer), 409, "units 101-150 are pledged")
    released = api.ok(api.post(f"/pledges/{pledged['pledge']['id']}/release", who=world.bank))

    assert [a["kind"] for a in (issued, moved, retired, pledged, released)] == [
        "issuance", "transfer", "retirement", "pledge", "release"]
    assert moved["serials"] == [f"{prefix}.1-300"]
    assert retired["serials"] == [f"{prefix}.1-100"]
    assert retired["retirement"]["beneficiary"] == "Suzhou Widgets Co."
    assert pledged["serials"] == released["serials"] == [f"{prefix}.101-150"]
    assert (released["pledge"]["status"], released["pledge"]["release_act_id"]) == \
        ("released", released["id"])
    for act in (moved, retired, pledged, released):
        assert act["url"] == f"/api/v1/acts/{act['id']}"
        now = api.ok(api.client.get(act["url"], headers=api.headers(world.buyer)))
        # An act is a fact; only the pledge it made has moved on since (it is released now).
        assert now | {"pledge": None} == act | {"pledge": None}
    assert api.ok(api.get(f"/acts/{pledged['id']}", who=world.buyer))["pledge"] == released["pledge"]
    cancelled = api.ok(api.post("/cancellations", {"account_id": world.owner_account, "quantity": 10,
                                                   "purpose": "regulatory", "reason": "court order 5"},
                                who=world.operator))
    revoked = api.ok(api.post("/revocations", {"serial_range": f"{prefix}.991-1000", "reason": "meter fraud"},
                              who=world.operator))
    assert (cancelled["serials"], revoked["serials"]) == ([f"{prefix}.301-310"], [f"{prefix}.991-1000"])
    assert cancelled["cancellation"] == {"purpose": "regulatory", "compliance_year": None}
    for act in (issued, cancelled, revoked):
        assert api.ok(api.get(f"/acts/{act['id']}", who=world.operator)) == act
    buyer = api.ok(api.get(f"/accounts/{world.buyer_account}", who=world.buyer))["balances"]
    assert buyer == {"available": 200, "pledged": 0, "retired": 100, "cancelled": 0, "revoked": 0}
    owner = api.ok(api.get(f"/accounts/{world.owner_account}", who=world.owner))["balances"]
    assert owner == {"available": 680, "pledged": 0, "retired": 0, "cancelled": 10, "revoked": 10}
    blocks = api.ok(api.get(f"/accounts/{world.buyer_account}/blocks", who=world.buyer))["items"]
    # The released units merged back into the available block beside them.
    assert [(b["serial"], b["state"]) for b in blocks] == [
        (f"{prefix}.1-100", "retired"), (f"{prefix}.101-300", "available")]
    retired_blocks = api.ok(api.get(f"/accounts/{world.buyer_account}/blocks", who=world.buyer,
                                    state="retired"))
    assert [b["quantity"] for b in retired_blocks["items"]] == [100]
    assert invariant_problems(world.engine) == []
    # The issuance's facts are for everyone; its account only for those who may read it.
    assert api.ok(api.get(f"/issuances/{issued['issuance']['id']}", who=world.buyer))["account_id"] is None
    assert api.ok(api.get(f"/issuances/{issued['issuance']['id']}", who=world.owner))["account_id"] == \
        world.owner_account


def test_statement_as_json_and_csv(api: Api, world: World) -> None:
    api.issue(1000)
    api.transfer(300)
    api.ok(api.post("/retirements", {"account_id": world.buyer_account, "quantity": 100, "beneficiary": "B",
                                     "purpose": "P"}, who=world.buyer))
    pledged = api.ok(api.post("/pledges", {"account_id": world.buyer_account,
                                           "bank_organization_id": world.bank_org, "quantity": 50},
                              who=world.buyer))
    api.ok(api.post(f"/pledges/{pledged['pledge']['id']}/release", who=world.bank))
    path = f"/accounts/{world.buyer_account}/statement"

    rows = api.ok(api.get(path, who=world.buyer))["items"]
    assert [(r["kind"], r["available_change"], r["pledged_change"], r["available_after"], r["pledged_after"])
            for r in rows] == [("transfer", 300, 0, 300, 0), ("retirement", -100, 0, 200, 0),
                               ("pledge", -50, 50, 150, 50), ("release", 50, -50, 200, 0)]
    assert rows[0]["counterparty_account_id"] == world.owner_account
    balances = api.ok(api.get(f"/accounts/{world.buyer_account}", who=world.buyer))["balances"]
    assert (rows[-1]["available_after"], rows[-1]["pledged_after"]) == \
        (balances["available"], balances["pledged"])

    as_csv = api.get(path, who=world.buyer, format="csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"] == \
        f'attachment; filename="statement-account-{world.buyer_account}.csv"'
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["act_id"]) for r in table] == [r["act_id"] for r in rows]
    assert [int(r["available_after"]) for r in table] == [300, 200, 150, 200]
    assert table[0]["serials"] == rows[0]["serials"][0]
    by_accept = api.client.get(f"/api/v1{path}", headers=api.headers(world.buyer, Accept="text/csv"))
    assert by_accept.text == as_csv.text

    today = datetime.now(UTC).date()
    assert len(api.ok(api.get(path, who=world.buyer, **{"from": str(today), "to": str(today)}))["items"]) == 4
    assert api.ok(api.get(path, who=world.buyer, **{"from": str(today + timedelta(days=1))}))["items"] == []
    named = api.get(path, who=world.buyer, format="csv", to=str(today - timedelta(days=1)))
    assert named.text.splitlines() == [named.text.splitlines()[0]]
    assert f'-to-{today - timedelta(days=1)}.csv"' in named.headers["content-disposition"]


def test_serial_lifecycle(api: Api, world: World) -> None:
    issued = api.issue(1000)
    prefix = _prefix(issued)
    moved = api.transfer(300)
    retired = api.ok(api.post("/retirements", {"account_id": world.buyer_account, "quantity": 50,
                                               "beneficiary": "B", "purpose": "P"}, who=world.buyer))
    path = f"/serials/{prefix}.40-60"

    as_owner = api.ok(api.get(path, who=world.owner))
    assert (as_owner["serial"], as_owner["quantity"]) == (f"{prefix}.40-60", 21)
    assert as_owner["issuance"]["id"] == issued["issuance"]["id"]
    assert [(e["act_id"], e["kind"], e["serial"], e["from_account_id"], e["to_account_id"], e["to_state"])
            for e in as_owner["events"]] == [
        (issued["id"], "issuance", f"{prefix}.40-60", None, world.owner_account, "available"),
        (moved["id"], "transfer", f"{prefix}.40-60", world.owner_account, None, "available"),
        (retired["id"], "retirement", f"{prefix}.40-50", None, None, "retired"),
    ]
    assert [(b["serial"], b["state"], b["account_id"]) for b in as_owner["blocks"]] == [
        (f"{prefix}.1-50", "retired", None), (f"{prefix}.51-300", "available", None)]
    as_buyer = api.ok(api.get(path, who=world.buyer))
    assert [e["to_account_id"] for e in as_buyer["events"]] == \
        [None, world.buyer_account, world.buyer_account]
    as_operator = api.ok(api.get(path, who=world.operator))
    assert [b["account_id"] for b in as_operator["blocks"]] == [world.buyer_account, world.buyer_account]

    single = api.ok(api.get(f"/serials/{prefix}.45", who=world.operator))
    assert (single["serial"], single["quantity"], len(single["events"])) == (f"{prefix}.45-45", 1, 3)
    first = api.ok(api.get(path, who=world.operator, limit=2))
    rest = api.ok(api.get(path, who=world.operator, limit=2, cursor=first["next_cursor"]))
    assert first["events"] + rest["events"] == as_operator["events"] and rest["next_cursor"] is None
    assert_problem(api.get(f"/serials/{prefix}.0-5", who=world.owner), 422, "malformed")
    unknown = f"/serials/{prefix.rsplit('.', 1)[0]}.I404.1-5"
    assert_problem(api.get(unknown, who=world.owner), 404, "issuance 404 does not exist")


def _all_pages(api: Api, path: str, who: Any, limit: int, **params: Any) -> tuple[list[Any], int]:
    items, pages, cursor = [], 0, None
    while True:
        page = api.ok(api.get(path, who=who, limit=limit, **params, **({"cursor": cursor} if cursor else {})))
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


def test_pagination_walks_every_list_in_order(api: Api, world: World) -> None:
    for n in range(5):
        api.ok(api.post("/accounts", {"organization_id": world.owner_org, "kind": "holding",
                                      "name": f"site {n}"}, who=world.owner))
    accounts, pages = _all_pages(api, "/accounts", world.operator, 3)
    assert pages == 3 and len(accounts) == 8
    assert [a["id"] for a in accounts] == sorted({a["id"] for a in accounts})

    prefix = _prefix(api.issue(1000))
    for first in (81, 1, 41, 21, 61):  # out of order, so page order must come from the serials
        api.ok(api.post("/transfers", {"from_account_id": world.owner_account,
                                       "to_account_id": world.buyer_account,
                                       "serial_range": f"{prefix}.{first}-{first + 9}"}, who=world.owner))
    blocks, pages = _all_pages(api, f"/accounts/{world.buyer_account}/blocks", world.buyer, 2)
    assert pages == 3
    assert [b["serial"] for b in blocks] == [f"{prefix}.{f}-{f + 9}" for f in (1, 21, 41, 61, 81)]

    whole = api.ok(api.get(f"/accounts/{world.owner_account}/statement", who=world.owner))["items"]
    paged, pages = _all_pages(api, f"/accounts/{world.owner_account}/statement", world.owner, 4)
    assert pages == 2 and paged == whole and whole[-1]["available_after"] == 950
    public, _ = _all_pages(api, "/public/issuances", None, 1)
    assert [p["serial"] for p in public] == [f"{prefix}.1-1000"]


def _keys(value: Any) -> set[str]:
    """Every key anywhere in a JSON document."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_public_register_holds_no_private_data(api: Api, world: World) -> None:
    person = api.ok(api.post("/organizations", {"name": "Zhang Wei", "kind": "individual"},
                             who=world.operator))
    api.ok(api.post(f"/organizations/{person['id']}/users", {"username": "zhang-wei", "password": PASSWORD,
                                                             "role": "admin"}, who=world.operator))
    wallet = api.ok(api.post("/accounts", {"organization_id": person["id"], "kind": "holding",
                                           "name": "wallet"}, who=world.operator))
    api.issue(1000)
    api.transfer(100, to=wallet["id"])
    api.transfer(100)
    api.ok(api.post("/retirements", {"account_id": wallet["id"], "quantity": 10, "beneficiary": "Zhang Wei",
                                     "purpose": "green commute", "note": "private note 42"}, who="zhang-wei"))
    api.ok(api.post("/retirements", {"account_id": world.buyer_account, "quantity": 20,
                                     "beneficiary": "Suzhou Widgets Co.", "purpose": "neutrality",
                                     "note": "secret buyer note"}, who=world.buyer))
    rooftop = api.ok(api.post("/projects", {"name": "Zhang rooftop", "owner_organization_id": person["id"],
                                            "methodology": "PV-DIST", "region": "SIP"}, who=world.operator))
    api.ok(api.post("/issuances", {"project_id": rooftop["id"], "vintage": 2024, "period_start": "2024-01-01",
                                   "period_end": "2024-12-31", "quantity": 7, "account_id": wallet["id"]},
                    who=world.operator))

    issuances = api.client.get("/api/v1/public/issuances")
    retirements = api.client.get("/api/v1/public/retirements")
    for response in (issuances, retirements):
        assert response.status_code == 200
        for private in ("Zhang Wei", "zhang-wei", "project-owner-admin", "buyer-admin", "user:",
                        "private note 42", "secret buyer note"):
            assert private not in response.text
        assert not _keys(response.json()) & {"account_id", "to_account_id", "from_account_id", "actor",
                                             "note", "organization_id", "username"}
    assert [(r["beneficiary"], r["quantity"]) for r in retirements.json()["items"]] == [
        ("个人 / individual", 10), ("Suzhou Widgets Co.", 20)]
    assert [(i["project"], i["owner_organization"], i["quantity"]) for i in issuances.json()["items"]] == [
        ("Rooftop PV bundle", "Org project_owner", 1000), ("Zhang rooftop", None, 7)]

    head = api.ok(api.client.get("/api/v1/public/journal/head"))
    with world.engine.connect() as conn:
        last = conn.execute(sa.select(journal_entries.c.seq, journal_entries.c.hash)
                            .order_by(journal_entries.c.seq.desc()).limit(1)).one()
    assert (head["seq"], head["hash"]) == (last.seq, last.hash)


def test_login_and_its_rate_limit(world: World, database_url: str) -> None:
    # A window of a few seconds: two argon2 checks on a loaded machine can take longer than one.
    with serving(world, database_url, login_max_failures=2, login_window_seconds=3) as api:
        def login(password: str) -> Any:
            form = {"username": "buyer-admin", "password": password}
            return api.client.post("/api/v1/auth/token", data=form)

        token = api.ok(login(PASSWORD))
        assert (token["token_type"], token["expires_in"]) == ("bearer", 3600)
        me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert api.ok(me) == {"actor": "user:buyer-admin", "organization_id": world.buyer_org,
                              "organization_name": "Org buyer", "organization_kind": "buyer", "role": "admin"}
        for _ in range(2):
            wrong = assert_problem(login("wrong password"), 401, "wrong username or password")
            assert wrong["type"] == "/problems/not-authenticated"
        locked = login(PASSWORD)
        assert_problem(locked, 429, "too many failed logins")
        assert 1 <= int(locked.headers["Retry-After"]) <= 3
        time.sleep(3.1)  # the window passes
        assert api.ok(login(PASSWORD))["access_token"]


def test_api_keys_authenticate_until_revoked(api: Api, world: World) -> None:
    api.issue(1000)
    created = api.ok(api.post("/api-keys", {"name": "meter gateway", "role": "representative"},
                              who=world.owner))
    key = created["key"]
    me = api.ok(api.get("/me", who=key))
    assert me["actor"] == f"key:{created['prefix']}" and me["organization_id"] == world.owner_org
    moved = api.transfer(10, who=key)
    assert moved["actor"] == me["actor"]
    by_bearer = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert api.ok(by_bearer)["actor"] == me["actor"]
    listed = api.ok(api.get("/api-keys", who=world.owner))["items"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]

    revoked = api.ok(api.post(f"/api-keys/{created['id']}/revoke", who=world.owner))
    assert revoked["revoked_at"] is not None
    assert_problem(api.get("/me", who=key), 401, "unknown or revoked API key")
    assert_problem(api.get("/me", who="thk_nonsense"), 401, "malformed API key")
    assert_problem(api.post(f"/api-keys/{created['id']}/revoke", who=world.owner), 409, "already revoked")


def test_bad_and_stale_tokens_are_refused(api: Api, world: World) -> None:
    now = datetime.now(UTC)
    expired = jwt.encode({"sub": "buyer-admin", "exp": now - timedelta(seconds=5)}, signing_key(api.app),
                         algorithm=ALGORITHM)
    forged = jwt.encode({"sub": "operator", "exp": now + timedelta(hours=1)},
                        "not the registry's key, though long enough for HS256", algorithm=ALGORITHM)
    for token, phrase in ((expired, "expired"), (forged, "not valid"), ("garbage", "not valid")):
        response = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, phrase)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_problem(api.get("/me"), 401, "log in")

    headers = api.headers(world.buyer)
    assert api.ok(api.client.get("/api/v1/me", headers=headers))["role"] == "admin"
    with world.engine.begin() as conn:  # deactivation has no endpoint yet; the point is the re-read
        conn.execute(sa.update(users).where(users.c.username == "buyer-admin").values(active=False))
    assert_problem(api.client.get("/api/v1/me", headers=headers), 401, "no longer has access")


def test_a_token_once_verified_still_expires(api: Api, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures are verified once per token; its expiry is checked on every request all the same."""
    now = datetime.now(UTC)
    token = jwt.encode({"sub": "buyer-admin", "iat": now, "exp": now + timedelta(minutes=1)}, signing_key(api.app),
                       algorithm=ALGORITHM)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.ok(api.client.get("/api/v1/me", headers=headers))["actor"] == "user:buyer-admin"
    monkeypatch.setattr(security, "utcnow", lambda: now + timedelta(minutes=2))
    assert_problem(api.client.get("/api/v1/me", headers=headers), 401, "expired")

def test_a_write_reads_its_caller_in_its_own_transaction(api: Api, world: World) -> None:
    """Who a token names is read in each write's own transaction (a caller remembered from an earlier
    write is only a guess, checked before the COMMIT): a changed role or a deactivation applies to the very
    next write, a replay included, and the refused write changes nothing."""
    api.issue(100)
    headers = api.headers(world.owner, **{"Idempotency-Key": "move-10"})
    body = {"from_account_id": world.owner_account, "to_account_id": world.buyer_account, "quantity": 10}
    first = api.ok(api.client.post("/api/v1/transfers", json=body, headers=headers))

    def ledger() -> dict[str, Any]:  # all but the users, whom this test changes itself
        return {table: rows for table, rows in snapshot(world.engine).items() if table != "users"}

    before = ledger()

    with world.engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.username == "project-owner-admin").values(role="viewer"))
    assert_problem(api.client.post("/api/v1/transfers", json=body | {"quantity": 5}, headers=api.headers(
        world.owner)), 403, "viewer role")
    with world.engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.username == "project-owner-admin")
                     .values(role="admin", active=False))
    assert_problem(api.client.post("/api/v1/transfers", json=body, headers=headers), 401, "no longer has access")
    assert ledger() == before

    with world.engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.username == "project-owner-admin").values(active=True))
    replayed = api.client.post("/api/v1/transfers", json=body, headers=headers)
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.json() == first
    # A bad credential is refused before the body is looked at, whatever the body holds.
    assert_problem(api.client.post("/api/v1/transfers", json={"quantity": -1},
                                   headers={"Authorization": "Bearer garbage"}), 401, "not valid")


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """The application over an empty registry, for what needs no organisations."""
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        yield client


def test_problems_for_unknown_routes_and_methods(client: TestClient) -> None:
    missing = assert_problem(client.get("/api/v1/nowhere"), 404, "nothing at /api/v1/nowhere")
    assert (missing["type"], missing["instance"]) == ("/problems/not-found", "/api/v1/nowhere")
    wrong = client.delete("/api/v1/transfers")
    assert assert_problem(wrong, 405, "DELETE is not allowed")["type"] == "/problems/method-not-allowed"
    assert wrong.headers["Allow"] == "POST"
    described = client.get("/problems/method-not-allowed").json()
    assert (described["status"], described["type"]) == (405, "/problems/method-not-allowed")
    assert {p["code"] for p in client.get("/problems").json()} >= {"invalid-request", "malformed-json",
                                                                   "idempotency-key-reused", "conflict"}
    assert_problem(client.get("/problems/no-such-thing"), 404, "no problem type 'no-such-thing'")


def test_unexpected_errors_reveal_nothing(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url))

    def clash() -> None:
        raise sa.exc.IntegrityError("INSERT INTO organizations ...", {}, Exception("uq_organizations_name"))

    def crash() -> None:
        raise RuntimeError("secret internals at 0xdeadbeef")

    app.add_api_route("/clash", clash)
    app.add_api_route("/crash", crash)
    with TestClient(app, raise_server_exceptions=False) as client:
        conflict = assert_problem(client.get("/clash"), 409, "retry")
        assert conflict["type"] == "/problems/conflict" and "uq_organizations_name" not in conflict["detail"]
        crashed = client.get("/crash")
        assert assert_problem(crashed, 500)["type"] == "/problems/internal-error"
        assert "secret internals" not in crashed.text and "RuntimeError" not in crashed.text


def test_service_endpoints(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/docs"
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "Tanhui registry API"
    assert client.get("/healthz").json()["status"] == "ok"
