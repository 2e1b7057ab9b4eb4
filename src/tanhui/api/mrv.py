"""Routes for MRV on the registry: registered meters (sites), energy claims, and the provenance of a serial."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StrictStr, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from tanhui.api import models
from tanhui.api.deps import engine_of, reading, settings_of
from tanhui.api.pagination import Page, PageRequest, encode_cursor, page_of, paging
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.errors import InvalidRequest
from tanhui.mrv import registry
from tanhui.mrv.tables import METER_ID_LENGTH, REFERENCE_LENGTH
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["mrv"])
MeterId = Annotated[str, PathParam(min_length=1, max_length=METER_ID_LENGTH)]
ShortText = Annotated[StrictStr, Field(max_length=200)]
CSV = "text/csv"


# ---------------------------------------------------------------- bodies

class SiteIn(models.RequestBody):
    """One site, with the columns of a site file; ``owner`` is an organisation's exact registered name."""

    meter_id: ShortText
    site_id: ShortText
    owner: models.Name
    capacity_kw: float = Field(description="kWp")
    latitude: float
    longitude: float
    region: ShortText
    commissioned: date
    tilt: float | None = Field(None, description="degrees from horizontal; null where unknown")
    azimuth: float | None = Field(None, description="degrees clockwise from north; null where unknown")
    grid_point: ShortText | None = None


class SitesImport(BaseModel):
    """What an import request asks for (the idempotency fingerprint of both body kinds)."""

    sites: list[SiteIn]
    update: bool


class SiteImportResult(BaseModel):
    registered: list[str] = Field(description="meter ids newly registered")
    updated: list[str] = Field(description="meter ids whose attributes were changed (update=true)")
    unchanged: int = Field(description="sites already registered exactly as sent")


class ClaimCreate(models.RequestBody):
    meter_id: ShortText
    first_day: date = Field(description="first local (Asia/Shanghai) day the instrument covers")
    last_day: date = Field(description="last local day, inclusive")
    instrument: Literal["green_certificate", "other_registry"]
    reference: Annotated[StrictStr, Field(max_length=REFERENCE_LENGTH,
                                          description="the certificate number or the other registry's serial")]


# ---------------------------------------------------------------- responses

class Meter(BaseModel):
    meter_id: str
    site_id: str
    owner_organization_id: int
    owner: str
    capacity_kw: float
    latitude: float
    longitude: float
    tilt: float | None
    azimuth: float | None
    grid_point: str | None
    region: str
    commissioned: date
    registered_at: datetime


class Claim(BaseModel):
    """A meter's energy on first_day..last_day backing one instrument (no other may claim those days)."""

    id: int
    meter_id: str
    first_day: date
    last_day: date
    instrument: str
    reference: str
    report_id: int | None = Field(description="the monitoring report, for tanhui_credit claims")
    declared_by: str
    created_at: datetime


class Methodology(BaseModel):
    code: str
    version: str
    title: str


class MonitoringReport(BaseModel):
    id: int
    project_id: int
    period_start: date
    period_end: date
    methodology: Methodology
    grid_factor: dict[str, Any] = Field(description="series, data year, region, tCO2/MWh, source and tag")
    summary_sha256: str
    files: dict[str, str] = Field(description="file name → SHA-256 of the archived report files")
    sites: int
    reported_kwh: float
    accepted_kwh: float
    reduction_kg: int
    issued_at: datetime


class ProvenanceSite(BaseModel):
    meter_id: str
    site_id: str
    owner: str = Field(description="the owner organisation; individuals are not named")
    capacity_kw: float
    region: str
    intervals_expected: int
    reported_kwh: float
    accepted_kwh: float
    reduction_kg: int
    flag_counts: dict[str, int]
    serial: str = Field(description="the site's units in the issuance")


class ProvenanceInterval(BaseModel):
    meter_id: str
    ts: datetime = Field(description="start of the 15-minute interval, UTC")
    kwh: float | None = Field(description="reported energy; null where the interval is missing")
    accepted_kwh: float
    flags: list[str]


class Provenance(BaseModel):
    """What backs a serial range: its issuance, monitoring report, sites, and (paged) the sites' intervals."""

    serial: str
    quantity: int
    issuance: models.Issuance
    report: MonitoringReport
    sites: list[ProvenanceSite]
    intervals: list[ProvenanceInterval]
    next_cursor: str | None = Field(description="pages the intervals")


# ---------------------------------------------------------------- sites

_SITES_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/SiteIn"}}},
    CSV: {"schema": {"type": "string"}, "example": (
        "meter_id,site_id,owner,capacity_kw,latitude,longitude,region,commissioned,tilt,azimuth,grid_point\n"
        "000000000001,SIP-0001,Qingchuan PV,12.5,31.30,120.72,SIP,2023-05-01,25,180,T1-07\n")},
}}}


