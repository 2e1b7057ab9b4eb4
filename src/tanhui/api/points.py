"""Routes for residents' points: events, balances, redemption, rebates, choices, leaderboard, packaging."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from tanhui.api import models
from tanhui.api.deps import engine_of, reading, settings_of
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.errors import NotFound
from tanhui.points import events, ledger, packaging, redemption, residents
from tanhui.points.scheme import scheme
from tanhui.registry.queries import utc
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["residents' points"])
RecordId = Annotated[int, Path(ge=1, le=models.MAX_ID)]
Id = Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
Amount = StrictStr | StrictInt | StrictFloat
_WRITES = problem_responses(401, 403, 404, 409, 422)


class EventIn(models.RequestBody):
    """A behaviour event as its source (bus, metro or bike app; the grid company) reports it."""

    resident_id: Id
    source: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    event_id: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    behaviour: Annotated[StrictStr, Field(min_length=1, max_length=30)]
    started_at: Annotated[StrictStr, Field(max_length=40, description="ISO 8601 with offset")]
    ended_at: Annotated[StrictStr, Field(max_length=40, description="ISO 8601 with offset")]
    distance_km: Amount | None = None
    saved_kwh: Amount | None = None


class Event(BaseModel):
    id: int
    resident_id: int
    source: str
    event_id: str
    behaviour: str
    scheme: str
    started_at: datetime
    ended_at: datetime
    day: date
    distance_m: int | None
    saved_wh: int | None
    quantity_milli: int
    counted_milli: int
    points_g: int
    status: str
    reason: str | None
    detail: str | None
    recorded_at: datetime
    replayed: bool = False
    package_id: int | None = Field(None, description="the travel package whose report claims it, if any")


def _event(row: Any, *, replayed: bool = False) -> Event:
    return Event.model_validate(
        {
            **row,
            "started_at": utc(row["started_at"]),
            "ended_at": utc(row["ended_at"]),
            "recorded_at": utc(row["recorded_at"]),
            "replayed": replayed,
        }
    )


class Entry(BaseModel):
    id: int
    kind: str
    amount_g: int
    balance_after_g: int
    lot_id: int | None
    redemption_id: int | None
    reason: str | None
    created_at: datetime


def _entry(row: Any) -> Entry:
    return Entry.model_validate({**row, "created_at": utc(row["created_at"])})


class ReverseIn(models.RequestBody):
    reason: Annotated[StrictStr, Field(min_length=1, max_length=2000)]


class ExpireIn(models.RequestBody):
    as_of: datetime | None = Field(None, description="default now (never later): lots due by then expire")


class Expiry(BaseModel):
    lots: int
    points_g: int
    residents: int


class ItemIn(models.RequestBody):
    code: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    name_zh: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    name_en: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    price_g: Annotated[StrictInt, Field(ge=1)]
    stock: Annotated[StrictInt, Field(ge=0)]


class RestockIn(models.RequestBody):
    added: Annotated[StrictInt, Field(ge=1)]


class Item(BaseModel):
    id: int
    code: str
    name_zh: str
    name_en: str
    price_g: int
    stock: int


class RedeemIn(models.RequestBody):
    resident_id: Id
    code: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    quantity: Annotated[StrictInt, Field(ge=1, le=100)] = 1


class RebateIn(models.RequestBody):
    resident_id: Id
    rebate_fen: Annotated[StrictInt, Field(ge=1, description="interest rebate in fen (0.01 yuan)")]
    loan_reference: Annotated[StrictStr, Field(min_length=1, max_length=100)]


class Redemption(BaseModel):
    id: int
    resident_id: int
    kind: str
    item_id: int | None
    quantity: int | None
    rebate_fen: int | None
    rebate_year: int | None
    loan_reference: str | None
    points_g: int
    created_at: datetime


def _redemption(row: Any) -> Redemption:
    return Redemption.model_validate({**row, "created_at": utc(row["created_at"])})


class ChoicesIn(models.RequestBody):
    leaderboard: StrictBool | None = None
    nickname: Annotated[StrictStr, Field(min_length=1, max_length=40)] | None = None
    packaging_consent: StrictBool | None = None


class Choices(BaseModel):
    resident_id: int
    leaderboard: bool
    nickname: str | None
    packaging_consent: bool


class PackageIn(models.RequestBody):
    project_id: Id
    period_start: date
    period_end: date
    verifier_organization_id: Id


class Package(BaseModel):
    id: int
    aggregator_organization_id: int
    project_id: int
    report_id: int
    methodology: str
    period_start: date
    period_end: date
    residents: int
    events: int
    net_kg: int
    created_at: datetime


def _package(row: Any) -> Package:
    return Package.model_validate({**row, "created_at": utc(row["created_at"])})


class Account(BaseModel):
    resident_id: int
    balance_g: int
    rebate_fen_this_year: int
    choices: Choices
    entries: list[Entry]
    events: list[Event]
    redemptions: list[Redemption]


class Place(BaseModel):
    rank: int
    nickname: str
    points_g: int


@router.post(
    "/points/events",
    status_code=201,
    response_model=Event,
    responses=_WRITES,
    summary="Record a resident's behaviour event (operator, for the sources)",
)
def record_event(body: EventIn, write: Writer) -> Response:
    """Judged by the scheme's rules (duplicate, impossible speed, daily cap): a refused or capped event is
    recorded with its reason. The same (source, event_id) again returns the first record (`replayed`)."""

    def service(tx: UnitOfWork) -> Event:
        recorded = events.record(tx, write.principal, body.model_dump())
        return _event(recorded.row, replayed=recorded.replayed)

    return write.run(body, service)


@router.post(
    "/points/events/{event_id}/reverse",
    response_model=Entry,
    responses=_WRITES,
    summary="Take back an event's remaining points (operator)",
)
def reverse_event(event_id: RecordId, body: ReverseIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Entry:
        return _entry(events.reverse(tx, write.principal, event_id, reason=body.reason))

    return write.run(body, service, status_code=200)


@router.post(
    "/points/expire",
    response_model=Expiry,
    responses=_WRITES,
    summary="Expire the points due (operator; idempotent)",
)
def expire(body: ExpireIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Expiry:
        done = ledger.expire(tx, write.principal, body.as_of)
        return Expiry.model_validate(done.describe())

    return write.run(body, service, status_code=200)


@router.post(
    "/points/catalogue",
    status_code=201,
    response_model=Item,
    responses=_WRITES,
    summary="Add a reward to the catalogue (operator)",
)
def add_item(body: ItemIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Item:
        return Item.model_validate(redemption.add_item(tx, write.principal, **body.model_dump()))

    return write.run(body, service)


@router.post(
    "/points/catalogue/{code}/restock",
    response_model=Item,
    responses=_WRITES,
    summary="Add stock to a reward (operator)",
)
def restock(code: Annotated[str, Path(max_length=40)], body: RestockIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Item:
        return Item.model_validate(redemption.restock(tx, write.principal, code, added=body.added))

    return write.run(body, service, status_code=200)


@router.post(
    "/points/redemptions",
    status_code=201,
    response_model=Redemption,
    responses=_WRITES,
    summary="Exchange points for a catalogue reward (the resident)",
)
def redeem(body: RedeemIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Redemption:
        return _redemption(redemption.redeem_item(tx, write.principal, **body.model_dump()))

    return write.run(body, service)


@router.post(
    "/points/rebates",
    status_code=201,
    response_model=Redemption,
    responses=_WRITES,
    summary="Turn points into green-loan interest rebate (the resident)",
)
def rebate(body: RebateIn, write: Writer) -> Response:
    """1,000 g of points = 2 yuan, at most 2,000 yuan a calendar year (Wuhan); a request that would pass
    the cap is refused whole (`rebate-cap-reached`, with `remaining_fen`)."""

    def service(tx: UnitOfWork) -> Redemption:
        return _redemption(redemption.rebate(tx, write.principal, **body.model_dump()))

    return write.run(body, service)


@router.post(
    "/points/residents/{resident_id}/choices",
    response_model=Choices,
    responses=_WRITES,
    summary="Opt in or out of the leaderboard and of packaging (the resident)",
)
def choose(resident_id: RecordId, body: ChoicesIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Choices:
        return Choices.model_validate(residents.choose(tx, write.principal, resident_id, **body.model_dump()))

    return write.run(body, service, status_code=200)


@router.post(
    "/points/packages",
    status_code=201,
    response_model=Package,
    responses=_WRITES,
    summary="Package residents' travel into the aggregator's TRAVEL-LOW report",
)
def package(request: Request, body: PackageIn, write: Writer) -> Response:
    """Every fully accepted, unreversed and not yet packaged travel event of the project region's consenting
    residents in the period becomes the report's monitoring data; each event is packaged once, ever."""
    data_dir = settings_of(request).data_dir

    def service(tx: UnitOfWork) -> Package:
        return _package(packaging.package(tx, write.principal, data_dir, **body.model_dump()))

    return write.run(body, service)


