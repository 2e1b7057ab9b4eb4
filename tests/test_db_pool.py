"""PostgreSQL's pool pings a connection only after it sat idle, and replaces one the server dropped meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

from tanhui import db
from tanhui.db import create_engine

pytestmark = pytest.mark.postgres


def test_a_busy_connection_is_not_pinged_and_an_idle_dead_one_is_replaced(postgres_url: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    pings: list[Any] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
    with engine.connect() as conn:
        first_pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    for _ in range(3):  # handed straight back out: no ping
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == first_pid
    assert pings == []

    # The server drops the pooled connection while it is idle; the next checkout pings, and reconnects.
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    admin = create_engine(postgres_url)
    with admin.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({first_pid})").scalar() is True
    admin.dispose()
    with engine.connect() as conn:
        second_pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    assert len(pings) == 1 and second_pid != first_pid
    engine.dispose()
