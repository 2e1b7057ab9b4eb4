"""Alembic environment: migrates the database of the connection or URL the caller passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import tanhui.schema  # noqa: F401  (registers every table on the metadata)
from tanhui.db import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
