"""Random sequences of earning, rebates, reversals and expiry against a model of the lots, on both databases.

After every step the balance equals the model's and the lots' remainders, every lot holds what the model says
(first to expire, first spent), the entries sum to the balance, and a refused step changed nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanhui.errors import Conflict
from tanhui.identity.principal import Principal
from tanhui.points import events, redemption
from tanhui.points import ledger as points
from tanhui.points.tables import points_entries, points_lots
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.points.world import make_resident

EXAMPLES = {"sqlite": 30, "postgres": 12}
EXPIRY = timedelta(days=730)
STEP = st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 30_000)),  # metres of metro: one ride a day
    st.tuples(st.just("rebate"), st.integers(1, 400)),  # fen: 5 g each
    st.tuples(st.just("reverse"), st.integers(0, 10)),  # the n-th earned lot
    st.tuples(st.just("wait"), st.integers(0, 800)),  # days, then expire what is due
)


def _run(world: World, steps: list[tuple[str, int]]) -> None:
    resident = make_resident(world, "Resident Model")[0]
    me = Principal("user:resident", resident, "individual", "admin")
    clock = datetime(2024, 1, 1, tzinfo=UTC)
    lots: list[list[object]] = []  # [earned_at, remaining], in the order earned (= the order they expire)
    for number, (kind, amount) in enumerate(steps):
        before = snapshot(world.engine)
        refused = False
        with UnitOfWork(world.engine, me.actor) as tx:
            if kind == "earn":
                clock += timedelta(days=1)
                start = clock - timedelta(hours=2)
                events.record(tx, world.operator, {
                    "resident_id": resident, "source": "model", "event_id": str(number), "behaviour": "metro",
                    "started_at": start.isoformat(), "ended_at": (start + timedelta(minutes=30)).isoformat(),
                    "distance_km": str(Fraction(amount, 1000).__float__())}, now=clock)
                grams = math.floor(Fraction(amount, 1000) * Fraction(784, 10))
                if grams:
                    lots.append([clock, grams])
            elif kind == "rebate":
                held = sum(int(str(lot[1])) for lot in lots)
                if 5 * amount > held:
                    refused = True
                    with pytest.raises(points.InsufficientPoints):
                        redemption.rebate(tx, me, resident_id=resident, rebate_fen=amount, loan_reference="L",
                                          now=clock)
                else:
                    redemption.rebate(tx, me, resident_id=resident, rebate_fen=amount, loan_reference="L",
                                      now=clock)
                    left = 5 * amount
                    for lot in lots:
                        taken = min(left, int(str(lot[1])))
                        lot[1] = int(str(lot[1])) - taken
                        left -= taken
            elif kind == "reverse":
                rows = tx.conn.execute(sa.select(points_lots).order_by(points_lots.c.id)).mappings().all()
                if amount >= len(rows) or lots[amount][1] == 0:
                    refused = True
                    if amount < len(rows):
                        with pytest.raises(Conflict, match="nothing left to reverse"):
                            events.reverse(tx, world.operator, rows[amount]["event_id"], reason="model", now=clock)
                else:
                    events.reverse(tx, world.operator, rows[amount]["event_id"], reason="model", now=clock)
                    lots[amount][1] = 0
            else:
                clock += timedelta(days=amount)
                points.expire(tx, world.operator, now=clock)
                for lot in lots:
                    if lot[0] + EXPIRY <= clock:  # type: ignore[operator]
                        lot[1] = 0
            if not refused:  # a refused act's unit of work is rolled back, as the API and CLI do
                tx.commit()
        if refused:
            assert snapshot(world.engine) == before, (number, kind, amount)
        with world.engine.connect() as conn:
            held = points.balance(conn, resident)
            remaining = conn.execute(sa.select(points_lots.c.remaining_g).order_by(points_lots.c.id)).scalars()
            entries = conn.execute(sa.select(points_entries.c.amount_g, points_entries.c.balance_after_g)
                                   .order_by(points_entries.c.id)).all()
        assert list(remaining) == [lot[1] for lot in lots], (number, kind, amount)
        assert held == sum(int(str(lot[1])) for lot in lots) >= 0
        assert sum(e.amount_g for e in entries) == held
        assert not entries or entries[-1].balance_after_g == held


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_points_ledger_follows_its_model(kind: str, world_factory: Callable[..., World]) -> None:
    @settings(max_examples=EXAMPLES[kind], deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=st.lists(STEP, min_size=1, max_size=14))
    def check(steps: list[tuple[str, int]]) -> None:
        _run(world_factory(kind), steps)

    check()
