"""Group commit on SQLite: a process's concurrent writers share one transaction, each act in its own savepoint.

SQLite runs one writer at a time, so a transfer's BEGIN IMMEDIATE, connection checkout and COMMIT (a WAL
append of every page the act dirtied) are all spent inside the one write lock.  A group shares them: the
first writer to arrive opens a transaction (queueing on the writers' lock file, then BEGIN IMMEDIATE); it
and every writer that arrives while the transaction is open run one after another on its connection, each
later act inside its own SAVEPOINT; when no one is left waiting, whoever finished last commits them all at once.

- An act that fails rolls back to its own savepoint: the others in the group are untouched, and it gets its
  own error at once.
- A writer returns from ``commit()`` only after the group's COMMIT succeeded; if that COMMIT fails (a
  deferred constraint, a full disk), the whole group rolls back and every writer that would have returned
  normally gets the error: nobody is told an act was durable that was not.
- Acts run in the order they took the connection, so the journal still chains entry by entry, and each
  act sees every earlier act of the group as committed work (the group commits or vanishes together).
- The journal head is read once per group and written once, just before the COMMIT (``journal_head`` and
  ``journal_advanced``): no one else can write while the group holds SQLite's write lock, so the acts
  chain their entries onto the head the group keeps in memory; an act rolled back to its savepoint
  leaves it where it was.
- Groups of other processes (or other engines) queue behind this one on the lock file and SQLite's lock.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.engine import Connection, Engine

from tanhui.db import WRITE, groups_writers, lock_turn, unlock_turn
from tanhui.journal.tables import journal_head
from tanhui.prepared import Prepared, shared_cursor

# A bound on how many acts one COMMIT carries, so the first writer of a busy group does not wait for ever.
MAX_GROUP = 32

_READ_HEAD = Prepared(select(journal_head.c.seq, journal_head.c.hash).where(journal_head.c.id == 1))
# Guarded by the sequence the group read: a head that moved behind the group's back fails its COMMIT.
_WRITE_HEAD = Prepared(
    update(journal_head).where(journal_head.c.id == 1, journal_head.c.seq == bindparam("read_seq"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")).returning(journal_head.c.seq)
)


class HeadMoved(RuntimeError):
    """The journal head changed while a group held the write lock: something wrote outside the lock."""


class _Batch:
    """One open transaction of a group: its connection and the acts that committed in it."""

    def __init__(self, conn: Connection, turn: int | None) -> None:
        self.conn = conn
        self.turn = turn
        self.acts = 0
        self.error: BaseException | None = None
        self.done = threading.Event()
        # The journal head (seq, hash) as stored when the group first read it, and as its kept acts left it.
        self.stored_head: tuple[int, str] | None = None
        self.head: tuple[int, str] | None = None


class WriterGroup:
    """The writers of one SQLite engine in this process; ``join`` and then ``leave`` once per act."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection = threading.Lock()  # held by the act that runs on the batch's connection
        self._count = threading.Lock()  # guards ``_waiting``
        self._waiting = 0
        self._owner: int | None = None
        self._batch: _Batch | None = None
        self._in_savepoint = False  # whether the running act has a savepoint of its own
        self._act_head: tuple[int, str] | None = None  # the head after the running act's entries
        self.commits = 0  # COMMITs made, for tests and benchmarks to see how acts were grouped
        # The last group's connection, kept for the next: checking one out and back in costs as much as an act's
        # writes.  Only the thread holding ``_connection`` touches it; the engine's disposal closes it.
        self._spare: Connection | None = None
        event.listen(engine, "engine_disposed", lambda _engine: self._drop_spare())

    @property
    def queued(self) -> int:
        """How many writers are waiting for the connection (they will join the open transaction)."""
        return self._waiting

    def held_here(self) -> bool:
        """Whether this thread is running an act of the group (a nested writer must not wait for itself)."""
        return self._owner == threading.get_ident()

    def join(self) -> Connection:
        """Wait for the connection, open the group's transaction if none is open, and start a savepoint."""
        with self._count:
            self._waiting += 1
        self._connection.acquire()
        with self._count:
            self._waiting -= 1
        self._owner = threading.get_ident()
        self._act_head = None
        try:
            # The act that opens the transaction needs no savepoint: nothing came before it to protect, so
            # if it fails the whole transaction is rolled back (those waiting then open a new one).
            self._in_savepoint = self._batch is not None
            if self._batch is None:
                self._batch = self._open()
            else:
                self._raw("SAVEPOINT act")
        except BaseException as error:
            self._end_act(error, failed=True)
            raise
        return self._batch.conn

    def journal_head(self) -> tuple[int, str]:
        """The journal's (seq, hash) for the running act to chain onto: read once per group, then kept."""
        batch = self._batch
        assert batch is not None and self.held_here()
        if self._act_head is not None:
            return self._act_head
        if batch.head is None:
            row = _READ_HEAD.rows(batch.conn)[0]
            batch.stored_head = batch.head = (row["seq"], row["hash"])
        return batch.head

    def journal_advanced(self, seq: int, digest: str) -> None:
        """The running act appended entries up to ``seq`` with hash ``digest`` (kept if the act is)."""
        assert self.held_here()
        self._act_head = (seq, digest)

    def leave(self, *, committed: bool, failed: bool) -> None:
        """End this thread's act: keep it (``committed``) or roll it back, and hand the connection on.

        Unless the act ``failed`` with its own exception, this returns only when the group's transaction
        is committed, and raises the error if that COMMIT failed: an act that kept its changes, or read
        the group's uncommitted work (an idempotent replay), must not report success before it is durable.
        """
        batch = self._batch
        assert batch is not None and self.held_here()
        try:
            if committed:
                if self._in_savepoint:
                    self._raw("RELEASE act")
                batch.acts += 1
                if self._act_head is not None:
                    batch.head = self._act_head
            elif self._in_savepoint:
                self._raw("ROLLBACK TO act")
                self._raw("RELEASE act")
        except BaseException as error:
            self._end_act(error, failed=failed)
            raise
        self._end_act(None, failed=failed, rolled_back=not committed and not self._in_savepoint)

    def _end_act(self, error: BaseException | None, *, failed: bool, rolled_back: bool = False) -> None:
        """Commit the group if no one else waits for the connection (or it is full), then let the next act in.

        ``rolled_back``: the transaction's first act was not kept, so the transaction (holding nothing) ends.
        """
        batch = self._batch
        if batch is not None:
            if error is not None:
                batch.error = error  # the savepoint could not be closed: the transaction is not to be trusted
            with self._count:
                last = (self._waiting == 0 or batch.acts >= MAX_GROUP or batch.error is not None
                        or rolled_back)
            if last:
                self._close(batch)
        self._owner = None
        self._connection.release()
        if batch is not None and not failed:
            batch.done.wait()
            if batch.error is not None and batch.error is not error:
                raise batch.error

    def _open(self) -> _Batch:
        conn, self._spare = self._spare, None
        if conn is None or conn.closed or conn.invalidated:
            conn = self._engine.connect().execution_options(**{WRITE: True})
        try:
            turn = lock_turn(conn)
            try:
                conn.begin()  # BEGIN IMMEDIATE, from tanhui.db's hook
            except BaseException:
                if turn is not None:
                    unlock_turn(turn)
                raise
        except BaseException:
            conn.close()
            raise
        return _Batch(conn, turn)

    def _close(self, batch: _Batch) -> None:
        """COMMIT the group's acts (or roll back a group that kept none, or broke), and wake its writers."""
        self._batch = None
        try:
            if batch.acts and batch.error is None:
                try:
                    self._write_head(batch)
                    batch.conn.commit()
                    self.commits += 1
                except BaseException as error:
                    batch.error = error
            if batch.conn.in_transaction():
                batch.conn.rollback()
            # A COMMIT refused by a deferred check leaves SQLite's transaction open behind SQLAlchemy's back.
            driver: Any = batch.conn.connection.dbapi_connection
            if driver.in_transaction:
                driver.execute("ROLLBACK")
        finally:
            try:
                if batch.turn is not None:
                    unlock_turn(batch.turn)
                if batch.error is None and self._spare is None:
                    self._spare = batch.conn
                else:
                    batch.conn.close()
            finally:
                batch.done.set()

    @staticmethod
    def _write_head(batch: _Batch) -> None:
        if batch.head is None or batch.head == batch.stored_head:
            return
        assert batch.stored_head is not None
        seq, digest = batch.head
        if not _WRITE_HEAD.rows(batch.conn, {"read_seq": batch.stored_head[0], "new_seq": seq, "new_hash": digest}):
            raise HeadMoved(f"the journal head moved from seq {batch.stored_head[0]} while a group of writers "
                            "held the write lock; nothing of the group was committed")

    def _drop_spare(self) -> None:
        with self._connection:  # not while an act runs on it
            conn, self._spare = self._spare, None
        if conn is not None:
            conn.close()

    def _raw(self, sql: str) -> None:
        assert self._batch is not None
        shared_cursor(self._batch.conn).execute(sql)


_groups: weakref.WeakKeyDictionary[Engine, WriterGroup] = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def group_of(engine: Engine) -> WriterGroup | None:
    """The engine's writer group, or None for engines whose writers each run alone (PostgreSQL, in-memory)."""
    group = _groups.get(engine)  # asked once per act: the lock only for an engine's first
    if group is not None or not groups_writers(engine):
        return group
    with _groups_lock:
        group = _groups.get(engine)
        if group is None:
            group = _groups[engine] = WriterGroup(engine)
        return group
