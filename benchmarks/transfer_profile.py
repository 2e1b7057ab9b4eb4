"""One transfer end to end, alone: statements sent per transfer, time per transfer, and a cProfile of the loop.

``python benchmarks/transfer_profile.py [--database sqlite|postgres] [--via service|http|asgi] [-n N] [--profile]
[--python-path]``
builds the benchmark's world (see ``ledger.py``) in a fresh database, then runs N transfers one after
another in this process.  Statements are counted at the driver: every ``execute`` on a DBAPI cursor,
whether SQLAlchemy or ``tanhui.prepared`` sent it, plus each COMMIT; on SQLite the statements that the
triggers run inside them are counted apart (SQLite's trace callback reports them).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).parent))
from ledger import DEFAULT_POSTGRES_URL, Pair, Postgres, build_world
from tanhui import pg_batch
from tanhui.db import create_engine
from tanhui.migrate import upgrade
from tanhui.registry import ledger, on_server
from tanhui.unit_of_work import UnitOfWork


class Counting:
    """Counts what each DBAPI connection of an engine is asked to run, by the first word of the statement."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.triggered = 0
        self.pipelined = 0  # PostgreSQL: statements sent in a pipeline after its first (no round trip of their own)
        self._last = ""

    def attach(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            if isinstance(dbapi_conn, sqlite3.Connection):
                dbapi_conn.set_trace_callback(self._sqlite)
            else:
                _wrap_psycopg(dbapi_conn, self)

        if engine.dialect.name == "postgresql":
            _count_batches(self)

    def _sqlite(self, sql: str) -> None:
        # SQLite reports each trigger program a statement runs as that statement again (Python 3.11 expands
        # the trigger's "-- TRIGGER" line into the outer statement's text), so a repeat is a trigger run.
        if sql == self._last:
            self.triggered += 1
        else:
            self.count(sql)
        self._last = sql

    def count(self, sql: str) -> None:
        self.statements[sql.split(None, 1)[0].upper()] += 1

    def total(self) -> int:
        return sum(self.statements.values())


def _wrap_psycopg(dbapi_conn: Any, counting: Counting) -> None:
    """Count every statement, BEGIN and COMMIT a psycopg connection sends on its own (psycopg has no trace
    callback; ``_count_batches`` counts what goes in batches)."""
    from psycopg.pq import TransactionStatus

    IDLE = TransactionStatus.IDLE
    connection_class = type(dbapi_conn)
    cursor_factory = dbapi_conn.cursor_factory

    class CountingCursor(cursor_factory):  # type: ignore[misc, valid-type]
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            if dbapi_conn.info.transaction_status == IDLE and not dbapi_conn.autocommit:
                counting.count("BEGIN")  # psycopg sends it first
            counting.count(str(query) if isinstance(query, str) else "SQL")
            return super().execute(query, *args, **kwargs)

    dbapi_conn.cursor_factory = CountingCursor
    original_commit = connection_class.commit

    def commit() -> None:
        if dbapi_conn.info.transaction_status != IDLE:  # idle: psycopg sends nothing
            counting.count("COMMIT")
        original_commit(dbapi_conn)

    dbapi_conn.commit = commit


def _count_batches(counting: Counting) -> None:
    """Count the statements of each batch, which shares one round trip."""
    run = pg_batch.run

    def counted(driver: Any, statements: Any) -> Any:
        for statement, _values in statements:
            counting.count(statement.decode())
        counting.pipelined += len(statements) - 1
        return run(driver, statements)

    pg_batch.run = counted  # type: ignore[assignment]


def service_loop(engine: Engine, pair: Pair, seed: int = 1) -> Callable[[int], None]:
    rng = random.Random(seed)

    def transfer(sequence: int) -> None:
        first, second = pair.accounts
        source, destination = (first, second) if sequence % 2 == 0 else (second, first)
        with UnitOfWork(engine, pair.principal.actor) as tx:
            ledger.transfer(tx, pair.principal, from_account_id=source, to_account_id=destination,
                            quantity=rng.randint(1, 100))
            tx.commit()

    return transfer


@contextmanager
def http_loop(url: str, engine: Engine, pair: Pair) -> Iterator[Callable[[int], None]]:
    """The API served by uvicorn (its defaults, as ``tanhui serve``) in a thread of this process."""
    import httpx
    import uvicorn

    from tanhui.api.app import create_app
    from tanhui.config import Settings

    app = create_app(Settings(database_url=url), engine=engine)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rng = random.Random(1)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        token = client.post("/api/v1/auth/token",
                            data={"username": pair.username, "password": "benchmark password"}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"

        def transfer(sequence: int) -> None:
            first, second = pair.accounts
            source, destination = (first, second) if sequence % 2 == 0 else (second, first)
            response = client.post("/api/v1/transfers", headers={"Idempotency-Key": uuid.uuid4().hex},
                                   json={"from_account_id": source, "to_account_id": destination,
                                         "quantity": rng.randint(1, 100)})
            assert response.status_code == 201, response.text

        yield transfer
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def asgi_loop(url: str, engine: Engine, pair: Pair) -> Iterator[Callable[[int], None]]:
    """The app called as an ASGI application on this thread's event loop: no sockets, no HTTP parsing, so
    the CPU per transfer is the app's own (FastAPI, the route, the database client), as precisely as it goes."""
    import asyncio

    from tanhui.api.app import create_app
    from tanhui.config import Settings

    app = create_app(Settings(database_url=url), engine=engine)
    # One loop running all along in a thread of its own, under one main task, as a server's: anyio keeps
    # its worker threads for the loop's root task (the one run_until_complete runs), and with none it
    # would start a thread for every request.
    loop = asyncio.new_event_loop()
    stopping = loop.create_future()

    async def serve() -> None:
        await stopping

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()

    def call(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        answer: dict[str, Any] = {"body": b""}
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        asyncio.run_coroutine_threadsafe(app(scope, receive, send), loop).result()
        return answer["status"], answer["body"]

    form = urlencode({"username": pair.username, "password": "benchmark password"}).encode()
    status, token = call("/api/v1/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, token
    headers = {"Authorization": f"Bearer {json.loads(token)['access_token']}", "Content-Type": "application/json"}
    rng = random.Random(1)

    def transfer(sequence: int) -> None:
        first, second = pair.accounts
        source, destination = (first, second) if sequence % 2 == 0 else (second, first)
        body = json.dumps({"from_account_id": source, "to_account_id": destination,
                           "quantity": rng.randint(1, 100)}).encode()
        status, answer = call("/api/v1/transfers", body, {**headers, "Idempotency-Key": uuid.uuid4().hex})
        assert status == 201, answer

    try:
        yield transfer
    finally:
        loop.call_soon_threadsafe(stopping.set_result, None)
        thread.join(timeout=10)


def threaded(engine: Engine, world: list[Pair]) -> Callable[[int], None]:
    """One call runs one transfer in each of len(world) threads at once, each on its own pair (as the benchmark)."""
    loops = [service_loop(engine, pair, seed) for seed, pair in enumerate(world)]

    def transfers(sequence: int) -> None:
        threads = [threading.Thread(target=loop, args=(sequence,)) for loop in loops]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    return transfers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _backends_cpu(engine: Engine) -> float | None:
    """CPU seconds the PostgreSQL server's processes for this database have used so far (user + system, from
    /proc: only where the server runs on this machine and this user may read its processes), or None."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                    ).scalars().all()
    try:
        total = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


def measure(transfer: Callable[[int], None], counting: Counting, n: int, profile: str | None,
            per_call: int = 1, serving: bool = False, engine: Engine | None = None) -> None:
    for sequence in range(20):  # warm-up: statements prepared, blocks split into their steady shape
        transfer(sequence)
    # Read before the counts start and after they stop: its own query is not the transfers'.
    backends = _backends_cpu(engine) if engine is not None else None
    counting.statements.clear()
    counting.triggered = counting.pipelined = 0
    profiler = cProfile.Profile() if profile == "cprofile" else None
    spy = None
    if profile == "py-spy":  # samples every thread (the API's routes run in a thread pool)
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(os.getpid()), "--format", "raw",
                                "--output", "transfer-profile.txt", "--nonblocking"])
        time.sleep(1.0)
    start, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    if profiler:
        profiler.enable()
    for sequence in range(20, 20 + n):
        transfer(sequence)
    if profiler:
        profiler.disable()
    elapsed, cpu, own = time.perf_counter() - start, time.process_time() - cpu, time.thread_time() - own
    done = n * per_call
    statements, pipelined = counting.total(), counting.pipelined
    per = {kind: round(count / done, 2) for kind, count in counting.statements.most_common()}
    after = _backends_cpu(engine) if backends is not None and engine is not None else None
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    print(f"{done} transfers in {elapsed:.2f} s: {1e3 * elapsed / done:.3f} ms each, {done / elapsed:.0f}/s "
          f"({per_call} thread{'s' if per_call > 1 else ''}); this process's CPU: {1e3 * cpu / done:.3f} ms each")
    if serving:
        print(f"the server's CPU (the process less the client's thread): {1e3 * (cpu - own) / done:.3f} ms each")
    if after is not None and backends is not None:
        print(f"PostgreSQL's CPU (its processes serving this database): {1e3 * (after - backends) / done:.3f} ms "
              f"each; with this process's, {1e3 * (after - backends + cpu) / done:.3f} ms")
    print(f"statements per transfer: {statements / done:.2f} {per}")
    if pipelined:
        print(f"round trips per transfer (PostgreSQL, batches counted once): {(statements - pipelined) / done:.2f}")
    if counting.triggered:
        print(f"trigger statements per transfer (SQLite): {counting.triggered / done:.2f}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--via", choices=("service", "http", "asgi"), default="service",
                        help="asgi: the app called in this process, without sockets or uvicorn (its own CPU alone)")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1,
                        help="service layer: run this many threads at once, each on its own pair of accounts")
    parser.add_argument("--profile", choices=("cprofile", "py-spy"),
                        help="cProfile the loop's thread, or sample every thread with py-spy (needs it installed)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--python-path", action="store_true",
                        help="PostgreSQL: transfer by the Python path, not tanhui_transfer (for an A/B in one sitting)")
    args = parser.parse_args()
    on_server.ENABLED = not args.python_path
    with tempfile.TemporaryDirectory() as directory, _database(args, Path(directory)) as url:
        engine = create_engine(url)
        upgrade(engine)
        world = build_world(engine, pairs=args.threads)
        pair = world[0]
        engine.dispose()
        counting = Counting()
        engine = create_engine(url)
        counting.attach(engine)
        if args.via == "service" and args.threads > 1:
            measure(threaded(engine, world), counting, args.n // args.threads, args.profile, args.threads,
                    engine=engine)
        elif args.via == "service":
            measure(service_loop(engine, pair), counting, args.n, args.profile, engine=engine)
        elif args.via == "asgi":
            with asgi_loop(url, engine, pair) as transfer:
                measure(transfer, counting, args.n, args.profile, engine=engine)
        else:
            with http_loop(url, engine, pair) as transfer:
                measure(transfer, counting, args.n, args.profile, serving=True, engine=engine)
        engine.dispose()


@contextmanager
def _database(args: argparse.Namespace, directory: Path) -> Iterator[str]:
    if args.database == "sqlite":
        yield f"sqlite:///{directory}/profile.db"
        return
    server = Postgres(args.postgres_url)
    try:
        with server.database("profile") as url:
            yield url
    finally:
        server.dispose()


if __name__ == "__main__":
    main()
