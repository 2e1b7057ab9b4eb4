"""Ledger throughput: transfers/s through the service layer and the HTTP API, against same-run baselines.

Run ``python benchmarks/ledger.py --help``; BENCHMARKS.md explains each figure and keeps the latest results.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from harness import (
    Figure,
    Operation,
    Run,
    machine,
    now_utc,
    print_report,
    run_threads,
    run_workers,
    write_json,
)
from tanhui.db import create_engine
from tanhui.group_commit import group_of
from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.migrate import upgrade
from tanhui.registry import ledger
from tanhui.registry.tables import accounts, acts, blocks, movements
from tanhui.unit_of_work import UnitOfWork

WORKERS = 4
PARTS = ("sqlite", "postgres", "http")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "benchmark password"
# Each account of a pair starts with its own issuance, so transfers mix blocks of two issuances.
ISSUED_PER_ACCOUNT = 1_000_000
# Transfers move 1..MAX_STEP units back and forth: most take part of a block and split it.
MAX_STEP = 100
# pgbench's scale is its number of branch rows, and every TPC-B transaction updates one of them; with
# fewer branches than clients it would measure queueing on those rows (pgbench's docs ask for
# scale >= clients).  Scale 4 for 4 clients (400,000 accounts, ~60 MB) fits in shared_buffers, as the
# ledger's working set does.
PGBENCH_SCALE = 4
SQLITE_TARGET = 2_000.0
POSTGRES_RATIO_TARGET = 0.5
HTTP_TARGET = 500.0
SERVER_START_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 30.0


# ---------------------------------------------------------------- the world


@dataclass(frozen=True)
class Pair:
    """One worker's organisation, its admin and the two accounts it ping-pongs units between."""

    username: str
    principal: Principal
    accounts: tuple[int, int]


def build_world(engine: Engine, pairs: int = WORKERS) -> list[Pair]:
    """A registry built through the real services: operator, a PV project, and one aggregator per worker."""
    admin = identity.bootstrap(engine, username="operator", password=PASSWORD, organization_name="Operator")
    operator = Principal("user:operator", admin["organization_id"], "operator", "admin")
    world: list[Pair] = []
    with UnitOfWork(engine, operator.actor) as tx:
        owner = identity.create_organization(tx, operator, name="Rooftop PV owner", kind="project_owner")
        project = ledger.register_project(tx, operator, name="Rooftop PV bundle", methodology="PV-DIST",
                                          owner_organization_id=owner["id"], region="SIP")
        for number in range(1, pairs + 1):
            organization = identity.create_organization(tx, operator, name=f"Aggregator {number}",
                                                        kind="aggregator")
            username = f"aggregator-{number}"
            identity.create_user(tx, operator, organization_id=organization["id"], username=username,
                                 password=PASSWORD, role="admin")
            first, second = (
                ledger.open_account(tx, operator, organization_id=organization["id"], kind="holding",
                                    name=f"holding {side}")["id"]
                for side in ("A", "B")
            )
            principal = Principal(f"user:{username}", organization["id"], "aggregator", "admin")
            world.append(Pair(username, principal, (first, second)))
        tx.commit()
    for pair in world:
        for account_id in pair.accounts:
            with UnitOfWork(engine, operator.actor) as tx:
                ledger.issue(tx, operator, registry="TH", project_id=project["id"], vintage=2024,
                             period_start=date(2024, 1, 1), period_end=date(2024, 12, 31),
                             quantity=ISSUED_PER_ACCOUNT, account_id=account_id, credit_type="PHCER")
                tx.commit()
    return world


def fresh_world(url: str) -> list[Pair]:
    engine = create_engine(url)
    try:
        upgrade(engine)
        return build_world(engine)
    finally:
        engine.dispose()


def _step(pair: Pair, sequence: int, rng: random.Random) -> tuple[int, int, int]:
    """Even steps send A→B, odd steps B→A, a small random quantity each time."""
    first, second = pair.accounts
    source, destination = (first, second) if sequence % 2 == 0 else (second, first)
    return source, destination, rng.randint(1, MAX_STEP)


