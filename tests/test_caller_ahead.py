"""A known caller's write: its caller read and key look-up go with the work, checked before the COMMIT."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tanhui import db
from tanhui.identity.tables import users
from tanhui.prepared import Prepared, ahead, together
from tests.factories import World, snapshot
from tests.sent import Sent
from tests.test_api_support import Api, assert_problem, serving

# For what only PostgreSQL does (round trips, set_config): the world and the API on PostgreSQL alone.
on_postgres = pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                      indirect=True)
_SETTING = Prepared(sa.select(sa.func.set_config("tanhui.test_ahead", sa.bindparam("value"), True).label("v")))


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[Api]:
    with serving(world, database_url) as api:
        yield api


def _transfer(api: Api, world: World, quantity: int, **headers: str) -> Any:
    body = {"from_account_id": world.owner_account, "to_account_id": world.buyer_account, "quantity": quantity}
    return api.client.post("/api/v1/transfers", json=body, headers=api.headers(world.owner, **headers))


@on_postgres
def test_a_known_callers_transfer_takes_one_round_trip_fewer(
        api: Api, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    api.issue(100)
    # The pool pings a connection that sat idle for a second; on a slow machine that would count here.
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    trips = Sent(monkeypatch)
    api.ok(_transfer(api, world, 1, **{"Idempotency-Key": "first"}))
    assert trips.round_trips == 3  # BEGIN with the caller and the key, the transfer, the COMMIT
    assert api.app.state.callers[world.owner.actor] == world.owner
    trips.round_trips = 0
    api.ok(_transfer(api, world, 2, **{"Idempotency-Key": "second"}))
    assert trips.round_trips == 2  # the caller and the key went with the transfer


def test_a_wrong_guess_is_rolled_back_and_answered_as_if_read_first(api: Api, world: World) -> None:
    """Deactivated after a write, the caller's next write (a replay included) is refused as unknown, the
    refused write leaves nothing behind, and the guess is forgotten; reactivated, the replay comes back."""
    api.issue(100)
    first = api.ok(_transfer(api, world, 10, **{"Idempotency-Key": "move-10"}))
    with world.engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.username == "project-owner-admin").values(active=False))
    before = snapshot(world.engine)
    for key in ("move-10", "move-5"):
        assert_problem(_transfer(api, world, 5, **{"Idempotency-Key": key}), 401, "no longer has access")
        assert world.owner.actor not in api.app.state.callers
    assert snapshot(world.engine) == before
    with world.engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.username == "project-owner-admin").values(active=True))
    replayed = _transfer(api, world, 10, **{"Idempotency-Key": "move-10"})
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.json() == first
    # Known again, a refused write is answered as the caller read first would be, and keeps nothing.
    before = snapshot(world.engine)
    assert_problem(_transfer(api, world, 10_000), 409, "holds")
    assert snapshot(world.engine) == before


@on_postgres
def test_statements_sent_ahead_run_before_the_next_ones_whoever_sends_them(world: World) -> None:
    """With ``together`` (as prepared statements send theirs) or with a plain SQLAlchemy one, in order."""
    read = sa.text("SELECT current_setting('tanhui.test_ahead', true)")
    for name, run in (
        ("plain", lambda conn: conn.execute(read).scalar_one()),
        ("together", lambda conn: together(conn, [(Prepared(sa.select(
            sa.func.current_setting("tanhui.test_ahead", True).label("v"))), None)])[0][0]["v"]),
    ):
        with world.engine.connect() as conn, conn.begin():
            sent = ahead(conn, [(_SETTING, {"value": name})])
            assert run(conn) == name
            assert sent.rows()[0][0]["v"] == name
    with world.engine.connect() as conn:
        with conn.begin():
            sent = ahead(conn, [(_SETTING, {"value": "alone"})])
            assert sent.rows()[0][0]["v"] == "alone"  # nothing else ran: sent on its own when asked for
            ahead(conn, [(_SETTING, {"value": "unsent"})])
            with pytest.raises(RuntimeError, match="already waiting"):
                ahead(conn, [(_SETTING, {"value": "twice"})])
        with conn.begin():  # what its transaction never sent is not sent with the connection's next one
            assert conn.execute(read).scalar_one() in (None, "")
