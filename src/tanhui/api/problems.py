"""Problem details (RFC 9457): every error the API returns, in one shape, and a page documenting each type."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tanhui.api.idempotency import IdempotencyKeyReused
from tanhui.errors import ALL_ERRORS, NotAuthenticated, NotFound, TanhuiError
from tanhui.points.ledger import InsufficientPoints
from tanhui.points.redemption import OutOfStock, RebateCapReached
from tanhui.projects.lifecycle import IllegalTransition
from tanhui.regions.offsetting import OffsetRefused
from tanhui.regions.transfers import TransferRefused

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tanhui.api")


class Problem(BaseModel):
    """An RFC 9457 problem: ``type`` resolves to a page describing it; extra members depend on the type."""

    type: str
    title: str
    status: int
    detail: str
    instance: str


class ProblemType(BaseModel):
    type: str
    code: str
    status: int
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class _Kind:
    status: int
    title: str
    description: str


# Every problem type the API returns; ``GET /problems/{code}`` serves these, so each ``type`` URI resolves.
_DESCRIPTIONS = {
    "invalid-request": "The request is well-formed but a value is not acceptable. `errors` (when present) "
                       "lists each bad field as `body.quantity`, `query.limit`, `header.Idempotency-Key`…; "
                       "`detail` names the first. Nothing was changed.",
    "not-found": "No resource exists at this URL, or an id in the request names nothing.",
    "not-authenticated": "Send a bearer token from `POST /api/v1/auth/token`, or an API key in `X-API-Key`.",
    "permission-denied": "The caller is authenticated but may not do this: users act only for their own "
                         "organisation's accounts; only the operator issues, cancels and revokes; viewers "
                         "only read.",
    "conflict": "The request conflicts with the registry's current state, or with a change made at the same "
                "moment; read the current state and retry.",
    "insufficient-holdings": "The account does not hold enough available units (pledged, retired, cancelled "
                             "and revoked units do not count). `available` and `requested` give the figures.",
    "units-not-available": "Some units of a serial range are not in the account, or not in a state that "
                           "allows this act (retired, cancelled and revoked units are final; pledged units "
                           "cannot move until released).",
    "too-many-attempts": "Too many failed logins for this username; wait `Retry-After` seconds.",
    "too-many-comments": "This address sent as many public comments as an hour allows; wait `Retry-After` "
                         "seconds.",
    "bad-input": "An uploaded file or list (sites, readings, meter frames) cannot be taken as it is; `detail` "
                 "names the rows and columns at fault. Nothing was stored.",
    "damaged-lake": "The meter-data lake's manifest cannot be read; nothing is ingested until an operator "
                    "repairs it.",
    "telemetry-rejected": "A telemetry message cannot become readings; it went to the rejects file.",
    "broker-unavailable": "The MQTT broker cannot be reached or refused the connection or subscription.",
    "report-input-invalid": "The verification output (summary.json, daily.parquet) is missing, malformed or "
                            "does not match; no report was written.",
    "unknown-reference": "The request names reference data (a methodology version, a grid or fuel factor) that "
                         "this platform does not ship; `detail` lists what exists.",
    "not-applicable": "The project's declared design fails its methodology version's applicability conditions; "
                      "`detail` names every condition that fails.",
    "illegal-transition": "The act does not apply to the declaration's or monitoring report's present state "
                          "(or it changed meanwhile); `detail` says which states allow it. Nothing was changed.",
    "offset-refused": "The region's offsetting rules refuse the surrender: a credit's type, methodology, vintage "
                      "or origin is not accepted, or the cap would be exceeded; `detail` names the rule and what "
                      "may still be surrendered. Nothing was changed.",
    "cross-regional-transfer": "The credits were issued outside the receiving organisation's region, which "
                               "refuses them or admits them only with its operator's approval (request that with "
                               "`POST /api/v1/cross-regional-transfers`). Nothing was changed.",
    "insufficient-points": "The resident's points balance (gCO2e, unexpired) does not cover the redemption. "
                           "Nothing was changed.",
    "out-of-stock": "The catalogue reward has fewer items left than asked. Nothing was changed.",
    "rebate-cap-reached": "The loan-interest rebate would pass the yearly cap per resident; `remaining_fen` says "
                          "how much of this calendar year's cap is left. Nothing was changed.",
    "idempotency-key-reused": "The `Idempotency-Key` was first used with another method, path or body. A "
                              "key names one request; replaying it returns the first result, so use a new "
                              "key for a new request.",
    "malformed-json": "The request body is not valid JSON; `line` and `column` point at the first error.",
    "method-not-allowed": "The URL exists but not with this HTTP method; `Allow` lists the methods it takes.",
    "service-unavailable": "The database is busy or unreachable; retry after a moment.",
    "internal-error": "An unexpected error; it was logged. Nothing about it is shown here.",
}
_ERRORS: tuple[type[TanhuiError], ...] = (*ALL_ERRORS, IdempotencyKeyReused, IllegalTransition, OffsetRefused,
                                         TransferRefused, InsufficientPoints, OutOfStock, RebateCapReached)
CATALOGUE: dict[str, _Kind] = {e.code: _Kind(e.status, e.title, _DESCRIPTIONS[e.code]) for e in _ERRORS}
CATALOGUE |= {
    "malformed-json": _Kind(400, "The body is not valid JSON", _DESCRIPTIONS["malformed-json"]),
    "method-not-allowed": _Kind(405, "Method not allowed", _DESCRIPTIONS["method-not-allowed"]),
    "service-unavailable": _Kind(503, "Service unavailable", _DESCRIPTIONS["service-unavailable"]),
    "internal-error": _Kind(500, "Internal error", _DESCRIPTIONS["internal-error"]),
}


def problem(request: Request, code: str, detail: str, *, status: int | None = None, title: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The one error response: a catalogued ``code`` (or ``about:blank`` for bare HTTP statuses)."""
    kind = CATALOGUE.get(code)
    status = status or (kind.status if kind else 500)
    body = {
        "type": f"/problems/{code}" if kind else "about:blank",
        "title": title or (kind.title if kind else HTTPStatus(status).phrase),
        "status": status, "detail": detail, "instance": request.url.path, **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _tanhui_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TanhuiError)
    headers = {}
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    return problem(request, exc.code, exc.detail, status=exc.status, title=exc.title, headers=headers,
                   **exc.extra)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    if tuple(error["loc"]) == ("body",) and isinstance(error.get("input"), bytes | str):
        return "the body must be a JSON object, sent with 'Content-Type: application/json'"
    return str(error["msg"])


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if errors and errors[0]["type"] == "json_invalid":
        text = exc.body if isinstance(exc.body, str) else ""
        position = int(errors[0]["loc"][-1])
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        reason = errors[0].get("ctx", {}).get("error", "invalid JSON")
        return problem(request, "malformed-json", f"the body is not valid JSON: {reason} at line {line}, "
                       f"column {column}", line=line, column=column)
    fields = [{"field": _field(e["loc"]), "message": _message(e)} for e in errors]
    first = fields[0]
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return problem(request, "invalid-request", f"{first['field']}: {first['message']}{more}", errors=fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return problem(request, NotFound.code, f"nothing at {request.url.path}; see /docs for the API",
                       headers=headers)
    if exc.status_code == 405:
        return problem(request, "method-not-allowed",
                       f"{request.method} is not allowed on {request.url.path}; allowed: "
                       f"{headers.get('allow', headers.get('Allow', 'see /docs'))}", headers=headers)
    return problem(request, "http-error", str(exc.detail), status=exc.status_code, headers=headers)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A unique key or ledger constraint refused the write: almost always another request changed the same
    # thing at the same moment, since the services check everything they can beforehand.
    log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return problem(request, "conflict", "the registry changed while this request ran (a concurrent request "
                   "made the same change or used the same name); read the current state and retry")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem(request, "service-unavailable", "the database is busy or unreachable; retry shortly",
                   headers={"Retry-After": "1"})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The server logs the traceback (Starlette re-raises after this answer); the client learns nothing of it.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem(request, "internal-error", "an unexpected error occurred; it has been logged")


def install(app: FastAPI) -> None:
    """Route every error the application can raise to its problem response.

    The handlers are async (they do no I/O): Starlette would run a plain function in the thread pool.
    """
    app.add_exception_handler(TanhuiError, _tanhui_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, _internal_error)


router = APIRouter(prefix="/problems", tags=["problems"])


def _type(code: str) -> ProblemType:
    kind = CATALOGUE[code]
    return ProblemType(type=f"/problems/{code}", code=code, status=kind.status, title=kind.title,
                       description=kind.description)


@router.get("", summary="Every problem type the API returns")
def list_problem_types() -> list[ProblemType]:
    return [_type(code) for code in sorted(CATALOGUE)]


@router.get("/{code}", summary="What one problem type means", responses={404: {"model": Problem}})
def problem_type(code: str) -> ProblemType:
    if code not in CATALOGUE:
        raise NotFound(f"no problem type {code!r}; GET /problems lists them all")
    return _type(code)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem answers, for route decorators."""
    return {s: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(s).phrase}
            for s in statuses}