def _sites_from_csv(body: bytes) -> list[registry.Site]:
    from tanhui.errors import BadInput
    from tanhui.mrv.sites import read_sites

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sites.csv"
        path.write_bytes(body)
        try:
            frame = read_sites(path)
        except BadInput as exc:
            raise BadInput(exc.detail.replace(str(path), "the CSV body")) from exc
        return registry.sites_from_rows(frame.iter_rows(named=True))


def _sites_from_json(body: bytes) -> list[registry.Site]:
    try:
        sites = TypeAdapter(list[SiteIn]).validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
    return [registry.Site(**site.model_dump()) for site in sites]


def _sites(body: bytes, content_type: str) -> list[registry.Site]:
    kind = content_type.split(";")[0].strip().lower()
    if kind == CSV:
        return _sites_from_csv(body)
    if kind == "application/json":
        return _sites_from_json(body)
    raise InvalidRequest(f"send the sites as {CSV} (a site file) or application/json (a list of sites), "
                         f"not {kind or 'a body without Content-Type'}", field="header.Content-Type")


@router.post("/mrv/sites", response_model=SiteImportResult, openapi_extra=_SITES_BODY,
             summary="Register meters (sites) from a site file or a JSON list",
             responses=problem_responses(401, 403, 422))
async def import_sites(
    request: Request, write: Writer,
    update: Annotated[bool, Query(description="change registered meters whose attributes differ")] = False,
) -> Response:
    """The operator registers meters for any owner; other organisations only meters they own themselves.
    Sites already registered with the same attributes are left as they are; different attributes are refused
    unless ``update=true``. All or nothing."""
    sites = await run_in_threadpool(_sites, await request.body(), request.headers.get("content-type", ""))
    fingerprint = SitesImport.model_construct(
        sites=[SiteIn.model_construct(**asdict(site)) for site in sites], update=update)

    def service(tx: UnitOfWork) -> SiteImportResult:
        done = registry.register_sites(tx, write.principal, sites, update=update)
        return SiteImportResult(registered=done.registered, updated=done.updated, unchanged=len(done.unchanged))

    return await run_in_threadpool(write.run, fingerprint, service, status_code=200)


@router.get("/mrv/sites", summary="Registered meters (the operator sees all; others their own)",
            responses=problem_responses(401))
def list_sites(request: Request, caller: Caller,
               page: Annotated[PageRequest, Depends(paging())]) -> Page[Meter]:
    with reading(engine_of(request)) as conn:
        return page_of(registry.sites_page(conn, caller, after=page.after, limit=page.limit), Meter)


@router.get("/mrv/sites/{meter_id}", summary="One registered meter", responses=problem_responses(401, 403, 404))
def get_site(request: Request, meter_id: MeterId, caller: Caller) -> Meter:
    with reading(engine_of(request)) as conn:
        return Meter.model_validate(registry.site(conn, caller, meter_id))


# ---------------------------------------------------------------- claims

@router.get("/mrv/sites/{meter_id}/claims", summary="The instruments a meter's energy backs, by period",
            responses=problem_responses(401, 403, 404))
def list_claims(request: Request, meter_id: MeterId, caller: Caller,
                page: Annotated[PageRequest, Depends(paging())]) -> Page[Claim]:
    with reading(engine_of(request)) as conn:
        return page_of(registry.claims_page(conn, caller, meter_id, after=page.after, limit=page.limit), Claim)


@router.post("/mrv/claims", status_code=201, response_model=Claim,
             summary="Declare that a meter's energy backs a green certificate or another registry's credits",
             responses=problem_responses(401, 403, 404, 409, 422))
def declare_claim(body: ClaimCreate, write: Writer) -> Response:
    """The meter's owner or the operator declares it. Days of the meter already claimed by any instrument are
    refused (409, naming them); once declared, those days can back no credits here."""

    def service(tx: UnitOfWork) -> Claim:
        return Claim.model_validate(registry.declare_claim(tx, write.principal, **body.model_dump()))

    return write.run(body, service)


# ---------------------------------------------------------------- provenance

@router.get("/serials/{serial}/provenance", summary="What backs a serial range: report, sites and intervals",
            responses=problem_responses(401, 404, 409, 422))
def provenance(
    request: Request, serial: str, caller: Caller, page: Annotated[PageRequest, Depends(paging())],
    intervals: Annotated[Literal["accepted", "all"], Query(
        description="accepted: only the intervals whose energy was credited; all: flagged ones too")] = "accepted",
) -> Provenance:
    """The issuance, the monitoring report it was issued from (period, methodology, grid factor and its source),
    every site whose units intersect the range, and those sites' 15-minute intervals from the archived report,
    paged. Owners who are individuals are not named; no accounts or locations are shown."""
    with reading(engine_of(request)) as conn:
        view, next_key = registry.provenance(
            conn, caller, serial, reports_root=settings_of(request).data_dir / registry.REPORTS, after=page.after,
            limit=page.limit, accepted_only=intervals == "accepted")
    return Provenance.model_validate({**view, "next_cursor": encode_cursor(next_key)})
