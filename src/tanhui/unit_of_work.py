"""The unit of work: one database transaction whose every ledger write lands in the hash-chained journal.

Services write rows only through ``insert`` and ``update``, which use RETURNING to capture each row as the
database stored it.  On commit those after-images, grouped into the entries the service opened with
``entry``, are appended to the journal under the journal-head row lock, which every writer takes last.
The fixed lock order (accounts by id, then the journal head) is why writers cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from functools import lru_cache
from typing import Any, Self

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.sql import ColumnElement, Insert

from tanhui.db import WRITE
from tanhui.journal.chain import canonical_json, canonical_value, entry_hash, secret_digest
from tanhui.journal.tables import journal_entries, journal_head
from tanhui.types import utcnow

# Columns the journal keeps only a digest of.
SECRET_COLUMNS = {("users", "password_hash"), ("api_keys", "secret_hash")}


@lru_cache(maxsize=None)
def _inserting(table: Table) -> Insert:
    """One INSERT … RETURNING statement per table, built once: building statements costs more than running them."""
    return insert(table).returning(*table.columns)


def row_image(table: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    """The journal's canonical picture of a row: every column, secrets as digests."""
    image = {}
    for column in table.columns:
        value = row[column.name]
        if (table.name, column.name) in SECRET_COLUMNS and value is not None:
            value = secret_digest(value)
        image[column.name] = canonical_value(value)
    return image


def row_key(table: Table, row: Mapping[Any, Any]) -> str:
    """A row's primary key as text, the key of its image in the journal."""
    return "/".join(str(row[c.name]) for c in table.primary_key.columns)


@dataclass
class _Entry:
    kind: str
    summary: dict[str, Any]
    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


class UnitOfWork:
    """A transaction on ``engine`` acting as ``actor``; use as a context manager and call ``commit``."""

    def __init__(self, engine: Engine, actor: str, *, write: bool = True) -> None:
        self.engine = engine
        self.actor = actor
        self.write = write
        self.conn: Connection
        self._entries: list[_Entry] = []
        self._committed = False

    def __enter__(self) -> Self:
        self.conn = self.engine.connect().execution_options(**{WRITE: self.write})
        self.conn.begin()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self._committed:
                self.conn.rollback()
        finally:
            self.conn.close()

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def entry(self, kind: str, /, **summary: Any) -> None:
        """Open a journal entry; the rows written from now on are recorded in it."""
        self._entries.append(_Entry(kind, {k: canonical_value(v) for k, v in summary.items()}))

    def note(self, **summary: Any) -> None:
        """Add facts to the current entry's summary (ids known only after an insert)."""
        self._current().summary.update({k: canonical_value(v) for k, v in summary.items()})

    def insert(self, table: Table, values: Mapping[str, Any]) -> RowMapping:
        row = self.conn.execute(_inserting(table), dict(values)).mappings().one()
        self._remember(table, row)
        return row

    def update(self, table: Table, where: ColumnElement[bool], values: Mapping[str, Any]) -> list[RowMapping]:
        """Update the rows matching ``where``; returns them as stored (empty when none matched)."""
        rows = self.conn.execute(
            update(table).where(where).values(**values).returning(*table.columns)
        ).mappings().all()
        for row in rows:
            self._remember(table, row)
        return list(rows)

    def _current(self) -> _Entry:
        if not self._entries:
            raise RuntimeError("a ledger write must belong to a journal entry: call entry() first")
        return self._entries[-1]

    def _remember(self, table: Table, row: RowMapping) -> None:
        self._current().rows.setdefault(table.name, {})[row_key(table, row)] = row_image(table, row)

    def commit(self) -> None:
        """Append the journal entries (taking the head lock last) and commit."""
        if self._entries:
            self._append_journal()
        self.conn.commit()
        self._committed = True

    def _append_journal(self) -> None:
        count = len(self._entries)
        # The guarded increment takes the head's row lock; RETURNING gives the new sequence and, since the
        # hash column is untouched, the previous entry's hash.
        head = self.conn.execute(
            update(journal_head).where(journal_head.c.id == 1)
            .values(seq=journal_head.c.seq + count).returning(journal_head.c.seq, journal_head.c.hash)
        ).one()
        seq = head.seq - count
        prev = head.hash
        now = utcnow()
        at = canonical_value(now)
        rows = []
        for item in self._entries:
            seq += 1
            payload = canonical_json({"summary": item.summary, "rows": item.rows})
            digest = entry_hash(seq=seq, at=at, kind=item.kind, actor=self.actor, payload=payload, prev_hash=prev)
            rows.append({"seq": seq, "at": now, "kind": item.kind, "actor": self.actor, "payload": payload,
                         "prev_hash": prev, "hash": digest})
            prev = digest
        self.conn.execute(insert(journal_entries), rows)
        self.conn.execute(update(journal_head).where(journal_head.c.id == 1).values(hash=prev))


def read_one(conn: Connection, table: Table, where: ColumnElement[bool]) -> RowMapping | None:
    """One row or None (a small helper for the many lookups by id)."""
    return conn.execute(select(table).where(where)).mappings().first()
