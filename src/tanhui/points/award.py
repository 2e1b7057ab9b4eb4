"""How one behaviour event is judged: input checked, fraud rules applied, points computed (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from tanhui.errors import BadInput
from tanhui.points.scheme import PER_KWH, PER_TRIP, Behaviour, Scheme

ACCEPTED, CAPPED, REFUSED = "accepted", "capped", "refused"
STATUSES = (ACCEPTED, CAPPED, REFUSED)
DUPLICATE, IMPOSSIBLE_SPEED, DAILY_CAP = "duplicate", "impossible_speed", "daily_cap"
REASONS = (DUPLICATE, IMPOSSIBLE_SPEED, DAILY_CAP)
# Quantities are kept in thousandths of their unit (metres, watt-hours, 1/1000 trip): exact integers.
MILLI = 1000
# Beyond these an input is a unit or typing mistake: a day's travel, a year of a household's electricity.
_LONGEST_KM = Decimal(2000)
_LARGEST_KWH = Decimal(100_000)
_LONGEST_EVENT = timedelta(days=31)
_SOURCE_LENGTH, _EVENT_ID_LENGTH = 40, 100


@dataclass(frozen=True, slots=True)
class Event:
    """A behaviour event as a source reports it, checked: times in UTC, quantities in thousandths."""

    resident_id: int
    source: str
    event_id: str
    behaviour: Behaviour
    started_at: datetime
    ended_at: datetime
    distance_m: int | None
    saved_wh: int | None

    @property
    def quantity_milli(self) -> int:
        """What the event counts, in thousandths of its behaviour's unit (one bus trip is 1000)."""
        if self.behaviour.unit == PER_TRIP:
            return MILLI
        value = self.saved_wh if self.behaviour.unit == PER_KWH else self.distance_m
        assert value is not None
        return value

    def day(self, scheme: Scheme) -> date:
        """The resident's local day the event belongs to (when it started), the day its cap counts in."""
        return self.started_at.astimezone(scheme.timezone).date()

    def overlaps(self, started_at: datetime, ended_at: datetime) -> bool:
        """Half-open intervals: a ride ending at 10:30 and one starting at 10:30 do not overlap."""
        return self.started_at < ended_at and started_at < self.ended_at


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules made of an event: its status, the quantity counted, the points earned and why."""

    status: str
    counted_milli: int
    points_g: int
    reason: str | None
    detail: str | None


def _thousandths(raw: Any, what: str, unit: str, largest: Decimal) -> int:
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise BadInput(f"{what} {raw!r} is not a number of {unit}") from None
    if not number.is_finite() or number <= 0 or number > largest:
        raise BadInput(f"{what} must be above 0 and at most {largest} {unit}, not {raw}")
    thousandths = number * MILLI
    if thousandths != thousandths.to_integral_value():
        raise BadInput(
            f"{what} {raw} has more than three decimals; the points ledger keeps thousandths of a {unit}"
        )
    return int(thousandths)


def _time(raw: Any, what: str) -> datetime:
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise BadInput(f"{what} {raw!r} is not a time like 2024-05-01T08:30:00+08:00") from None
    if not isinstance(raw, datetime):
        raise BadInput(f"{what} must be a time, not {raw!r}")
    if raw.tzinfo is None or raw.utcoffset() is None:
        raise BadInput(f"{what} {raw.isoformat()} has no UTC offset; write it like 2024-05-01T08:30:00+08:00")
    return raw.astimezone(UTC)


def check_event(scheme: Scheme, raw: Mapping[str, Any], *, now: datetime) -> Event:
    """An event's fields checked; `BadInput` names the first wrong one (the rules never see a bad event)."""
    source = str(raw.get("source") or "").strip()
    event_id = str(raw.get("event_id") or "").strip()
    if not source or len(source) > _SOURCE_LENGTH:
        raise BadInput(f"source is required, at most {_SOURCE_LENGTH} characters")
    if not event_id or len(event_id) > _EVENT_ID_LENGTH:
        raise BadInput(f"event_id is required, at most {_EVENT_ID_LENGTH} characters")
    resident = raw.get("resident_id")
    if isinstance(resident, bool) or not isinstance(resident, int) or resident < 1:
        raise BadInput(f"resident_id must be a positive whole number, not {resident!r}")
    behaviour = scheme.behaviour(str(raw.get("behaviour") or ""))
    started, ended = _time(raw.get("started_at"), "started_at"), _time(raw.get("ended_at"), "ended_at")
    if ended <= started:
        raise BadInput(
            f"the event ends ({ended.isoformat()}) before or when it starts ({started.isoformat()})"
        )
    if ended - started > _LONGEST_EVENT and behaviour.travel:
        raise BadInput(f"a trip lasts at most {_LONGEST_EVENT.days} days")
    if ended > now:
        raise BadInput(f"the event ends in the future ({ended.isoformat()}); record it once it has happened")
    distance = raw.get("distance_km")
    saved = raw.get("saved_kwh")
    if behaviour.travel:
        if distance is None:
            raise BadInput(f"distance_km is required for {behaviour.name}")
        if saved is not None:
            raise BadInput(f"saved_kwh is for electricity saving, not {behaviour.name}")
        return Event(
            resident,
            source,
            event_id,
            behaviour,
            started,
            ended,
            _thousandths(distance, "distance_km", "km", _LONGEST_KM),
            None,
        )
    if saved is None:
        raise BadInput(f"saved_kwh is required for {behaviour.name}")
    if distance is not None:
        raise BadInput(f"distance_km is for travel, not {behaviour.name}")
    return Event(
        resident,
        source,
        event_id,
        behaviour,
        started,
        ended,
        None,
        _thousandths(saved, "saved_kwh", "kWh", _LARGEST_KWH),
    )


