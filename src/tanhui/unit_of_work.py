"""The unit of work: one database transaction whose every ledger write lands in the hash-chained journal.

Services write rows only through ``insert`` and ``update``, which use RETURNING to capture each row as the
database stored it.  On commit those after-images, grouped into the entries the service opened with
``entry``, are appended to the journal under the journal-head row lock, which every writer takes last
(a SQLite group, holding the database's write lock, keeps the head for its acts: see ``group_commit``).
The fixed lock order (accounts by id, then the journal head) is why writers cannot deadlock.  Writes run
as prepared statements (``tanhui.prepared``) on the transaction's own connection.  On a SQLite file, the
writers of one process commit in groups: each act runs in a savepoint of a shared transaction
(``tanhui.group_commit``), which queues for its turn (``tanhui.db.take_turn``) before BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import TracebackType
from typing import Any, Self

from sqlalchemy import BigInteger, LargeBinary, String, Table, Text, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.sql import ColumnElement

from tanhui.db import WRITE, end_turn, take_turn
from tanhui.group_commit import WriterGroup, group_of
from tanhui.journal.chain import (
    PLAIN_TYPES,
    canonical_value,
    entry_hash,
    entry_parts,
    journal_json,
    secret_digest,
)
from tanhui.journal.tables import journal_entries, journal_head
from tanhui.prepared import Prepared, together
from tanhui.types import utcnow

# Columns the journal keeps only a digest of.
SECRET_COLUMNS = {("users", "password_hash"), ("api_keys", "secret_hash"), ("credit_reports", "verification_code")}


# The journal's statements.  The guarded increment takes the head's row lock; RETURNING gives the new
# sequence and, since the hash column is untouched, the previous entry's hash.
_ADVANCE_HEAD = Prepared(
    update(journal_head).where(journal_head.c.id == 1)
    .values(seq=journal_head.c.seq + bindparam("count")).returning(journal_head.c.seq, journal_head.c.hash)
)
_ENTRY = {column.name: bindparam(column.name, type_=column.type) for column in journal_entries.columns}
_APPEND = Prepared(insert(journal_entries).values(_ENTRY))
_POINT_HEAD = Prepared(update(journal_head).where(journal_head.c.id == 1), column_keys=["hash"])
# PostgreSQL appends an entry where it takes the head's lock (migration 0010 has the function): sent with
# the COMMIT, the head stays locked for that one round trip.
_APPEND_ON_SERVER = Prepared(select(func.tanhui_journal_append(
    bindparam("kind", type_=String), bindparam("actor", type_=String), bindparam("payload", type_=Text),
    bindparam("before_at", type_=LargeBinary), bindparam("after_at", type_=LargeBinary),
    type_=BigInteger,
)))


@cache
def _inserting(table: Table, columns: tuple[str, ...]) -> Prepared:
    """One INSERT … RETURNING per table and set of columns, prepared once."""
    return Prepared(insert(table).returning(*table.columns), column_keys=list(columns))


@cache
def _deleting(table: Table) -> Prepared:
    return Prepared(delete(table).where(*(column == bindparam(column.name) for column in table.primary_key.columns)))


@cache
def _imaged(table: Table) -> tuple[tuple[str, bool], ...]:
    """Each column's name (plain text, which orjson takes as a key) and whether the journal keeps only its digest."""
    return tuple((str(column.name), (table.name, column.name) in SECRET_COLUMNS) for column in table.columns)


@cache
def _named(table: Table) -> str:
    # SQLAlchemy's names are a str subclass, which orjson refuses as a key (``journal_json`` would then
    # fall back to the slower json.dumps for the whole entry).
    return str(table.name)


