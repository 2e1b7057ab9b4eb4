"""Helpers shared by the API tests (this module holds no tests): the test world, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tanhui.api.app import create_app
from tanhui.api.security import issue_token
from tanhui.config import Settings
from tanhui.identity.principal import Principal
from tests.factories import World

PROBLEM_JSON = "application/problem+json"
Who = Principal | str | None


class Api:
    """A client of the application over the world's database, acting as the world's users.

    Bearer tokens are minted with the application's own ``issue_token`` instead of a password login per
    request (argon2 costs ~50 ms); the login route itself has its own tests.
    """

    def __init__(self, world: World, app: FastAPI, client: TestClient) -> None:
        self.world = world
        self.app = app
        self.client = client

    def headers(self, who: Who, **extra: str) -> dict[str, str]:
        """Request headers authenticating as ``who`` (a principal, a username, or an ``thk_`` API key)."""
        headers = dict(extra)
        if isinstance(who, Principal):
            who = who.actor.removeprefix("user:")
        if isinstance(who, str) and who.startswith("thk_"):
            headers["X-API-Key"] = who
        elif who is not None:
            headers["Authorization"] = f"Bearer {issue_token(self.app, who)[0]}"
        return headers

    def post(self, path: str, body: Any = None, *, who: Who = None, key: str | None = None,
             files: dict[str, Any] | None = None) -> httpx.Response:
        """POST ``body`` as JSON, or ``files`` as a multipart upload with ``body`` as its form fields."""
        extra = {"Idempotency-Key": key} if key is not None else {}
        if files is not None:
            return self.client.post(f"/api/v1{path}", files=files, data=body, headers=self.headers(who, **extra))
        return self.client.post(f"/api/v1{path}", json=body, headers=self.headers(who, **extra))

    def get(self, path: str, *, who: Who = None, **params: Any) -> httpx.Response:
        return self.client.get(f"/api/v1{path}", params=params, headers=self.headers(who))

    def ok(self, response: httpx.Response) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    def issue(self, quantity: int, *, account: int | None = None, vintage: int = 2024) -> dict[str, Any]:
        """Issue over HTTP as the operator; the act's JSON."""
        return self.ok(self.post("/issuances", {
            "project_id": self.world.project, "vintage": vintage,
            "period_start": date(vintage, 1, 1).isoformat(), "period_end": date(vintage, 12, 31).isoformat(),
            "quantity": quantity,
            "account_id": account or self.world.owner_account,
        }, who=self.world.operator))

    def transfer(self, quantity: int, *, source: int | None = None, to: int | None = None,
                 who: Who = None) -> dict[str, Any]:
        return self.ok(self.post("/transfers", {
            "from_account_id": source or self.world.owner_account,
            "to_account_id": to or self.world.buyer_account, "quantity": quantity,
        }, who=who or self.world.owner))


@contextmanager
def serving(world: World, database_url: str, **settings: Any) -> Iterator[Api]:
    """The API over ``world``'s database, with its lifespan (so its engine is disposed afterwards)."""
    app = create_app(Settings(database_url=database_url, **settings))
    with TestClient(app) as client:
        yield Api(world, app, client)


def assert_problem(response: httpx.Response, status: int, *phrases: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` whose detail contains every phrase."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    for phrase in phrases:
        assert phrase in body["detail"], f"{phrase!r} not in {body['detail']!r}"
    return body
