"""The migrations build exactly the models' schema, and every one of them downgrades and upgrades again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import tanhui.schema  # noqa: F401  (every table on the metadata)
from tanhui.db import metadata
from tanhui.migrate import current_revision, downgrade, head_revision, upgrade


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def _triggers(engine: Engine) -> list[str]:
    """Every trigger the migrations made: the database's own guards of the invariants."""
    query = ("SELECT name FROM sqlite_master WHERE type = 'trigger'" if engine.dialect.name == "sqlite" else
             "SELECT tgrelid::regclass || '.' || tgname FROM pg_trigger WHERE NOT tgisinternal")
    with engine.connect() as conn:
        return sorted(conn.exec_driver_sql(query).scalars())


def test_the_migrated_schema_is_the_models_schema(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    assert _drift(engine) == []


def test_every_migration_downgrades_and_upgrades_again(engine: Engine) -> None:
    triggers = _triggers(engine)
    assert len(triggers) > 20
    downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    assert _triggers(engine) == []
    upgrade(engine)
    assert _triggers(engine) == triggers
    assert _drift(engine) == []
