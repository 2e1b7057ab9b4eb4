"""Tamper tests: `audit verify` names the first bad entry when the journal or a ledger row changes behind its back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tanhui.journal.audit import verify
from tanhui.journal.chain import canonical_json, canonical_value, entry_hash
from tanhui.journal.tables import journal_entries
from tests.factories import World


@pytest.fixture
def busy(world: World) -> World:
    """A world in which every kind of act has happened."""
    world.issue(1000)
    world.act(world.owner, "transfer", from_account_id=world.owner_account, to_account_id=world.buyer_account,
              quantity=400)
    world.act(world.buyer, "retire", account_id=world.buyer_account, quantity=100, beneficiary="Plant 1",
              purpose="2025 carbon neutrality")
    pledge = world.act(world.owner, "pledge", account_id=world.owner_account, bank_organization_id=world.bank_org,
                       quantity=200)
    world.act(world.bank, "release", pledge_id=pledge.detail["id"])  # type: ignore[index]
    world.act(world.operator, "cancel", account_id=world.buyer_account, quantity=50, purpose="compliance",
              compliance_year=2025)
    world.act(world.operator, "revoke", account_id=world.owner_account, quantity=10, reason="double counted")
    return world


@contextmanager
def _tamper(engine: Engine) -> Iterator[Connection]:
    """A connection with the ledger's protective triggers out of the way, as a database superuser could arrange."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            for (name,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").all():
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        yield conn


def _run(engine: Engine, sql: str, **params: object) -> None:
    with _tamper(engine) as conn:
        conn.execute(sa.text(sql), params)


def _entry_seq(engine: Engine, kind: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT min(seq) FROM journal_entries WHERE kind = :k"), {"k": kind})
                   .scalar_one())


def test_an_untouched_registry_verifies(busy: World) -> None:
    report = verify(busy.engine)
    assert report.ok, report.problems
    assert report.entries == report.head_seq > 10
    assert len(report.head_hash) == 64


def test_altered_journal_payload_is_named(busy: World) -> None:
    seq = _entry_seq(busy.engine, "transfer")
    _run(busy.engine, "UPDATE journal_entries SET payload = replace(payload, :old, :new) WHERE seq = :seq",
         old='"quantity":400', new='"quantity":401', seq=seq)
    report = verify(busy.engine)
    assert not report.ok
    assert report.problems[0].seq == seq
    assert "altered" in report.problems[0].message


def test_deleted_journal_entry_is_named(busy: World) -> None:
    seq = _entry_seq(busy.engine, "retirement")
    _run(busy.engine, "DELETE FROM journal_entries WHERE seq = :seq", seq=seq)
    report = verify(busy.engine)
    assert not report.ok
    assert report.problems[0].seq == seq
    assert f"entry #{seq} is missing" in report.problems[0].message


def test_deleted_last_entry_shows_even_with_the_head_rewound(busy: World) -> None:
    with busy.engine.connect() as conn:
        last, previous = conn.execute(
            sa.text("SELECT seq, prev_hash FROM journal_entries ORDER BY seq DESC LIMIT 1")
        ).one()
    _run(busy.engine, "DELETE FROM journal_entries WHERE seq = :seq", seq=last)
    _run(busy.engine, "UPDATE journal_head SET seq = :seq, hash = :hash", seq=last - 1, hash=previous)
    report = verify(busy.engine)
    assert not report.ok
    # The revocation's rows are now described by no entry at all.
    assert any("not described by any journal entry" in p.message for p in report.problems)


def test_reordered_entries_are_named(busy: World) -> None:
    a = _entry_seq(busy.engine, "transfer")
    b = _entry_seq(busy.engine, "retirement")
    _run(busy.engine, "UPDATE journal_entries SET seq = -1 WHERE seq = :a", a=a)
    _run(busy.engine, "UPDATE journal_entries SET seq = :a WHERE seq = :b", a=a, b=b)
    _run(busy.engine, "UPDATE journal_entries SET seq = :b WHERE seq = -1", b=b)
    report = verify(busy.engine)
    assert not report.ok
    assert report.problems[0].seq == a


@pytest.mark.parametrize(
    ("kind", "sql"),
    [
        ("transfer", "UPDATE accounts SET available = available + 1000 WHERE id = (SELECT min(id) FROM accounts)"),
        ("retirement", "UPDATE retirements SET beneficiary = 'Someone else'"),
        ("transfer", "UPDATE blocks SET account_id = CASE WHEN account_id = 1 THEN 2 ELSE 1 END "
                     "WHERE id = (SELECT min(id) FROM blocks WHERE state = 'available')"),
        ("issuance", "UPDATE issuances SET vintage = 2019"),
    ],
)
def test_altered_ledger_row_names_the_entry_that_describes_it(busy: World, kind: str, sql: str) -> None:
    _run(busy.engine, sql)
    report = verify(busy.engine)
    assert not report.ok
    first = report.problems[0]
    assert first.seq is not None and "differs from journal entry" in first.message


def test_deleted_ledger_row_is_named(busy: World) -> None:
    with busy.engine.connect() as conn:
        movement = conn.execute(sa.text("SELECT max(id) FROM movements")).scalar_one()
    _run(busy.engine, "DELETE FROM movements WHERE id = :id", id=movement)
    report = verify(busy.engine)
    assert not report.ok
    assert any(f"movements row {movement}, written by journal entry" in p.message for p in report.problems)


def test_row_inserted_outside_the_registry_is_found(busy: World) -> None:
    _run(busy.engine, "INSERT INTO accounts (organization_id, kind, name, available, pledged, created_at) "
                      "VALUES (:org, 'holding', 'ghost', 0, 0, CURRENT_TIMESTAMP)", org=busy.buyer_org)
    report = verify(busy.engine)
    assert not report.ok
    assert any("not described by any journal entry" in p.message for p in report.problems)


def test_consistently_rewritten_chain_is_caught_only_by_the_anchor(busy: World) -> None:
    anchor = verify(busy.engine).head_hash
    # Rewrite the retirement's beneficiary in the row AND the journal, recomputing every later hash.
    _run(busy.engine, "UPDATE retirements SET beneficiary = 'Forger'")
    with busy.engine.connect() as conn:
        entries = conn.execute(sa.select(journal_entries.c["seq", "at", "kind", "actor", "payload"])
                               .order_by(journal_entries.c.seq)).all()
    previous = "0" * 64
    rewritten = []
    for seq, at, kind, actor, payload in entries:
        body = json.loads(payload)
        for image in body["rows"].get("retirements", {}).values():
            image["beneficiary"] = "Forger"
        payload = canonical_json(body)
        digest = entry_hash(seq=seq, at=canonical_value(at), kind=kind, actor=actor, payload=payload,
                            prev_hash=previous)
        rewritten.append({"seq": seq, "payload": payload, "prev_hash": previous, "hash": digest})
        previous = digest
    with _tamper(busy.engine) as conn:
        for row in rewritten:
            conn.execute(sa.text("UPDATE journal_entries SET payload = :payload, prev_hash = :prev_hash, "
                                 "hash = 'x' || :seq WHERE seq = :seq"), row)
        for row in rewritten:
            conn.execute(sa.text("UPDATE journal_entries SET hash = :hash WHERE seq = :seq"), row)
        conn.execute(sa.text("UPDATE journal_head SET hash = :hash"), {"hash": previous})
    assert verify(busy.engine).ok  # a perfect forgery of the whole database is self-consistent…
    report = verify(busy.engine, expect_head=anchor)
    assert not report.ok  # …but not with the head published before it
    assert "anchored head" in report.problems[0].message
