"""Idempotency-Key: a replay returns the first result and changes nothing; a key reused otherwise fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from tanhui.api.idempotency import idempotency_keys
from tanhui.registry.tables import accounts, acts
from tests.factories import World, invariant_problems, snapshot
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[Api]:
    with serving(world, database_url) as api:
        yield api


def _transfer(world: World, quantity: int) -> dict[str, int]:
    return {"from_account_id": world.owner_account, "to_account_id": world.buyer_account,
            "quantity": quantity}


def _count_acts(world: World, kind: str) -> int:
    with world.engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(acts).where(acts.c.kind == kind)
        return int(conn.execute(count).scalar_one())


def test_a_replay_returns_the_first_result_and_changes_nothing(api: Api, world: World) -> None:
    api.issue(1000)
    first = api.post("/transfers", _transfer(world, 300), who=world.owner, key="invoice-17")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    after_first = snapshot(world.engine)

    replay = api.post("/transfers", _transfer(world, 300), who=world.owner, key="invoice-17")
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert snapshot(world.engine) == after_first
    owner = api.ok(api.get(f"/accounts/{world.owner_account}", who=world.owner))
    assert owner["balances"]["available"] == 700


def test_a_key_reused_for_another_request_is_refused(api: Api, world: World) -> None:
    api.issue(1000)
    api.ok(api.post("/transfers", _transfer(world, 300), who=world.owner, key="invoice-18"))
    before = snapshot(world.engine)
    other_body = api.post("/transfers", _transfer(world, 301), who=world.owner, key="invoice-18")
    refused = assert_problem(other_body, 422, "'invoice-18' was already used")
    assert refused["type"] == "/problems/idempotency-key-reused"
    other_path = api.post("/retirements", {"account_id": world.owner_account, "quantity": 300,
                                           "beneficiary": "B", "purpose": "P"},
                          who=world.owner, key="invoice-18")
    assert_problem(other_path, 422, "already used for a different request")
    assert snapshot(world.engine) == before


def test_keys_belong_to_their_caller(api: Api, world: World) -> None:
    api.issue(1000)
    api.issue(1000, account=world.buyer_account)
    mine = api.ok(api.post("/transfers", _transfer(world, 10), who=world.owner, key="k-1"))
    theirs = api.post("/transfers", {"from_account_id": world.buyer_account,
                                     "to_account_id": world.owner_account, "quantity": 10},
                      who=world.buyer, key="k-1")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine["id"]


def test_only_successes_are_remembered(api: Api, world: World) -> None:
    refused = api.post("/transfers", _transfer(world, 500), who=world.owner, key="retry-me")
    assert_problem(refused, 409, "holds 0 available units")
    api.issue(1000)
    retried = api.post("/transfers", _transfer(world, 500), who=world.owner, key="retry-me")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_an_api_key_secret_is_neither_replayed_nor_stored(api: Api, world: World) -> None:
    body = {"name": "meter gateway", "role": "representative"}
    created = api.ok(api.post("/api-keys", body, who=world.owner, key="gateway-key"))
    assert created["key"].startswith("thk_")
    replay = api.post("/api-keys", body, who=world.owner, key="gateway-key")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == created | {"key": None}
    with world.engine.connect() as conn:
        stored = conn.execute(sa.select(idempotency_keys.c.response_body)).scalars().all()
    assert len(stored) == 1 and created["key"] not in stored[0]


def test_one_key_sent_concurrently_makes_one_act(api: Api, world: World) -> None:
    api.issue(1000)
    # 600 of 1000 units: a second transfer would not even be affordable, so only a replay can answer it.
    body = _transfer(world, 600)
    senders = 8
    barrier = threading.Barrier(senders)

    def send(_: int) -> httpx.Response:
        headers = api.headers(world.owner, **{"Idempotency-Key": "pay-once"})
        barrier.wait()
        return api.client.post("/api/v1/transfers", json=body, headers=headers)

    with ThreadPoolExecutor(senders) as pool:
        responses = list(pool.map(send, range(senders)))

    assert [r.status_code for r in responses] == [201] * senders, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert _count_acts(world, "transfer") == 1
    with world.engine.connect() as conn:
        available = conn.execute(sa.select(accounts.c.available).where(accounts.c.id == world.owner_account))
        assert available.scalar_one() == 400
    assert invariant_problems(world.engine) == []
