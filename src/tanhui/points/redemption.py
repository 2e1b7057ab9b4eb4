"""Redeeming points: catalogue items (points price, stock) and the Wuhan loan-interest rebate (capped yearly).

Lock order: the resident's balance row, then the catalogue item, then the journal head.  Every redemption of
a resident holds its balance row, so two rebates of one year cannot both fit under the cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import Conflict, InvalidRequest, NotFound
from tanhui.fields import text
from tanhui.identity.principal import Principal
from tanhui.points import ledger
from tanhui.points.scheme import scheme
from tanhui.points.tables import points_catalogue, points_redemptions
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

_LARGEST_PRICE = 10**9  # 1 t of CO2e in points: far above any reward
_LARGEST_STOCK = 10**6


class RebateCapReached(Conflict):
    code, title = "rebate-cap-reached", "The yearly loan-interest rebate cap would be exceeded"


class OutOfStock(Conflict):
    code, title = "out-of-stock", "The catalogue item is out of stock"


def _whole(value: Any, what: str, largest: int, *, smallest: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not smallest <= value <= largest:
        raise InvalidRequest(f"{what} must be a whole number from {smallest} to {largest:,}, not {value!r}")
    return value


def item(conn: Connection, code: str, *, lock: bool = False) -> RowMapping:
    query = select(points_catalogue).where(points_catalogue.c.code == code)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(f"catalogue item {code!r} does not exist")
    return row


def items(conn: Connection) -> Sequence[RowMapping]:
    return conn.execute(select(points_catalogue).order_by(points_catalogue.c.code)).mappings().all()


def add_item(
    tx: UnitOfWork, principal: Principal, *, code: str, name_zh: str, name_en: str, price_g: int, stock: int
) -> RowMapping:
    """The operator adds a reward to the catalogue at a points price with its stock."""
    principal.require_operator("manage the points catalogue")
    checked = text(code, "code", limit=40)
    assert checked is not None
    if read_one(tx.conn, points_catalogue, points_catalogue.c.code == checked) is not None:
        raise Conflict(f"catalogue item {checked!r} exists already")
    now = utcnow()
    tx.entry("points.item_added", code=checked)
    return tx.insert(
        points_catalogue,
        {
            "code": checked,
            "name_zh": text(name_zh, "name_zh"),
            "name_en": text(name_en, "name_en"),
            "price_g": _whole(price_g, "price_g", _LARGEST_PRICE),
            "stock": _whole(stock, "stock", _LARGEST_STOCK, smallest=0),
            "created_at": now,
            "updated_at": now,
        },
    )


def restock(tx: UnitOfWork, principal: Principal, code: str, *, added: int) -> RowMapping:
    principal.require_operator("manage the points catalogue")
    row = item(tx.conn, code, lock=True)
    count = _whole(added, "added", _LARGEST_STOCK)
    tx.entry("points.item_restocked", code=code, added=count)
    return tx.update(
        points_catalogue,
        points_catalogue.c.id == row["id"],
        {"stock": points_catalogue.c.stock + count, "updated_at": utcnow()},
    )[0]


def redeem_item(
    tx: UnitOfWork,
    principal: Principal,
    *,
    resident_id: int,
    code: str,
    quantity: int,
    now: datetime | None = None,
) -> RowMapping:
    """The resident exchanges points for ``quantity`` of an item; refused, changing nothing, beyond stock or
    balance."""
    principal.require_acts_for(resident_id, f"the points of resident {resident_id}")
    ledger.resident(tx.conn, resident_id)
    count = _whole(quantity, "quantity", 100)
    now = now or utcnow()
    tx.entry("points.redeemed", resident_id=resident_id, item=code, quantity=count)
    ledger.lock_balance(tx, resident_id, now)
    reward = item(tx.conn, code, lock=True)
    if reward["stock"] < count:
        raise OutOfStock(f"catalogue item {code!r} has {reward['stock']} left; {count} asked")
    redemption = tx.insert(
        points_redemptions,
        {
            "resident_id": resident_id,
            "kind": "catalogue",
            "item_id": reward["id"],
            "quantity": count,
            "rebate_fen": None,
            "rebate_year": None,
            "loan_reference": None,
            "points_g": reward["price_g"] * count,
            "created_at": now,
        },
    )
    tx.update(
        points_catalogue,
        points_catalogue.c.id == reward["id"],
        {"stock": points_catalogue.c.stock - count, "updated_at": now},
    )
    ledger.spend(tx, resident_id, redemption["points_g"], now, redemption_id=redemption["id"])
    return redemption


def rebated_fen(conn: Connection, resident_id: int, year: int) -> int:
    """Loan-interest rebate the resident has had in a calendar year, in fen."""
    value = conn.execute(
        select(func.coalesce(func.sum(points_redemptions.c.rebate_fen), 0)).where(
            points_redemptions.c.resident_id == resident_id, points_redemptions.c.rebate_year == year
        )
    ).scalar()
    return int(value or 0)


def rebate(
    tx: UnitOfWork,
    principal: Principal,
    *,
    resident_id: int,
    rebate_fen: int,
    loan_reference: str,
    now: datetime | None = None,
) -> RowMapping:
    """The resident turns points into interest rebate on a green loan: 1,000 g = 2 yuan, ≤ 2,000 yuan a
    calendar year (the resident's local year), refused whole when it would cross the cap."""
    principal.require_acts_for(resident_id, f"the points of resident {resident_id}")
    ledger.resident(tx.conn, resident_id)
    rules = scheme().rebate
    fen = _whole(rebate_fen, "rebate_fen", rules.annual_cap_fen * 10)
    reference = text(loan_reference, "loan_reference", limit=100)
    grams = fen * rules.grams_per_fen
    if grams.denominator != 1:
        raise InvalidRequest(
            f"{fen} fen would cost {float(grams)} g of points, not whole grams; ask for a multiple of "
            f"{grams.denominator} fen"
        )
    now = now or utcnow()
    year = now.astimezone(scheme().timezone).year
    tx.entry("points.rebated", resident_id=resident_id, rebate_fen=fen, year=year)
    ledger.lock_balance(tx, resident_id, now)
    done = rebated_fen(tx.conn, resident_id, year)
    left = rules.annual_cap_fen - done
    if fen > left:
        raise RebateCapReached(
            f"resident {resident_id} has had {done / 100:.2f} yuan of rebate in {year}; {fen / 100:.2f} more "
            f"would pass the cap of {rules.annual_cap_yuan.value} yuan a year (at most {left / 100:.2f} yuan "
            "remain)",
            remaining_fen=left,
        )
    redemption = tx.insert(
        points_redemptions,
        {
            "resident_id": resident_id,
            "kind": "loan_rebate",
            "item_id": None,
            "quantity": None,
            "rebate_fen": fen,
            "rebate_year": year,
            "loan_reference": reference,
            "points_g": int(grams),
            "created_at": now,
        },
    )
    ledger.spend(tx, resident_id, int(grams), now, redemption_id=redemption["id"])
    return redemption


def redemptions_of(conn: Connection, resident_id: int, *, limit: int = 100) -> Sequence[RowMapping]:
    return (
        conn.execute(
            select(points_redemptions)
            .where(points_redemptions.c.resident_id == resident_id)
            .order_by(points_redemptions.c.id.desc())
            .limit(limit)
        )
        .mappings()
        .all()
    )
