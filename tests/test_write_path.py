"""The transfer's shortened write path: the same blocks, errors and journal as the long way round."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tanhui.errors import InsufficientHoldings, InvalidRequest, NotFound, PermissionDenied, TanhuiError
from tanhui.group_commit import HeadMoved, WriterGroup, group_of
from tanhui.journal.audit import verify
from tanhui.journal.tables import journal_entries, journal_head
from tanhui.registry import ledger
from tanhui.registry.tables import accounts as accounts_table
from tanhui.registry.tables import blocks
from tanhui.unit_of_work import Change, UnitOfWork
from tests.factories import World, balance, invariant_problems, serial_range, snapshot


def _rows(world: World, account_id: int) -> list[tuple[int, int, str]]:
    """An account's block rows as stored (not merged into runs): (first, last, state)."""
    with world.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            sa.select(blocks.c.first, blocks.c.last, blocks.c.state).where(blocks.c.account_id == account_id)
            .order_by(blocks.c.issuance_id, blocks.c.first))]


def _send(world: World, quantity: int, source: int, destination: int) -> ledger.ActResult:
    return world.act(world.owner if source != world.buyer_account else world.buyer, "transfer",
                     from_account_id=source, to_account_id=destination, quantity=quantity)


def test_units_landing_beside_the_receivers_block_grow_it_and_leave_one_row_per_run(world: World) -> None:
    """Sent in pieces and back, units merge into the neighbour's row; rows, balances and history agree."""
    world.issue(100)
    owner, buyer = world.owner_account, world.buyer_account
    for quantity in (10, 5, 20):  # each lands beside what the buyer already holds
        _send(world, quantity, owner, buyer)
    assert _rows(world, buyer) == [(1, 35, "available")]
    assert _rows(world, owner) == [(36, 100, "available")]
    moved = _send(world, 35, buyer, owner)  # taken whole: the buyer's row goes, the owner's grows over it
    assert [(m["first"], m["last"]) for m in moved.movements] == [(1, 35)]
    assert _rows(world, buyer) == []
    assert _rows(world, owner) == [(1, 100, "available")]
    _send(world, 7, owner, buyer)
    _send(world, 3, buyer, owner)  # a remainder is left on both sides
    assert _rows(world, buyer) == [(4, 7, "available")]
    assert _rows(world, owner) == [(1, 3, "available"), (8, 100, "available")]
    assert balance(world.engine, owner) == (96, 0)
    assert balance(world.engine, buyer) == (4, 0)
    assert invariant_problems(world.engine) == []
    report = verify(world.engine)
    assert report.ok, report.problems


def test_units_filling_a_gap_merge_both_neighbours_into_one_row(world: World) -> None:
    issued = world.issue(30)
    owner, buyer = world.owner_account, world.buyer_account
    world.act(world.owner, "transfer", from_account_id=owner, to_account_id=buyer,
              serial_range=serial_range(issued, 1, 10))
    world.act(world.owner, "transfer", from_account_id=owner, to_account_id=buyer,
              serial_range=serial_range(issued, 21, 30))
    assert _rows(world, buyer) == [(1, 10, "available"), (21, 30, "available")]
    result = world.act(world.owner, "transfer", from_account_id=owner, to_account_id=buyer,
                       serial_range=serial_range(issued, 11, 20))
    assert result.serials == [serial_range(issued, 11, 20)]
    assert _rows(world, buyer) == [(1, 30, "available")]
    assert _rows(world, owner) == []
    assert invariant_problems(world.engine) == []
    assert verify(world.engine).ok


# The sender is checked on its balance update's row; a failure before that must still name the sender's
# problem first, as when it was read and checked before anything else.
REFUSALS: list[tuple[str, Callable[[World], dict[str, Any]], type[TanhuiError], str]] = [
    ("another organisation's account, more than it holds",
     lambda w: {"from_account_id": w.buyer_account, "to_account_id": w.owner_account, "quantity": 10**6},
     PermissionDenied, "belongs to another organisation"),
    ("another organisation's account, a bad quantity",
     lambda w: {"from_account_id": w.buyer_account, "to_account_id": w.owner_account, "quantity": 0},
     PermissionDenied, "belongs to another organisation"),
    ("another organisation's account, affordable",
     lambda w: {"from_account_id": w.buyer_account, "to_account_id": w.owner_account, "quantity": 1},
     PermissionDenied, "belongs to another organisation"),
    ("an unknown sender", lambda w: {"from_account_id": 999_999, "to_account_id": w.owner_account,
                                     "quantity": 1}, NotFound, "account 999999 does not exist"),
    ("an unknown receiver", lambda w: {"from_account_id": w.owner_account, "to_account_id": 999_999,
                                       "quantity": 1}, NotFound, "account 999999 does not exist"),
    ("more than the sender holds", lambda w: {"from_account_id": w.owner_account,
                                              "to_account_id": w.buyer_account, "quantity": 101},
     InsufficientHoldings, "holds 100 available units; 101 were asked for"),
    ("a fractional quantity", lambda w: {"from_account_id": w.owner_account, "to_account_id": w.buyer_account,
                                         "quantity": 1.5}, InvalidRequest, "whole number"),
]