@router.get(
    "/points/packages/{package_id}", summary="One travel package", responses=problem_responses(401, 404)
)
def get_package(request: Request, package_id: RecordId, caller: Caller) -> Package:
    with reading(engine_of(request)) as conn:
        return _package(packaging.get_package(conn, caller, package_id))


@router.get(
    "/points/residents/{resident_id}",
    summary="A resident's points account (the resident, operator)",
    responses=problem_responses(401, 404, 422),
)
def account(request: Request, resident_id: RecordId, caller: Caller) -> Account:
    """Balance, this year's rebate, choices, and the latest 100 entries, events and redemptions."""
    if not caller.may_read(resident_id):
        raise NotFound(f"resident {resident_id} does not exist")
    with reading(engine_of(request)) as conn:
        ledger.resident(conn, resident_id)
        year = utcnow().astimezone(scheme().timezone).year
        return Account(
            resident_id=resident_id,
            balance_g=ledger.balance(conn, resident_id),
            rebate_fen_this_year=redemption.rebated_fen(conn, resident_id, year),
            choices=Choices.model_validate(residents.settings_of(conn, resident_id)),
            entries=[_entry(r) for r in ledger.entries(conn, resident_id)],
            events=[_event(r) for r in events.events_of(conn, resident_id)],
            redemptions=[_redemption(r) for r in redemption.redemptions_of(conn, resident_id)],
        )


@router.get("/public/points/scheme", summary="The points rules: factors, caps, speeds, expiry, rebate")
def rules() -> dict[str, Any]:
    """Every figure with its unit, tag (V verified, T secondary, R placeholder) and source."""
    return scheme().describe()


@router.get("/public/points/catalogue", summary="The rewards catalogue")
def catalogue(request: Request) -> list[Item]:
    with reading(engine_of(request)) as conn:
        return [Item.model_validate(row) for row in redemption.items(conn)]


@router.get(
    "/public/points/leaderboard",
    summary="Opted-in residents of a region ranked for a period",
    responses=problem_responses(422),
)
def leaderboard(
    request: Request,
    region: Annotated[str, Query(max_length=12)],
    start: date,
    end: date,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> list[Place]:
    """Nicknames and points only; residents who did not opt in never appear."""
    with reading(engine_of(request)) as conn:
        board = residents.leaderboard(conn, region=region, start=start, end=end, limit=limit)
    return [Place.model_validate(place) for place in board]
