"""The application factory: ``create_app`` wires settings, the database engine, routes and error responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine

import tanhui
from tanhui.api import (
    accounts,
    acts,
    auth,
    carbon_accounts,
    compliance,
    credit_reports,
    docs,
    finance,
    lifecycle,
    methodologies,
    models,
    mrv,
    organizations,
    points,
    problems,
    projects,
    public,
)
from tanhui.api.deps import engine_of, reading
from tanhui.config import Settings, get_settings
from tanhui.db import create_engine

API_PREFIX = "/api/v1"
DESCRIPTION = (
    "Serial-numbered carbon credits (integer kgCO2e): issue, transfer, retire, cancel, pledge and revoke, "
    "with a public register. Errors are RFC 9457 problem details; every write POST takes an "
    "`Idempotency-Key`; lists page with `limit` and `cursor`."
)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The registry API over ``engine`` (made from ``settings.database_url`` when not given).

    The database must already be migrated (``tanhui db upgrade``; ``tanhui serve`` does it for SQLite).
    """
    settings = settings or get_settings()
    owns_engine = engine is None
    engine = engine or create_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="Tanhui registry API", version=tanhui.__version__, openapi_url="/openapi.json",
        docs_url=None, redoc_url=None, description=DESCRIPTION,  # docs.install serves them without a CDN
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.secrets = {}  # made on first use (see security.app_secret), so start-up needs no database
    app.state.callers = {}  # each bearer's principal as its last write read it (see writes.Write.run)
    problems.install(app)
    docs.install(app)

    # The ledger's acts first: FastAPI tries routers in order, and they are the routes called most.
    for module in (acts, auth, organizations, accounts, projects, public, methodologies, lifecycle, compliance, mrv,
                   points, carbon_accounts, credit_reports, finance):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(problems.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/healthz", tags=["service"], summary="Liveness and database reachability")
    def healthz(request: Request) -> models.Health:
        with reading(engine_of(request)) as conn:
            conn.execute(text("SELECT 1"))
        return models.Health(status="ok", version=tanhui.__version__, database=conn.dialect.name)

    return app
