"""Database engines for SQLite (embedded) and PostgreSQL, tuned for the ledger's locking discipline."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import NullPool, QueuePool

from tanhui.prepared import begin_later, forget_ahead, send_ahead
from tanhui.wal_checkpoint import Checkpointer

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# A pooled PostgreSQL connection idle longer than this is pinged before use (see ``_ping_after_idle``).
IDLE_PING_SECONDS = 1.0
_IDLE_SINCE = "tanhui_idle_since"
# Set on a connection before ``begin()`` to say the transaction writes: SQLite then takes the write lock
# up front (BEGIN IMMEDIATE), so two writers never both read and then both fail to upgrade their lock.
WRITE = "tanhui_write"
# A SQLite connection's descriptor of the lock file on which writers queue (see ``take_turn``).
_TURN = "tanhui_writer_queue"
# Whether this thread holds a turn: a thread that opens a second writer while holding one must not queue
# behind itself for ever; it waits in SQLite's busy handler instead, which times out with an error.
_holding = threading.local()
# Engines on a SQLite file, whose writers in one process commit in groups (see ``tanhui.group_commit``).
_grouped: weakref.WeakSet[Engine] = weakref.WeakSet()
# Each SQLite file engine's checkpointer (see ``tanhui.wal_checkpoint``).
engine_checkpointers: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


def create_engine(url: str, *, busy_timeout_ms: int = 60_000, pool_size: int = 10, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys, explicit BEGINs and a writers' queue."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_ms)
    # psycopg's automatic preparing is off: tanhui.pg_batch prepares the statements that repeat, and psycopg
    # would deallocate them all at its next rollback.
    connect_args = {"prepare_threshold": None, **kwargs.pop("connect_args", {})}
    engine = sa_create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size, connect_args=connect_args,
                              **kwargs)
    _ping_after_idle(engine)
    event.listen(engine, "begin", begin_later)
    _sends_ahead(engine)
    return engine


def _sends_ahead(engine: Engine) -> None:
    """Statements sent ahead (``tanhui.prepared.ahead``) go before any statement SQLAlchemy itself runs,
    and die with their transaction if it ends before they were sent."""
    event.listen(engine, "before_cursor_execute", send_ahead)
    event.listen(engine, "commit", forget_ahead)
    event.listen(engine, "rollback", forget_ahead)


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle for more than ``IDLE_PING_SECONDS``.

    A connection dies while it waits in the pool (a server restart, a firewall's idle timeout), not while
    a busy server hands it from act to act; SQLAlchemy's ``pool_pre_ping`` pings on every checkout, which
    cost a transfer one round trip in three.  A failed ping raises DisconnectionError, on which the pool
    discards the connection (and the others of its generation) and connects afresh.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since <= IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            raise DisconnectionError(f"a pooled connection idle for {time.monotonic() - since:.0f} s is gone") \
                from error


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    # Keep connections open: closing the last one checkpoints and deletes the WAL, which costs milliseconds.
    # In-memory databases live and die with one connection, so they get no pool at all.
    database = make_url(url).database
    memory = database in (None, "", ":memory:")
    queue = None if memory or not database or database.startswith("file:") else f"{database}-lock"
    engine = sa_create_engine(
        url, poolclass=NullPool if memory else QueuePool, connect_args={
            "check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        **({} if memory else {"pool_size": 8, "max_overflow": 64}),
    )

    checkpointer = None
    if queue is not None:
        assert database is not None
        _grouped.add(engine)
        checkpointer = _checkpointer(engine, database, queue)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode except on power loss mid-checkpoint
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if checkpointer is not None:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # the engine's checkpointer thread does it
        cursor.close()
        if queue is not None:
            record.info[_TURN] = os.open(queue, os.O_RDWR | os.O_CREAT, 0o600)

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_conn: Any, record: Any) -> None:
        if (descriptor := record.info.pop(_TURN, None)) is not None:
            os.close(descriptor)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE, False) else "BEGIN"
        # Straight on the driver: SQLAlchemy's execution machinery costs several times the BEGIN itself,
        # once per transaction.  Errors are wrapped as SQLAlchemy would (a busy database stays an
        # OperationalError, which the API answers with 503).
        try:
            conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]
        except sqlite3.Error as error:
            raise DBAPIError.instance(statement, None, error, sqlite3.Error, dialect=conn.dialect) from error

    _sends_ahead(engine)
    return engine


def _checkpointer(engine: Engine, database: str, queue: str) -> Checkpointer:
    """A checkpointer for the file's log, told of every commit the engine makes; it queues as writers do."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, timeout=1.0, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    @contextmanager
    def turn() -> Iterator[None]:
        descriptor = os.open(queue, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # and with it the lock

    checkpointer = Checkpointer(connect, turn)
    event.listen(engine, "commit", lambda _conn: checkpointer.committed())
    event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
    engine_checkpointers[engine] = checkpointer
    return checkpointer


def take_turn(conn: Connection) -> int | None:
    """Wait for this writer's turn on a SQLite file; the lock to give back with ``end_turn``, or None.

    Writers that meet SQLite's lock wait in its busy handler, which sleeps 1 to 100 ms between retries, so
    the lock sits idle while they sleep and the unlucky ones wait for seconds.  An exclusive ``flock`` on a
    file beside the database queues them in the kernel instead, handing the turn over at once.  It is taken
    before BEGIN IMMEDIATE and given back after the commit or rollback; the busy timeout stays the backstop
    for other programs that open the database.  SQLite's own lock stays what keeps writers apart; the queue
    only orders them.
    """
    if getattr(_holding, "turn", False):
        return None
    descriptor = lock_turn(conn)
    _holding.turn = descriptor is not None
    return descriptor


def end_turn(descriptor: int) -> None:
    _holding.turn = False
    unlock_turn(descriptor)


def lock_turn(conn: Connection) -> int | None:
    """Queue for the writers' lock file of ``conn``'s SQLite database; its descriptor, or None if it has none."""
    descriptor: int | None = conn.info.get(_TURN)
    if descriptor is not None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def unlock_turn(descriptor: int) -> None:
    fcntl.flock(descriptor, fcntl.LOCK_UN)


def groups_writers(engine: Engine) -> bool:
    """Whether the engine's writers commit in groups: SQLite files do; PostgreSQL and in-memory SQLite do not."""
    return engine in _grouped


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"
