"""Shared fixtures: migrated SQLite and PostgreSQL registries, and a small world of organisations in them."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tanhui.db import create_engine
from tanhui.migrate import upgrade
from tests.factories import World

POSTGRES_ADMIN_URL = os.environ.get(
    "TANHUI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_TEMPLATE = f"tanhui_tpl_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
_counter = itertools.count()


def _postgres_admin() -> Engine:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc.orig}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(message)
    return admin


def _url_for(database: str) -> str:
    return sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that each test clones (CREATE DATABASE … TEMPLATE is much faster than migrating)."""
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{_TEMPLATE}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{_TEMPLATE}"')
    engine = create_engine(_url_for(_TEMPLATE))
    upgrade(engine)
    engine.dispose()
    yield _TEMPLATE
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for one test."""
    name = f"{postgres_template}_{next(_counter)}"
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _url_for(name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """The URL of a fresh, migrated SQLite file for one test."""
    url = f"sqlite:///{tmp_path}/tanhui.db"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=20)
    yield engine
    engine.dispose()


@pytest.fixture
def world(engine: Engine) -> World:
    """An operator, a project owner, a buyer and a bank, with accounts and a registered project."""
    return World.build(engine)


# ---------------------------------------------------------------- cloned worlds (fast fresh registries)

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_kind(request: pytest.FixtureRequest) -> str:
    """'sqlite' or 'postgres': tests that take it run once on each, like those taking ``database_url``."""
    return str(request.param)


@pytest.fixture(scope="session")
def world_source(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], tuple[str, World]]]:
    """A built world per database kind, made on first use, to copy: (its database, the World as built there).

    Building a world hashes four passwords; copying a built one is several times faster, which matters to
    tests that need many fresh registries (the stateful test makes one per example).
    """
    built: dict[str, tuple[str, World]] = {}

    def source(kind: str) -> tuple[str, World]:
        if kind not in built:
            if kind == "sqlite":
                path = tmp_path_factory.mktemp("world") / "world.db"
                url = f"sqlite:///{path}"
                engine = create_engine(url)
                upgrade(engine)
            else:
                template = request.getfixturevalue("postgres_template")
                name = f"{template}_world"
                with _postgres_admin().connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                engine = create_engine(_url_for(name))
            world = World.build(engine)
            if kind == "sqlite":
                with engine.connect() as conn:  # fold the WAL into the file so a plain copy is complete
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            built[kind] = (str(path) if kind == "sqlite" else name, world)
        return built[kind]

    yield source
    if "postgres" in built:
        with _postgres_admin().connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{built["postgres"][0]}" WITH (FORCE)')


@pytest.fixture
def world_factory(world_source: Callable[[str], tuple[str, World]],
                  tmp_path: Path) -> Iterator[Callable[..., World]]:
    """``world_factory(kind, pool_size=10)``: a fresh World in its own new database, a copy of a built one.

    Every database and engine it made is disposed of when the test ends.
    """
    made: list[tuple[str, Engine]] = []

    def make(kind: str, *, pool_size: int = 10) -> World:
        source, world = world_source(kind)
        if kind == "sqlite":
            path = tmp_path / f"world-{len(made)}.db"
            shutil.copyfile(source, path)
            url, name = f"sqlite:///{path}", ""
        else:
            name = f"{source}_{next(_counter)}"
            with _postgres_admin().connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
            url = _url_for(name)
        engine = create_engine(url, pool_size=pool_size)
        made.append((name, engine))
        return dataclasses.replace(world, engine=engine)

    yield make
    for name, engine in made:
        engine.dispose()
        if name:
            with _postgres_admin().connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
