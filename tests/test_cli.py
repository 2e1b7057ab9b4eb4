"""The `tanhui` command line on real registries: serials, set-up, demo, operator acts, audit, the server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from tanhui import demo
from tanhui.cli.main import app
from tanhui.db import create_engine
from tanhui.identity.services import authenticate
from tanhui.journal.audit import verify
from tests.conftest import _postgres_admin, _url_for
from tests.factories import snapshot

runner = CliRunner()
SERIAL = "TH1.SIP.PHCER.P42.V2024.I17.1-500000"
PASSWORD = "long enough pw"


def tanhui(url: str, *args: str, input: str | None = None) -> Result:
    """Run `tanhui --database-url URL ARGS…` in-process."""
    return runner.invoke(app, ["--database-url", url, *args], input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result, *, code: int = 1) -> str:
    """The error a refused command printed on stderr, whitespace collapsed."""
    assert result.exit_code == code, result.output
    return " ".join(result.stderr.split())


def created_id(output: str, what: str) -> int:
    match = re.search(rf"{what} (\d+)", output)
    assert match, output
    return int(match.group(1))


def scalar(url: str, sql: str, **params: object) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A PostgreSQL database with no schema at all (the state before `tanhui db upgrade`)."""
    admin = _postgres_admin()
    name = f"tanhui_cli_empty_{os.getpid()}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield _url_for(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- serials

def test_serial_parse_prints_every_part() -> None:
    table = ok(runner.invoke(app, ["serial", "parse", SERIAL]))
    for part in ("TH", "SIP", "PHCER", "42", "2024", "17", "500,000", "TH1.SIP.PHCER.P42.V2024.I17"):
        assert part in table
    single_unit = "TH1.SIP.PHCER.P42.V2024.I17.250"
    parts = json.loads(ok(runner.invoke(app, ["serial", "parse", single_unit, "--json"])))
    assert parts == {
        "serial": "TH1.SIP.PHCER.P42.V2024.I17.250-250", "registry": "TH", "version": 1, "region": "SIP",
        "credit_type": "PHCER", "project_id": 42, "vintage": 2024, "issuance_id": 17, "first": 250,
        "last": 250, "quantity": 1, "prefix": "TH1.SIP.PHCER.P42.V2024.I17",
    }


@pytest.mark.parametrize(("serial", "named"), [
    ("TH1.SIP.PHCER.P042.V2024.I17.1-5", "project (P…) part 'P042'"),
    ("TH1.SIP.PHCER.P42.V2024.I17.9-5", "range end 5 is before its start 9"),
    ("TH2.SIP.PHCER.P42.V2024.I17.1-5", "version 2"),
    ("hello", "is not a serial"),
])
def test_serial_parse_names_what_is_malformed_and_exits_2(serial: str, named: str) -> None:
    assert named in refused(runner.invoke(app, ["serial", "parse", serial]), code=2)


# ---------------------------------------------------------------- setting a registry up

def test_db_current_and_upgrade_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite:///{path}"
    assert "none" in ok(tanhui(url, "db", "current"))
    assert not path.exists(), "asking about the schema must not create the database"
    assert "no registry database" in refused(tanhui(url, "account", "list"))
    assert not path.exists()
    assert "upgraded from an empty schema" in ok(tanhui(url, "db", "upgrade"))
    assert "at head" in ok(tanhui(url, "db", "current"))
    assert "already at" in ok(tanhui(url, "db", "upgrade"))


@pytest.mark.postgres
def test_postgres_is_never_migrated_implicitly(empty_postgres_url: str) -> None:
    url = empty_postgres_url
    bootstrap = ["bootstrap", "--username", "admin", "--password", PASSWORD]
    for command in (["serve"], bootstrap, ["demo"]):
        assert "run `tanhui db upgrade` first" in refused(tanhui(url, *command))
    assert "behind" in ok(tanhui(url, "db", "current"))
    assert "upgraded from an empty schema" in ok(tanhui(url, "db", "upgrade"))
    assert "at head" in ok(tanhui(url, "db", "current"))
    ok(tanhui(url, *bootstrap))


def test_bootstrap_once_then_refused(database_url: str) -> None:
    output = ok(tanhui(database_url, "bootstrap", "--username", "registrar", "--password", PASSWORD,
                       "--organization", "Example Park Operator"))
    assert "registrar" in output
    engine = create_engine(database_url)
    try:
        assert authenticate(engine, "registrar", PASSWORD, max_failures=5, window_seconds=60).is_operator
        before = snapshot(engine)
        message = refused(tanhui(database_url, "bootstrap", "--username", "second", "--password", PASSWORD))
        assert "already has organisations" in message
        assert snapshot(engine) == before
    finally:
        engine.dispose()


