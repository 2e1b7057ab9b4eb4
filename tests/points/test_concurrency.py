"""Concurrent events of one new resident: the cap and the balance hold; the first events do not collide."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from tanhui.points import events
from tanhui.points import ledger as points
from tanhui.points.tables import behaviour_events
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World
from tests.points.world import MORNING, RECORDED


def test_concurrent_trips_fill_the_daily_cap_exactly(world: World, resident: int) -> None:
    def trip(number: int) -> str:
        started = MORNING + timedelta(minutes=40 * number)
        raw = {
            "resident_id": resident,
            "source": "bus-app",
            "event_id": f"t{number}",
            "behaviour": "bus",
            "started_at": started.isoformat(),
            "ended_at": (started + timedelta(minutes=30)).isoformat(),
            "distance_km": "3",
        }
        with UnitOfWork(world.engine, world.operator.actor) as tx:
            status = str(events.record(tx, world.operator, raw, now=RECORDED).row["status"])
            tx.commit()
        return status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(trip, range(14)))
    assert sorted(statuses) == ["accepted"] * 10 + ["refused"] * 4
    with world.engine.connect() as conn:
        assert points.balance(conn, resident) == 10 * 212 == points.lots_total(conn, resident)
        refused = conn.execute(
            sa.select(behaviour_events.c.reason).where(behaviour_events.c.status == "refused")
        )
        assert set(refused.scalars()) == {"daily_cap"}