def check_ledger(url: str, world: Sequence[Pair], run: Run) -> dict[str, Any]:
    """Read back what the run left: every counted transfer is in the database and no unit was lost."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            recorded = conn.execute(sa.select(sa.func.count()).select_from(acts)
                                    .where(acts.c.kind == "transfer")).scalar_one()
            moved = conn.execute(sa.select(sa.func.count()).select_from(movements.join(acts))
                                 .where(acts.c.kind == "transfer")).scalar_one()
            block_count = conn.execute(sa.select(sa.func.count()).select_from(blocks)).scalar_one()
            conserved = all(
                conn.execute(sa.select(sa.func.sum(accounts.c.available))
                             .where(accounts.c.id.in_(pair.accounts))).scalar_one() == 2 * ISSUED_PER_ACCOUNT
                for pair in world
            )
    finally:
        engine.dispose()
    counted = run.successes + run.warmup
    return {"transfers_recorded": recorded, "transfers_counted": counted,
            "blocks_per_transfer": round(moved / recorded, 1) if recorded else None,
            "blocks_at_end": block_count, "units_conserved": conserved,
            "consistent": recorded == counted and conserved}


def record_run(figure: Figure, run: Run, check: dict[str, Any]) -> None:
    """Put a run's rate and details in its figure; a worker's error or a failed read-back makes it invalid."""
    figure.value = run.per_second
    figure.details.update({**run.summary(), **check})
    problems = run.errors
    if not check["consistent"]:
        problems.append(f"the database holds {check['transfers_recorded']} transfers, the workers counted "
                        f"{check['transfers_counted']}; units conserved: {check['units_conserved']}")
    if problems:
        figure.error = "; ".join(problems)


# ---------------------------------------------------------------- service layer


def _transfers(engine: Engine, pair: Pair, seed: int) -> Operation:
    """A worker's transfers straight through ``ledger.transfer``, one committed unit of work each."""
    rng = random.Random(seed)

    def transfer(sequence: int) -> None:
        source, destination, quantity = _step(pair, sequence, rng)
        with UnitOfWork(engine, pair.principal.actor) as tx:
            ledger.transfer(tx, pair.principal, from_account_id=source, to_account_id=destination,
                            quantity=quantity)
            tx.commit()

    return transfer


@contextmanager
def service_transfers(url: str, pair: Pair, seed: int) -> Iterator[Operation]:
    """A worker process's transfers on its own engine."""
    engine = create_engine(url)
    try:
        yield _transfers(engine, pair, seed)
    finally:
        engine.dispose()


@contextmanager
def shared_service_transfers(engine: Engine, pair: Pair, seed: int) -> Iterator[Operation]:
    """A worker thread's transfers on the engine its process shares (on SQLite: one writer group)."""
    yield _transfers(engine, pair, seed)


def run_service(url: str, world: Sequence[Pair], seconds: int) -> Run:
    return run_workers(service_transfers, [(url, pair, index) for index, pair in enumerate(world)], seconds)


def run_service_threads(url: str, world: Sequence[Pair], seconds: int) -> tuple[Run, dict[str, Any]]:
    """The workers as threads of this process on one engine; also how many acts each COMMIT carried."""
    engine = create_engine(url)
    try:
        run = run_threads(shared_service_transfers, [(engine, pair, index) for index, pair in enumerate(world)],
                          seconds)
        group = group_of(engine)
        commits = group.commits if group is not None else 0
    finally:
        engine.dispose()
    acts = run.successes + run.warmup
    return run, {"commits": commits, "acts_per_commit": round(acts / commits, 2) if commits else None}


# ---------------------------------------------------------------- SQLite


@contextmanager
def sqlite_tpcb(url: str, seed: int) -> Iterator[Operation]:
    """pgbench's TPC-B transaction on bare SQLite, over a connection set up exactly as the ledger's."""
    engine = create_engine(url)
    connection = engine.raw_connection()  # WAL, synchronous=NORMAL, busy timeout: tanhui.db's settings
    rng = random.Random(seed)

    def tpcb(_: int) -> None:
        aid, tid = rng.randint(1, 100_000 * PGBENCH_SCALE), rng.randint(1, 10 * PGBENCH_SCALE)
        bid, delta = rng.randint(1, PGBENCH_SCALE), rng.randint(-5000, 5000)
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.execute("UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?", (delta, aid))
            cursor.execute("SELECT abalance FROM pgbench_accounts WHERE aid = ?", (aid,)).fetchone()
            cursor.execute("UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?", (delta, tid))
            cursor.execute("UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?", (delta, bid))
            cursor.execute("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                           "VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)", (tid, bid, aid, delta))
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()

    try:
        yield tpcb
    finally:
        connection.close()
        engine.dispose()


