"""Checkpoint a SQLite file's write-ahead log in a background thread, outside the writers' lock."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

# Commits between checkpoints while writers are busy; and how long the log may wait after the last one.
EVERY_COMMITS = 200
IDLE_SECONDS = 1.0
# Idle wake-ups after which the thread ends (it starts again with the next commit).
IDLE_WAKEUPS = 30
# A log longer than this (in 4 KiB pages, about 16 MiB) is finished off in the writers' turn, so it restarts.
RESTART_FRAMES = 4000


class Checkpointer:
    """Copies committed WAL frames back into the database file, one PASSIVE checkpoint at a time.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, so every few hundred
    acts one writer copies the log back and syncs the file while holding the write lock, and everyone
    queued behind it waits.  With ``wal_autocheckpoint`` off on the engine's connections, this thread
    does the same work on its own connection: a PASSIVE checkpoint takes no write lock, so writers go on
    appending while it runs (sqlite3 releases the GIL meanwhile).  It wakes after ``EVERY_COMMITS``
    commits, or ``IDLE_SECONDS`` after the last commit it has not yet covered; once the log is wholly
    checkpointed, the next writer starts it again from the beginning.  Under a steady stream of writers it
    never is (new frames arrive while the old are copied), so once the log is longer than
    ``RESTART_FRAMES`` the thread takes the writers' turn (``turn``: they queue behind it in the kernel, not
    in SQLite's sleeping busy handler) and finishes with a RESTART checkpoint, which copies the last few
    frames and starts the log again: it stays bounded, at the price of one short wait for the writers.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection],
                 turn: Callable[[], AbstractContextManager[object]]) -> None:
        self._connect = connect
        self._turn = turn
        self._commits = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.checkpoints = 0  # checkpoints run, for tests to see the thread at work
        self.last: tuple[int, int, int] | None = None  # (busy, frames in the log, frames checkpointed)

    def committed(self) -> None:
        """Count a commit on the database (called from the engine's commit event); wake the thread when due."""
        self._commits += 1  # unlocked: a count lost to a race only delays a checkpoint
        if self._thread is None:
            self._start()
        if self._commits >= EVERY_COMMITS:
            self._wake.set()

    def stop(self) -> None:
        """End the thread after a last checkpoint of what it has not covered (the engine was disposed of).

        An engine may be used again after ``dispose``: its next commit starts a new thread.
        """
        with self._lock:
            thread = self._thread
            self._stopped = thread is not None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tanhui-wal-checkpoint", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        connection = self._connect()
        idle = 0
        try:
            while True:
                self._wake.wait(IDLE_SECONDS)
                self._wake.clear()
                if self._commits:
                    idle, self._commits = 0, 0
                    self.checkpoint(connection)
                else:
                    idle += 1
                with self._lock:
                    # Leaves no commit uncounted: ``committed`` starts a new thread once this one is gone.
                    if self._stopped or (idle >= IDLE_WAKEUPS and not self._commits):
                        self._thread, self._stopped = None, False
                        return
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """Copy what the log holds back into the file; finish it in the writers' turn when it is long."""
        busy, frames, _done = self._run_checkpoint(connection, "PASSIVE")
        if not busy and frames > RESTART_FRAMES:
            with self._turn():
                self._run_checkpoint(connection, "RESTART")

    def _run_checkpoint(self, connection: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
        try:
            row = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.OperationalError:
            return 1, 0, 0  # another process is checkpointing, or the database is busy: the next wake-up retries
        self.last = (int(row[0]), int(row[1]), int(row[2]))
        self.checkpoints += 1
        return self.last
