"""The database itself refuses direct SQL that breaks an invariant, and ``check_invariants`` finds the rest.

Part one writes to the tables directly, as a buggy service or a careless operator with a SQL prompt would,
and expects the database (constraints, deferred keys, triggers) to refuse.  Part two makes changes the
database cannot see as wrong on their own (or makes them with its guards switched off) and expects the
checker to name the broken invariant.  Part three tests the checker's pure replay against a per-unit model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection, Engine

from tanhui.registry.blocks import Block
from tanhui.registry.invariants import Movement, Run, history_problems, merge_runs, replay, tiling_problems
from tests.factories import World, detail_id, invariant_problems, serial_range, snapshot


@pytest.fixture
def world(world_factory: Callable[..., World], database_kind: str) -> World:
    return world_factory(database_kind)


@pytest.fixture
def ledger(world: World) -> dict[str, Any]:
    """Units 1-40 at the buyer, 41-50 retired, 51-60 pledged and 61-100 available at the owner."""
    issued = world.issue(100)
    world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
              quantity=40)
    world.act(world.owner, "retire", account_id=world.owner_account, quantity=10, beneficiary="B",
              purpose="P")
    lien = world.act(world.owner, "pledge", account_id=world.owner_account,
                     bank_organization_id=world.bank_org, serial_range=serial_range(issued, 51, 60))
    assert invariant_problems(world.engine) == []
    with world.engine.connect() as conn:
        block_ids = {first: id_ for first, id_ in conn.execute(sa.text("SELECT first, id FROM blocks"))}
    return {"issuance": detail_id(issued), "block": block_ids, "pledge": detail_id(lien),
            "owner": world.owner_account, "buyer": world.buyer_account}


# ---------------------------------------------------------------- part one: the database refuses

def _block_values(ledger: dict[str, Any], first: int, last: int, **changes: Any) -> dict[str, Any]:
    """A well-formed block row of the test issuance, apart from ``changes``."""
    values = {"issuance_id": ledger["issuance"], "first": first, "last": last, "quantity": last - first + 1,
              "issued_last": 100, "predecessor_last": first - 1 if first > 1 else None,
              "successor_first": last + 1 if last < 100 else None, "account_id": ledger["buyer"],
              "state": "available", "pledge_id": None}
    return {**values, **changes}


INSERT_BLOCK = ("INSERT INTO blocks (issuance_id, first, last, quantity, issued_last, predecessor_last, "
                "successor_first, account_id, state, pledge_id) VALUES (:issuance_id, :first, :last, "
                ":quantity, :issued_last, :predecessor_last, :successor_first, :account_id, :state, "
                ":pledge_id)")

# (statement, its parameters from the ledger fixture, what PostgreSQL says, what SQLite says: patterns)
Attack = tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str, str]

ATTACKS: dict[str, Attack] = {
    "insert-overlapping-block": (INSERT_BLOCK, lambda d: _block_values(d, 30, 45),
                                 "ex_blocks_overlap", "invariant 2"),
    "insert-a-second-copy-of-a-block": (INSERT_BLOCK, lambda d: _block_values(d, 61, 100),
                                        "uq_blocks_issuance_id_first|ex_blocks_overlap", "invariant 2"),
    "insert-block-inside-another": (INSERT_BLOCK, lambda d: _block_values(d, 70, 80),
                                    "ex_blocks_overlap", "invariant 2"),
    # Reaching past the issuance breaks both the bounds and the successor rule; either may be reported.
    "insert-block-beyond-the-issuance": (INSERT_BLOCK,
                                         lambda d: _block_values(d, 101, 110, successor_first=111),
                                         "ck_blocks_(bounds|successor)", "ck_blocks_(bounds|successor)"),
    "insert-block-claiming-a-bigger-issuance": (
        INSERT_BLOCK, lambda d: _block_values(d, 101, 110, issued_last=110, successor_first=None),
        "fk_blocks_issuance", "FOREIGN KEY constraint failed"),
    "insert-block-with-wrong-quantity": (INSERT_BLOCK, lambda d: _block_values(d, 101, 110, quantity=11,
                                                                                issued_last=110),
                                         "ck_blocks_quantity", "ck_blocks_quantity"),
    "insert-empty-block": (INSERT_BLOCK, lambda d: _block_values(d, 101, 100, quantity=0, issued_last=110,
                                                                    successor_first=101),
                           "ck_blocks_quantity", "ck_blocks_quantity"),
    "quantity-not-last-minus-first-plus-one": (
        "UPDATE blocks SET quantity = quantity + 1 WHERE id = :id", lambda d: {"id": d["block"][61]},
        "ck_blocks_quantity", "ck_blocks_quantity"),
    # A CHECK passes when it evaluates to NULL, so a NULL neighbour key must be refused explicitly.
    "shrink-dropping-the-successor": (
        "UPDATE blocks SET last = 90, quantity = 30, successor_first = NULL WHERE id = :id",
        lambda d: {"id": d["block"][61]}, "ck_blocks_successor", "ck_blocks_successor"),
    "grow-over-the-neighbour": (
        "UPDATE blocks SET last = 45, quantity = 45, successor_first = 46 WHERE id = :id",
        lambda d: {"id": d["block"][1]}, "ex_blocks_overlap", "invariant 2"),
    "move-a-block-to-another-issuance": (
        "UPDATE blocks SET issuance_id = issuance_id + 1 WHERE id = :id", lambda d: {"id": d["block"][61]},
        "cannot change issuance", "cannot change issuance"),
    "move-a-retired-block": (
        "UPDATE blocks SET account_id = :buyer WHERE id = :id",
        lambda d: {"id": d["block"][41], "buyer": d["buyer"]},
        "invariant 4", "invariant 4"),
    "revive-a-retired-block": (
        "UPDATE blocks SET state = 'available' WHERE id = :id", lambda d: {"id": d["block"][41]},
        "invariant 4", "invariant 4"),
    "move-a-pledged-block-to-another-account": (
        "UPDATE blocks SET account_id = :buyer WHERE id = :id",
        lambda d: {"id": d["block"][51], "buyer": d["buyer"]},
        "invariant 6", "invariant 6"),
    "retire-a-pledged-block": (
        "UPDATE blocks SET state = 'retired', pledge_id = NULL WHERE id = :id",
        lambda d: {"id": d["block"][51]},
        "invariant 6", "invariant 6"),
    "drive-a-balance-negative": (
        "UPDATE accounts SET available = available - 41 WHERE id = :id", lambda d: {"id": d["owner"]},
        "ck_accounts_available", "ck_accounts_available"),
    "drive-a-pledged-balance-negative": (
        "UPDATE accounts SET pledged = -1 WHERE id = :id", lambda d: {"id": d["owner"]},
        "ck_accounts_pledged", "ck_accounts_pledged"),
    "delete-a-retired-block": ("DELETE FROM blocks WHERE id = :id", lambda d: {"id": d["block"][41]},
                               "only an available block may merge", "only an available block may merge"),
    "delete-a-pledged-block": ("DELETE FROM blocks WHERE id = :id", lambda d: {"id": d["block"][51]},
                               "only an available block may merge", "only an available block may merge"),
    "update-a-journal-entry": ("UPDATE journal_entries SET actor = 'someone else'", lambda d: {},
                               "UPDATE on journal_entries is not allowed",
                               "journal_entries rows are append-only"),
    "delete-a-journal-entry": ("DELETE FROM journal_entries", lambda d: {},
                               "DELETE on journal_entries is not allowed",
                               "journal_entries rows are append-only"),
    "update-a-movement": ("UPDATE movements SET last = last + 1", lambda d: {},
                          "UPDATE on movements is not allowed", "movements rows are append-only"),
    "delete-a-movement": ("DELETE FROM movements", lambda d: {},
                          "DELETE on movements is not allowed", "movements rows are append-only"),
    "rewrite-an-act": ("UPDATE acts SET quantity = 1", lambda d: {},
                       "UPDATE on acts is not allowed", "acts rows are append-only"),
    "shrink-an-issuance": ("UPDATE issuances SET quantity = 50", lambda d: {},
                           "UPDATE on issuances is not allowed", "issuances rows are append-only"),
    "delete-an-account": ("DELETE FROM accounts WHERE id = :id", lambda d: {"id": d["buyer"]},
                          "DELETE on accounts is not allowed", "accounts rows are never deleted"),
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_the_database_refuses_direct_sql_that_breaks_an_invariant(world: World, ledger: dict[str, Any],
                                                                  attack: Attack) -> None:
    statement, parameters, on_postgres, on_sqlite = attack
    before = snapshot(world.engine)
    with pytest.raises(sa.exc.DBAPIError) as refused, world.engine.begin() as conn:
        conn.execute(sa.text(statement), parameters(ledger))
    expected = on_postgres if world.engine.dialect.name == "postgresql" else on_sqlite
    assert re.search(expected, str(refused.value.orig)), refused.value.orig
    assert snapshot(world.engine) == before
    assert invariant_problems(world.engine) == []


@pytest.mark.parametrize("statement", [
    # Each keeps its neighbour keys well formed, so nothing fails until commit looks for the neighbours: the
    # block after unit 90 (there is none), or the block starting at unit 61 that block 51-60 points to.
    "UPDATE blocks SET last = 90, quantity = 30, successor_first = 91 WHERE id = :id",
    "UPDATE blocks SET first = 65, quantity = 36, predecessor_last = 64 WHERE id = :id",
    # An available block may be deleted (merged into its neighbour), but only if the neighbours still meet.
    "DELETE FROM blocks WHERE id = :id",
], ids=["gap-after", "gap-before", "deleted"])
def test_a_gap_left_in_the_blocks_cannot_be_committed(world: World, ledger: dict[str, Any],
                                                      statement: str) -> None:
    before = snapshot(world.engine)
    with pytest.raises(sa.exc.DBAPIError) as refused, world.engine.connect() as conn, conn.begin():
        conn.execute(sa.text(statement), {"id": ledger["block"][61]})
        # Within the transaction the change is accepted: the neighbour keys are checked at commit.
        assert conn.execute(sa.text("SELECT sum(quantity) FROM blocks")).scalar_one() < 100
    postgres = world.engine.dialect.name == "postgresql"
    expected = "fk_blocks_successor" if postgres else "FOREIGN KEY constraint failed"
    assert expected in str(refused.value.orig)
    assert snapshot(world.engine) == before
    assert invariant_problems(world.engine) == []


def test_a_split_done_by_hand_in_one_transaction_is_accepted(world: World, ledger: dict[str, Any]) -> None:
    """The guards do not get in the way of a correct split: shrink the row, insert the remainder, commit."""
    with world.engine.begin() as conn:
        conn.execute(sa.text("UPDATE blocks SET last = 80, quantity = 20, successor_first = 81 "
                             "WHERE id = :id"), {"id": ledger["block"][61]})
        conn.execute(sa.text(INSERT_BLOCK), _block_values(ledger, 81, 100, account_id=ledger["owner"]))
    # No movement records the split, but none is needed: the units did not change hands.
    assert invariant_problems(world.engine) == []


# ---------------------------------------------------------------- part two: the checker finds the rest

def _sql(engine: Engine, statement: str, **parameters: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(statement), parameters)


@contextmanager
def _unguarded(engine: Engine) -> Iterator[Connection]:
    """A transaction with the ledger's triggers and foreign keys switched off, as a superuser could do."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # Before BEGIN: inside a transaction SQLite ignores these.
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys = OFF")
            raw.execute("PRAGMA ignore_check_constraints = ON")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            else:
                triggers = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").all()
                for (name,) in triggers:
                    conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
            yield conn


