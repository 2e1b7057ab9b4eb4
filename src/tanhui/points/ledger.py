"""The points ledger: earn a lot, spend first-to-expire first, expire due lots, reverse one; balances locked.

Every change locks the resident's balance row first (SELECT … FOR UPDATE on PostgreSQL; SQLite has one
writer), then the journal head last, as every other writer does.  The balance CHECK (never below zero) and the
unique (kind, lot) of entries are the guarantees; the reads before them only make the refusals readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from tanhui.errors import Conflict, InvalidRequest
from tanhui.identity.principal import Principal
from tanhui.points.tables import points_balances, points_entries, points_lots
from tanhui.registry import ledger
from tanhui.registry.queries import utc
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork


class InsufficientPoints(Conflict):
    code, title = "insufficient-points", "The resident does not hold enough points"


def resident(conn: Connection, resident_id: int) -> RowMapping:
    """The organisation of kind individual; `InvalidRequest` for any other kind, `NotFound` if none."""
    found = ledger.get_organization(conn, resident_id)
    if found["kind"] != "individual":
        raise InvalidRequest(f"organisation {resident_id} is a {found['kind']}, not a resident (individual)")
    return found


def balance(conn: Connection, resident_id: int) -> int:
    value = conn.execute(
        select(points_balances.c.balance_g).where(points_balances.c.resident_id == resident_id)
    ).scalar()
    return int(value or 0)


def lock_balance(tx: UnitOfWork, resident_id: int, now: datetime) -> int:
    """Lock the resident's balance row (creating it at 0) and return the balance."""
    query = select(points_balances.c.balance_g).where(points_balances.c.resident_id == resident_id)
    held = tx.conn.execute(query.with_for_update()).scalar()
    if held is not None:
        return int(held)
    try:
        # A resident's first event: another writer may create the row at the same moment (PostgreSQL).
        with tx.conn.begin_nested():
            tx.insert(points_balances, {"resident_id": resident_id, "balance_g": 0, "updated_at": now})
        return 0
    except IntegrityError:
        return int(tx.conn.execute(query.with_for_update()).scalar_one())


def _move(
    tx: UnitOfWork,
    resident_id: int,
    amount: int,
    now: datetime,
    *,
    kind: str,
    lot_id: int | None = None,
    redemption_id: int | None = None,
    reason: str | None = None,
) -> RowMapping:
    updated = tx.update(
        points_balances,
        points_balances.c.resident_id == resident_id,
        {"balance_g": points_balances.c.balance_g + amount, "updated_at": now},
    )
    return tx.insert(
        points_entries,
        {
            "resident_id": resident_id,
            "kind": kind,
            "amount_g": amount,
            "balance_after_g": updated[0]["balance_g"],
            "lot_id": lot_id,
            "redemption_id": redemption_id,
            "reason": reason,
            "created_at": now,
        },
    )


def earn(
    tx: UnitOfWork, resident_id: int, event_id: int, points_g: int, now: datetime, expiry: timedelta
) -> RowMapping:
    """A lot of ``points_g`` earned by an event, expiring ``expiry`` after ``now``; the earn entry."""
    lock_balance(tx, resident_id, now)
    lot = tx.insert(
        points_lots,
        {
            "resident_id": resident_id,
            "event_id": event_id,
            "earned_g": points_g,
            "remaining_g": points_g,
            "earned_at": now,
            "expires_at": now + expiry,
        },
    )
    return _move(tx, resident_id, points_g, now, kind="earn", lot_id=lot["id"])


def _take_from_lot(tx: UnitOfWork, lot: RowMapping, amount: int) -> None:
    # Guarded by the remainder read: a concurrent change to the lot makes this fail, never overdraw.
    changed = tx.update(
        points_lots,
        (points_lots.c.id == lot["id"]) & (points_lots.c.remaining_g == lot["remaining_g"]),
        {"remaining_g": lot["remaining_g"] - amount},
    )
    if not changed:
        raise Conflict(f"points lot {lot['id']} changed meanwhile; try again")


def spend(tx: UnitOfWork, resident_id: int, amount: int, now: datetime, *, redemption_id: int) -> RowMapping:
    """Take ``amount`` from the resident's unexpired lots, first to expire first; the redeem entry."""
    held = lock_balance(tx, resident_id, now)
    if amount > held:
        raise InsufficientPoints(
            f"resident {resident_id} holds {held:,} g of points; {amount:,} g are needed",
            balance_g=held,
            needed_g=amount,
        )
    lots = (
        tx.conn.execute(
            select(points_lots)
            .where(points_lots.c.resident_id == resident_id, points_lots.c.remaining_g > 0)
            .order_by(points_lots.c.expires_at, points_lots.c.id)
        )
        .mappings()
        .all()
    )
    left = amount
    for lot in lots:
        if left == 0:
            break
        taken = min(left, lot["remaining_g"])
        _take_from_lot(tx, lot, taken)
        left -= taken
    # Balance = Σ remaining of lots, so with the balance locked the lots always cover it.
    assert left == 0, (resident_id, amount, left)
    return _move(tx, resident_id, -amount, now, kind="redeem", redemption_id=redemption_id)


