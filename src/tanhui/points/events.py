"""Behaviour-event use cases: record a source's event (idempotent, judged by the rules), reverse it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import Conflict, NotFound
from tanhui.fields import text
from tanhui.identity.principal import Principal
from tanhui.points import ledger
from tanhui.points.award import REFUSED, Event, check_event, decide
from tanhui.points.scheme import scheme
from tanhui.points.tables import behaviour_events, packaged_events, points_lots
from tanhui.registry.queries import utc
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

_COUNTED = behaviour_events.c.status != REFUSED


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event as recorded, and whether this call was a replay of one recorded before."""

    row: RowMapping
    replayed: bool


def _same(row: RowMapping, event: Event) -> bool:
    return (
        row["resident_id"],
        row["behaviour"],
        utc(row["started_at"]),
        utc(row["ended_at"]),
        row["distance_m"],
        row["saved_wh"],
    ) == (
        event.resident_id,
        event.behaviour.name,
        event.started_at,
        event.ended_at,
        event.distance_m,
        event.saved_wh,
    )


def record(
    tx: UnitOfWork, principal: Principal, raw: Mapping[str, Any], *, now: datetime | None = None
) -> Recorded:
    """Record a source's behaviour event and the points the rules give it (the operator, for the sources).

    A replay of (source, event_id) with the same data returns the first record and changes nothing; with
    different data it is refused.  An event the rules refuse or cap is recorded with its reason.
    """
    principal.require_operator("record residents' behaviour events")
    now = now or utcnow()
    rules = scheme()
    event = check_event(rules, raw, now=now)
    ledger.resident(tx.conn, event.resident_id)
    first = read_one(
        tx.conn,
        behaviour_events,
        (behaviour_events.c.source == event.source) & (behaviour_events.c.event_id == event.event_id),
    )
    if first is not None:
        if not _same(first, event):
            raise Conflict(
                f"event {event.event_id!r} of source {event.source!r} was recorded (as {first['id']}) "
                "with other data; an event id names one event"
            )
        return Recorded(first, True)
    tx.entry("points.event", source=event.source, event_id=event.event_id, resident_id=event.resident_id)
    # The balance row lock serialises one resident's events, so caps and duplicates see each other.
    ledger.lock_balance(tx, event.resident_id, now)
    day = event.day(rules)
    mine = (
        (behaviour_events.c.resident_id == event.resident_id)
        & (behaviour_events.c.behaviour == event.behaviour.name)
        & _COUNTED
    )
    used = tx.conn.execute(
        select(func.coalesce(func.sum(behaviour_events.c.counted_milli), 0)).where(
            mine, behaviour_events.c.day == day
        )
    ).scalar()
    duplicate = tx.conn.execute(
        select(func.min(behaviour_events.c.id)).where(
            mine,
            behaviour_events.c.started_at < event.ended_at,
            behaviour_events.c.ended_at > event.started_at,
        )
    ).scalar()
    decision = decide(event, used_milli=int(used or 0), duplicate_of=duplicate)
    tx.note(status=decision.status, reason=decision.reason, points_g=decision.points_g)
    row = tx.insert(
        behaviour_events,
        {
            "resident_id": event.resident_id,
            "source": event.source,
            "event_id": event.event_id,
            "behaviour": event.behaviour.name,
            "scheme": rules.version,
            "started_at": event.started_at,
            "ended_at": event.ended_at,
            "day": day,
            "distance_m": event.distance_m,
            "saved_wh": event.saved_wh,
            "quantity_milli": event.quantity_milli,
            "counted_milli": decision.counted_milli,
            "points_g": decision.points_g,
            "status": decision.status,
            "reason": decision.reason,
            "detail": decision.detail,
            "recorded_at": now,
        },
    )
    if decision.points_g:
        ledger.earn(
            tx,
            event.resident_id,
            row["id"],
            decision.points_g,
            now,
            timedelta(days=int(rules.expiry_days.value)),
        )
    return Recorded(row, False)


def get_event(conn: Connection, event_row_id: int) -> RowMapping:
    row = read_one(conn, behaviour_events, behaviour_events.c.id == event_row_id)
    if row is None:
        raise NotFound(f"behaviour event {event_row_id} does not exist")
    return row


def reverse(
    tx: UnitOfWork, principal: Principal, event_row_id: int, *, reason: str, now: datetime | None = None
) -> RowMapping:
    """The operator takes back an event's remaining points (fraud found later); the reverse entry."""
    principal.require_operator("reverse residents' points")
    noted = text(reason, "reason", limit=2000)
    assert noted is not None
    row = get_event(tx.conn, event_row_id)
    lot = read_one(tx.conn, points_lots, points_lots.c.event_id == event_row_id)
    if lot is None:
        raise Conflict(
            f"behaviour event {event_row_id} earned no points ({row['status']}); nothing to reverse"
        )
    packaged = read_one(tx.conn, packaged_events, packaged_events.c.event_id == event_row_id)
    if packaged is not None:
        raise Conflict(
            f"behaviour event {event_row_id} is packaged in travel package {packaged['package_id']}, "
            "whose report claims its reduction; correct the report, not the points"
        )
    tx.entry("points.reversed", event=event_row_id, reason=noted)
    return ledger.reverse_lot(tx, lot, now or utcnow(), noted)


def events_of(conn: Connection, resident_id: int, *, limit: int = 100) -> Sequence[RowMapping]:
    """The resident's latest events, newest first, refused and capped ones with their reasons, and the travel
    package (if any) whose report claims each one's reduction."""
    return (
        conn.execute(
            select(behaviour_events, packaged_events.c.package_id)
            .outerjoin(packaged_events, packaged_events.c.event_id == behaviour_events.c.id)
            .where(behaviour_events.c.resident_id == resident_id)
            .order_by(behaviour_events.c.id.desc())
            .limit(limit)
        )
        .mappings()
        .all()
    )
