"""Loan-product use cases: a bank defines versions of its products; holders and consented banks get quotes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine, RowMapping

from tanhui.accounts.credit_report import holder_reports, stored_profile
from tanhui.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tanhui.finance import consent
from tanhui.finance.loans import LoanProduct, Quote, Standing, product_from_json, product_json, quote
from tanhui.finance.tables import loan_products
from tanhui.identity.principal import Principal
from tanhui.journal.chain import canonical_json
from tanhui.reference import TAGS, read_text
from tanhui.registry import ledger
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork

EXAMPLES_FILE = "green_loans.toml"


@dataclass(frozen=True)
class Figure:
    """One figure of an example product, with its tag and source."""

    figure: str
    value: str
    tag: str
    source: str


@cache
def example_products() -> dict[str, tuple[LoanProduct, tuple[Figure, ...]]]:
    """The example products of green_loans.toml by code, each with its figures' tags and sources."""
    found = {}
    for entry in tomllib.loads(read_text(EXAMPLES_FILE))["product"]:
        figures = tuple(Figure(**f) for f in entry.pop("figures"))
        assert all(f.tag in TAGS for f in figures), figures
        notes = [*entry.pop("notes", []), *(f"{f.figure} = {f.value} [{f.tag}] {f.source}" for f in figures)]
        product = product_from_json({**entry, "notes": notes})
        found[product.code] = (product, figures)
    return found


def example(code: str) -> LoanProduct:
    try:
        return example_products()[code][0]
    except KeyError:
        raise NotFound(f"no example product {code!r} in {EXAMPLES_FILE}; known: "
                       f"{', '.join(example_products())}") from None


def _bank_of(conn: Connection, principal: Principal, bank_organization_id: int) -> int:
    """The bank whose products the principal defines: their own, or (operator) the one named."""
    bank = ledger.get_organization(conn, bank_organization_id)
    if bank["kind"] != "bank":
        raise InvalidRequest(f"organisation {bank_organization_id} is a {bank['kind']}, not a bank")
    if principal.is_operator:
        principal.require_write()
    else:
        principal.require_acts_for(bank_organization_id, f"bank {bank_organization_id}'s loan products")
    return bank_organization_id


def define(tx: UnitOfWork, principal: Principal, *, bank_organization_id: int, definition: Any) -> RowMapping:
    """A new version of a bank's product (version 1 for a new code); the same terms twice is a conflict."""
    _bank_of(tx.conn, principal, bank_organization_id)
    product = product_from_json(definition)
    text = canonical_json(product_json(product))
    latest = _latest(tx.conn, bank_organization_id, product.code)
    if latest is not None and latest["definition"] == text:
        raise Conflict(f"{product.code} version {latest['version']} already has these terms")
    version = 1 if latest is None else latest["version"] + 1
    tx.entry("loan_product.defined", bank_organization_id=bank_organization_id, code=product.code, version=version)
    row = tx.insert(loan_products, {"bank_organization_id": bank_organization_id, "code": product.code,
                                    "version": version, "definition": text, "created_at": utcnow(),
                                    "created_by": principal.actor})
    tx.note(loan_product_id=row["id"])
    return row


def _latest(conn: Connection, bank_organization_id: int, code: str) -> RowMapping | None:
    return conn.execute(select(loan_products).where(loan_products.c.bank_organization_id == bank_organization_id,
                                                    loan_products.c.code == code)
                        .order_by(loan_products.c.version.desc()).limit(1)).mappings().first()


def latest(conn: Connection, bank_organization_id: int, code: str) -> RowMapping:
    row = _latest(conn, bank_organization_id, code)
    if row is None:
        raise NotFound(f"bank {bank_organization_id} has no loan product {code!r}")
    return row


def versions(conn: Connection, bank_organization_id: int, code: str) -> list[RowMapping]:
    rows = list(conn.execute(select(loan_products).where(loan_products.c.bank_organization_id == bank_organization_id,
                                                         loan_products.c.code == code)
                             .order_by(loan_products.c.version)).mappings())
    if not rows:
        raise NotFound(f"bank {bank_organization_id} has no loan product {code!r}")
    return rows


def current_products(conn: Connection, bank_organization_id: int | None = None) -> list[RowMapping]:
    """The newest version of every product (of one bank, or of all), by bank and code."""
    newest = (select(loan_products.c.bank_organization_id, loan_products.c.code,
                     func.max(loan_products.c.version).label("version"))
              .group_by(loan_products.c.bank_organization_id, loan_products.c.code).subquery())
    query = select(loan_products).join(newest, (newest.c.bank_organization_id == loan_products.c.bank_organization_id)
                                       & (newest.c.code == loan_products.c.code)
                                       & (newest.c.version == loan_products.c.version))
    if bank_organization_id is not None:
        query = query.where(loan_products.c.bank_organization_id == bank_organization_id)
    return list(conn.execute(query.order_by(loan_products.c.bank_organization_id, loan_products.c.code)).mappings())


def product_of(row: RowMapping) -> LoanProduct:
    return product_from_json(orjson.loads(row["definition"]))


@dataclass(frozen=True)
class HolderQuote:
    """A quote with the product version and the report it was priced on."""

    quote: Quote
    product: RowMapping
    report: RowMapping


def quote_for(engine: Engine, principal: Principal, *, bank_organization_id: int, code: str, holder_id: int,
              normal_limit_fen: int, base_rate_bp: int) -> HolderQuote:
    """Price a bank's product on the holder's newest report.

    The holder's own members (and the operator) may ask; the bank may ask only under the holder's consent,
    and its asking is logged like any read of the holder's reports.
    """
    with engine.connect() as conn:
        product_row = latest(conn, bank_organization_id, code)
        holder_org = consent.holder_organization(conn, holder_id)
    if principal.organization_id == bank_organization_id and not principal.may_read(holder_org):
        reports = consent.bank_access(engine, principal, kind="quote", holder_id=holder_id).reports
    elif principal.may_read(holder_org):
        with engine.connect() as conn:
            reports = holder_reports(conn, holder_id)
    else:
        raise PermissionDenied(f"a quote for holder {holder_id} is for the holder and, with consent, the bank")
    profile, _ = stored_profile(reports[0])
    priced = quote(product_of(product_row), Standing.of(profile), normal_limit_fen=normal_limit_fen,
                   base_rate_bp=base_rate_bp)
    return HolderQuote(priced, product_row, reports[0])
