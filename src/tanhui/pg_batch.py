"""PostgreSQL batches: a transaction's statements sent in one write and answered in one read, prepared once."""

from __future__ import annotations

import select
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import abc, adapt, pq
from psycopg.adapt import PyFormat

# Server-side statements kept per connection; past this, statements are parsed each time they run.
MAX_PREPARED = 256
_ok = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


@dataclass
class _Session:
    """What one connection keeps between batches: its adapters, and the statements it has prepared."""

    transformer: abc.Transformer
    prepared: dict[tuple[bytes, tuple[int, ...]], bytes] = field(default_factory=dict)
    named: int = 0  # names given so far: a Parse that failed leaves its name unused, never reused


_sessions: weakref.WeakKeyDictionary[psycopg.Connection[Any], _Session] = weakref.WeakKeyDictionary()


def run(driver: psycopg.Connection[Any], statements: Sequence[tuple[bytes, Sequence[Any] | None]]
        ) -> list[list[tuple[Any, ...]]]:
    """Run ``statements`` (SQL with $1, $2, … and their values) in order in one round trip; each one's rows.
    A statement whose values are None (BEGIN, COMMIT) is sent as it is, never prepared.

    psycopg's own pipeline writes to the socket once per statement and syncs after its implicit BEGIN;
    this queues the statements in libpq's pipeline mode, then sends them with one Sync and one flush, and
    reads every answer back.  Each statement is prepared on the connection the first time it runs with
    those parameter types, in the same batch, so the server parses and plans it once.  The engine turns
    psycopg's own automatic preparing off (``create_engine``): psycopg would otherwise deallocate every
    prepared statement, these included, at a rollback.  The first statement that fails raises its error
    (the server skips the rest); a failure of the connection itself leaves the connection closed.
    """
    pgconn = driver.pgconn
    session = _sessions.get(driver)
    if session is None:
        session = _sessions[driver] = _Session(adapt.Transformer(driver))
    transformer = session.transformer
    expected: list[bool] = []  # per result awaited: whether it answers a statement (not a Parse)
    preparing: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
    try:
        pgconn.enter_pipeline_mode()
        for sql, values in statements:
            if values is None:
                pgconn.send_query_params(sql, None)
                expected.append(True)
                continue
            params = transformer.dump_sequence(values, [PyFormat.AUTO] * len(values))
            types = transformer.types or ()
            key = (sql, types)
            name = session.prepared.get(key) or preparing.get(key)
            if name is None and len(session.prepared) + len(preparing) < MAX_PREPARED:
                name = preparing[key] = b"tanhui_%d" % session.named
                session.named += 1
                pgconn.send_prepare(name, sql, param_types=types)
                expected.append(False)
            if name is None:
                pgconn.send_query_params(sql, params, param_types=types,
                                         param_formats=transformer.formats)
            else:
                pgconn.send_query_prepared(name, params, param_formats=transformer.formats)
            expected.append(True)
        pgconn.pipeline_sync()
        _flush(pgconn)
        results, error, parsed = _read(pgconn, transformer, expected, driver.info.encoding)
        pgconn.exit_pipeline_mode()
    except BaseException:
        # The connection failed, or the batch was interrupted with answers unread: its protocol state is unknown.
        driver.close()
        raise
    for (key, name), ok in zip(preparing.items(), parsed, strict=True):
        if ok:
            session.prepared[key] = name
    if error is not None:
        raise error
    return results


def _read(pgconn: pq.abc.PGconn, transformer: abc.Transformer, expected: Sequence[bool], encoding: str
          ) -> tuple[list[list[tuple[Any, ...]]], psycopg.Error | None, list[bool]]:
    """Every answer up to the Sync: the statements' rows, the first error, and whether each Parse took."""
    results: list[list[tuple[Any, ...]]] = []
    parsed: list[bool] = []
    error: psycopg.Error | None = None
    for answers_statement in expected:
        result = _answer(pgconn)
        if _next(pgconn) is not None:  # each query's answer ends with a null result
            raise psycopg.InterfaceError("a batched statement returned more than one result")
        status = result.status
        if status not in _ok:
            if status == pq.ExecStatus.FATAL_ERROR and error is None:
                error = psycopg.errors.error_from_result(result, encoding=encoding)
            elif status != pq.ExecStatus.PIPELINE_ABORTED and error is None:
                error = psycopg.InterfaceError(f"unexpected result {pq.ExecStatus(status).name} in a batch")
        if not answers_statement:
            parsed.append(status == pq.ExecStatus.COMMAND_OK)
        elif status == pq.ExecStatus.TUPLES_OK:
            transformer.set_pgresult(result)
            results.append(transformer.load_rows(0, result.ntuples, tuple))
        else:
            results.append([])
    sync = _answer(pgconn)
    if sync.status != pq.ExecStatus.PIPELINE_SYNC:
        raise psycopg.InterfaceError(f"expected the batch's Sync, got {pq.ExecStatus(sync.status).name}")
    return results, error, parsed


def _next(pgconn: pq.abc.PGconn) -> Any:
    """The connection's next result, waiting for the server as long as libpq needs more input."""
    while pgconn.is_busy():
        _wait(pgconn, select.POLLIN)
        pgconn.consume_input()
    return pgconn.get_result()


def _answer(pgconn: pq.abc.PGconn) -> Any:
    """The next answer in the batch, which must be there (the Sync's comes last)."""
    result = _next(pgconn)
    if result is None:
        raise psycopg.InterfaceError("a batch ended before every statement was answered")
    return result


def _flush(pgconn: pq.abc.PGconn) -> None:
    """Send everything libpq holds (it writes without blocking: a full socket buffer is waited out)."""
    while pgconn.flush():
        _wait(pgconn, select.POLLOUT | select.POLLIN)
        pgconn.consume_input()  # the server may be answering while it waits for the rest


def _wait(pgconn: pq.abc.PGconn, events: int) -> None:
    poller = select.poll()
    poller.register(pgconn.socket, events)
    poller.poll()
