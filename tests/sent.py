"""What the engine sends PostgreSQL: statements in order, and round trips (a batch is one)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tanhui import pg_batch

_IDLE = psycopg.pq.TransactionStatus.IDLE


class Sent:
    """Records every statement psycopg or ``pg_batch`` sends (BEGIN, COMMIT and ROLLBACK included, by their
    first word) and counts round trips: a batch once, each statement, COMMIT or ROLLBACK sent on its own once,
    and a BEGIN psycopg sends by itself (on a connection outside autocommit) once more."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements: list[str] = []
        self.round_trips = 0
        run, execute = pg_batch.run, psycopg.Cursor.execute
        commit, rollback = psycopg.Connection.commit, psycopg.Connection.rollback

        def batch(driver: Any, statements: Any) -> Any:
            self.round_trips += 1
            for statement, _values in statements:
                self.statements.append(statement.decode().split()[0].upper())
            return run(driver, statements)

        def executed(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            conn = cursor.connection
            if conn.info.transaction_status == _IDLE and not conn.autocommit:
                self.statements.append("BEGIN")
                self.round_trips += 1
            self.statements.append(str(query).split()[0].upper())
            self.round_trips += 1
            return execute(cursor, query, *args, **kwargs)

        def ended(original: Any, word: str) -> Any:
            def end(conn: Any) -> Any:
                if conn.info.transaction_status != _IDLE:  # idle: psycopg sends nothing
                    self.statements.append(word)
                    self.round_trips += 1
                return original(conn)
            return end

        monkeypatch.setattr(pg_batch, "run", batch)
        monkeypatch.setattr(psycopg.Cursor, "execute", executed)
        monkeypatch.setattr(psycopg.Connection, "commit", ended(commit, "COMMIT"))
        monkeypatch.setattr(psycopg.Connection, "rollback", ended(rollback, "ROLLBACK"))
