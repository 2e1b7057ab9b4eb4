"""Who is calling: a bearer JWT from a password login or an API key, re-checked in the database each time."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.engine import Connection, RowMapping
from starlette.concurrency import run_in_threadpool

from tanhui.api.deps import engine_of
from tanhui.errors import NotAuthenticated
from tanhui.identity.principal import Principal
from tanhui.identity.services import (
    API_KEY_PREFIX,
    api_key_prefix,
    bearer_principal,
    bearer_read,
    instance_secret,
    principal_for_api_key,
)
from tanhui.prepared import Ahead, Prepared, ahead, together
from tanhui.types import utcnow

ALGORITHM = "HS256"
TOKEN_URL = "/api/v1/auth/token"

bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False,
                                     description="a token from POST /api/v1/auth/token, or an API key")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key `thk_…`")
_secret_lock = threading.Lock()


def app_secret(app: FastAPI, name: str) -> str:
    """The instance secret ``name``, made once and kept in the database for every instance; read once per app."""
    with _secret_lock:
        if name not in app.state.secrets:
            app.state.secrets[name] = instance_secret(app.state.engine, name)
        key: str = app.state.secrets[name]
        return key


def signing_key(app: FastAPI) -> str:
    """The JWT key: the configured secret, else the instance's own."""
    configured: str | None = app.state.settings.secret_key
    return configured or app_secret(app, "jwt")


def issue_token(app: FastAPI, username: str) -> tuple[str, int]:
    """A signed bearer token for ``username`` and its lifetime in seconds."""
    lifetime = app.state.settings.token_minutes * 60
    now = utcnow()
    claims = {"sub": username, "iat": now, "exp": now + timedelta(seconds=lifetime)}
    return jwt.encode(claims, signing_key(app), algorithm=ALGORITHM), lifetime


@lru_cache(maxsize=4096)
def _verified(token: str, key: str) -> tuple[str, float]:
    """A token's username and expiry, once its signature is checked; only the signature is remembered,
    never who the user is now (``Credential.principal`` reads that on every request)."""
    claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    return str(claims["sub"]), float(claims["exp"])


def _username(token: str, key: str) -> str:
    expired = NotAuthenticated("the bearer token has expired; log in again at " + TOKEN_URL)
    try:
        username, expires = _verified(token, key)
    except jwt.ExpiredSignatureError as exc:
        raise expired from exc
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated("the bearer token is not valid") from exc
    if expires <= utcnow().timestamp():  # a token verified while it was valid expires all the same
        raise expired
    return username


@dataclass(frozen=True, slots=True)
class Credential:
    """What the caller presented, checked as far as it can be without the database: a signed token's
    username, or a well-formed API key.  ``principal`` reads who that is now."""

    actor: str
    username: str | None = None
    api_key: str | None = None

    def principal(self, conn: Connection) -> Principal:
        """The caller as the database has it now: a deactivated user or revoked key is refused here."""
        return self.principal_with(conn, [])[0]

    def principal_with(self, conn: Connection, reads: Sequence[tuple[Prepared, Mapping[str, Any] | None]]
                       ) -> tuple[Principal, list[list[RowMapping]]]:
        """The caller, and the rows of ``reads`` sent with the caller's own read (one round trip on
        PostgreSQL for a bearer; an API key's two reads come first)."""
        if self.api_key is not None:
            return principal_for_api_key(conn, self.api_key), together(conn, reads)
        assert self.username is not None
        caller, *rows = together(conn, [bearer_read(self.username), *reads])
        return bearer_principal(self.username, caller), rows

    def send_ahead(self, conn: Connection, reads: Sequence[tuple[Prepared, Mapping[str, Any] | None]]) -> Ahead:
        """A bearer's own read and ``reads``, sent with the next statements of ``conn``'s transaction (one
        round trip on PostgreSQL); ``read_ahead`` gives what ``principal_with`` would have."""
        assert self.username is not None
        return ahead(conn, [bearer_read(self.username), *reads])

    def read_ahead(self, sent: Ahead) -> tuple[Principal, list[list[RowMapping]]]:
        assert self.username is not None
        caller, *rows = sent.rows()
        return bearer_principal(self.username, caller), rows


async def credential(
    request: Request,
    token: Annotated[str | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Credential:
    """The caller's credential, refused at once when missing, malformed, forged or expired.

    Async: checking a signature needs no database (the key is read once per app), so it runs on the
    event loop instead of costing a hand-off to the thread pool on every request.
    """
    presented = api_key or token
    if presented is None:
        raise NotAuthenticated(f"log in at {TOKEN_URL} and send 'Authorization: Bearer <token>', "
                               "or send an API key in 'X-API-Key'")
    if presented.startswith(API_KEY_PREFIX):
        return Credential(f"key:{api_key_prefix(presented)}", api_key=presented)
    app = request.app
    key = app.state.settings.secret_key or app.state.secrets.get("jwt")
    if key is None:  # the first request of this app reads the instance's key from the database
        key = await run_in_threadpool(signing_key, app)
    username = _username(presented, key)
    return Credential(f"user:{username}", username=username)


def current_principal(request: Request, presented: Annotated[Credential, Depends(credential)]) -> Principal:
    """The caller, read afresh from the database: a deactivated user or revoked key loses access at once.

    Writes do not use this: they read the caller inside their own transaction (``tanhui.api.writes``).
    """
    with engine_of(request).connect() as conn:
        return presented.principal(conn)


Caller = Annotated[Principal, Depends(current_principal)]
