"""Who is calling: a bearer JWT from a password login or an API key, re-checked in the database each time."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from tanhui.api.deps import engine_of, reading
from tanhui.errors import NotAuthenticated
from tanhui.identity.principal import Principal
from tanhui.identity.services import (
    API_KEY_PREFIX,
    instance_secret,
    principal_for_api_key,
    principal_for_username,
)
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


def _username(app: FastAPI, token: str) -> str:
    try:
        claims = jwt.decode(token, signing_key(app), algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("the bearer token has expired; log in again at " + TOKEN_URL) from exc
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated("the bearer token is not valid") from exc
    return str(claims["sub"])


def current_principal(
    request: Request,
    token: Annotated[str | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The caller, read afresh from the database: a deactivated user or revoked key loses access at once."""
    presented = api_key or token
    if presented is None:
        raise NotAuthenticated(f"log in at {TOKEN_URL} and send 'Authorization: Bearer <token>', "
                               "or send an API key in 'X-API-Key'")
    if presented.startswith(API_KEY_PREFIX):
        with reading(engine_of(request)) as conn:
            return principal_for_api_key(conn, presented)
    username = _username(request.app, presented)
    # One statement needs no shared snapshot: a plain connection, not ``reading``'s.
    with engine_of(request).connect() as conn:
        return principal_for_username(conn, username)


Caller = Annotated[Principal, Depends(current_principal)]
