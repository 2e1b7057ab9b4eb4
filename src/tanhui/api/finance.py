"""Routes for green finance: holders' consent to banks, the access log, banks' loan products and quotes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlalchemy.engine import RowMapping

from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.finance import consent, products
from tanhui.finance.consent import MAX_GRANT_DAYS
from tanhui.finance.loans import CODE_LENGTH, MAX_FEN
from tanhui.registry.queries import utc
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["green finance"])
RecordId = Annotated[int, Path(ge=1, le=models.MAX_ID)]
ProductCode = Annotated[str, Path(min_length=1, max_length=CODE_LENGTH)]


class ConsentIn(models.RequestBody):
    holder_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    bank_organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    scope: Annotated[StrictStr, Field(description="`summary` (evaluations and totals, quotes) or `full` (also "
                                                  "the content and the PDF)")]
    days: Annotated[StrictInt, Field(ge=1, le=MAX_GRANT_DAYS, description="how long the consent lasts")]
    purpose: models.LongText | None = None


class Consent(BaseModel):
    id: int
    holder_id: int
    holder_organization_id: int
    bank_organization_id: int
    scope: str
    purpose: str | None
    granted_at: datetime
    expires_at: datetime
    granted_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool


class Access(BaseModel):
    id: int
    at: datetime
    holder_id: int
    organization_id: int
    actor: str
    kind: str
    report_id: int | None
    grant_id: int | None
    allowed: bool
    reason: str


class ProductIn(models.RequestBody):
    bank_organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    definition: dict[str, Any] = Field(description="code, name_zh, name_en, eligibility, rules, min_rate_bp, "
                                                   "max_limit_fen, notes; see docs/green-loans.md")


class Product(BaseModel):
    id: int
    bank_organization_id: int
    code: str
    version: int
    definition: dict[str, Any]
    created_at: datetime
    created_by: str


class QuoteOut(BaseModel):
    bank_organization_id: int
    product_code: str
    product_version: int
    holder_id: int
    report_id: int
    eligible: bool
    rule: str | None
    limit_fen: int | None
    rate_bp: int | None
    reasons: list[str]


def _times(row: Any, *names: str) -> dict[str, Any]:
    return {**row, **{name: row[name] and utc(row[name]) for name in names}}


def _consent(row: Any, active: bool | None = None) -> Consent:
    shown = _times(row, "granted_at", "expires_at", "revoked_at")
    if active is not None:
        shown["active"] = active
    return Consent.model_validate(shown)


def _product(row: RowMapping) -> Product:
    return Product.model_validate({**_times(row, "created_at"), "definition": orjson.loads(row["definition"])})


@router.post("/consents", status_code=201, response_model=Consent,
             summary="Let a bank read a holder's credit reports (the holder)",
             responses=problem_responses(401, 403, 404, 409, 422))
def grant(body: ConsentIn, write: Writer) -> Response:
    """Until it expires or is revoked; one active consent per holder and bank."""

    def service(tx: UnitOfWork) -> Consent:
        return _consent(consent.grant(tx, write.principal, **body.model_dump()), active=True)

    return write.run(body, service)


@router.post("/consents/{consent_id}/revoke", status_code=200, response_model=Consent,
             summary="End a consent at once (the holder)", responses=problem_responses(401, 403, 404, 409))
def revoke(consent_id: RecordId, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Consent:
        return _consent(consent.revoke(tx, write.principal, consent_id), active=False)

    return write.run(None, service, status_code=200)


@router.get("/consents", summary="The consents given to the caller's bank")
def bank_consents(request: Request, caller: Caller) -> list[Consent]:
    with reading(engine_of(request)) as conn:
        return [_consent(row) for row in consent.bank_grants(conn, caller)]


@router.get("/holders/{holder_id}/consents", summary="Every consent a holder gave",
            responses=problem_responses(401, 403, 404))
def holder_consents(request: Request, holder_id: RecordId, caller: Caller) -> list[Consent]:
    with reading(engine_of(request)) as conn:
        return [_consent(row) for row in consent.holder_grants(conn, caller, holder_id)]


@router.get("/holders/{holder_id}/access-log", summary="Who read or tried to read a holder's reports, and when",
            responses=problem_responses(401, 403, 404))
def access_log(request: Request, holder_id: RecordId, caller: Caller) -> list[Access]:
    with reading(engine_of(request)) as conn:
        return [Access.model_validate(_times(row, "at")) for row in consent.access_log(conn, caller, holder_id)]


@router.post("/finance/loan-products", status_code=201, response_model=Product,
             summary="Define a loan product, or its next version (the bank)",
             responses=problem_responses(401, 403, 404, 409, 422))
def define_product(body: ProductIn, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> Product:
        return _product(products.define(tx, write.principal, bank_organization_id=body.bank_organization_id,
                                        definition=body.definition))

    return write.run(body, service)


@router.get("/finance/loan-products", summary="Every bank's current loan products")
def list_products(request: Request, caller: Caller,
                  bank_organization_id: Annotated[int | None, Query(ge=1, le=models.MAX_ID)] = None) -> list[Product]:
    with reading(engine_of(request)) as conn:
        return [_product(row) for row in products.current_products(conn, bank_organization_id)]


@router.get("/finance/loan-products/{bank_organization_id}/{code}/versions", summary="A product's versions",
            responses=problem_responses(401, 404))
def product_versions(request: Request, bank_organization_id: RecordId, code: ProductCode,
                     caller: Caller) -> list[Product]:
    with reading(engine_of(request)) as conn:
        return [_product(row) for row in products.versions(conn, bank_organization_id, code)]


@router.get("/finance/loan-products/{bank_organization_id}/{code}/quote",
            summary="A holder's terms under a product, with the reasons",
            responses=problem_responses(401, 403, 404, 422))
def quote(request: Request, bank_organization_id: RecordId, code: ProductCode, caller: Caller,
          holder_id: Annotated[int, Query(ge=1, le=models.MAX_ID)],
          normal_limit_fen: Annotated[int, Query(ge=0, le=MAX_FEN, description="the bank's normal limit, fen")],
          base_rate_bp: Annotated[int, Query(ge=0, le=100_000, description="the rate without the product, bp")],
          ) -> QuoteOut:
    """Priced on the holder's newest report; asked by the holder, or by the bank under consent (logged)."""
    priced = products.quote_for(engine_of(request), caller, bank_organization_id=bank_organization_id, code=code,
                                holder_id=holder_id, normal_limit_fen=normal_limit_fen, base_rate_bp=base_rate_bp)
    terms = priced.quote
    return QuoteOut(bank_organization_id=bank_organization_id, product_code=terms.product_code,
                    product_version=priced.product["version"], holder_id=holder_id, report_id=priced.report["id"],
                    eligible=terms.eligible, rule=terms.rule, limit_fen=terms.limit_fen, rate_bp=terms.rate_bp,
                    reasons=list(terms.reasons))