def reverse_lot(tx: UnitOfWork, lot: RowMapping, now: datetime, reason: str) -> RowMapping:
    """Take back what remains of a lot (points already redeemed or expired stay so); the reverse entry."""
    lock_balance(tx, lot["resident_id"], now)
    current = tx.conn.execute(select(points_lots).where(points_lots.c.id == lot["id"])).mappings().one()
    if current["remaining_g"] == 0:
        raise Conflict(
            f"points lot {lot['id']} has nothing left to reverse: its {lot['earned_g']:,} g were "
            "redeemed or expired"
        )
    _take_from_lot(tx, current, current["remaining_g"])
    return _move(
        tx, lot["resident_id"], -current["remaining_g"], now, kind="reverse", lot_id=lot["id"], reason=reason
    )


@dataclass(frozen=True, slots=True)
class Expiry:
    """What an expiry run did: the lots it expired and the points they held."""

    lots: int
    points_g: int
    residents: int

    def describe(self) -> dict[str, Any]:
        return {"lots": self.lots, "points_g": self.points_g, "residents": self.residents}


def due_lots(conn: Connection, as_of: datetime) -> Sequence[RowMapping]:
    return (
        conn.execute(
            select(points_lots)
            .where(points_lots.c.remaining_g > 0, points_lots.c.expires_at <= as_of)
            .order_by(points_lots.c.resident_id, points_lots.c.expires_at, points_lots.c.id)
        )
        .mappings()
        .all()
    )


def expire(
    tx: UnitOfWork, principal: Principal, as_of: datetime | None = None, *, now: datetime | None = None
) -> Expiry:
    """Expire every lot due by ``as_of`` (default now, never later) that still holds points; running it again
    finds nothing more."""
    principal.require_operator("expire residents' points")
    now = now or utcnow()
    as_of = as_of or now
    if as_of.tzinfo is None:
        raise InvalidRequest(f"as_of {as_of.isoformat()} has no UTC offset")
    if as_of > now:
        raise InvalidRequest(f"points are expired when due: as_of {as_of.isoformat()} is in the future")
    residents = sorted({lot["resident_id"] for lot in due_lots(tx.conn, as_of)})
    locked = set(residents)
    if not residents:
        return Expiry(0, 0, 0)
    tx.entry("points.expired", as_of=as_of, residents=len(residents))
    for resident_id in residents:  # lock order: balances by resident id, then the journal head
        lock_balance(tx, resident_id, now)
    lots = [lot for lot in due_lots(tx.conn, as_of) if lot["resident_id"] in locked]  # as they are, locked
    for lot in lots:
        _take_from_lot(tx, lot, lot["remaining_g"])
        _move(
            tx,
            lot["resident_id"],
            -lot["remaining_g"],
            now,
            kind="expire",
            lot_id=lot["id"],
            reason=f"earned {utc(lot['earned_at']).isoformat()}, due {utc(lot['expires_at']).isoformat()}",
        )
    tx.note(lots=len(lots))
    return Expiry(
        len(lots), sum(lot["remaining_g"] for lot in lots), len({lot["resident_id"] for lot in lots})
    )


def reversed_event(event_id: Any) -> Any:
    """A condition: the event's points were reversed (such events count on no leaderboard, in no package)."""
    return exists().where(
        points_lots.c.event_id == event_id,
        points_entries.c.lot_id == points_lots.c.id,
        points_entries.c.kind == "reverse",
    )


def entries(conn: Connection, resident_id: int, *, limit: int = 100) -> Sequence[RowMapping]:
    """The resident's latest entries, newest first."""
    return (
        conn.execute(
            select(points_entries)
            .where(points_entries.c.resident_id == resident_id)
            .order_by(points_entries.c.id.desc())
            .limit(limit)
        )
        .mappings()
        .all()
    )


def lots_total(conn: Connection, resident_id: int) -> int:
    value = conn.execute(
        select(func.coalesce(func.sum(points_lots.c.remaining_g), 0)).where(
            points_lots.c.resident_id == resident_id
        )
    ).scalar()
    return int(value or 0)
