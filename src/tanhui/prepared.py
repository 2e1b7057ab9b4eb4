"""Prepared statements: SQLAlchemy statements compiled once per dialect and run straight on the DBAPI cursor."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, Dialect, RowMapping
from sqlalchemy.engine.result import result_tuple
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ClauseElement

_Processor = Callable[[Any], Any]
# The DBAPI cursor a connection's prepared statements share, kept in the pooled connection's info.
_CURSOR = "tanhui_cursor"
# Statements waiting to go with the connection's next ones (``ahead``), in the same place.
_AHEAD = "tanhui_ahead"
# Set while a PostgreSQL transaction has begun but its BEGIN is not yet sent (``begin_later``).
_BEGIN = "tanhui_begin"
# SQLAlchemy's psycopg dialect writes parameters as %(name)s and a literal percent sign as %%.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


@dataclass(frozen=True)
class _Compiled:
    """One statement as one dialect runs it: SQL text, parameter order, and SQLAlchemy's type processing."""

    sql: str
    positional: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None  # qmark drivers' arguments, in order
    defaults: dict[str, Any]  # values bound when the statement was built (literals, LIMIT)
    binds: dict[str, _Processor]
    columns: tuple[str, ...]
    results: tuple[tuple[int, _Processor], ...]
    make_row: Callable[[Any], Any]
    # PostgreSQL: the statement as tanhui.pg_batch sends it ($1, $2, …) and the parameters in that order.
    numbered: tuple[bytes, tuple[str, ...]] | None


class Prepared:
    """A statement with bound parameters, compiled once per dialect and executed without SQLAlchemy's per-call work.

    SQLAlchemy spends about 50 µs per execution on a statement it has already compiled (cache key,
    parameter and result set-up); the ledger's hot paths run a dozen statements per act, most of it
    under a lock.  This runs the same SQL on the connection's own DBAPI cursor, in its transaction,
    converting parameters and results with SQLAlchemy's own bind and result processors, so rows come
    back exactly as ``Connection.execute`` would return them.
    """

    def __init__(self, statement: ClauseElement, *, column_keys: list[str] | None = None) -> None:
        self.statement = statement
        # For an INSERT without values(): the columns it sets, each bound under its own name.
        self.column_keys = column_keys
        self._by_dialect: dict[str, _Compiled] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        """Run the statement in ``conn``'s transaction; the rows it returns (empty for no RETURNING)."""
        if conn.dialect.name == "postgresql" or _AHEAD in conn.info:
            return together(conn, [(self, params)])[0]
        return self._on_cursor(conn, *self._bind(conn, params))

    def _on_cursor(self, conn: Connection, compiled: _Compiled, arguments: Any) -> list[RowMapping]:
        """Run the bound statement on the connection's shared DBAPI cursor."""
        cursor = shared_cursor(conn)
        try:
            cursor.execute(compiled.sql, arguments)
            # Not cursor.description: psycopg builds an object per column for it on every call.
            fetched = cursor.fetchall() if compiled.columns else []
        except conn.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(compiled.sql, arguments, error, conn.dialect.loaded_dbapi.Error,
                                      dialect=conn.dialect) from error
        return _mapped(compiled, fetched)

    def _bind(self, conn: Connection, params: Mapping[str, Any] | None) -> tuple[_Compiled, Any]:
        """The compiled statement and its DBAPI arguments, in ``conn``'s transaction (begun if need be)."""
        compiled = self._by_dialect.get(conn.dialect.name) or self._compile(conn.dialect)
        values = {**compiled.defaults, **params} if params else dict(compiled.defaults)
        for name, process in compiled.binds.items():
            values[name] = process(values[name])
        arguments = values if compiled.positional is None else compiled.positional(values)
        if not conn.in_transaction():
            conn.begin()  # as SQLAlchemy's autobegin would (SQLite's BEGIN comes from tanhui.db's hook)
        return compiled, arguments

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> RowMapping | None:
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        assert isinstance(compiled, SQLCompiler)
        binds: dict[str, BindParameter[Any]] = {name: bind for bind, name in compiled.bind_names.items()}
        if compiled.escaped_bind_names or "POSTCOMPILE" in compiled.string or any(b.callable for b in binds.values()):
            raise ValueError("a prepared statement needs plain bound parameters (no expanding IN, escaping, callables)")
        processors = {name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in binds.items()}
        columns = tuple(getattr(self.statement, "exported_columns", ()))
        results = tuple((index, process) for index, column in enumerate(columns)
                        if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)))
        names = tuple(column.name for column in columns)
        prepared = _Compiled(
            sql=compiled.string,
            positional=_in_order(tuple(compiled.positiontup or ())) if compiled.positional else None,
            defaults={name: bind.value for name, bind in binds.items() if not bind.required},
            binds={name: process for name, process in processors.items() if process is not None},
            columns=names,
            results=results,
            make_row=result_tuple(names),
            numbered=_numbered(compiled.string) if dialect.name == "postgresql" else None,
        )
        self._by_dialect[dialect.name] = prepared
        return prepared