def init_sqlite_tpcb(url: str) -> None:
    """pgbench's tables and rows at PGBENCH_SCALE, in a SQLite file."""
    engine = create_engine(url)
    filler = " " * 84
    try:
        with engine.begin() as conn:
            for ddl in (
                "CREATE TABLE pgbench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER, filler TEXT)",
                "CREATE TABLE pgbench_tellers (tid INTEGER PRIMARY KEY, bid INTEGER, tbalance INTEGER, "
                "filler TEXT)",
                "CREATE TABLE pgbench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER, "
                "filler TEXT)",
                "CREATE TABLE pgbench_history (tid INTEGER, bid INTEGER, aid INTEGER, delta INTEGER, "
                "mtime TIMESTAMP, filler TEXT)",
            ):
                conn.exec_driver_sql(ddl)
            conn.exec_driver_sql("INSERT INTO pgbench_branches VALUES (?, 0, ?)",
                                 [(b, filler) for b in range(1, PGBENCH_SCALE + 1)])
            conn.exec_driver_sql("INSERT INTO pgbench_tellers VALUES (?, ?, 0, ?)",
                                 [(t, (t - 1) // 10 + 1, filler) for t in range(1, 10 * PGBENCH_SCALE + 1)])
            conn.exec_driver_sql("INSERT INTO pgbench_accounts VALUES (?, ?, 0, ?)",
                                 [(a, (a - 1) // 100_000 + 1, filler)
                                  for a in range(1, 100_000 * PGBENCH_SCALE + 1)])
    finally:
        engine.dispose()


def bench_sqlite(figure: Figure, directory: Path, seconds: int, console: Console) -> None:
    """The ledger on SQLite with its workers as threads of one process (group commit), against bare TPC-B."""
    baseline_url = f"sqlite:///{directory}/tpcb.db"
    console.log(f"SQLite: bare TPC-B baseline, {WORKERS} processes × {seconds} s")
    init_sqlite_tpcb(baseline_url)
    baseline = run_workers(sqlite_tpcb, [(baseline_url, seed) for seed in range(WORKERS)], seconds)
    figure.baseline = baseline.per_second
    figure.details["baseline"] = baseline.summary()
    url = f"sqlite:///{directory}/ledger-threads.db"
    console.log(f"SQLite: ledger transfers, {WORKERS} threads of one process × {seconds} s")
    world = fresh_world(url)
    run, grouping = run_service_threads(url, world, seconds)
    figure.details.update(grouping)
    record_run(figure, run, check_ledger(url, world, run))


def bench_sqlite_processes(figure: Figure, directory: Path, seconds: int, console: Console) -> None:
    """The ledger on SQLite with its workers as separate processes, each its own writer group of one."""
    url = f"sqlite:///{directory}/ledger-processes.db"
    console.log(f"SQLite: ledger transfers, {WORKERS} processes × {seconds} s")
    world = fresh_world(url)
    run = run_service(url, world, seconds)
    record_run(figure, run, check_ledger(url, world, run))


# ---------------------------------------------------------------- PostgreSQL


class Postgres:
    """The server under test, reached through an admin URL that may create and drop databases."""

    def __init__(self, admin_url: str) -> None:
        self.url = make_url(admin_url)
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._prefix = f"tanhui_bench_{os.getpid()}"

    def version(self) -> str:
        with self.admin.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar_one())

    @contextmanager
    def database(self, suffix: str) -> Iterator[str]:
        """A new empty database for one benchmark, dropped afterwards whatever happens."""
        name = f"{self._prefix}_{suffix}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield self.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pgbench(self, database_url: str, seconds: int) -> float:
        """TPC-B tps of ``pgbench -c 4 -j 4`` on a freshly initialised database at PGBENCH_SCALE."""
        url = make_url(database_url)
        env = dict(os.environ)
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        target = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                  "-U", url.username or "postgres", str(url.database)]
        _run(["pgbench", "-i", "-q", "-s", str(PGBENCH_SCALE), *target], env, timeout=600)
        done = _run(["pgbench", "-c", str(WORKERS), "-j", str(WORKERS), "-T", str(seconds), *target], env,
                    timeout=seconds + 300)
        found = re.search(r"^tps = ([\d.]+)", done, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"pgbench printed no tps line:\n{done}")
        return float(found.group(1))

    def dispose(self) -> None:
        self.admin.dispose()


def _run(command: list[str], env: dict[str, str], *, timeout: float) -> str:
    """Run a command to completion; its output, or an error that quotes it."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def bench_postgres(figure: Figure, server: Postgres, seconds: int, console: Console) -> None:
    console.log(f"PostgreSQL: pgbench baseline, {WORKERS} clients × {seconds} s")
    with server.database("pgbench") as url:
        figure.baseline = server.pgbench(url, seconds)
    console.log(f"PostgreSQL: ledger transfers, {WORKERS} processes × {seconds} s")
    with server.database("ledger") as url:
        world = fresh_world(url)
        run = run_service(url, world, seconds)
        record_run(figure, run, check_ledger(url, world, run))


# ---------------------------------------------------------------- HTTP API


class Refused(Exception):
    """The API answered a transfer with something other than 2xx."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.code = f"HTTP {status}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def api_server(database_url: str, directory: Path, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``uvicorn`` serving ``tanhui.api.app:create_app`` on a free local port (its URL and pid); stopped on exit."""
    port = _free_port()
    log_path = directory / f"uvicorn-{port}.log"
    env = {**os.environ, "TANHUI_DATABASE_URL": database_url}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tanhui.api.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers)],
            env=env, cwd=directory, stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(server, base_url, log_path)
        yield base_url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def _wait_until_serving(server: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {server.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not answer within {SERVER_START_TIMEOUT_S:.0f} s:\n"
                       f"{log_path.read_text()[-2000:]}")


def log_in(base_url: str, username: str) -> str:
    response = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": username, "password": PASSWORD},
                          timeout=HTTP_TIMEOUT_S)
    if response.status_code != 200:
        raise RuntimeError(f"logging in as {username}: HTTP {response.status_code}: {response.text[:300]}")
    return str(response.json()["access_token"])


@contextmanager
def http_transfers(base_url: str, token: str, pair: Pair, seed: int) -> Iterator[Operation]:
    """A client's transfers on one keep-alive connection, each with a fresh Idempotency-Key.

    The standard library's ``http.client``, not httpx: the four clients share the two cores with the
    server, and a lighter client leaves more of them to the server that the figure measures.
    """
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=HTTP_TIMEOUT_S)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    rng = random.Random(seed)

    def transfer(sequence: int) -> None:
        source, destination, quantity = _step(pair, sequence, rng)
        body = json.dumps({"from_account_id": source, "to_account_id": destination, "quantity": quantity})
        connection.request("POST", "/api/v1/transfers", body,
                           headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        response = connection.getresponse()
        answer = response.read()
        if not 200 <= response.status < 300:
            raise Refused(response.status, answer)

    try:
        yield transfer
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU that process ``pid`` and its live descendants have used (Linux /proc)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited meanwhile
    return total


def bench_http(figure: Figure, name: str, url: str, directory: Path, seconds: int, console: Console,
               server_workers: int = 1) -> None:
    if importlib.util.find_spec("tanhui.api.app") is None:
        raise RuntimeError("the API (tanhui.api.app:create_app) does not exist yet")
    console.log(f"HTTP API on {name}: {WORKERS} client processes × {seconds} s, {server_workers} server process(es)")
    world = fresh_world(url)
    with api_server(url, directory, server_workers) as (base_url, pid):
        tokens = [log_in(base_url, pair.username) for pair in world]
        clients = [(base_url, token, pair, seed)
                   for seed, (token, pair) in enumerate(zip(tokens, world, strict=True))]
        before = cpu_seconds(pid)
        run = run_workers(http_transfers, clients, seconds)
        served = cpu_seconds(pid) - before
    requests = run.successes + run.warmup
    if requests:
        figure.details["server_cpu_ms_per_transfer"] = round(1e3 * served / requests, 3)
    record_run(figure, run, check_ledger(url, world, run))


# ---------------------------------------------------------------- the command


def _measure(figure: Figure, measure: Callable[[], None]) -> Figure:
    """Run one benchmark; a failure becomes that figure's error instead of ending the whole run."""
    try:
        measure()
    except Exception as exc:
        figure.error = f"{type(exc).__name__}: {exc}"
    return figure


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="measured seconds per benchmark (default 20)")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)} (default: all)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="admin URL of the PostgreSQL server (creates and drops its own databases)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--server-workers", type=int, default=1,
                        help="uvicorn worker processes serving the HTTP figures (default 1)")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 3600:
        parser.error(f"--seconds must be between 1 and 3600, got {args.seconds}")
    if not 1 <= args.server_workers <= 16:
        parser.error(f"--server-workers must be between 1 and 16, got {args.server_workers}")
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if not parts or not parts <= set(PARTS):
        parser.error(f"--only takes a comma-separated subset of {','.join(PARTS)}, got {args.only!r}")
    args.only = parts
    try:
        backend = make_url(args.postgres_url).get_backend_name()
    except sa.exc.ArgumentError:
        backend = None
    if backend != "postgresql":
        parser.error(f"--postgres-url must be a postgresql:// URL, got {args.postgres_url!r}")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: directory {args.json.parent} does not exist")
    return args


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A wide table even when the output is a file or a pipe.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    context: dict[str, Any] = {"date": now_utc(), **machine(), "load_at_start": _load(),
                               "seconds": args.seconds, "workers": WORKERS, "server_workers": args.server_workers}
    server: Postgres | None = None
    unreachable = ""
    if args.only & {"postgres", "http"}:
        server = Postgres(args.postgres_url)
        try:
            context["postgresql"] = server.version()
        except sa.exc.OperationalError as exc:
            unreachable = f"PostgreSQL is unreachable at {server.url.render_as_string()}: {exc.orig}"
            server.dispose()
            server = None
    figures: list[Figure] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tanhui-bench-") as tmp:
            figures = run_benchmarks(args.only, Path(tmp), args.seconds, server, unreachable, console,
                                     args.server_workers)
    finally:
        if server is not None:
            server.dispose()
    context["load_at_end"] = _load()
    print_report(figures, context, console)
    if args.json is not None:
        write_json(args.json, figures, context)
    return 1 if any(f.error for f in figures) else 0


