"""Routes for regions and compliance: the public list of regions and rules, emitters' obligations, surrenders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.errors import NotFound, PermissionDenied, UnknownReference
from tanhui.regions import compliance
from tanhui.regions import transfers as cross_regional
from tanhui.regions.catalogue import region as find_region
from tanhui.regions.catalogue import regions
from tanhui.registry.queries import utc
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["regions and compliance"])
RecordId = Annotated[int, Path(ge=1, le=models.MAX_ID)]
Year = Annotated[StrictInt, Field(ge=2000, le=2100)]


class ObligationIn(models.RequestBody):
    organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    region: Annotated[StrictStr, Field(min_length=1, max_length=12)]
    compliance_year: Year
    verified_emissions_kg: Annotated[StrictInt, Field(ge=1)]


class SurrenderIn(models.RequestBody):
    """Surrender by quantity (the account's units first issued, first out) or by one serial range."""

    obligation_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    account_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    quantity: StrictInt | None = None
    serial_range: Annotated[StrictStr, Field(max_length=200)] | None = None


class Surrender(BaseModel):
    act_id: int
    obligation_id: int
    quantity: int
    outside_kg: int
    serials: str
    created_at: datetime


class Obligation(BaseModel):
    id: int
    organization_id: int
    region: str
    compliance_year: int
    verified_emissions_kg: int
    cap_kg: int
    outside_cap_kg: int
    surrendered_kg: int
    surrendered_outside_kg: int
    remaining_kg: int
    rules: dict[str, Any]
    surrenders: list[Surrender]
    created_at: datetime


def _obligation(conn: Any, obligation_id: int) -> Obligation:
    view = compliance.obligation_view(conn, obligation_id)
    view["created_at"] = utc(view["created_at"])
    for row in view["surrenders"]:
        row["created_at"] = utc(row["created_at"])
    return Obligation.model_validate(view)


@router.get("/public/regions", summary="Every region and its offsetting rules")
def list_regions() -> list[dict[str, Any]]:
    """Codes, names (zh / en), parent and the rules by compliance year, each figure with its tag and source."""
    return [r.describe() for r in regions().values()]


@router.get("/public/regions/{code}", summary="One region", responses=problem_responses(404))
def get_region(code: str) -> dict[str, Any]:
    try:
        return find_region(code).describe()
    except UnknownReference as exc:
        raise NotFound(exc.detail) from None


@router.post("/compliance/obligations", status_code=201, response_model=Obligation,
             summary="Record an emitter's verified emissions (operator)", responses=problem_responses(401, 403, 404,
                                                                                                     409, 422))
def record_obligation(body: ObligationIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Obligation:
        row = compliance.record_obligation(tx, write.principal, **body.model_dump())
        return _obligation(tx.conn, row["id"])

    return write.run(body, service)


@router.get("/compliance/obligations/{obligation_id}", summary="An obligation, its caps and surrenders",
            responses=problem_responses(401, 403, 404))
def get_obligation(request: Request, obligation_id: RecordId, caller: Caller) -> Obligation:
    with reading(engine_of(request)) as conn:
        found = _obligation(conn, obligation_id)
    if not caller.may_read(found.organization_id):
        raise PermissionDenied(f"obligation {obligation_id} belongs to another organisation")
    return found


@router.post("/compliance/surrenders", status_code=201, response_model=Obligation,
             summary="Surrender credits against an obligation (operator)",
             responses=problem_responses(401, 403, 404, 409, 422))
def surrender(body: SurrenderIn, write: Writer) -> Response:
    """Refused, naming the rule, when a credit is not eligible (type, methodology, vintage, origin) or the
    region's cap (or its outside-the-region cap) would be exceeded; otherwise the units are cancelled for the
    compliance year, and the obligation is returned with what remains."""

    def service(tx: UnitOfWork) -> Obligation:
        compliance.surrender(tx, write.principal, **body.model_dump())
        return _obligation(tx.conn, body.obligation_id)

    return write.run(body, service)


@router.get("/compliance/surrenders.csv", summary="The regulator's export of a compliance year (operator)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 403)})
def export(request: Request, caller: Caller, region: Annotated[str, Query(max_length=12)],
           compliance_year: Annotated[int, Query(ge=2000, le=2100)]) -> Response:
    caller.require_operator("export compliance records")
    with reading(engine_of(request)) as conn:
        text = compliance.export_csv(conn, region=region, compliance_year=compliance_year)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="surrenders-{region}-{compliance_year}.csv"'})


class RegionIn(models.RequestBody):
    region: Annotated[StrictStr, Field(min_length=1, max_length=12)]


class CrossRegionalIn(models.RequestBody):
    from_account_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    to_account_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    quantity: StrictInt | None = None
    serial_range: Annotated[StrictStr, Field(max_length=200)] | None = None


class DecisionIn(models.RequestBody):
    approve: StrictBool
    reason: Annotated[StrictStr, Field(max_length=2000)] | None = None


class OrganizationRegion(BaseModel):
    organization_id: int
    region: str
    set_at: datetime


class CrossRegionalTransfer(BaseModel):
    id: int
    escrow_act_id: int
    from_account_id: int
    to_account_id: int
    escrow_account_id: int
    quantity: int
    serials: str
    from_regions: str
    to_region: str
    status: str
    reason: str | None
    decision_act_ids: str | None
    created_at: datetime
    decided_at: datetime | None


def _crossing(row: Any) -> CrossRegionalTransfer:
    return CrossRegionalTransfer.model_validate({**row, "created_at": utc(row["created_at"]),
                                                 "decided_at": row["decided_at"] and utc(row["decided_at"])})


@router.post("/organizations/{organization_id}/region", status_code=200, response_model=OrganizationRegion,
             summary="Place an organisation in a region (operator)", responses=problem_responses(401, 403, 404, 422))
def set_region(organization_id: RecordId, body: RegionIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> OrganizationRegion:
        row = cross_regional.set_region(tx, write.principal, organization_id=organization_id, region=body.region)
        return OrganizationRegion.model_validate({**row, "set_at": utc(row["set_at"])})

    return write.run(body, service, status_code=200)


@router.post("/cross-regional-transfers", status_code=201, response_model=CrossRegionalTransfer,
             summary="Request a transfer that the receiving region must approve",
             responses=problem_responses(401, 403, 404, 409, 422))
def request_transfer(body: CrossRegionalIn, write: Writer) -> Response:
    """The units leave the sender's account for the registry's escrow until the receiving region's operator
    decides; they then go to the receiver, or back."""

    def service(tx: UnitOfWork) -> CrossRegionalTransfer:
        return _crossing(cross_regional.request(tx, write.principal, **body.model_dump()))

    return write.run(body, service)


@router.post("/cross-regional-transfers/{transfer_id}/decide", status_code=200,
             response_model=CrossRegionalTransfer, summary="Approve or refuse (the receiving region's operator)",
             responses=problem_responses(401, 403, 404, 409, 422))
def decide_transfer(transfer_id: RecordId, body: DecisionIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> CrossRegionalTransfer:
        return _crossing(cross_regional.decide(tx, write.principal, transfer_id, approve=body.approve,
                                               reason=body.reason))

    return write.run(body, service, status_code=200)


@router.get("/regions/{code}/cross-regional-transfers", summary="A region's cross-regional transfers (operator)",
            responses=problem_responses(401, 403, 404))
def region_transfers(request: Request, code: str, caller: Caller) -> list[CrossRegionalTransfer]:
    """Transfers into the region and transfers of its credits to others: both regions' records show each."""
    with reading(engine_of(request)) as conn:
        return [_crossing(row) for row in cross_regional.region_records(conn, caller, code)]
