"""Fixtures of the points tests: a resident in the shared world, and a shortcut to record its events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from tanhui.points import events
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World
from tests.points.world import MORNING, RECORDED, make_resident


@pytest.fixture
def resident(world: World) -> int:
    return make_resident(world, "Resident Li")[0]


Record = Callable[..., events.Recorded]


@pytest.fixture
def record(world: World, resident: int) -> Record:
    """``record(behaviour, start_minutes, minutes, distance_km=… | saved_kwh=…)``: one event, committed."""
    counter = iter(range(1, 10_000))

    def run(
        behaviour: str,
        start: float = 0,
        minutes: float = 30,
        *,
        who: int | None = None,
        at: datetime = RECORDED,
        event_id: str | None = None,
        source: str = "metro-app",
        **quantity: Any,
    ) -> events.Recorded:
        if behaviour in ("bus", "metro", "shared_bike") and not quantity:
            quantity = {"distance_km": "5"}
        started = MORNING + timedelta(minutes=start)
        raw = {
            "resident_id": who or resident,
            "source": source,
            "event_id": event_id or f"e{next(counter)}",
            "behaviour": behaviour,
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(minutes=minutes)).isoformat(),
            **quantity,
        }
        with UnitOfWork(world.engine, world.operator.actor) as tx:
            result = events.record(tx, world.operator, raw, now=at)
            tx.commit()
        return result

    return run