def _has(problems: list[str], *fragments: str) -> bool:
    return any(all(fragment in problem for fragment in fragments) for problem in problems)


def test_units_moved_behind_the_ledgers_back_are_found(world: World, ledger: dict[str, Any]) -> None:
    _sql(world.engine, "UPDATE blocks SET account_id = :buyer WHERE id = :id", buyer=ledger["buyer"],
         id=ledger["block"][61])
    problems = invariant_problems(world.engine)
    assert _has(problems, "invariant 5", f"account {ledger['owner']} records available 40",
                "its blocks hold available 0")
    assert _has(problems, "invariant 5", f"account {ledger['buyer']} records available 40",
                "its blocks hold available 80")
    assert _has(problems, "invariant 3",
                f"the blocks have units 61-100 at account {ledger['buyer']} available",
                f"the movements leave units 61-100 at account {ledger['owner']} available")


def test_a_balance_changed_by_hand_is_found(world: World, ledger: dict[str, Any]) -> None:
    _sql(world.engine, "UPDATE accounts SET available = available + 10 WHERE id = :id", id=ledger["buyer"])
    assert invariant_problems(world.engine) == [
        f"invariant 5: account {ledger['buyer']} records available 50, pledged 0, but its blocks hold "
        "available 40, pledged 0"
    ]