def row_image(table: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    """The journal's canonical picture of a row: every column, secrets as digests."""
    image = {}
    for name, secret in _imaged(table):
        value = row[name]
        if secret and value is not None:
            value = secret_digest(value)
        # Most columns are ids, quantities and codes, already canonical: this skips a call per column.
        image[name] = value if value is None or type(value) in PLAIN_TYPES else canonical_value(value)
    return image


@cache
def _key_names(table: Table) -> tuple[str, ...]:
    return tuple(str(column.name) for column in table.primary_key.columns)


def row_key(table: Table, row: Mapping[Any, Any]) -> str:
    """A row's primary key as text, the key of its image in the journal."""
    names = _key_names(table)
    if len(names) == 1:
        return str(row[names[0]])
    return "/".join(str(row[name]) for name in names)


@dataclass(frozen=True, slots=True)
class Change:
    """One row write for ``UnitOfWork.apply``: a prepared INSERT or UPDATE … RETURNING every column of
    ``table``, or (``statement`` None) the delete of the row whose primary key ``params`` holds."""

    table: Table
    statement: Prepared | None
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Read:
    """A prepared SELECT for ``UnitOfWork.apply`` to send with its writes (its rows are not journaled)."""

    statement: Prepared
    params: Mapping[str, Any]


def inserting(table: Table, values: Mapping[str, Any]) -> Change:
    return Change(table, _inserting(table, tuple(values)), values)


def deleting(table: Table, key: Mapping[Any, Any]) -> Change:
    return Change(table, None, {column.name: key[column.name] for column in table.primary_key.columns})


@dataclass
class _Entry:
    kind: str
    summary: dict[str, Any]
    # Table → primary key → after-image, or None for a row the entry deleted.
    rows: dict[str, dict[str, dict[str, Any] | None]] = field(default_factory=dict)
    # The canonical JSON of summary and rows, when the database wrote the entry (``entry_written``).
    payload: str | None = None


class UnitOfWork:
    """A transaction on ``engine`` acting as ``actor``; use as a context manager and call ``commit``."""

    def __init__(self, engine: Engine, actor: str, *, write: bool = True) -> None:
        self.engine = engine
        self.actor = actor
        self.writes = write
        self.conn: Connection
        self._entries: list[_Entry] = []
        self._committed = False
        self._turn: int | None = None
        # On a SQLite file, writers of this process share a transaction (see ``tanhui.group_commit``).
        self._group: WriterGroup | None = None
        self._in_group = False  # the connection is the group's: it is not this unit's to close

    def __enter__(self) -> Self:
        group = group_of(self.engine) if self.writes else None
        if group is not None and not group.held_here():
            self.conn = group.join()
            self._group, self._in_group = group, True
            return self
        self.conn = self.engine.connect().execution_options(**{WRITE: self.writes})
        try:
            if self.writes:
                self._turn = take_turn(self.conn)
            self.conn.begin()
        except BaseException:
            self._end()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._in_group:
            if self._group is not None:  # not yet committed
                self._leave_group(committed=False, failed=exc is not None)
            return
        try:
            if not self._committed:
                self.conn.rollback()
        finally:
            self._end()

    def _leave_group(self, *, committed: bool, failed: bool) -> None:
        group, self._group = self._group, None
        assert group is not None
        group.leave(committed=committed, failed=failed)

    def _end(self) -> None:
        try:
            self._give_turn()
        finally:
            self.conn.close()

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def entry(self, kind: str, /, **summary: Any) -> None:
        """Open a journal entry; the rows written from now on are recorded in it."""
        self._entries.append(_Entry(kind, {k: canonical_value(v) for k, v in summary.items()}))

    def entry_written(self, kind: str, payload: str, /) -> None:
        """Add an entry whose rows the database wrote, with its payload as ``journal_json`` would write it
        (PostgreSQL's tanhui_transfer); it is closed: the rows written after it need an entry of their own."""
        self._entries.append(_Entry(kind, {}, payload=payload))

    def note(self, **summary: Any) -> None:
        """Add facts to the current entry's summary (ids known only after an insert)."""
        self._current().summary.update({k: canonical_value(v) for k, v in summary.items()})

    def insert(self, table: Table, values: Mapping[str, Any]) -> RowMapping:
        return self.write(table, _inserting(table, tuple(values)), values)[0]

    def update(self, table: Table, where: ColumnElement[bool], values: Mapping[str, Any]) -> list[RowMapping]:
        """Update the rows matching ``where``; returns them as stored (empty when none matched)."""
        statement = update(table).where(where).values(**values).returning(*table.columns)
        rows = self.conn.execute(statement).mappings().all()
        for row in rows:
            self._remember(table, row)
        return list(rows)

    def write(self, table: Table, statement: Prepared, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        """Run a prepared INSERT or UPDATE … RETURNING every column of ``table``; the hot paths prepare theirs."""
        rows = statement.rows(self.conn, params)
        for row in rows:
            self._remember(table, row)
        return rows

    def delete(self, table: Table, key: Mapping[Any, Any]) -> None:
        """Delete one row by primary key; the journal records its absence."""
        self.apply([deleting(table, key)])

    def apply(self, changes: Sequence[Change | Read]) -> list[list[RowMapping]]:
        """Make several writes (and reads) in order, sent together (one round trip on PostgreSQL); each one's rows.

        For statements none of which needs another's result.  The journal records the writes as ``write``
        and ``delete`` do, once all have run.
        """
        results = together(self.conn, [_call(change) for change in changes])
        for change, rows in zip(changes, results, strict=True):
            if isinstance(change, Read):
                continue
            if change.statement is None:
                self._current().rows.setdefault(_named(change.table), {})[row_key(change.table, change.params)] = None
            for row in rows:
                self._remember(change.table, row)
        return results

    def record(self, table: Table, key: str, image: dict[str, Any] | None) -> None:
        """Record a row's journal image (None: deleted) for a write made on the driver's cursor directly.

        For hot paths that build images from the values they wrote (``registry.sqlite_transfer``); the image
        must be what ``row_image`` makes of the row as stored, which their tests check.
        """
        self._current().rows.setdefault(_named(table), {})[key] = image

    def _current(self) -> _Entry:
        if not self._entries or self._entries[-1].payload is not None:
            raise RuntimeError("a ledger write must belong to a journal entry: call entry() first")
        return self._entries[-1]

    def _remember(self, table: Table, row: RowMapping) -> None:
        self._current().rows.setdefault(_named(table), {})[row_key(table, row)] = row_image(table, row)

    def commit(self, *, first: Sequence[tuple[Prepared, Mapping[str, Any]]] = ()) -> None:
        """Append the journal entries (taking the head lock last) and commit.

        ``first``: statements to run before the journal's (on PostgreSQL in the COMMIT's round trip), such as
        the idempotency key's row; if one fails, nothing is appended or committed and its error is raised.
        """
        if first and (self._group is not None or self.dialect != "postgresql"):
            # SQLite: before the group's journal head moves on (a failure there would leave it ahead).
            together(self.conn, first)
            first = ()
        last = [*first, *(self._append_journal() if self._entries else [])]
        if self._group is not None:
            together(self.conn, last)
            # Returns once the group's COMMIT made this act durable; raises if that COMMIT failed.
            self._leave_group(committed=True, failed=False)
        else:
            # On PostgreSQL the COMMIT goes with the journal's last statements: the head stays locked for
            # one round trip, not two.
            together(self.conn, last, commit=True)
            self._give_turn()
        self._committed = True

    def _give_turn(self) -> None:
        if self._turn is not None:
            end_turn(self._turn)
            self._turn = None

    def _append_journal(self) -> list[tuple[Prepared, Mapping[str, Any]]]:
        """Chain the entries onto the journal head; the statements that append them, for ``commit`` to send."""
        # Everything that does not depend on the previous entry is done before the head is locked.
        payloads = [journal_json({"summary": item.summary, "rows": item.rows}).decode("utf-8")
                    if item.payload is None else item.payload for item in self._entries]
        if self._group is None and self.dialect == "postgresql":
            calls: list[tuple[Prepared, Mapping[str, Any]]] = []
            for item, payload in zip(self._entries, payloads, strict=True):
                before_at, after_at = entry_parts(kind=item.kind, actor=self.actor, payload=payload)
                calls.append((_APPEND_ON_SERVER, {"kind": item.kind, "actor": self.actor, "payload": payload,
                                                  "before_at": before_at, "after_at": after_at}))
            return calls
        if self._group is not None:
            # The group holds SQLite's write lock and keeps the head; it writes the head once, at its COMMIT.
            seq, prev = self._group.journal_head()
        else:
            head = _ADVANCE_HEAD.rows(self.conn, {"count": len(payloads)})[0]
            seq, prev = head["seq"] - len(payloads), head["hash"]
        now = utcnow()  # under the lock, so entries' times follow their order
        at = canonical_value(now)
        calls = []
        for item, payload in zip(self._entries, payloads, strict=True):
            seq += 1
            digest = entry_hash(seq=seq, at=at, kind=item.kind, actor=self.actor, payload=payload, prev_hash=prev)
            entry = {"seq": seq, "at": now, "kind": item.kind, "actor": self.actor, "payload": payload,
                     "prev_hash": prev, "hash": digest}
            calls.append((_APPEND, entry))
            if self._group is None:
                calls.append((_POINT_HEAD, entry))
            prev = digest
        if self._group is not None:
            self._group.journal_advanced(seq, prev)
        return calls


def _call(change: Change | Read) -> tuple[Prepared, Mapping[str, Any]]:
    if isinstance(change, Read) or change.statement is not None:
        assert change.statement is not None
        return change.statement, change.params
    return _deleting(change.table), change.params


def read_one(conn: Connection, table: Table, where: ColumnElement[bool]) -> RowMapping | None:
    """One row or None (a small helper for the many lookups by id)."""
    return conn.execute(select(table).where(where)).mappings().first()
