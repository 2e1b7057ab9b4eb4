"""Routes for logging in, the caller's own identity, and API keys for machine clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from tanhui.api import models
from tanhui.api.deps import engine_of, reading, settings_of
from tanhui.api.pagination import Page, PageRequest, page_of, paging
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller, issue_token
from tanhui.api.writes import Writer
from tanhui.identity import services as identity
from tanhui.registry import queries
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["authentication"])


@router.post("/auth/token", summary="Log in with a password for a bearer token",
             responses=problem_responses(401, 422, 429))
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> models.Token:
    """OAuth2 password flow. Repeated failures lock the username out for a while (429 with Retry-After)."""
    settings = settings_of(request)
    identity.authenticate(engine_of(request), form.username, form.password,
                          max_failures=settings.login_max_failures,
                          window_seconds=settings.login_window_seconds)
    token, lifetime = issue_token(request.app, form.username)
    return models.Token(access_token=token, expires_in=lifetime)


@router.get("/me", summary="Who the caller is", responses=problem_responses(401))
def me(request: Request, caller: Caller) -> models.Me:
    with reading(engine_of(request)) as conn:
        organization = queries.organization(conn, caller, caller.organization_id)
    return models.Me(actor=caller.actor, organization_id=organization["id"],
                     organization_name=organization["name"], organization_kind=organization["kind"],
                     role=caller.role)


@router.post("/api-keys", status_code=201, response_model=models.ApiKeyCreated,
             summary="Create an API key (shown once)", responses=problem_responses(401, 403, 422))
def create_api_key(body: models.ApiKeyCreate, write: Writer) -> Response:
    """An organisation admin issues a key for a machine client, sent as ``X-API-Key``. Keep it: it is shown
    in this response only; an idempotent replay returns the record without it."""

    def service(tx: UnitOfWork) -> models.ApiKeyCreated:
        row, key = identity.create_api_key(tx, write.principal, name=body.name, role=body.role)
        return models.ApiKeyCreated(**queries.api_key(row), key=key)

    return write.run(body, service, shown_once=("key",))


@router.get("/api-keys", summary="The API keys of the caller's organisation",
            responses=problem_responses(401, 403))
def list_api_keys(request: Request, caller: Caller,
                  page: Annotated[PageRequest, Depends(paging())]) -> Page[models.ApiKey]:
    with reading(engine_of(request)) as conn:
        return page_of(queries.api_keys_page(conn, caller, after=page.after, limit=page.limit), models.ApiKey)


@router.post("/api-keys/{key_id}/revoke", status_code=200, response_model=models.ApiKey,
             summary="Revoke an API key", responses=problem_responses(401, 403, 404, 409))
def revoke_api_key(key_id: Annotated[int, Path(ge=1, le=models.MAX_ID)], write: Writer) -> Response:
    def service(tx: UnitOfWork) -> models.ApiKey:
        return models.ApiKey(**queries.api_key(identity.revoke_api_key(tx, write.principal, key_id)))

    return write.run(None, service, status_code=200)