def test_bootstrap_prompts_for_a_hidden_password_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    result = tanhui(url, "bootstrap", "--username", "registrar", input="typed secret 1\ntyped secret 1\n")
    assert "typed secret" not in ok(result)
    engine = create_engine(url)
    try:
        assert authenticate(engine, "registrar", "typed secret 1", max_failures=5, window_seconds=60)
    finally:
        engine.dispose()


def test_bootstrap_refuses_a_short_password_and_changes_nothing(sqlite_url: str) -> None:
    assert "at least 10 characters" in refused(tanhui(sqlite_url, "bootstrap", "--username", "registrar",
                                                      "--password", "short"))
    assert scalar(sqlite_url, "SELECT count(*) FROM organizations") == 0


# ---------------------------------------------------------------- the demo registry

def test_demo_seeds_the_story_once(database_url: str) -> None:
    output = ok(tanhui(database_url, "demo"))
    assert "Seeded the demo registry" in output
    assert demo.DEMO_PASSWORD in output and "investor" in output

    def balance(name: str, column: str) -> object:
        return scalar(database_url, f"SELECT a.{column} FROM accounts a JOIN organizations o "
                                    "ON o.id = a.organization_id WHERE o.name = :name", name=name)

    assert balance(demo.INVESTOR, "available") == demo.ISSUED - demo.TRANSFERRED - demo.PLEDGED
    assert balance(demo.INVESTOR, "pledged") == demo.PLEDGED
    assert balance(demo.BUYER, "available") == demo.TRANSFERRED - demo.RETIRED
    assert scalar(database_url, "SELECT sum(quantity) FROM blocks WHERE state = 'retired'") == demo.RETIRED
    engine = create_engine(database_url)
    try:
        for login in demo.DEMO_LOGINS:
            authenticate(engine, login.username, demo.DEMO_PASSWORD, max_failures=5, window_seconds=60)
        before = snapshot(engine)
        assert "already here" in ok(tanhui(database_url, "demo"))
        assert snapshot(engine) == before
    finally:
        engine.dispose()


def test_demo_keeps_a_registry_that_is_not_the_demo(sqlite_url: str) -> None:
    ok(tanhui(sqlite_url, "bootstrap", "--username", "registrar", "--password", PASSWORD))
    output = ok(tanhui(sqlite_url, "demo"))
    assert "not seeded" in output and demo.DEMO_PASSWORD not in output
    assert scalar(sqlite_url, "SELECT count(*) FROM organizations") == 1


# ---------------------------------------------------------------- operator commands

def test_operator_commands_before_bootstrap_say_what_to_do(sqlite_url: str) -> None:
    message = refused(tanhui(sqlite_url, "org", "create", "Example Buyer", "--kind", "buyer"))
    assert "run `tanhui bootstrap` first" in message


def test_operator_onboards_issues_cancels_and_revokes(database_url: str) -> None:
    url = database_url
    ok(tanhui(url, "bootstrap", "--username", "registrar", "--password", PASSWORD))
    owner = created_id(ok(tanhui(url, "org", "create", "Example PV Owner", "--kind", "project_owner")),
                       "organisation")
    ok(tanhui(url, "user", "create", "--org", str(owner), "--username", "pv-owner", "--role", "admin",
              "--password", PASSWORD))
    account = created_id(ok(tanhui(url, "account", "open", "--org", str(owner), "--kind", "holding",
                                   "--name", "Main")), "account")
    project = created_id(ok(tanhui(url, "project", "register", "--name", "Rooftops", "--owner", str(owner),
                                   "--methodology", "PV-DIST", "--region", "SIP")), "project")
    issued = ok(tanhui(database_url, "issue", "--project", str(project), "--vintage", "2024", "--period",
                       "2024-01-01..2024-12-31", "--quantity", "5000", "--account", str(account)))
    serial = f"TH1.SIP.PHCER.P{project}.V2024.I1.1-5000"
    assert serial in issued

    assert "Example PV Owner" in ok(tanhui(database_url, "org", "list"))
    listed = ok(tanhui(database_url, "account", "list", "--org", str(owner)))
    assert "Main" in listed and "5,000" in listed
    assert "5,000" in ok(tanhui(database_url, "project", "list"))

    cancelled = ok(tanhui(database_url, "cancel", "--account", str(account), "--purpose", "compliance",
                          "--quantity", "1000", "--compliance-year", "2025"))
    assert f"TH1.SIP.PHCER.P{project}.V2024.I1.1-1000" in cancelled
    revoked = ok(tanhui(database_url, "revoke", "--reason", "meter counted twice", "--serial-range",
                        f"TH1.SIP.PHCER.P{project}.V2024.I1.4001-5000"))
    assert "1,000 kgCO2e" in revoked
    shown = ok(tanhui(database_url, "account", "show", str(account)))
    assert re.search(r"available\s+│\s+1\s+│\s+3,000", shown), shown
    assert re.search(r"cancelled\s+│\s+1\s+│\s+1,000", shown), shown
    assert re.search(r"revoked\s+│\s+1\s+│\s+1,000", shown), shown

    history = ok(tanhui(database_url, "serial", "history", serial))
    kinds = re.findall(r"│ \d+\s+│ [\d:\- ]+│ (\w+)", history)
    assert kinds == ["issuance", "cancellation", "revocation"], history


