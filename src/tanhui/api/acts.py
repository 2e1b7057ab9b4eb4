"""Routes for the ledger's acts and serial histories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel

from tanhui.api import models
from tanhui.api.deps import engine_of, reading, settings_of
from tanhui.api.pagination import PageRequest, encode_cursor, paging
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Write, Writer
from tanhui.regions import transfers as cross_regional
from tanhui.registry import ledger, queries
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["ledger"])
RecordId = Annotated[int, Path(ge=1, le=models.MAX_ID)]
ACT_ERRORS = problem_responses(401, 403, 404, 409, 422)


def _perform(write: Write, body: BaseModel | None, use_case: Callable[..., ledger.ActResult],
             **arguments: Any) -> Response:
    """Run one ledger use case as the caller (idempotently) and answer with the act it recorded."""

    def service(tx: UnitOfWork) -> models.Act:
        result = use_case(tx, write.principal, **arguments)
        return models.Act.model_validate(queries.recorded_act(tx.conn, write.principal, result))

    return write.run(body, service)


@router.post("/issuances", status_code=201, response_model=models.Act, responses=ACT_ERRORS,
             summary="Issue credits (the operator)")
def issue(request: Request, body: models.IssuanceCreate, write: Writer) -> Response:
    """Issue a quantity of a project's vintage and monitoring period into a holding or buffer account, as one
    serial block; the act's ``issuance`` holds the serials."""
    settings = settings_of(request)
    return _perform(write, body, ledger.issue, registry=settings.registry_code,
                    credit_type=body.credit_type or settings.default_credit_type,
                    **body.model_dump(exclude={"credit_type"}))


@router.get("/issuances/{issuance_id}", summary="One issuance", responses=problem_responses(401, 404))
def get_issuance(request: Request, issuance_id: RecordId, caller: Caller) -> models.Issuance:
    with reading(engine_of(request)) as conn:
        return models.Issuance.model_validate(queries.issuance(conn, caller, issuance_id))


@router.post("/transfers", status_code=201, response_model=models.Act, responses=ACT_ERRORS,
             summary="Transfer units to another account")
def transfer(body: models.TransferCreate, write: Writer) -> Response:
    """By ``quantity`` (first issued, first out) or by explicit ``serial_range``. Credits issued outside the
    receiving organisation's region need that region's consent (see ``/cross-regional-transfers``)."""
    return _perform(write, body, cross_regional.transfer, **body.model_dump())


@router.post("/retirements", status_code=201, response_model=models.Act, responses=ACT_ERRORS,
             summary="Retire units for a beneficiary (final)")
def retire(body: models.RetirementCreate, write: Writer) -> Response:
    return _perform(write, body, ledger.retire, **body.model_dump())


@router.post("/cancellations", status_code=201, response_model=models.Act, responses=ACT_ERRORS,
             summary="Cancel units for compliance or by regulatory act (the operator; final)")
def cancel(body: models.CancellationCreate, write: Writer) -> Response:
    return _perform(write, body, ledger.cancel, **body.model_dump())


@router.post("/pledges", status_code=201, response_model=models.Act, responses=ACT_ERRORS,
             summary="Pledge units to a bank")
def pledge(body: models.PledgeCreate, write: Writer) -> Response:
    """Pledged units stay in the account but cannot move until the bank (or the operator) releases them."""
    return _perform(write, body, ledger.pledge, **body.model_dump())


@router.get("/pledges/{pledge_id}", summary="One pledge", responses=problem_responses(401, 403, 404))
def get_pledge(request: Request, pledge_id: RecordId, caller: Caller) -> models.Pledge:
    with reading(engine_of(request)) as conn:
        return models.Pledge.model_validate(queries.pledge(conn, caller, pledge_id))


@router.post("/pledges/{pledge_id}/release", status_code=201, response_model=models.Act, responses=ACT_ERRORS,
             summary="Release a pledge (the bank or the operator)")
def release(pledge_id: RecordId, write: Writer) -> Response:
    return _perform(write, None, ledger.release, pledge_id=pledge_id)


@router.post("/revocations", status_code=201, response_model=models.Act, responses=ACT_ERRORS,
             summary="Revoke units (the operator)")
def revoke(body: models.RevocationCreate, write: Writer) -> Response:
    """Invalidate available units by serial range (wherever they are held) or by quantity from one account."""
    return _perform(write, body, ledger.revoke, **body.model_dump())


@router.get("/acts/{act_id}", summary="One act: the permanent address of a transaction",
            responses=problem_responses(401, 403, 404))
def get_act(request: Request, act_id: RecordId, caller: Caller) -> models.Act:
    """Visible to the operator and the organisations whose accounts the act touched (and a pledge's bank)."""
    with reading(engine_of(request)) as conn:
        return models.Act.model_validate(queries.act(conn, caller, act_id))


@router.get("/serials/{serial}", summary="The lifecycle of a serial range",
            responses=problem_responses(401, 404, 422))
def lifecycle(request: Request, serial: str, caller: Caller,
              page: Annotated[PageRequest, Depends(paging())]) -> models.Lifecycle:
    """The issuance, every event that touched the units in order (paged), and the blocks holding them now.
    Account ids are shown only to the operator and the account's own organisation."""
    with reading(engine_of(request)) as conn:
        view, next_key = queries.lifecycle(conn, caller, serial, after=page.after, limit=page.limit)
    return models.Lifecycle.model_validate({**view, "next_cursor": encode_cursor(next_key)})