def test_units_retired_without_an_act_are_found(world: World, ledger: dict[str, Any]) -> None:
    _sql(world.engine, "UPDATE blocks SET state = 'retired' WHERE id = :id", id=ledger["block"][1])
    problems = invariant_problems(world.engine)
    assert _has(problems, "invariant 5", f"account {ledger['buyer']} records available 40")
    assert _has(problems, "invariant 3", f"units 1-40 at account {ledger['buyer']} retired",
                f"movements leave units 1-40 at account {ledger['buyer']} available")


def _forged_act(conn: Connection, quantity: int) -> int:
    return int(conn.execute(sa.text(
        "INSERT INTO acts (kind, quantity, actor, created_at) "
        "VALUES ('transfer', :q, 'forger', CURRENT_TIMESTAMP) RETURNING id"), {"q": quantity}).scalar_one())


def _forge_movement(engine: Engine, ledger: dict[str, Any], first: int, last: int, source: str, to: str,
                    from_state: str, to_state: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO movements (act_id, issuance_id, first, last, from_account_id, to_account_id, "
            "from_state, to_state) VALUES (:act, :issuance, :first, :last, :source, :to, :from_state, "
            ":to_state)"),
            {"act": _forged_act(conn, last - first + 1), "issuance": ledger["issuance"], "first": first,
             "last": last, "source": ledger[source], "to": ledger[to], "from_state": from_state,
             "to_state": to_state})


