"""PostgreSQL transactions begin with their first statements: atomic as ever, with no round trip of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tanhui import pg_batch
from tanhui.db import create_engine
from tanhui.prepared import Prepared, _numbered, together
from tests.sent import Sent

postgres = pytest.mark.postgres

_notes = sa.table("begin_later_notes", sa.column("id", sa.Integer), sa.column("text", sa.Text))
_ADD = Prepared(sa.insert(_notes).values(id=sa.bindparam("id"), text=sa.bindparam("text")))
_XID = Prepared(sa.select(sa.func.pg_current_xact_id().cast(sa.Text).label("xid")))
_LEVEL = "SELECT current_setting('transaction_isolation')"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url, pool_size=1)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE begin_later_notes (id integer PRIMARY KEY, text text NOT NULL)")
    yield engine
    engine.dispose()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent, in order (a BEGIN psycopg sent by itself would show here too)."""
    return Sent(monkeypatch).statements


def _texts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT text FROM begin_later_notes ORDER BY id")).scalars())


@postgres
def test_the_begin_goes_with_the_first_batch_and_the_batch_is_one_transaction(engine: Engine,
                                                                               sent: list[str]) -> None:
    with engine.connect() as conn:
        first, second = together(conn, [(_XID, None), (_XID, None)])
        assert first[0]["xid"] == second[0]["xid"]  # one transaction, begun before the first statement
        together(conn, [(_ADD, {"id": 1, "text": "kept"})], commit=True)
    assert sent == ["BEGIN", "SELECT", "SELECT", "INSERT", "COMMIT"]
    assert _texts(engine) == ["kept"]


@postgres
def test_a_rollback_undoes_every_kind_of_statement(engine: Engine, sent: list[str]) -> None:
    with engine.connect() as conn:
        _ADD.rows(conn, {"id": 1, "text": "prepared"})  # alone: it takes the BEGIN along
        conn.execute(sa.insert(_notes).values(id=2, text="sqlalchemy"))
        together(conn, [(_ADD, {"id": 3, "text": "batched"})])
        conn.rollback()
    assert sent == ["BEGIN", "INSERT", "INSERT", "INSERT", "ROLLBACK"]
    assert _texts(engine) == []


@postgres
def test_sqlalchemys_own_statement_sends_the_begin_first(engine: Engine, sent: list[str]) -> None:
    with engine.connect() as conn:
        conn.execute(sa.insert(_notes).values(id=1, text="one"))
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.insert(_notes).values(id=1, text="again"))
        conn.rollback()
        conn.execute(sa.insert(_notes).values(id=2, text="two"))
        conn.commit()
    assert sent == ["BEGIN", "INSERT", "INSERT", "ROLLBACK", "BEGIN", "INSERT", "COMMIT"]
    assert _texts(engine) == ["two"]


@postgres
def test_a_transaction_that_runs_nothing_sends_nothing(engine: Engine, sent: list[str]) -> None:
    with engine.connect() as conn:
        conn.begin()
        conn.commit()
        conn.begin()
        conn.rollback()
    with engine.begin():
        pass
    assert sent == []


@postgres
def test_a_failed_batch_leaves_nothing_and_the_connection_begins_afresh(engine: Engine, sent: list[str]) -> None:
    with engine.connect() as conn:
        with pytest.raises(sa.exc.IntegrityError):
            together(conn, [(_ADD, {"id": 1, "text": "first"}), (_ADD, {"id": 1, "text": "clash"})], commit=True)
        conn.rollback()
        together(conn, [(_ADD, {"id": 2, "text": "after"})], commit=True)
    assert sent[-3:] == ["BEGIN", "INSERT", "COMMIT"]
    assert _texts(engine) == ["after"]


@postgres
def test_an_isolation_level_of_its_own_is_begun_by_psycopg_and_does_not_outlive_its_use(engine: Engine) -> None:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        assert conn.exec_driver_sql(_LEVEL).scalar() == "repeatable read"
        snapshot = conn.exec_driver_sql("SELECT count(*) FROM begin_later_notes").scalar()
        with engine.connect() as other:  # the pool overflows to a second connection
            together(other, [(_ADD, {"id": 1, "text": "meanwhile"})], commit=True)
        assert conn.exec_driver_sql("SELECT count(*) FROM begin_later_notes").scalar() == snapshot == 0
        conn.rollback()
    with engine.connect() as conn:  # the same pooled connection, back at the server's default
        assert conn.exec_driver_sql(_LEVEL).scalar() == "read committed"
        assert conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        assert together(conn, [(_XID, None), (_XID, None)])[0] != []


def test_a_statement_is_sent_in_the_servers_own_notation() -> None:
    sql, names = _numbered("SELECT %(a)s::INTEGER + %(b)s::INTEGER, %(a)s::INTEGER, 'x' LIKE '50%%'")
    assert sql == b"SELECT $1::INTEGER + $2::INTEGER, $1::INTEGER, 'x' LIKE '50%'"
    assert names == ("a", "b")


@postgres
def test_a_statement_that_failed_to_prepare_is_prepared_again_once_it_can_be(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    later = sa.table("begin_later_later", sa.column("id", sa.Integer))
    count = Prepared(sa.select(sa.func.count().label("n")).select_from(later).where(later.c.id > sa.bindparam("floor")))
    with engine.connect() as conn:
        with pytest.raises(sa.exc.ProgrammingError, match="begin_later_later"):
            count.rows(conn, {"floor": 0})
        conn.rollback()
        conn.exec_driver_sql("CREATE TABLE begin_later_later (id integer)")
        conn.commit()
        assert count.rows(conn, {"floor": 0})[0]["n"] == 0
        conn.commit()
    engine.dispose()


@postgres
def test_past_the_prepared_limit_statements_are_parsed_each_time(engine: Engine, sent: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_batch, "MAX_PREPARED", 1)
    with engine.connect() as conn:
        for number in range(3):
            together(conn, [(_XID, None), (_ADD, {"id": number, "text": f"note {number}"})], commit=True)
        prepared = conn.exec_driver_sql("SELECT name FROM pg_prepared_statements").scalars().all()
        conn.rollback()
    assert len(prepared) == 1
    assert _texts(engine) == ["note 0", "note 1", "note 2"]
