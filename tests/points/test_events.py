"""Events become points by the methodology's factors; the fraud rules refuse or cap at their boundaries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tanhui.errors import BadInput, Conflict, InvalidRequest, NotFound, UnknownReference
from tanhui.points import events
from tanhui.points import ledger as points
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.points.conftest import Record
from tests.points.world import MORNING, RECORDED, event_rows, make_resident


def _balance(world: World, resident: int) -> int:
    with world.engine.connect() as conn:
        assert points.lots_total(conn, resident) == points.balance(conn, resident)
        return points.balance(conn, resident)


def test_known_answers_rounded_down_per_event(world: World, resident: int, record: Record) -> None:
    # Wuhan factors (TRAVEL-LOW@1-WUHAN): bus 212.5 g/trip, metro 78.4 g/km, shared bike 93.3 g/km;
    # electricity: MEE/NBS 2023 Central China grid 0.5271 kg/kWh = 527.1 g/kWh.
    assert record("bus", 0, 30, distance_km="5").row["points_g"] == 212  # 212.5 → 212
    assert record("metro", 60, 10, distance_km="3.7").row["points_g"] == 290  # 290.08 → 290
    assert record("shared_bike", 120, 15, distance_km="2.5").row["points_g"] == 233  # 233.25 → 233
    month = {"at": RECORDED + timedelta(days=31), "saved_kwh": "12.5"}
    assert record("electricity_saving", 0, 60 * 24 * 30, **month).row["points_g"] == 6588  # 6588.75 → 6588
    assert record("metro", 200, 10, distance_km="0.001").row["points_g"] == 0  # 0.0784 g: accepted, no points
    assert _balance(world, resident) == 212 + 290 + 233 + 6588
    statuses = [(r["behaviour"], r["status"], r["reason"]) for r in event_rows(world.engine)]
    assert statuses == [
        ("bus", "accepted", None),
        ("metro", "accepted", None),
        ("shared_bike", "accepted", None),
        ("electricity_saving", "accepted", None),
        ("metro", "accepted", None),
    ]


def test_impossible_speed_at_the_limit(world: World, resident: int, record: Record) -> None:
    # Shared bikes average at most 30 km/h: 15 km in 30 minutes passes, one metre more does not.
    assert record("shared_bike", 0, 30, distance_km="15").row["status"] == "accepted"
    refused = record("shared_bike", 60, 30, distance_km="15.001").row
    assert (refused["status"], refused["reason"], refused["points_g"]) == ("refused", "impossible_speed", 0)
    assert "30.0 km/h" in refused["detail"] and "above the 30 km/h" in refused["detail"]
    assert record("bus", 120, 5, distance_km="5.001").row["reason"] == "impossible_speed"  # 60 km/h at most
    assert record("bus", 130, 5, distance_km="5").row["status"] == "accepted"  # exactly 60 km/h
    assert _balance(world, resident) == 1399 + 212  # 15 × 93.3 = 1399.5 → 1399


def test_duplicates_overlap_in_time_but_touching_rides_do_not(
    world: World, resident: int, record: Record
) -> None:
    first = record("metro", 0, 30).row
    assert record("metro", 30, 30).row["status"] == "accepted"  # starts when the first ends
    duplicate = record("metro", 29, 10).row
    assert (duplicate["status"], duplicate["reason"]) == ("refused", "duplicate")
    assert duplicate["detail"] == f"overlaps event {first['id']} of the same resident and behaviour"
    assert record("bus", 10, 10, distance_km="2").row["status"] == "accepted"  # another behaviour may overlap
    other = make_resident(world, "Resident Wang")[0]
    assert record("metro", 0, 30, who=other).row["status"] == "accepted"  # another resident may too
    # A refused event does not block: only counted events are compared.
    assert record("metro", 29, 1, distance_km="0.5").row["reason"] == "duplicate"


def test_daily_cap_exactly_then_refused_and_next_day_fresh(
    world: World, resident: int, record: Record
) -> None:
    # Metro: 120 km a day.  50 + 50 + 20 reaches the cap exactly (accepted); one metre more is refused.
    assert [
        record("metro", s, 60, distance_km=km).row["status"] for s, km in ((0, "50"), (60, "50"), (120, "20"))
    ] == ["accepted"] * 3
    over = record("metro", 200, 10, distance_km="0.001").row
    assert (over["status"], over["reason"], over["counted_milli"]) == ("refused", "daily_cap", 0)
    # The cap counts per local (Wuhan) day: 00:30 on 2 May is a new day though it is 16:30 UTC on 1 May.
    next_day = record("metro", 16 * 60 + 30, 10, distance_km="1").row
    assert (next_day["status"], str(next_day["day"])) == ("accepted", "2024-05-02")
    assert _balance(world, resident) == 120 * 784 // 10 + 78


def test_an_event_crossing_the_cap_is_capped_to_what_remains(
    world: World, resident: int, record: Record
) -> None:
    record("metro", 0, 60, distance_km="50")
    record("metro", 60, 60, distance_km="50")
    capped = record("metro", 120, 60, distance_km="30").row
    assert (capped["status"], capped["reason"], capped["counted_milli"], capped["points_g"]) == (
        "capped",
        "daily_cap",
        20_000,
        1568,
    )  # 20 km of 30 × 78.4
    assert capped["detail"] == "counted 20 of 30 km: the daily cap is 120"
    # Bus trips: ten a day; the eleventh is refused, not partly counted.
    trips = [record("bus", 300 + 40 * i, 30, distance_km="3").row["status"] for i in range(11)]
    assert trips == ["accepted"] * 10 + ["refused"]
    assert _balance(world, resident) == 7840 + 1568 + 10 * 212


def test_a_replayed_event_is_idempotent_and_a_changed_one_refused(
    world: World, resident: int, record: Record
) -> None:
    first = record("metro", 0, 30, event_id="trip-1", distance_km="3.7")
    before = snapshot(world.engine)
    again = record("metro", 0, 30, event_id="trip-1", distance_km="3.70")
    assert again.replayed and again.row["id"] == first.row["id"]
    assert snapshot(world.engine) == before
    with pytest.raises(Conflict, match=r"recorded .* with other data"):
        record("metro", 0, 30, event_id="trip-1", distance_km="3.8")
    assert snapshot(world.engine) == before
    # The same event id from another source is another event (and here a duplicate in time).
    assert record("metro", 0, 30, event_id="trip-1", source="bike-app").row["reason"] == "duplicate"


BAD = [
    ({"behaviour": "taxi"}, UnknownReference, "unknown behaviour 'taxi'"),
    ({"started_at": "2024-05-01T08:00:00"}, BadInput, "has no UTC offset"),
    ({"ended_at": "2024-05-01T00:00:00+00:00"}, BadInput, "before or when it starts"),
    ({"ended_at": (RECORDED + timedelta(minutes=1)).isoformat()}, BadInput, "ends in the future"),
    ({"distance_km": "-1"}, BadInput, "must be above 0"),
    ({"distance_km": "1.0005"}, BadInput, "more than three decimals"),
    ({"distance_km": "abc"}, BadInput, "not a number of km"),
    ({"distance_km": None}, BadInput, "distance_km is required for metro"),
    ({"saved_kwh": "1"}, BadInput, "saved_kwh is for electricity saving"),
    ({"event_id": ""}, BadInput, "event_id is required"),
    ({"resident_id": 99999}, NotFound, "organisation 99999 does not exist"),
]


def test_bad_input_changes_nothing(world: World, resident: int, subtests: pytest.Subtests) -> None:
    good = {
        "resident_id": resident,
        "source": "metro-app",
        "event_id": "e1",
        "behaviour": "metro",
        "started_at": MORNING.isoformat(),
        "ended_at": (MORNING + timedelta(minutes=30)).isoformat(),
        "distance_km": "5",
    }
    before = snapshot(world.engine)
    for change, error, message in BAD:
        with subtests.test(str(change)):
            raw = {k: v for k, v in {**good, **change}.items() if v is not None}
            with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(error, match=message):
                events.record(tx, world.operator, raw, now=RECORDED)
            assert snapshot(world.engine) == before


def test_only_residents_earn_and_only_the_operator_records(world: World, resident: int) -> None:
    raw = {
        "resident_id": world.owner_org,
        "source": "s",
        "event_id": "e1",
        "behaviour": "metro",
        "started_at": MORNING.isoformat(),
        "ended_at": (MORNING + timedelta(minutes=30)).isoformat(),
        "distance_km": "5",
    }
    with (
        UnitOfWork(world.engine, world.operator.actor) as tx,
        pytest.raises(InvalidRequest, match="not a resident"),
    ):
        events.record(tx, world.operator, raw, now=RECORDED)
    with (
        UnitOfWork(world.engine, world.owner.actor) as tx,
        pytest.raises(Exception, match="registry operator"),
    ):
        events.record(tx, world.owner, {**raw, "resident_id": resident}, now=RECORDED)
