"""The leaderboard shows only residents who opted in, under their nicknames, per region and period."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tanhui.errors import InvalidRequest, PermissionDenied, UnknownReference
from tanhui.identity.principal import Principal
from tanhui.points import events, residents
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.points.conftest import Record
from tests.points.world import make_resident, settle_in


def _board(
    world: World, region: str = "WUHAN", start: date = date(2024, 5, 1), end: date = date(2024, 5, 31)
) -> list[tuple[int, str, int]]:
    with world.engine.connect() as conn:
        return [
            (r["rank"], r["nickname"], r["points_g"])
            for r in residents.leaderboard(conn, region=region, start=start, end=end)
        ]


def _choose(world: World, resident: int, **choices: object) -> None:
    me = Principal("user:resident", resident, "individual", "admin")
    with UnitOfWork(world.engine, me.actor) as tx:
        residents.choose(tx, me, resident, **choices)  # type: ignore[arg-type]
        tx.commit()


def test_only_opted_in_residents_of_the_region_and_period(
    world: World, resident: int, record: Record
) -> None:
    wang, zhao, chen, an = (make_resident(world, f"Resident {n}")[0] for n in ("Wang", "Zhao", "Chen", "An"))
    settle_in(world, resident, nickname="Li")
    settle_in(world, wang, nickname="Wang")
    settle_in(world, zhao)  # never opted in
    settle_in(world, chen, region="QUZHOU", nickname="Chen")
    settle_in(world, an, nickname="An")
    record("metro", 0, 30, distance_km="5")  # Li 392
    record("metro", 0, 30, distance_km="10", who=wang)  # Wang 784
    record("metro", 0, 30, distance_km="20", who=zhao)  # Zhao 1568, hidden
    record("metro", 0, 30, distance_km="3", who=chen)  # Chen 235, Quzhou
    record("metro", 0, 30, distance_km="5", who=an)  # An 392: ties with Li
    record(
        "metro", 40 * 24 * 60, 30, distance_km="50", who=an, at=datetime(2024, 6, 12, tzinfo=UTC)
    )  # 10 June: not in May
    refused = record("metro", 0, 30, distance_km="5", who=an).row  # a duplicate earns nothing
    assert refused["status"] == "refused"
    assert _board(world) == [(1, "Wang", 784), (2, "An", 392), (2, "Li", 392)]
    assert _board(world, "QUZHOU") == [(1, "Chen", 235)]
    assert _board(world, start=date(2024, 6, 1), end=date(2024, 6, 30)) == [(1, "An", 3920)]
    _choose(world, wang, leaderboard=False)  # opting out removes Wang at once
    assert _board(world) == [(1, "An", 392), (1, "Li", 392)]
    _choose(world, zhao, leaderboard=True, nickname="Zhao")
    assert _board(world)[0] == (1, "Zhao", 1568)
    # Reversed points do not count.
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        events.reverse(tx, world.operator, int(record_row(world, zhao)), reason="GPS track was a car")
        tx.commit()
    assert [n for _, n, _ in _board(world)] == ["An", "Li"]


def record_row(world: World, resident: int) -> int:
    with world.engine.connect() as conn:
        return int(events.events_of(conn, resident)[0]["id"])


def test_choices_are_the_residents_own_and_checked(world: World, resident: int) -> None:
    settle_in(world, resident)
    before = snapshot(world.engine)
    with pytest.raises(InvalidRequest, match="a nickname is required"):
        _choose(world, resident, leaderboard=True)
    with UnitOfWork(world.engine, world.owner.actor) as tx, pytest.raises(PermissionDenied):
        residents.choose(tx, world.owner, resident, leaderboard=False)
    with world.engine.connect() as conn, pytest.raises(UnknownReference):
        residents.leaderboard(conn, region="ATLANTIS", start=date(2024, 5, 1), end=date(2024, 5, 31))
    with world.engine.connect() as conn, pytest.raises(InvalidRequest, match="within 366 days"):
        residents.leaderboard(conn, region="WUHAN", start=date(2024, 5, 1), end=date(2024, 4, 30))
    assert snapshot(world.engine) == before