def points_of(behaviour: Behaviour, counted_milli: int) -> int:
    """Points for a counted quantity: quantity × factor in exact gCO2e, rounded DOWN to grams, per event.

    Down, because a point must never stand for more reduction than the methodology gives: one Wuhan bus trip
    (212.5 g) earns 212 g; 3.7 metro km (290.08 g) earn 290 g.
    """
    return math.floor(Fraction(counted_milli, MILLI) * behaviour.grams_per_unit)


def too_fast(event: Event) -> str | None:
    """Why the event's average speed is impossible for its mode, or None (exactly the maximum passes)."""
    limit = event.behaviour.max_speed_kmh
    if limit is None or event.distance_m is None:
        return None
    seconds = Fraction((event.ended_at - event.started_at) // timedelta(microseconds=1), 1_000_000)
    speed = Fraction(event.distance_m, MILLI) / (seconds / 3600)
    if speed <= Fraction(limit.value):
        return None
    return (
        f"{Decimal(event.distance_m) / MILLI} km in {seconds} s is {float(speed):.1f} km/h, above the "
        f"{limit.value} km/h a {event.behaviour.name} ride can average"
    )


def decide(event: Event, *, used_milli: int, duplicate_of: int | None) -> Decision:
    """Apply the rules in order: duplicate, impossible speed, daily cap (``used_milli``: counted today)."""
    behaviour = event.behaviour
    if duplicate_of is not None:
        return Decision(
            REFUSED, 0, 0, DUPLICATE, f"overlaps event {duplicate_of} of the same resident and behaviour"
        )
    fast = too_fast(event)
    if fast is not None:
        return Decision(REFUSED, 0, 0, IMPOSSIBLE_SPEED, fast)
    cap = int(behaviour.daily_cap.value * MILLI)
    room = cap - used_milli
    if room <= 0:
        return Decision(
            REFUSED,
            0,
            0,
            DAILY_CAP,
            f"the daily cap of {behaviour.daily_cap.value} {behaviour.daily_cap.unit} is already reached",
        )
    if event.quantity_milli <= room:
        return Decision(
            ACCEPTED, event.quantity_milli, points_of(behaviour, event.quantity_milli), None, None
        )
    return Decision(
        CAPPED,
        room,
        points_of(behaviour, room),
        DAILY_CAP,
        f"counted {Decimal(room) / MILLI} of {Decimal(event.quantity_milli) / MILLI} "
        f"{behaviour.daily_cap.unit}: the daily cap is {behaviour.daily_cap.value}",
    )
