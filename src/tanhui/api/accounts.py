"""Routes for accounts: opening them, their balances, their blocks and their statements (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from sqlalchemy.engine import Connection

from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.pagination import MAX_LIMIT, Page, PageRequest, encode_cursor, page_of, paging
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import JSON, Writer
from tanhui.errors import InvalidRequest
from tanhui.identity.principal import Principal
from tanhui.registry import ledger, queries
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(prefix="/accounts", tags=["accounts"])
AccountId = Annotated[int, Path(ge=1, le=models.MAX_ID)]
CSV = "text/csv"
STATEMENT_COLUMNS = ("act_id", "at", "kind", "counterparty_account_id", "serials", "available_change",
                     "pledged_change", "available_after", "pledged_after")


@router.post("", status_code=201, response_model=models.Account, summary="Open an account",
             responses=problem_responses(401, 403, 404, 422))
def open_account(body: models.AccountCreate, write: Writer) -> Response:
    """An organisation's admins (or the operator's) open holding, retirement or compliance accounts;
    buffer and escrow accounts belong to the operator."""

    def service(tx: UnitOfWork) -> models.Account:
        row = ledger.open_account(tx, write.principal, organization_id=body.organization_id, kind=body.kind,
                                  name=body.name)
        return models.Account.model_validate(queries.account(tx.conn, write.principal, row["id"]))

    return write.run(body, service)


@router.get("", summary="Accounts (the operator sees all; others their organisation's)",
            responses=problem_responses(401, 403, 404))
def list_accounts(
    request: Request, caller: Caller, page: Annotated[PageRequest, Depends(paging())],
    organization_id: Annotated[int | None, Query(ge=1, le=models.MAX_ID, description="only its")] = None,
) -> Page[models.Account]:
    with reading(engine_of(request)) as conn:
        return page_of(queries.accounts_page(conn, caller, organization_id=organization_id, after=page.after,
                                             limit=page.limit), models.Account)


@router.get("/{account_id}", summary="An account and its balances",
            responses=problem_responses(401, 403, 404))
def get_account(request: Request, account_id: AccountId, caller: Caller) -> models.Account:
    with reading(engine_of(request)) as conn:
        return models.Account.model_validate(queries.account(conn, caller, account_id))


@router.get("/{account_id}/blocks", summary="An account's serial blocks, in transfer order",
            responses=problem_responses(401, 403, 404, 422))
def list_blocks(
    request: Request, account_id: AccountId, caller: Caller, page: Annotated[PageRequest, Depends(paging(2))],
    state: Literal["available", "pledged", "retired", "cancelled", "revoked"] | None = None,
) -> Page[models.Block]:
    with reading(engine_of(request)) as conn:
        return page_of(queries.account_blocks(conn, caller, account_id, state=state, after=page.after,
                                              limit=page.limit), models.Block)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@router.get(
    "/{account_id}/statement", response_model=models.Statement, summary="Statement (JSON or CSV)",
    responses={200: {"content": {CSV: {}}}, **problem_responses(401, 403, 404, 422)},
)
def statement(
    request: Request, account_id: AccountId, caller: Caller, page: Annotated[PageRequest, Depends(paging())],
    output: Annotated[Literal["json", "csv"] | None,
                      Query(alias="format", description="csv: the whole period")] = None,
    since: Annotated[date | None, Query(alias="from", description="first day (UTC), inclusive")] = None,
    until: Annotated[date | None, Query(alias="to", description="last day (UTC), inclusive")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """One row per act that touched the account, in order, with the balances after it. JSON pages with
    ``limit``/``cursor``; CSV (``?format=csv`` or ``Accept: text/csv``) holds the whole period."""
    if since and until and since > until:
        raise InvalidRequest(f"from {since} is after to {until}", field="query.from")
    start = _midnight(since) if since else None
    end = _midnight(until + timedelta(days=1)) if until else None
    with reading(engine_of(request)) as conn:
        if output == "csv" or (output is None and CSV in (accept or "")):
            return _csv(conn, caller, account_id, (since, until), (start, end))
        rows = queries.statement_page(conn, caller, account_id, since=start, until=end, after=page.after,
                                      limit=page.limit)
    items = [models.StatementRow.model_validate(r) for r in rows.items]
    body = models.Statement(account_id=account_id, items=items, next_cursor=encode_cursor(rows.next_key))
    return Response(body.model_dump_json(), media_type=JSON)


def _csv(conn: Connection, caller: Principal, account_id: int, days: tuple[date | None, date | None],
         window: tuple[datetime | None, datetime | None]) -> Response:
    """The whole statement for the period as CSV, read page by page."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    after = None
    while True:
        rows = queries.statement_page(conn, caller, account_id, since=window[0], until=window[1], after=after,
                                      limit=MAX_LIMIT)
        for row in rows.items:
            line = models.StatementRow.model_validate(row)
            writer.writerow([line.act_id, line.at.isoformat(), line.kind, line.counterparty_account_id or "",
                             " ".join(line.serials), line.available_change, line.pledged_change,
                             line.available_after, line.pledged_after])
        if rows.next_key is None:
            break
        after = rows.next_key
    since, until = days
    name = f"statement-account-{account_id}"
    name += (f"-from-{since}" if since else "") + (f"-to-{until}" if until else "")
    return Response(out.getvalue(), media_type=f"{CSV}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
