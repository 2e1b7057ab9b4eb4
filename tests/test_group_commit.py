"""Group commit on SQLite: acts that share one transaction keep their own outcomes, and the group its durability."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tanhui.db import create_engine
from tanhui.errors import InsufficientHoldings
from tanhui.group_commit import WriterGroup, group_of
from tanhui.journal.audit import verify
from tanhui.registry import ledger
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, balance, invariant_problems, snapshot


@pytest.fixture
def world(world_factory: Callable[..., World]) -> World:
    return world_factory("sqlite", pool_size=16)


def _group(world: World) -> WriterGroup:
    group = group_of(world.engine)
    assert group is not None
    return group


def _in_thread(outcomes: dict[str, Any], name: str, act: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            outcomes[name] = act()
        except Exception as exc:  # the test inspects every outcome
            outcomes[name] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_until_queued(group: WriterGroup, count: int) -> None:
    deadline = time.monotonic() + 10
    while group.queued < count:
        assert time.monotonic() < deadline, f"{count} writers did not queue for the group: {group.queued}"
        time.sleep(0.005)


def test_acts_of_one_group_commit_together_and_a_refused_one_fails_alone(world: World) -> None:
    """Three transfers share a COMMIT; the unaffordable one between them gets its own error and changes nothing."""
    world.issue(100)
    group = _group(world)
    commits = group.commits
    outcomes: dict[str, Any] = {}
    holding, release = threading.Event(), threading.Event()

    def first() -> Any:
        with UnitOfWork(world.engine, world.owner.actor) as tx:
            result = ledger.transfer(tx, world.owner, from_account_id=world.owner_account,
                                     to_account_id=world.buyer_account, quantity=60)
            holding.set()
            release.wait(10)  # hold the group's connection until the other two queue for it
            tx.commit()
        return result

    def send(quantity: int) -> Callable[[], Any]:
        return lambda: world.act(world.owner, "transfer", from_account_id=world.owner_account,
                                 to_account_id=world.owner_second, quantity=quantity)

    threads = [_in_thread(outcomes, "first", first)]
    assert holding.wait(10)
    threads.append(_in_thread(outcomes, "too-much", send(50)))
    _wait_until_queued(group, 1)
    threads.append(_in_thread(outcomes, "affordable", send(40)))
    _wait_until_queued(group, 2)
    release.set()
    for thread in threads:
        thread.join()

    assert isinstance(outcomes["first"], ledger.ActResult)
    assert isinstance(outcomes["affordable"], ledger.ActResult)
    refused = outcomes["too-much"]
    assert isinstance(refused, InsufficientHoldings), repr(refused)
    # Whichever of the two queued writers ran second saw the first's 60 units gone, as committed work.
    assert "50 were asked for" in refused.detail
    assert group.commits == commits + 1
    assert balance(world.engine, world.owner_account) == (0, 0)
    assert balance(world.engine, world.buyer_account) == (60, 0)
    assert balance(world.engine, world.owner_second) == (40, 0)
    assert invariant_problems(world.engine) == []
    report = verify(world.engine)
    assert report.ok, report.problems


def test_a_group_whose_commit_fails_reports_the_failure_to_every_act_and_keeps_nothing(world: World) -> None:
    """A deferred check fails at the shared COMMIT: nobody is told their act is durable, nothing changes."""
    issued = world.issue(100)
    group = _group(world)
    before = snapshot(world.engine)
    block = ledger.blocks
    outcomes: dict[str, Any] = {}
    holding, release = threading.Event(), threading.Event()

    def leave_a_gap() -> Any:
        with UnitOfWork(world.engine, world.operator.actor) as tx:
            # Well-formed keys, but no block starts at unit 91: only the COMMIT's foreign-key check sees it.
            tx.conn.execute(sa.update(block).where(block.c.issuance_id == issued.detail["id"])  # type: ignore[index]
                            .values(last=90, quantity=90, successor_first=91))
            holding.set()
            release.wait(10)
            tx.commit()
        return "committed"

    threads = [_in_thread(outcomes, "gap", leave_a_gap)]
    assert holding.wait(10)
    threads.append(_in_thread(outcomes, "innocent", lambda: world.issue(50, account=world.buyer_account)))
    _wait_until_queued(group, 1)
    release.set()
    for thread in threads:
        thread.join()

    for name in ("gap", "innocent"):
        assert isinstance(outcomes[name], sa.exc.IntegrityError), (name, outcomes[name])
        assert "FOREIGN KEY constraint failed" in str(outcomes[name])
    assert snapshot(world.engine) == before
    # The group is usable again at once.
    world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
              quantity=10)
    assert balance(world.engine, world.buyer_account) == (10, 0)
    assert invariant_problems(world.engine) == []
    assert verify(world.engine).ok


def test_groups_of_two_engines_on_one_file_spend_each_unit_once(world: World) -> None:
    """Two engines (as two processes would) each group their threads; together exactly the affordable succeed."""
    world.issue(500)
    other = create_engine(world.engine.url.render_as_string(hide_password=False), pool_size=16)
    try:
        barrier = threading.Barrier(40)
        outcomes: list[Any] = [None] * 40

        def run(index: int) -> None:
            engine = world.engine if index % 2 else other
            barrier.wait()
            try:
                with UnitOfWork(engine, world.owner.actor) as tx:
                    outcomes[index] = ledger.transfer(tx, world.owner, from_account_id=world.owner_account,
                                                      to_account_id=world.buyer_account, quantity=25)
                    tx.commit()
            except Exception as exc:  # inspected below
                outcomes[index] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.dispose()
    succeeded = [o for o in outcomes if isinstance(o, ledger.ActResult)]
    refused = [o for o in outcomes if not isinstance(o, ledger.ActResult)]
    assert len(succeeded) == 20
    assert all(isinstance(error, InsufficientHoldings) for error in refused), refused
    assert balance(world.engine, world.owner_account) == (0, 0)
    assert balance(world.engine, world.buyer_account) == (500, 0)
    assert invariant_problems(world.engine) == []
    assert verify(world.engine).ok


def test_a_failing_first_act_leaves_the_writers_queued_behind_it_unharmed(world: World) -> None:
    """The act that opened the transaction has no savepoint: its failure ends the transaction, not the others."""
    world.issue(100)
    group = _group(world)
    outcomes: dict[str, Any] = {}
    holding, release = threading.Event(), threading.Event()

    def first() -> Any:
        with UnitOfWork(world.engine, world.owner.actor) as tx:
            ledger.transfer(tx, world.owner, from_account_id=world.owner_account, to_account_id=world.buyer_account,
                            quantity=30)
            holding.set()
            release.wait(10)
            ledger.transfer(tx, world.owner, from_account_id=world.owner_account, to_account_id=world.buyer_account,
                            quantity=500)  # refused: the whole unit of work, its first transfer too, is undone
            tx.commit()

    threads = [_in_thread(outcomes, "first", first)]
    assert holding.wait(10)
    threads.append(_in_thread(outcomes, "queued", lambda: world.act(
        world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.owner_second,
        quantity=100)))
    _wait_until_queued(group, 1)
    release.set()
    for thread in threads:
        thread.join()
    assert isinstance(outcomes["first"], InsufficientHoldings), repr(outcomes["first"])
    assert isinstance(outcomes["queued"], ledger.ActResult), repr(outcomes["queued"])
    assert balance(world.engine, world.buyer_account) == (0, 0)
    assert balance(world.engine, world.owner_second) == (100, 0)
    assert invariant_problems(world.engine) == []
    assert verify(world.engine).ok


def test_one_connection_serves_group_after_group_and_many_threads_share_it_safely(world: World) -> None:
    world.issue(10_000)
    group = _group(world)
    for _ in range(3):
        world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
                  quantity=1)
    kept = group._spare
    assert kept is not None and not kept.closed
    world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
              quantity=1)
    assert group._spare is kept  # the next group ran on it, and the act's unit of work left it open

    # Threads whose groups follow one another on the kept connection: none may close it under another.
    outcomes: dict[str, Any] = {}
    threads = [_in_thread(outcomes, f"t{number}", lambda: [
        world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
                  quantity=1) for _ in range(40)]) for number in range(4)]
    for thread in threads:
        thread.join()
    assert not [outcome for outcome in outcomes.values() if isinstance(outcome, BaseException)]
    assert balance(world.engine, world.buyer_account) == (4 + 160, 0)
    assert verify(world.engine).ok and invariant_problems(world.engine) == []
    world.engine.dispose()
    assert group._spare is None and kept.closed