def test_operator_commands_refuse_bad_input_and_change_nothing(database_url: str) -> None:
    ok(tanhui(database_url, "demo"))
    engine = create_engine(database_url)
    try:
        before = snapshot(engine)
        issue = ["issue", "--project", "1", "--vintage", "2024", "--period", "2024-01-01..2024-12-31",
                 "--account", "1"]
        assert "quantity must be positive" in refused(tanhui(database_url, *issue, "--quantity", "0"))
        assert "account 999 does not exist" in refused(tanhui(database_url, "account", "show", "999"))
        assert "unknown organisation kind 'ngo'" in refused(tanhui(database_url, "org", "create", "X",
                                                                   "--kind", "ngo"))
        assert "write START..END" in refused(
            tanhui(database_url, *issue[:5], "--period", "2024", "--account", "1", "--quantity", "5"), code=2)
        assert "cancellation purpose" in refused(tanhui(database_url, "cancel", "--account", "1", "--purpose",
                                                        "because", "--quantity", "5"))
        assert "retired, not available" in refused(tanhui(database_url, "revoke", "--reason", "x",
                                                          "--serial-range", "TH1.SIP.PHCER.P1.V2024.I1.1-10"))
        assert "is not a version-1 serial" in refused(tanhui(database_url, "serial", "history",
                                                             "TH1.SIP.PHCER.P1.V2024.I01.1-10"), code=2)
        assert "issuance 9 does not exist" in refused(tanhui(database_url, "serial", "history",
                                                             "TH1.SIP.PHCER.P1.V2024.I9.1-10"))
        assert snapshot(engine) == before
    finally:
        engine.dispose()


def test_an_unreachable_database_is_one_line() -> None:
    message = refused(tanhui("postgresql+psycopg://nobody@127.0.0.1:1/none", "account", "list"))
    assert "cannot be used" in message and "Traceback" not in message


# ---------------------------------------------------------------- audit

def test_audit_verifies_the_demo_and_names_the_first_bad_entry(database_url: str) -> None:
    ok(tanhui(database_url, "demo"))
    report = json.loads(ok(tanhui(database_url, "audit", "verify", "--json")))
    assert report["ok"] and report["problems"] == [] and report["entries"] == report["head_seq"] > 10
    head = json.loads(ok(tanhui(database_url, "audit", "head", "--json")))
    assert head == {"seq": report["head_seq"], "hash": report["head_hash"]}
    assert "intact" in ok(tanhui(database_url, "audit", "verify", "--expect-head", head["hash"]))
    refused(tanhui(database_url, "audit", "verify", "--expect-head", "0" * 64))

    # A balance changed behind the ledger's back (accounts are mutable rows, so no trigger stops it).
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE accounts SET available = available + 1000 WHERE id = 2"))
        first = verify(engine).problems[0]
    finally:
        engine.dispose()
    message = refused(tanhui(database_url, "audit", "verify"))
    assert f"first bad: entry seq {first.seq}" in message
    assert not json.loads(tanhui(database_url, "audit", "verify", "--json").stdout)["ok"]


# ---------------------------------------------------------------- the server

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_serve_answers_docs_and_demo_logins(backend: str, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    # SQLite starts from no file at all, as the README's first command does.
    url = (f"sqlite:///{tmp_path}/served.db" if backend == "sqlite"
           else str(request.getfixturevalue("postgres_url")))
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "tanhui", "--database-url", url, "serve", "--port", str(port), "--demo"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def printed() -> str:
        return Path(log.name).read_text()

    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"tanhui serve exited:\n{printed()}"
            try:
                spec = httpx.get(f"{base}/openapi.json", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"tanhui serve never answered:\n{printed()}"
                time.sleep(0.2)
        assert spec.status_code == 200 and "/api/v1/transfers" in spec.json()["paths"]
        docs = httpx.get(f"{base}/docs", timeout=5)
        assert docs.status_code == 200
        # The docs page must work on a closed network: its scripts come from the server, not a CDN.
        scripts = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert scripts and all(url.startswith("/docs-assets/") for url in scripts), scripts
        assert all(httpx.get(f"{base}{url}", timeout=5).status_code == 200 for url in scripts)
        token = httpx.post(f"{base}/api/v1/auth/token", timeout=30,
                           data={"username": "buyer", "password": demo.DEMO_PASSWORD})
        assert token.status_code == 200, token.text
        assert f"{base}/docs" in printed() and demo.DEMO_PASSWORD in printed()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