def test_history_that_moves_retired_units_is_found(world: World, ledger: dict[str, Any]) -> None:
    _forge_movement(world.engine, ledger, 41, 50, "owner", "buyer", "retired", "available")
    problems = invariant_problems(world.engine)
    assert _has(problems, "invariant 4", "units 41-50", "out of the final state retired")
    assert _has(problems, "invariant 3", "blocks do not match its movements")


def test_history_that_moves_pledged_units_is_found(world: World, ledger: dict[str, Any]) -> None:
    _forge_movement(world.engine, ledger, 51, 55, "owner", "buyer", "pledged", "available")
    problems = invariant_problems(world.engine)
    assert _has(problems, "invariant 6", "units 51-55", "only a release to available in the same account")


def test_history_that_spends_units_twice_is_found(world: World, ledger: dict[str, Any]) -> None:
    # Units 1-40 went to the buyer; a second record of the owner sending them again is a double spend.
    _forge_movement(world.engine, ledger, 1, 40, "owner", "buyer", "available", "available")
    problems = invariant_problems(world.engine)
    assert _has(problems, "invariant 5", "units 1-40",
                f"takes units from account {ledger['owner']} available",
                f"were at account {ledger['buyer']} available")


def test_an_act_whose_movements_do_not_add_up_is_found(world: World, ledger: dict[str, Any]) -> None:
    with world.engine.begin() as conn:
        act = _forged_act(conn, 5)
    assert invariant_problems(world.engine) == [
        f"invariant 3: act {act} records 5 units but its movements move 0"]


def test_an_issuance_without_blocks_is_found(world: World, ledger: dict[str, Any]) -> None:
    with world.engine.begin() as conn:
        act = _forged_act(conn, 10)
        issuance = conn.execute(sa.text(
            "INSERT INTO issuances (act_id, project_id, registry, region, credit_type, vintage, "
            "period_start, period_end, quantity, account_id, created_at) VALUES (:act, :project, 'TH', "
            "'SIP', 'PHCER', 2024, '2024-01-01', '2024-12-31', 10, :owner, CURRENT_TIMESTAMP) RETURNING id"),
            {"act": act, "project": world.project, "owner": ledger["owner"]}).scalar_one()
    problems = invariant_problems(world.engine)
    assert f"invariant 3: units 1-10 of issuance {issuance} are in no block" in problems
    assert f"invariant 3: issuance {issuance} issued 10 units but its blocks hold 0" in problems
    assert f"invariant 3: issuance {issuance} has no movement creating its units" in problems


