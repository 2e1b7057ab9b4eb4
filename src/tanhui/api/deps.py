"""What every route needs from the application: its engine, its settings and a consistent read connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy.engine import Connection, Engine

from tanhui.config import Settings


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose queries share one snapshot, so a page's rows and totals agree."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        # SQLite: the transaction that the first query opens (a plain BEGIN) is already one snapshot.
        yield conn
