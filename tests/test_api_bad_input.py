"""Bad input gets a 4xx problem whose detail names what is wrong, and leaves the registry as it was."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.factories import World, snapshot
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[Api]:
    with serving(world, database_url) as api:
        yield api


NOT_INT = "Input should be a valid integer"


@dataclass
class Bad:
    """A request that must be refused with ``status`` and a detail containing ``phrase``."""

    name: str
    path: str
    body: Any
    status: int
    phrase: str
    who: str = "owner"
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


def _cases(w: World, prefix: str) -> list[Bad]:
    """``prefix`` names the issuance whose units 1-100 are retired, 101-200 pledged, 201-1000 available."""
    def move(**change: Any) -> dict[str, Any]:
        return {"from_account_id": w.owner_account, "to_account_id": w.buyer_account, "quantity": 10} | change

    def by_range(serials: str) -> dict[str, Any]:
        return move(quantity=None, serial_range=serials)

    def issuance(**change: Any) -> dict[str, Any]:
        return {"project_id": w.project, "vintage": 2024, "period_start": "2024-01-01",
                "period_end": "2024-12-31", "quantity": 10, "account_id": w.owner_account} | change

    retire = {"account_id": w.owner_account, "beneficiary": "Suzhou Widgets", "purpose": "neutrality"}
    return [
        Bad("zero quantity", "/transfers", move(quantity=0), 422,
            "body.quantity: Input should be greater than or equal to 1"),
        Bad("negative quantity", "/transfers", move(quantity=-5), 422, "body.quantity"),
        Bad("fractional quantity", "/transfers", move(quantity=1.5), 422, f"body.quantity: {NOT_INT}"),
        Bad("string quantity", "/transfers", move(quantity="10"), 422, f"body.quantity: {NOT_INT}"),
        Bad("boolean quantity", "/transfers", move(quantity=True), 422, f"body.quantity: {NOT_INT}"),
        Bad("quantity above 1 Gt", "/transfers", move(quantity=10**12 + 1), 422,
            "body.quantity: Input should be less than or equal to 1000000000000"),
        Bad("absurd quantity", "/transfers", move(quantity=10**40), 422, "body.quantity"),
        Bad("absurd account id", "/transfers", move(from_account_id=2**70), 422, "body.from_account_id"),
        Bad("unknown source account", "/transfers", move(from_account_id=999999), 404,
            "account 999999 does not exist"),
        Bad("unknown destination", "/transfers", move(to_account_id=999999), 404,
            "account 999999 does not exist"),
        Bad("foreign account", "/transfers",
            move(from_account_id=w.buyer_account, to_account_id=w.owner_account), 403,
            "belongs to another organisation"),
        Bad("same account", "/transfers", move(to_account_id=w.owner_account), 422, "two different accounts"),
        Bad("more than held", "/transfers", move(quantity=100_000), 409, "holds 800 available units"),
        Bad("retired units", "/transfers", by_range(f"{prefix}.1-10"), 409, "units 1-10 are retired"),
        Bad("pledged units", "/transfers", by_range(f"{prefix}.150-160"), 409, "units 150-160 are pledged"),
        Bad("range across states", "/transfers", by_range(f"{prefix}.190-210"), 409, "are pledged"),
        Bad("not a serial", "/transfers", by_range("garbage"), 422, "'garbage' is not a serial"),
        Bad("truncated serial", "/transfers", by_range("TH1.SIP.PHCER"), 422,
            "expected 7 dot-separated parts"),
        Bad("range backwards", "/transfers", by_range(f"{prefix}.20-10"), 422,
            "range end 10 is before its start 20"),
        Bad("leading zero", "/transfers", by_range(f"{prefix}.010-20"), 422, "unit range (start-end) part"),
        Bad("beyond the issuance", "/transfers", by_range(f"{prefix}.900-2000"), 422, "reaches unit 2000"),
        Bad("wrong project", "/transfers", by_range(prefix.replace(f".P{w.project}.", ".P999.") + ".1-5"),
            422, "names project_id 999"),
        Bad("unknown issuance", "/transfers", by_range(prefix.rsplit(".", 1)[0] + ".I999.1-5"), 404,
            "issuance 999 does not exist"),
        Bad("quantity and range", "/transfers", move(serial_range=f"{prefix}.300-309"), 422, "exactly one"),
        Bad("neither quantity nor range", "/transfers", move(quantity=None), 422, "exactly one"),
        Bad("serial range a number", "/transfers", by_range(5), 422, "body.serial_range"),
        Bad("unknown field", "/transfers", move(colour="green"), 422, "body.colour: unknown field"),
        Bad("missing fields", "/transfers", {}, 422, "body.from_account_id: required (and 1 more)"),
        Bad("body not an object", "/transfers", [1, 2], 422, "body"),
        Bad("malformed JSON", "/transfers", None, 400, "line 2, column 15",
            raw=b'{"from_account_id": 1,\n  "quantity": }', headers={"Content-Type": "application/json"}),
        Bad("body not JSON", "/transfers", None, 422, "Content-Type: application/json",
            raw=b"quantity=5", headers={"Content-Type": "text/plain"}),
        Bad("idempotency key too long", "/transfers", move(), 422, "header.Idempotency-Key",
            headers={"Idempotency-Key": "k" * 256}),
        Bad("retire retired units", "/retirements", retire | {"serial_range": f"{prefix}.50-60"}, 409,
            "units 50-60 are retired"),
        Bad("retire pledged units", "/retirements", retire | {"serial_range": f"{prefix}.101-101"}, 409,
            "are pledged"),
        Bad("half a consumption period", "/retirements",
            retire | {"quantity": 5, "period_start": "2024-01-01"}, 422, "both period_start and period_end"),
        Bad("no beneficiary", "/retirements", retire | {"quantity": 5, "beneficiary": "  "}, 422,
            "beneficiary is required"),
        Bad("pledge to a non-bank", "/pledges", {"account_id": w.owner_account,
                                                 "bank_organization_id": w.buyer_org, "quantity": 5},
            422, "is a buyer, not a bank"),
        Bad("pledge retired units", "/pledges", {"account_id": w.owner_account,
                                                 "bank_organization_id": w.bank_org,
                                                 "serial_range": f"{prefix}.1-1"}, 409, "retired"),
        Bad("release unknown pledge", "/pledges/999/release", None, 404, "pledge 999 does not exist",
            who="bank"),
        Bad("issue in the future", "/issuances", issuance(period_end="2999-12-31"), 422, "in the future",
            who="operator"),
        Bad("vintage outside period", "/issuances", issuance(vintage=2023), 422, "vintage 2023 is outside",
            who="operator"),
        Bad("impossible date", "/issuances", issuance(period_start="2024-13-01"), 422, "body.period_start",
            who="operator"),
        Bad("absurd vintage", "/issuances", issuance(vintage=99999), 422, "body.vintage", who="operator"),
        Bad("issue nothing", "/issuances", issuance(quantity=0), 422, "body.quantity", who="operator"),
        Bad("unknown project", "/issuances", issuance(project_id=999), 404, "project 999 does not exist",
            who="operator"),
        Bad("unknown cancellation purpose", "/cancellations", {"account_id": w.owner_account, "quantity": 5,
                                                               "purpose": "gift"}, 422, "body.purpose",
            who="operator"),
        Bad("compliance without a year", "/cancellations", {"account_id": w.owner_account, "quantity": 5,
                                                            "purpose": "compliance"}, 422, "compliance_year",
            who="operator"),
        Bad("revoke without units", "/revocations", {"reason": "fraud"}, 422,
            "give serial_range, or account_id with quantity", who="operator"),
        Bad("revoke retired units", "/revocations", {"serial_range": f"{prefix}.1-5", "reason": "fraud"}, 409,
            "are retired", who="operator"),
        Bad("unknown account kind", "/accounts", {"organization_id": w.owner_org, "kind": "piggy-bank",
                                                  "name": "x"}, 422, "unknown account kind 'piggy-bank'"),
        Bad("a second operator", "/organizations", {"name": "Rival", "kind": "operator"}, 422,
            "exactly one operator", who="operator"),
        Bad("NUL in a name", "/organizations", {"name": "Ri\x00val", "kind": "buyer"}, 422,
            "body.name: Value error, must not contain NUL", who="operator"),
        Bad("short password", f"/organizations/{w.owner_org}/users",
            {"username": "newbie", "password": "short", "role": "viewer"}, 422, "at least 10"),
        Bad("lifecycle of garbage", "/serials/garbage", None, 422, "is not a serial", method="GET"),
        Bad("lifecycle of unknown issuance", f"/serials/{prefix.rsplit('.', 1)[0]}.I999.1-5", None, 404,
            "issuance 999 does not exist", method="GET"),
        Bad("limit zero", "/accounts?limit=0", None, 422, "query.limit", method="GET"),
        Bad("limit too large", "/accounts?limit=501", None, 422, "query.limit", method="GET"),
        Bad("forged cursor", "/accounts?cursor=bm90IGEgY3Vyc29y", None, 422, "cursor", method="GET"),
        Bad("id not a number", "/accounts/abc", None, 422, "path.account_id", method="GET"),
        Bad("id beyond 64 bits", f"/accounts/{2**64}", None, 422, "path.account_id", method="GET"),
        Bad("statement period backwards",
            f"/accounts/{w.owner_account}/statement?from=2024-02-01&to=2024-01-01", None, 422,
            "from 2024-02-01 is after to 2024-01-01", method="GET"),
    ]


def test_bad_input_is_refused_by_name_and_changes_nothing(api: Api, world: World,
                                                           subtests: pytest.Subtests) -> None:
    issued = world.issue(1000)
    prefix = issued.serials[0].rsplit(".", 1)[0]
    world.act(world.owner, "retire", account_id=world.owner_account, serial_range=f"{prefix}.1-100",
              beneficiary="Widgets", purpose="neutrality")
    world.act(world.owner, "pledge", account_id=world.owner_account, bank_organization_id=world.bank_org,
              serial_range=f"{prefix}.101-200")
    who = {"owner": world.owner, "operator": world.operator, "bank": world.bank}
    before = snapshot(world.engine)
    for case in _cases(world, prefix):
        with subtests.test(case.name):
            headers = api.headers(who[case.who], **case.headers)
            url = f"/api/v1{case.path}"
            if case.method == "GET":
                response = api.client.get(url, headers=headers)
            elif case.raw is not None:
                response = api.client.post(url, content=case.raw, headers=headers)
            else:
                response = api.client.post(url, json=case.body, headers=headers)
            assert_problem(response, case.status, case.phrase)
            assert snapshot(world.engine) == before


def test_validation_problems_list_every_bad_field(api: Api, world: World) -> None:
    response = api.post("/transfers", {"from_account_id": "1", "to_account_id": 2.0, "quantity": 5,
                                       "extra": 1}, who=world.owner)
    problem = assert_problem(response, 422, "body.from_account_id")
    assert problem["type"] == "/problems/invalid-request"
    fields = [e["field"] for e in problem["errors"]]
    assert fields == ["body.from_account_id", "body.to_account_id", "body.extra"]
    assert api.ok(api.client.get(problem["type"]))["status"] == 422


def test_malformed_json_names_line_and_column(api: Api, world: World) -> None:
    response = api.client.post("/api/v1/transfers", content=b'{\n  "quantity": 5,,\n}',
                               headers=api.headers(world.owner, **{"Content-Type": "application/json"}))
    problem = assert_problem(response, 400, "not valid JSON")
    assert (problem["type"], problem["line"], problem["column"]) == ("/problems/malformed-json", 2, 17)