def run_benchmarks(parts: set[str], directory: Path, seconds: int, server: Postgres | None, unreachable: str,
                   console: Console, server_workers: int = 1) -> list[Figure]:
    """Each asked-for benchmark in turn; the HTTP figures take the service figures as their baselines."""

    def on_postgres(figure: Figure, measure: Callable[[Postgres], None]) -> Figure:
        if server is None:
            figure.error = unreachable
            return figure
        return _measure(figure, lambda: measure(server))

    service: dict[str, Figure] = {}
    figures: list[Figure] = []
    if "sqlite" in parts:
        on_sqlite = Figure(f"SQLite · service layer, {WORKERS} threads", "transfers/s", target=SQLITE_TARGET,
                           baseline_unit="tps", baseline_name=f"bare SQLite TPC-B (scale {PGBENCH_SCALE})")
        service["SQLite"] = _measure(on_sqlite, lambda: bench_sqlite(on_sqlite, directory, seconds, console))
        in_processes = Figure(f"SQLite · service layer, {WORKERS} processes", "transfers/s",
                              target=SQLITE_TARGET, baseline_unit="tps", baseline=on_sqlite.baseline,
                              baseline_name=f"bare SQLite TPC-B (scale {PGBENCH_SCALE})")
        figures += [on_sqlite, _measure(in_processes, lambda: bench_sqlite_processes(
            in_processes, directory, seconds, console))]
    if "postgres" in parts:
        on_pg = Figure("PostgreSQL · service layer", "transfers/s", target=POSTGRES_RATIO_TARGET,
                       target_on_ratio=True, baseline_unit="tps",
                       baseline_name=f"pgbench TPC-B -s {PGBENCH_SCALE} -c {WORKERS} -j {WORKERS}")
        service["PostgreSQL"] = on_postgres(on_pg, lambda pg: bench_postgres(on_pg, pg, seconds, console))
        figures.append(service["PostgreSQL"])
    if "http" in parts:
        over_sqlite = _http_figure("SQLite", service.get("SQLite"))
        over_postgres = _http_figure("PostgreSQL", service.get("PostgreSQL"))
        figures.append(_measure(over_sqlite, lambda: bench_http(
            over_sqlite, "SQLite", f"sqlite:///{directory}/api.db", directory, seconds, console, server_workers)))

        def http_on_postgres(pg: Postgres) -> None:
            with pg.database("api") as url:
                bench_http(over_postgres, "PostgreSQL", url, directory, seconds, console, server_workers)

        figures.append(on_postgres(over_postgres, http_on_postgres))
    return figures


def _http_figure(name: str, service: Figure | None) -> Figure:
    """The HTTP figure on one database, against the service layer's figure on it when this run has one."""
    figure = Figure(f"HTTP API · {name}", "transfers/s", target=HTTP_TARGET)
    if service is not None and service.value is not None:
        figure.baseline_name, figure.baseline_unit = f"service layer on {name}", "transfers/s"
        figure.baseline = service.value
    return figure


if __name__ == "__main__":
    sys.exit(main())
