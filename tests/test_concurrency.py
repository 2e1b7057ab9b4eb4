"""Concurrent acts on both databases: each in its own thread and unit of work, all started by one barrier.

On SQLite the threads share their engine's writer group (``tanhui.group_commit``); tests/test_group_commit.py
races two engines on one file as well.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tanhui.errors import InsufficientHoldings, UnitsNotAvailable
from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.registry import ledger
from tanhui.registry.serials import parse_serial
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World, balance, invariant_problems, serial_range

Attempt = Callable[[UnitOfWork], ledger.ActResult]


@pytest.fixture
def world(world_factory: Callable[..., World], database_kind: str) -> World:
    """A fresh world whose engine pools enough connections for every thread to hold its own."""
    return world_factory(database_kind, pool_size=64)


def race(world: World, principal: Principal, attempts: list[Attempt]) -> list[Any]:
    """Run each attempt in its own thread and unit of work, all released at once; their results or errors."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[Any] = [None] * len(attempts)

    def run(index: int) -> None:
        barrier.wait()
        try:
            with UnitOfWork(world.engine, principal.actor) as tx:
                result = attempts[index](tx)
                tx.commit()
            outcomes[index] = result
        except Exception as exc:  # every outcome is inspected by the test, including unexpected ones
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def transfer(principal: Principal, source: int, to: int, **how: Any) -> Attempt:
    return lambda tx: ledger.transfer(tx, principal, from_account_id=source, to_account_id=to, **how)


def open_accounts(world: World, count: int, organization_id: int, prefix: str) -> list[int]:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        ids = [ledger.open_account(tx, world.operator, organization_id=organization_id, kind="holding",
                                   name=f"{prefix}-{i}")["id"] for i in range(count)]
        tx.commit()
    return ids


def units_of(results: list[ledger.ActResult]) -> list[tuple[int, int, int]]:
    """(issuance, first, last) of every serial range the acts moved, sorted."""
    ranges = []
    for result in results:
        for text in result.serials:
            serial = parse_serial(text)
            ranges.append((serial.issuance_id, serial.first, serial.last))
    return sorted(ranges)


def test_sixty_transfers_from_one_account_exactly_the_affordable_succeed(world: World) -> None:
    issued = world.issue(1_000)
    destinations = [world.buyer_account, world.owner_second]
    outcomes = race(world, world.owner, [
        transfer(world.owner, world.owner_account, destinations[i % 2], quantity=25) for i in range(60)
    ])
    succeeded = [o for o in outcomes if isinstance(o, ledger.ActResult)]
    refused = [o for o in outcomes if not isinstance(o, ledger.ActResult)]
    assert len(succeeded) == 40
    assert len(refused) == 20
    for error in refused:
        assert isinstance(error, InsufficientHoldings), repr(error)
        assert f"account {world.owner_account} holds 0 available units; 25 were asked for" in error.detail
    # Every unit moved exactly once: the serials the winners took tile the issuance.
    iid = issued.detail["id"]  # type: ignore[index]
    assert units_of(succeeded) == [(iid, 25 * k + 1, 25 * k + 25) for k in range(40)]
    assert balance(world.engine, world.owner_account) == (0, 0)
    received = [sum(o.act["quantity"] for o in succeeded if o.act["to_account_id"] == d)
                for d in destinations]
    assert [balance(world.engine, d) for d in destinations] == [(received[0], 0), (received[1], 0)]
    assert sum(received) == 1_000
    assert invariant_problems(world.engine) == []


def test_opposite_transfers_between_two_accounts_neither_deadlock_nor_lose_units(world: World) -> None:
    world.issue(1_000)
    world.issue(1_000, account=world.owner_second)
    a, b = world.owner_account, world.owner_second
    outcomes = race(world, world.owner, [
        transfer(world.owner, a, b, quantity=10) if i % 2 else transfer(world.owner, b, a, quantity=10)
        for i in range(60)
    ])
    assert all(isinstance(o, ledger.ActResult) for o in outcomes), [o for o in outcomes
                                                                    if not isinstance(o, ledger.ActResult)]
    assert balance(world.engine, a) == (1_000, 0)
    assert balance(world.engine, b) == (1_000, 0)
    assert invariant_problems(world.engine) == []