def test_a_pledge_whose_blocks_do_not_match_it_is_found(world: World, ledger: dict[str, Any]) -> None:
    _sql(world.engine, "UPDATE pledges SET quantity = 5 WHERE id = :id", id=ledger["pledge"])
    assert invariant_problems(world.engine) == [
        f"invariant 6: active pledge {ledger['pledge']} is for 5 units but its blocks hold 10"
    ]


def test_overlap_and_gaps_made_with_the_guards_off_are_found(world: World, ledger: dict[str, Any]) -> None:
    with _unguarded(world.engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE blocks DROP CONSTRAINT ex_blocks_overlap")
        conn.execute(sa.text(INSERT_BLOCK), _block_values(ledger, 30, 45))
        conn.execute(sa.text("DELETE FROM blocks WHERE id = :id"), {"id": ledger["block"][61]})
    problems = invariant_problems(world.engine)
    assert _has(problems, "invariant 2", f"blocks {ledger['block'][1]} (units 1-40)", "(units 30-45)",
                "overlap")
    assert _has(problems, "invariant 3", "units 61-100", "in no block")
    assert _has(problems, "invariant 3", "issued 100 units but its blocks hold 76")


def test_a_block_with_a_wrong_quantity_made_with_the_guards_off_is_found(world: World,
                                                                         ledger: dict[str, Any]) -> None:
    with _unguarded(world.engine) as conn:
        if conn.dialect.name == "postgresql":  # SQLite ignores its CHECKs here instead
            conn.exec_driver_sql("ALTER TABLE blocks DROP CONSTRAINT ck_blocks_quantity")
        conn.execute(sa.text("UPDATE blocks SET quantity = 7 WHERE id = :id"), {"id": ledger["block"][61]})
    problems = invariant_problems(world.engine)
    assert _has(problems, "invariant 1", f"block {ledger['block'][61]}", "records quantity 7, not 40 > 0")


# ---------------------------------------------------------------- part three: the pure replay

def _movement(number: int, first: int, last: int, source: int | None, to: int, from_state: str | None,
              to_state: str) -> Movement:
    return Movement(number, number, 1, first, last, source, to, from_state, to_state)


def test_tiling_names_overlaps_gaps_and_strays() -> None:
    def block(number: int, first: int, last: int) -> Block:
        return Block(number, 1, first, last, 1, "available")

    assert tiling_problems(1, 100, [block(1, 1, 60), block(2, 61, 100)]) == []
    assert tiling_problems(1, 100, [block(1, 1, 60), block(2, 50, 100)]) == [
        "invariant 2: blocks 1 (units 1-60) and 2 (units 50-100) of issuance 1 overlap",
        "invariant 3: issuance 1 issued 100 units but its blocks hold 111",
    ]
    assert tiling_problems(1, 100, [block(1, 1, 60), block(2, 71, 90)]) == [
        "invariant 3: units 61-70 of issuance 1 are in no block (the gap before block 2)",
        "invariant 3: units 91-100 of issuance 1 are in no block",
        "invariant 3: issuance 1 issued 100 units but its blocks hold 80",
    ]
    # A block inside an earlier, longer one overlaps it, not the block just before it.
    assert tiling_problems(1, 100, [block(1, 1, 100), block(2, 10, 20), block(3, 30, 40)])[:2] == [
        "invariant 2: blocks 1 (units 1-100) and 2 (units 10-20) of issuance 1 overlap",
        "invariant 2: blocks 1 (units 1-100) and 3 (units 30-40) of issuance 1 overlap",
    ]
    assert "lies outside issuance 1's units 1-100" in tiling_problems(1, 100, [block(1, 1, 110)])[0]


def test_replay_follows_a_valid_history_to_its_merged_runs() -> None:
    runs, problems = replay(1, 100, 7, [
        _movement(1, 1, 100, None, 7, None, "available"),
        _movement(2, 21, 40, 7, 8, "available", "available"),
        _movement(3, 41, 60, 7, 7, "available", "pledged"),
        _movement(4, 41, 60, 7, 7, "pledged", "available"),
        _movement(5, 30, 35, 8, 8, "available", "retired"),
    ])
    assert problems == []
    assert runs == [Run(1, 20, 7, "available"), Run(21, 29, 8, "available"), Run(30, 35, 8, "retired"),
                    Run(36, 40, 8, "available"), Run(41, 100, 7, "available")]


def test_replay_names_a_creation_that_does_not_match_the_issuance() -> None:
    _, problems = replay(1, 100, 7, [_movement(1, 1, 90, None, 7, None, "available")])
    assert problems == ["invariant 3: issuance 1's first movement 1 does not create units 1-100 available in "
                        "account 7"]
    _, problems = replay(1, 100, 7, [_movement(1, 1, 100, None, 7, None, "available"),
                                     _movement(2, 1, 10, None, 7, None, "available"),
                                     _movement(3, 95, 105, 7, 8, "available", "available")])
    assert problems[0] == ("invariant 3: movement 2 (act 2, units 1-10 of issuance 1) creates units that "
                           "the issuance already created")
    assert problems[-1] == ("invariant 3: movement 3 (act 3, units 95-105 of issuance 1) lies outside the "
                            "issuance's units 1-100")


def test_history_comparison_names_the_first_difference() -> None:
    now = [Run(1, 50, 7, "available"), Run(51, 100, 8, "available")]
    assert history_problems(1, now, now) == []
    assert history_problems(1, now, [Run(1, 100, 7, "available")]) == [
        "invariant 3: issuance 1's blocks do not match its movements: the blocks have units 1-50 at "
        "account 7 available where the movements leave units 1-100 at account 7 available"
    ]
    assert merge_runs([Run(1, 5, 7, "available"), Run(6, 9, 7, "available"), Run(10, 12, 7, "retired")]) == [
        Run(1, 9, 7, "available"), Run(10, 12, 7, "retired")]


@st.composite
def _histories(draw: st.DrawFn) -> tuple[int, list[Movement]]:
    """A random history of one issuance, half of its moves valid and half taking units from anywhere."""
    quantity = draw(st.integers(1, 60))
    places = st.tuples(st.integers(1, 3), st.sampled_from(["available", "pledged", "retired"]))
    history = [_movement(1, 1, quantity, None, 1, None, "available")]
    for number in range(2, draw(st.integers(2, 25))):
        first = draw(st.integers(1, quantity))
        last = draw(st.integers(first, quantity))
        (source, from_state), (to, to_state) = draw(places), draw(places)
        history.append(_movement(number, first, last, source, to, from_state, to_state))
    return quantity, history


@given(_histories())
@settings(max_examples=300, deadline=None)
def test_replay_agrees_with_a_unit_by_unit_model(case: tuple[int, list[Movement]]) -> None:
    quantity, history = case
    units: list[tuple[int, str]] = [(1, "available")] * quantity
    expected: set[tuple[str, int]] = set()  # (invariant, movement id)
    for m in history[1:]:
        if any(units[unit - 1] != (m.from_account_id, m.from_state) for unit in range(m.first, m.last + 1)):
            expected.add(("5", m.id))
        if m.from_state == "retired":
            expected.add(("4", m.id))
        if m.from_state == "pledged" and (m.to_state, m.to_account_id) != ("available", m.from_account_id):
            expected.add(("6", m.id))
        units[m.first - 1:m.last] = [(m.to_account_id, m.to_state)] * (m.last - m.first + 1)
    runs, problems = replay(1, quantity, 1, history)
    assert runs == merge_runs(Run(u, u, a, s) for u, (a, s) in enumerate(units, start=1))
    found = set()
    for problem in problems:
        match = re.match(r"invariant (\d): movement (\d+) ", problem)
        assert match, problem
        found.add((match.group(1), int(match.group(2))))
    assert found == expected
