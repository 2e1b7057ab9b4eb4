"""The background checkpointer keeps a busy SQLite file's write-ahead log bounded, with writers' checkpoints off."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tanhui import wal_checkpoint
from tanhui.db import create_engine, engine_checkpointers


def _wal_frames(path: Path) -> int:
    """Frames in the log file (its header is 32 bytes, each frame a 24-byte header and one page)."""
    size = os.path.getsize(f"{path}-wal")
    return (size - 32) // (24 + 4096) if size else 0


def test_writers_do_not_checkpoint_and_the_thread_keeps_the_log_bounded(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal_checkpoint, "EVERY_COMMITS", 20)
    monkeypatch.setattr(wal_checkpoint, "RESTART_FRAMES", 50)
    path = tmp_path / "ledger.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        conn.commit()
    rounds = 2000
    with engine.connect() as conn:
        for number in range(rounds):  # each commit writes at least one page of its own
            conn.execute(sa.text("INSERT INTO t (body) VALUES (:body)"), {"body": "x" * 3000})
            conn.commit()
            if number % 100 == 99:
                time.sleep(0.05)  # let the thread catch up, as the gaps between requests do
    checkpointer = engine_checkpointers[engine]
    assert checkpointer.checkpoints > 0
    # Without restarts the log would hold a frame or more per commit.
    assert _wal_frames(path) < rounds / 2
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == rounds
    engine.dispose()


def test_the_thread_waits_for_its_first_commit(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'idle.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    checkpointer = engine_checkpointers[engine]
    assert checkpointer.checkpoints == 0 and checkpointer.last is None
    engine.dispose()


def test_disposing_of_the_engine_ends_the_thread_and_a_later_commit_starts_it_again(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'reused.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.commit()
    checkpointer = engine_checkpointers[engine]
    first = checkpointer._thread
    assert first is not None and first.is_alive()
    engine.dispose()
    assert not first.is_alive() and checkpointer.checkpoints == 1  # what the commit left was checkpointed
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t DEFAULT VALUES")
        conn.commit()
    second = checkpointer._thread
    assert second is not None and second is not first and second.is_alive()
    engine.dispose()