@pytest.mark.parametrize("holds_more", [True, False], ids=["holder-keeps-more", "holder-has-only-the-range"])
def test_the_same_serial_range_is_transferred_once(world: World, holds_more: bool) -> None:
    issued = world.issue(1_000)
    if not holds_more:  # leave the owner exactly units 101-200
        for how in ({"quantity": 100}, {"serial_range": serial_range(issued, 201, 1_000)}):
            world.act(world.owner, "transfer", from_account_id=world.owner_account,
                      to_account_id=world.owner_second, **how)
    wanted = serial_range(issued, 101, 200)
    before = balance(world.engine, world.owner_account)
    outcomes = race(world, world.owner, [
        transfer(world.owner, world.owner_account, world.buyer_account, serial_range=wanted)
        for _ in range(20)
    ])
    winners = [o for o in outcomes if isinstance(o, ledger.ActResult)]
    losers = [o for o in outcomes if not isinstance(o, ledger.ActResult)]
    assert len(winners) == 1
    assert winners[0].serials == [wanted]
    for error in losers:
        assert isinstance(error, UnitsNotAvailable | InsufficientHoldings), repr(error)
        if isinstance(error, UnitsNotAvailable):
            assert f"units 101-200 are not held by account {world.owner_account}" in error.detail
        else:
            assert "holds 0 available units; 100 were asked for" in error.detail
    assert balance(world.engine, world.owner_account) == (before[0] - 100, 0)
    assert balance(world.engine, world.buyer_account) == (100, 0)
    assert invariant_problems(world.engine) == []


def test_splits_of_neighbouring_blocks_held_by_different_accounts_do_not_collide(world: World) -> None:
    """Each act splits a block while other acts, under other accounts' locks, split its neighbours.

    The blocks' neighbour keys reach across accounts, so this is where two acts that share no account meet.
    """
    sources = open_accounts(world, 12, world.owner_org, "source")
    targets = open_accounts(world, 12, world.buyer_org, "target")
    for _ in range(3):
        issued = world.issue(100 * len(sources))
        for i, source in enumerate(sources):
            world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=source,
                      serial_range=serial_range(issued, 100 * i + 1, 100 * i + 100))
        # The middle of each block, so every block's row changes both its first and its last unit.
        outcomes = race(world, world.owner, [
            transfer(world.owner, source, target,
                     serial_range=serial_range(issued, 100 * i + 41, 100 * i + 60))
            for i, (source, target) in enumerate(zip(sources, targets, strict=True))
        ])
        assert all(isinstance(o, ledger.ActResult) for o in outcomes), [
            o for o in outcomes if not isinstance(o, ledger.ActResult)]
    assert [balance(world.engine, s) for s in sources] == [(240, 0)] * len(sources)
    assert [balance(world.engine, t) for t in targets] == [(60, 0)] * len(targets)
    assert invariant_problems(world.engine) == []


def test_logins_succeed_while_transfers_write(world: World) -> None:
    """A login may write (failures, their reset), so it must queue for the write lock rather than fail at once."""
    world.issue(1000)
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def log_in(index: int) -> None:
        barrier.wait()
        password = PASSWORD if index % 2 else "wrong password"
        try:
            identity.authenticate(world.engine, "buyer-admin", password, max_failures=100, window_seconds=60)
        except Exception as exc:  # a wrong password must be refused as such, and nothing else may fail
            if index % 2 or type(exc).__name__ != "NotAuthenticated":
                errors.append(exc)

    def send(index: int) -> None:
        barrier.wait()
        try:
            with UnitOfWork(world.engine, world.owner.actor) as tx:
                ledger.transfer(tx, world.owner, from_account_id=world.owner_account,
                                to_account_id=world.owner_second, quantity=1)
                tx.commit()
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=log_in if i < 8 else send, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert balance(world.engine, world.owner_second) == (8, 0)
