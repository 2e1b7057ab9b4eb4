"""Audit: walk the journal's hash chain and prove every ledger row is exactly what the journal says it is.

Three checks, each naming the journal entry concerned:

1. The chain: entries are numbered 1, 2, 3 … with no gap, each links to the previous entry's hash, and each
   hash is the SHA-256 of the entry's canonical content — so an altered, deleted or reordered entry shows.
2. The state: folding every entry's row after-images gives what each journaled table must hold now; a row
   altered, deleted or inserted directly in the database differs from that fold.
3. The ledger's invariants (``registry.invariants``), including a replay of every movement.

An attacker who rewrites the whole chain consistently is caught only by comparing the head with a copy
kept elsewhere: publish ``tanhui audit head`` (or ``/api/v1/public/journal/head``) and pass it back as
``expect_head``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from tanhui.journal.chain import GENESIS, canonical_value, entry_hash, journal_json
from tanhui.journal.tables import journal_entries, journal_head
from tanhui.registry.invariants import check_invariants
from tanhui.schema import JOURNALED
from tanhui.unit_of_work import row_image, row_key


@dataclass(frozen=True)
class Problem:
    """One finding; ``seq`` is the journal entry it concerns (None when no entry describes the row)."""

    seq: int | None
    message: str
    # What was checked: a broken chain explains any row differences that follow from it, so it sorts first.
    check: str = "chain"


_CHECK_ORDER = {"chain": 0, "rows": 1, "invariants": 2}


@dataclass
class AuditReport:
    """The outcome of ``verify``: the chain's length and head, and every problem found, first entry first."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, seq: int | None, message: str, check: str = "chain") -> None:
        self.problems.append(Problem(seq, message, check))


# Images the fold expects, per table and primary key: (image, or None once deleted; seq of the entry that last
# wrote it).
_Fold = dict[str, dict[str, tuple[dict[str, Any] | None, int]]]


def verify(engine: Engine, *, expect_head: str | None = None) -> AuditReport:
    """Audit the registry behind ``engine`` in one consistent snapshot."""
    report = AuditReport()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            fold = _walk_chain(conn, report)
            _check_head(conn, report, expect_head)
            _compare_tables(conn, fold, report)
            for message in check_invariants(conn):
                report.add(None, f"ledger invariant broken: {message}", "invariants")
    report.problems.sort(key=lambda p: (_CHECK_ORDER[p.check], p.seq is None, p.seq or 0))
    return report


def _walk_chain(conn: Connection, report: AuditReport) -> _Fold:
    fold: _Fold = {table.name: {} for table in JOURNALED}
    previous_seq, previous_hash = 0, GENESIS
    rows = conn.execution_options(yield_per=1000).execute(select(journal_entries).order_by(journal_entries.c.seq))
    for entry in rows.mappings():
        seq = entry["seq"]
        if seq != previous_seq + 1:
            report.add(previous_seq + 1, f"entry #{previous_seq + 1} is missing: entry #{seq} follows entry "
                                         f"#{previous_seq}")
        elif entry["prev_hash"] != previous_hash:
            report.add(seq, f"entry #{seq} does not link to entry #{previous_seq}: its prev_hash is not that "
                            "entry's hash (an entry was altered, removed or reordered)")
        recomputed = entry_hash(seq=seq, at=canonical_value(entry["at"]), kind=entry["kind"], actor=entry["actor"],
                                payload=entry["payload"], prev_hash=entry["prev_hash"])
        if recomputed != entry["hash"]:
            report.add(seq, f"entry #{seq} ({entry['kind']}) was altered: its content no longer matches its hash")
        _fold_payload(seq, entry["payload"], fold, report)
        previous_seq, previous_hash = seq, entry["hash"]
        report.entries += 1
    report.head_seq, report.head_hash = previous_seq, previous_hash
    return fold


def _fold_payload(seq: int, payload: str, fold: _Fold, report: AuditReport) -> None:
    try:
        body = json.loads(payload)
        if journal_json(body).decode("utf-8") != payload:
            raise ValueError("not canonical")
        tables = body["rows"]
    except (ValueError, KeyError, TypeError):
        report.add(seq, f"entry #{seq} has a payload that is not the journal's canonical JSON")
        return
    for table_name, images in tables.items():
        if table_name not in fold:
            report.add(seq, f"entry #{seq} describes rows of {table_name!r}, which is not a ledger table")
            continue
        for key, image in images.items():
            fold[table_name][key] = (image, seq)


def _check_head(conn: Connection, report: AuditReport, expect_head: str | None) -> None:
    head = conn.execute(select(journal_head)).mappings().first()
    if head is None:
        report.add(None, "the journal head row is missing")
    elif (head["seq"], head["hash"]) != (report.head_seq, report.head_hash):
        report.add(report.head_seq or None,
                   f"the journal head records entry #{head['seq']} but the journal ends at entry #{report.head_seq}: "
                   "entries were deleted or added outside the registry")
    if expect_head is not None:
        found = conn.execute(
            select(journal_entries.c.seq).where(journal_entries.c.hash == expect_head.strip().lower())
        ).scalar_one_or_none()
        if found is None:
            report.add(None, f"the anchored head {expect_head} is not in the journal: its history was rewritten")


def _compare_tables(conn: Connection, fold: _Fold, report: AuditReport) -> None:
    for table in JOURNALED:
        expected = fold[table.name]
        seen = set()
        rows = conn.execution_options(yield_per=1000).execute(select(table).order_by(*table.primary_key.columns))
        for row in rows.mappings():
            key = row_key(table, row)
            seen.add(key)
            actual = row_image(table, row)
            if key not in expected:
                report.add(None, f"{table.name} row {key} is not described by any journal entry "
                                 "(written directly in the database)", "rows")
                continue
            image, seq = expected[key]
            if image is None:
                report.add(seq, f"{table.name} row {key} was deleted by journal entry #{seq} but is in the database",
                           "rows")
                continue
            for column, value in actual.items():
                if image.get(column) != value:
                    report.add(seq, f"{table.name} row {key} differs from journal entry #{seq}: {column} is "
                                    f"{value!r} in the database but {image.get(column)!r} in the journal", "rows")
                    break
        for key in expected.keys() - seen:
            image, seq = expected[key]
            if image is None:
                continue
            report.add(seq, f"{table.name} row {key}, written by journal entry #{seq}, was deleted", "rows")
