"""The migrations build exactly the models' schema, and every one of them downgrades and upgrades again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import tanhui.schema  # noqa: F401  (every table on the metadata)
from tanhui.db import metadata
from tanhui.finance.tables import credit_reports
from tanhui.migrate import ForeignKeysBroken, current_revision, downgrade, head_revision, upgrade
from tests.factories import World, snapshot


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


def test_a_migration_that_would_orphan_rows_fails_and_changes_nothing(engine: Engine) -> None:
    """0012 gives credit reports a foreign key to their holder: a report of a holder that does not exist stops it."""
    world = World.build(engine)
    downgrade(engine, "0011")
    with engine.begin() as conn:  # as a database of 0011 could hold: a report of no registered holder
        conn.execute(sa.insert(credit_reports).values(
            holder_id=99, holder_organization_id=world.buyer_org, holder_name="Gone", period_start=date(2025, 1, 1),
            period_end=date(2025, 12, 31), content="{}", content_sha256="0" * 64, verification_code="x",
            issued_at=datetime(2026, 1, 1, tzinfo=UTC), issued_by="user:operator"))
    before = snapshot(engine)
    # SQLite rebuilds the table and finds the orphan in its check; PostgreSQL's ALTER TABLE refuses it.
    with pytest.raises(ForeignKeysBroken if engine.dialect.name == "sqlite" else sa.exc.IntegrityError):
        upgrade(engine)
    assert current_revision(engine) == "0011"
    assert snapshot(engine) == before
