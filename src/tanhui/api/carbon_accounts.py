"""Routes for carbon accounts: holders, economic figures, energy records, imports, accounting, profiles, benchmarks."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from tanhui.accounts import importing, register
from tanhui.accounts.benchmarks import listed
from tanhui.accounts.evaluation import schemes
from tanhui.accounts.periods import Period
from tanhui.accounts.profiles import compute_benchmarks, credit_profile, plain, profile_json, statement
from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.errors import BadInput, PermissionDenied
from tanhui.identity.principal import Principal
from tanhui.registry.queries import utc
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(prefix="/carbon-accounts", tags=["carbon accounts"])
RecordId = Annotated[int, Path(ge=1, le=models.MAX_ID)]
PeriodText = Annotated[str, Query(max_length=20, description="2025, 2025-03 or 2025-01..2025-06")]
Text = Annotated[StrictStr, Field(min_length=1, max_length=200)]
_WRITES = problem_responses(401, 403, 404, 409, 422)
MAX_IMPORT_BYTES = 64 * 1024 * 1024


class HolderIn(models.RequestBody):
    reference: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    kind: Literal["enterprise", "public_institution", "resident"]
    name: Text
    region: Annotated[StrictStr, Field(min_length=1, max_length=12)]
    area: Literal["industry", "energy", "buildings", "transport", "agriculture_forestry", "daily_life"]
    unified_social_credit_code: Annotated[StrictStr, Field(max_length=18)] | None = None
    industry_code: Annotated[StrictStr, Field(max_length=5)] | None = None
    organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)] | None = None


class EconomicsIn(models.RequestBody):
    reference: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    period_start: date
    period_end: date
    output_value_10k_yuan: Annotated[StrictStr, Field(max_length=30)] | None = None
    value_added_10k_yuan: Annotated[StrictStr, Field(max_length=30)] | None = None
    pollution_score: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    source: Annotated[StrictStr, Field(min_length=1, max_length=120)]


class RecordIn(models.RequestBody):
    """Quantities are decimal text (at most 3 decimals) so no binary rounding touches them."""

    reference: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    energy_type: Annotated[StrictStr, Field(min_length=1, max_length=20)]
    unit: Annotated[StrictStr, Field(min_length=1, max_length=10)]
    quantity: Annotated[StrictStr, Field(min_length=1, max_length=30)]
    period_start: date
    period_end: date
    source: Annotated[StrictStr, Field(min_length=1, max_length=120)]
    metered: StrictBool = False
    area: Annotated[StrictStr, Field(max_length=24)] | None = None
    certificate_id: Annotated[StrictStr, Field(max_length=100)] | None = None


class MeterIn(models.RequestBody):
    meter_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class OrganizationIn(models.RequestBody):
    organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]


class YearIn(models.RequestBody):
    year: Annotated[StrictInt, Field(ge=2000, le=2100)]


class Holder(BaseModel):
    id: int
    reference: str
    kind: str
    name: str
    unified_social_credit_code: str | None
    industry_code: str | None
    region: str
    area: str
    organization_id: int | None
    meters: list[str]
    created_at: datetime


class Written(BaseModel):
    """What a write stored: the table's row as the database keeps it."""

    id: int | str
    row: dict[str, Any]


class Imported(BaseModel):
    kind: str
    rows: int
    ids: list[int]


class Benchmarks(BaseModel):
    items: list[dict[str, Any]]


def _holder(conn: Any, holder_id: int) -> Holder:
    found = register.holder(conn, holder_id)
    return Holder.model_validate({**found, "created_at": utc(found["created_at"]),
                                  "meters": register.meters_of(conn, holder_id)})


def _readable(conn: Any, caller: Principal, holder_id: int) -> None:
    if not register.may_read(caller, register.holder(conn, holder_id)):
        raise PermissionDenied(f"carbon account {holder_id} is not yours to read")


def _written(row: Any, key: str = "id") -> Written:
    return Written(id=row[key], row={k: plain(utc(v) if isinstance(v, datetime) else v) for k, v in row.items()})


@router.post("/holders", status_code=201, response_model=Holder, responses=_WRITES,
             summary="Open a carbon account for an enterprise, institution or resident (operator)")