@pytest.mark.parametrize(("case", "arguments", "error", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_transfer_names_the_first_problem_and_changes_nothing(
    world: World, case: str, arguments: Callable[[World], dict[str, Any]], error: type[TanhuiError], message: str,
) -> None:
    world.issue(100)
    world.issue(50, account=world.buyer_account)
    before = snapshot(world.engine)
    with pytest.raises(error, match=message):
        world.act(world.owner, "transfer", **arguments(world))
    assert snapshot(world.engine) == before


def test_a_retirement_account_cannot_send_even_what_it_holds(world: World) -> None:
    world.issue(10)
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        retirement = ledger.open_account(tx, world.operator, organization_id=world.owner_org, kind="retirement",
                                         name="retired")["id"]
        tx.commit()
    world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=retirement, quantity=5)
    before = snapshot(world.engine)
    with pytest.raises(InvalidRequest, match="retirement account cannot be transferred out"):
        world.act(world.owner, "transfer", from_account_id=retirement, to_account_id=world.owner_account,
                  quantity=5)
    assert snapshot(world.engine) == before


@pytest.fixture
def sqlite_world(world_factory: Callable[..., World]) -> World:
    return world_factory("sqlite", pool_size=16)


def _wait_until_queued(group: WriterGroup, count: int) -> None:
    deadline = time.monotonic() + 10
    while group.queued < count:
        assert time.monotonic() < deadline, f"{count} writers did not queue for the group: {group.queued}"
        time.sleep(0.005)


def _head(world: World) -> tuple[int, str]:
    with world.engine.connect() as conn:
        head = conn.execute(sa.select(journal_head.c.seq, journal_head.c.hash)).one()
        last = conn.execute(sa.select(journal_entries.c.seq, journal_entries.c.hash)
                            .order_by(journal_entries.c.seq.desc()).limit(1)).one()
    assert tuple(head) == tuple(last), "the head must name the last entry"
    return int(head.seq), str(head.hash)


def test_a_group_writes_the_head_of_its_last_kept_act(sqlite_world: World) -> None:
    """Acts of one group chain onto the head it keeps; one rolled back in between leaves no trace."""
    world = sqlite_world
    world.issue(100)
    seq, _hash = _head(world)
    group = group_of(world.engine)
    assert group is not None
    commits = group.commits
    holding, release = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def first() -> None:
        with UnitOfWork(world.engine, world.owner.actor) as tx:
            ledger.transfer(tx, world.owner, from_account_id=world.owner_account,
                            to_account_id=world.buyer_account, quantity=10)
            holding.set()
            release.wait(10)
            tx.commit()

    def later(name: str, quantity: int) -> Callable[[], None]:
        def run() -> None:
            try:
                _send(world, quantity, world.owner_account, world.owner_second)
                outcomes[name] = "kept"
            except InsufficientHoldings as exc:
                outcomes[name] = exc
        return run

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert holding.wait(10)
    for name, quantity in (("refused", 1000), ("kept", 5)):
        thread = threading.Thread(target=later(name, quantity))
        thread.start()
        threads.append(thread)
    _wait_until_queued(group, 2)
    release.set()
    for thread in threads:
        thread.join()
    assert outcomes["kept"] == "kept"
    assert isinstance(outcomes["refused"], InsufficientHoldings)
    assert group.commits == commits + 1
    assert _head(world)[0] == seq + 2  # two kept transfers, one entry each
    report = verify(world.engine)
    assert report.ok, report.problems


def test_a_head_moved_behind_a_groups_back_fails_its_commit_and_keeps_nothing(sqlite_world: World) -> None:
    """The group writes the head guarded by the sequence it read: if it moved, nobody's act is kept."""
    world = sqlite_world
    world.issue(100)
    group = group_of(world.engine)
    assert group is not None
    before = snapshot(world.engine)
    holding, release = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def first() -> None:
        try:
            with UnitOfWork(world.engine, world.owner.actor) as tx:
                ledger.transfer(tx, world.owner, from_account_id=world.owner_account,
                                to_account_id=world.buyer_account, quantity=10)
                holding.set()
                release.wait(10)
                tx.commit()  # reads the head; the group stays open for the writer queued behind
            outcomes["first"] = "kept"
        except HeadMoved as exc:
            outcomes["first"] = exc

    def second() -> None:
        try:
            with UnitOfWork(world.engine, world.owner.actor) as tx:
                # Something that ignores the group's lock moves the head (here: a statement on its connection).
                tx.conn.exec_driver_sql("UPDATE journal_head SET seq = seq + 1")
                ledger.transfer(tx, world.owner, from_account_id=world.owner_account,
                                to_account_id=world.owner_second, quantity=5)
                tx.commit()
            outcomes["second"] = "kept"
        except HeadMoved as exc:
            outcomes["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert holding.wait(10)
    threads[1].start()
    _wait_until_queued(group, 1)
    release.set()
    for thread in threads:
        thread.join()
    for name in ("first", "second"):
        assert isinstance(outcomes[name], HeadMoved), (name, outcomes[name])
        assert "the journal head moved" in str(outcomes[name])
    assert snapshot(world.engine) == before
    world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
              quantity=10)
    assert verify(world.engine).ok


def test_writes_sent_together_stop_at_the_first_refused_one_and_keep_nothing(world: World) -> None:
    """On PostgreSQL a pipeline; on SQLite one after another: either way the error is SQLAlchemy's."""
    world.issue(100)
    before = snapshot(world.engine)
    with UnitOfWork(world.engine, world.owner.actor) as tx:
        tx.entry("test")
        changes = [
            Change(accounts_table, ledger._BALANCE, {"b_id": world.owner_account, "b_available": -10,
                                                     "b_pledged": 0, "b_min_available": 10, "b_min_pledged": 0}),
            # Breaks the CHECK (available >= 0) outright: the guard is left out on purpose.
            Change(accounts_table, ledger._BALANCE, {"b_id": world.buyer_account, "b_available": -10,
                                                     "b_pledged": 0, "b_min_available": 0, "b_min_pledged": 0}),
        ]
        with pytest.raises(sa.exc.IntegrityError):
            tx.apply(changes)
    assert snapshot(world.engine) == before
