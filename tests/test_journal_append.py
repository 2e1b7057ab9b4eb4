"""The journal chains awkward text alike on both databases; PostgreSQL hashes at the head; 0010 migrates both ways."""

from __future__ import annotations

from itertools import pairwise

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tanhui.journal.audit import verify
from tanhui.journal.chain import canonical_value, entry_hash
from tanhui.journal.tables import journal_entries, journal_head
from tanhui.migrate import current_revision, downgrade, head_revision, upgrade
from tanhui.unit_of_work import UnitOfWork

_AWKWARD = 'quote " backslash \\ newline \n tab \t nul-free controls \x01\x1f, 碳惠 and \U0001f600'


def test_entries_of_awkward_text_chain_and_verify(engine: Engine) -> None:
    for n in range(3):
        with UnitOfWork(engine, f"actor {_AWKWARD}") as tx:
            tx.entry(f"test.{n}", note=_AWKWARD, n=n)
            tx.entry("test.second", n=n)
            tx.commit()
    with engine.connect() as conn:
        entries = conn.execute(sa.select(journal_entries).order_by(journal_entries.c.seq)).mappings().all()
        head = conn.execute(sa.select(journal_head)).mappings().one()
    for before, entry in pairwise(entries):
        assert entry["prev_hash"] == before["hash"] and entry["seq"] == before["seq"] + 1
        assert entry["at"] >= before["at"]
    last = entries[-1]
    assert last["hash"] == entry_hash(seq=last["seq"], at=canonical_value(last["at"]), kind=last["kind"],
                                      actor=last["actor"], payload=last["payload"], prev_hash=last["prev_hash"])
    assert (head["seq"], head["hash"]) == (last["seq"], last["hash"])
    assert verify(engine).ok


def test_a_failed_act_appends_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        before = conn.execute(sa.select(journal_head)).mappings().one()
    with pytest.raises(RuntimeError), UnitOfWork(engine, "someone") as tx:
        tx.entry("test.failed")
        raise RuntimeError("the act fails before its commit")
    with engine.connect() as conn:
        assert conn.execute(sa.select(journal_head)).mappings().one() == before
    assert verify(engine).ok


def test_migration_0010_downgrades_and_upgrades(engine: Engine) -> None:
    downgrade(engine, "0009")
    assert current_revision(engine) == "0009"
    assert {"ix_acts_account_id", "ix_acts_to_account_id"} <= _indexes(engine, "acts")
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT to_regproc('tanhui_journal_append')")).scalar() is None
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert not {"ix_acts_account_id", "ix_acts_to_account_id"} & _indexes(engine, "acts")
    with UnitOfWork(engine, "after the round trip") as tx:
        tx.entry("test.after")
        tx.commit()
    assert verify(engine).ok


def _indexes(engine: Engine, table: str) -> set[str]:
    return {str(index["name"]) for index in sa.inspect(engine).get_indexes(table)}