def open_holder(body: HolderIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Holder:
        row = register.register_holder(tx, write.principal, body.model_dump())
        return _holder(tx.conn, row["id"])

    return write.run(body, service)


@router.post("/economics", status_code=201, response_model=Written, responses=_WRITES,
             summary="Record a holder's output value and value added for a period (operator)")
def add_economics(body: EconomicsIn, write: Writer) -> Response:
    return write.run(body, lambda tx: _written(register.record_economics(tx, write.principal, body.model_dump())))


@router.post("/records", status_code=201, response_model=Written, responses=_WRITES,
             summary="Record energy use or green electricity with its certificate (operator)")
def add_record(body: RecordIn, write: Writer) -> Response:
    return write.run(body, lambda tx: _written(register.add_record(tx, write.principal, body.model_dump())))


@router.post("/holders/{holder_id}/meters", status_code=201, response_model=Written, responses=_WRITES,
             summary="Link an MRV meter to a holder (operator)")
def link_meter(holder_id: RecordId, body: MeterIn, write: Writer) -> Response:
    return write.run(body, lambda tx: _written(
        register.link_meter(tx, write.principal, holder_id=holder_id, meter_id=body.meter_id), "meter_id"))


@router.post("/holders/{holder_id}/organization", status_code=200, response_model=Holder, responses=_WRITES,
             summary="Name the registry organisation whose users act for a holder (operator; a link is not moved)")
def link_organization(holder_id: RecordId, body: OrganizationIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Holder:
        register.link_organization(tx, write.principal, holder_id, body.organization_id)
        return _holder(tx.conn, holder_id)

    return write.run(body, service, status_code=200)


@router.post("/imports/{kind}", status_code=201, response_model=Imported, responses=_WRITES,
             summary="Import holders, economics or records from CSV or XLSX, all rows or none (operator)")
async def import_file(kind: Literal["holders", "economics", "records"], file: UploadFile,
                      write: Writer) -> Response:
    """A multipart upload (field ``file``); every bad row is named by row number and column, and then nothing
    is imported.  Column names are those of docs/carbon-accounts.md."""
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise BadInput(f"the file is larger than {MAX_IMPORT_BYTES // 2**20} MiB; split it")

    def service(tx: UnitOfWork) -> Imported:
        done = importing.import_file(tx, write.principal, kind, content, file.filename or "")
        return Imported(kind=done.kind, rows=done.rows, ids=list(done.ids))

    return await run_in_threadpool(write.run, None, service)


@router.post("/benchmarks/compute", status_code=200, response_model=Benchmarks, responses=_WRITES,
             summary="Compute a year's industry benchmarks from the platform's holders (operator)")
def compute(body: YearIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Benchmarks:
        return Benchmarks(items=[b.describe() for b in compute_benchmarks(tx, write.principal, body.year)])

    return write.run(body, service, status_code=200)


@router.get("/holders/{holder_id}", summary="A carbon account holder", responses=problem_responses(401, 403, 404))
def get_holder(request: Request, holder_id: RecordId, caller: Caller) -> Holder:
    with reading(engine_of(request)) as conn:
        _readable(conn, caller, holder_id)
        return _holder(conn, holder_id)


@router.get("/holders/{holder_id}/accounting", summary="Emissions of a period with every record and factor",
            responses=problem_responses(401, 403, 404, 422))
def get_accounting(request: Request, holder_id: RecordId, period: PeriodText, caller: Caller) -> dict[str, Any]:
    with reading(engine_of(request)) as conn:
        _readable(conn, caller, holder_id)
        done = statement(conn, holder_id, Period.parse(period)).accounting
    return {"holder_id": holder_id, "period": period, "emissions_kg": done.emissions_kg,
            "by_scope_kg": done.by_scope_kg, "by_area_kg": done.emissions_by_area_kg,
            "green_electricity_deducted_kg": done.green_deducted_kg,
            "green_electricity_unused_kg": done.green_unused_kg,
            "retired_offsets_kg": done.retired_offsets_kg, "monthly_kg": dict(done.monthly_kg),
            "lines": done.breakdown(), "factors": [plain(dataclasses.asdict(f)) for f in done.factors]}


@router.get("/holders/{holder_id}/profile", summary="The carbon credit profile: accounting, label, grade, rating",
            responses=problem_responses(401, 403, 404, 422))
def get_profile(request: Request, holder_id: RecordId, period: PeriodText, caller: Caller) -> dict[str, Any]:
    """Ratios and intensities are exact fractions as text; masses are integer kgCO2e."""
    with reading(engine_of(request)) as conn:
        _readable(conn, caller, holder_id)
        return profile_json(credit_profile(conn, holder_id, Period.parse(period)))


@router.get("/benchmarks", summary="Industry benchmarks by year (operator)", responses=problem_responses(401, 403))
def get_benchmarks(request: Request, caller: Caller,
                   year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Benchmarks:
    caller.require_operator("read industry benchmarks")
    with reading(engine_of(request)) as conn:
        return Benchmarks(items=[b.describe() for b in listed(conn, year)])


@router.get("/schemes", summary="The evaluation schemes, each threshold with its tag and source")
def get_schemes() -> list[dict[str, Any]]:
    return [s.describe() for s in schemes()]