def _numbered(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """``sql`` in the server's own notation, and the parameters' names in the order of their numbers."""
    names: list[str] = []

    def place(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(place, sql).encode(), tuple(names)


def _in_order(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The parameters' values in ``names``' order, as a tuple (itemgetter returns a bare value for one name)."""
    if len(names) == 1:
        (name,) = names
        return lambda values: (values[name],)
    return itemgetter(*names) if names else lambda _values: ()


def together(conn: Connection, calls: Sequence[tuple[Prepared, Mapping[str, Any] | None]], *,
             commit: bool = False) -> list[list[RowMapping]]:
    """Run statements in order, each one's rows as ``rows`` returns them; on PostgreSQL in one round trip.

    For statements none of which needs another's result: ``pg_batch`` sends them all and then waits once,
    where one at a time each would wait for the server; a transaction's BEGIN (``begin_later``) goes with
    its first batch.  They run in the order given (locks
    are taken in that order), and if one fails the rest are not run and its error is raised; as with any
    failed statement, the transaction then can only be rolled back.  ``commit``: then commit ``conn``'s
    transaction, on PostgreSQL in the same round trip (a failed COMMIT raises as ``Connection.commit`` would).
    Statements sent ``ahead`` on ``conn`` go first, in the same round trip.
    """
    waiting: Ahead | None = conn.info.pop(_AHEAD, None)
    if waiting is not None:
        waiting.sent = True
        results = together(conn, [*waiting.calls, *calls], commit=commit)
        waiting.results = results[:len(waiting.calls)]
        return results[len(waiting.calls):]
    if conn.dialect.name != "postgresql":
        results = [statement.rows(conn, params) for statement, params in calls]
        if commit:
            conn.commit()
        return results
    bound = [(statement, *statement._bind(conn, params)) for statement, params in calls]
    begin = conn.info.pop(_BEGIN, False)
    driver: Any = conn.connection.dbapi_connection
    if not driver.autocommit and _idle(driver):
        # A connection with an isolation level of its own (``begin_later``): psycopg begins its transaction,
        # before the first statement it runs itself.
        results = [statement._on_cursor(conn, compiled, arguments) for statement, compiled, arguments in bound]
    else:
        from tanhui import pg_batch  # here: SQLite needs no psycopg

        batch: list[tuple[bytes, Sequence[Any] | None]] = [(b"BEGIN", None)] if begin else []
        for _statement, compiled, arguments in bound:
            assert compiled.numbered is not None
            numbered, names = compiled.numbered
            batch.append((numbered, [arguments[name] for name in names]))
        if commit:
            batch.append((b"COMMIT", None))
        try:
            answers = pg_batch.run(driver, batch) if batch else []
        except conn.dialect.loaded_dbapi.Error as error:
            sent = "; ".join(statement.decode() for statement, _values in batch)
            raise DBAPIError.instance(sent, None, error, conn.dialect.loaded_dbapi.Error,
                                      dialect=conn.dialect) from error
        results = [_mapped(compiled, rows) for (_statement, compiled, _arguments), rows
                   in zip(bound, answers[begin:begin + len(bound)], strict=True)]
    if commit:
        conn.commit()  # SQLAlchemy's bookkeeping: the driver, already idle, sends nothing
    return results


class Ahead:
    """Statements sent with the next ones their connection runs (``ahead``); ``rows`` gives their rows."""

    def __init__(self, conn: Connection, calls: Sequence[tuple[Prepared, Mapping[str, Any] | None]]) -> None:
        self.conn = conn
        self.calls = list(calls)
        self.sent = False
        self.results: list[list[RowMapping]] | None = None

    def rows(self) -> list[list[RowMapping]]:
        """Each statement's rows; sent now, alone, if nothing has been run on the connection since."""
        if not self.sent and self.conn.info.get(_AHEAD) is self:
            together(self.conn, [])  # takes what waits ahead, as any batch would
        if self.results is None:
            raise RuntimeError("the statements sent ahead went with a batch that failed, or their transaction "
                               "ended first; their rows are lost")
        return self.results


def ahead(conn: Connection, calls: Sequence[tuple[Prepared, Mapping[str, Any] | None]]) -> Ahead:
    """Send ``calls`` in front of the next statements run on ``conn``: on PostgreSQL in their round trip.

    For reads a transaction needs but need not wait for (who the caller is, an idempotency key's answer),
    checked once the work that went with them is done.  A prepared statement or ``together`` takes them
    along; any other statement on the connection sends them first, on their own (``send_ahead``), so they
    always run before whatever follows them.
    """
    if _AHEAD in conn.info:
        raise RuntimeError("statements are already waiting to be sent ahead on this connection")
    waiting = conn.info[_AHEAD] = Ahead(conn, calls)
    return waiting


def send_ahead(conn: Connection, *_args: Any) -> None:
    """Send what waits for ``conn``'s next statement now: the transaction's BEGIN (``begin_later``) and the
    statements ``ahead`` (a ``before_cursor_execute`` listener: SQLAlchemy runs a statement of its own next)."""
    waiting: Ahead | None = conn.info.get(_AHEAD)
    if waiting is not None:
        waiting.rows()
    elif _BEGIN in conn.info:
        together(conn, [])


def forget_ahead(conn: Connection) -> None:
    """Drop what waits unsent when the transaction ends (a ``commit`` and ``rollback`` listener): it belonged
    to that transaction, not to the pooled connection's next one.  A transaction that ran nothing was never
    begun on the server, and psycopg then sends no COMMIT or ROLLBACK either."""
    conn.info.pop(_AHEAD, None)
    conn.info.pop(_BEGIN, None)


def begin_later(conn: Connection) -> None:
    """Begin ``conn``'s PostgreSQL transaction with its first statements (a ``begin`` listener).

    psycopg begins a transaction by itself before the first statement, and in a pipeline it then syncs and
    waits for that BEGIN (psycopg pull request 401): a round trip of its own, once per transaction.  The
    engine's connections are in psycopg's autocommit mode instead, and the BEGIN goes at the head of the
    transaction's first batch (``together``); any other statement sends it first (``send_ahead``).  A
    connection given an isolation level of its own (``execution_options``) is left to psycopg, which begins
    at that level.
    """
    driver: Any = conn.connection.dbapi_connection
    if "isolation_level" in conn.get_execution_options():
        return
    if not driver.autocommit:
        if not _idle(driver):
            return
        driver.autocommit = True  # the pool reset it to SQLAlchemy's default after an isolation level's use
    conn.info[_BEGIN] = True


def _idle(driver: Any) -> bool:
    from psycopg.pq import TransactionStatus  # here: SQLite needs no psycopg

    return bool(driver.info.transaction_status == TransactionStatus.IDLE)


def _mapped(compiled: _Compiled, fetched: Sequence[Any]) -> list[RowMapping]:
    """Fetched rows converted by SQLAlchemy's result processors, as mappings."""
    if compiled.results:
        fetched = [list(row) for row in fetched]
        for row in fetched:
            for index, process in compiled.results:
                row[index] = process(row[index])
    return [compiled.make_row(row)._mapping for row in fetched]


def shared_cursor(conn: Connection) -> Any:
    """The connection's shared DBAPI cursor: creating one per statement costs as much as running it on SQLite."""
    cursor = conn.info.get(_CURSOR)
    if cursor is None:
        cursor = conn.info[_CURSOR] = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    return cursor
