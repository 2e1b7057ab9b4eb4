"""The points ledger: FIFO idempotent expiry, redemption against stock and balance, the rebate cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from tanhui.errors import InvalidRequest, PermissionDenied
from tanhui.identity.principal import Principal
from tanhui.points import ledger as points
from tanhui.points import redemption
from tanhui.points.ledger import InsufficientPoints
from tanhui.points.redemption import OutOfStock, RebateCapReached
from tanhui.points.tables import points_balances, points_entries, points_lots
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.points.conftest import Record
from tests.points.world import RECORDED

TWO_YEARS = timedelta(days=730)  # the scheme's expiry_days


def _me(resident: int) -> Principal:
    return Principal("user:resident", resident, "individual", "admin")


def _balance(world: World, resident: int) -> int:
    with world.engine.connect() as conn:
        assert points.lots_total(conn, resident) == points.balance(conn, resident)
        return points.balance(conn, resident)


def _expire(world: World, now: datetime) -> points.Expiry:
    """Expiry run by the clock ``now`` (what is due by then)."""
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        done = points.expire(tx, world.operator, now=now)
        tx.commit()
    return done


def _kinds(world: World, resident: int) -> list[tuple[str, int, int]]:
    with world.engine.connect() as conn:
        return [
            (e["kind"], e["amount_g"], e["balance_after_g"]) for e in reversed(points.entries(conn, resident))
        ]


def _item(world: World, *, price: int = 200, stock: int = 2) -> None:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        redemption.add_item(
            tx,
            world.operator,
            code="BUS-PASS",
            name_zh="公交月票",
            name_en="Bus pass",
            price_g=price,
            stock=stock,
        )
        tx.commit()


def _redeem(world: World, resident: int, quantity: int = 1, *, at: datetime = RECORDED) -> None:
    with UnitOfWork(world.engine, "user:resident") as tx:
        redemption.redeem_item(
            tx, _me(resident), resident_id=resident, code="BUS-PASS", quantity=quantity, now=at
        )
        tx.commit()


def test_points_expire_after_the_period_oldest_first_once(
    world: World, resident: int, record: Record
) -> None:
    record("metro", 0, 30, distance_km="5", at=RECORDED)  # 392 g
    record("metro", 60, 30, distance_km="10", at=RECORDED + timedelta(days=10))  # 784 g
    _item(world)
    _redeem(world, resident)  # 200 g from the first lot, which expires first
    assert _expire(world, RECORDED + TWO_YEARS - timedelta(microseconds=1)).lots == 0
    first = _expire(world, RECORDED + TWO_YEARS)  # due exactly at earned + 730 days
    assert first.describe() == {"lots": 1, "points_g": 192, "residents": 1}
    assert _expire(world, RECORDED + TWO_YEARS).lots == 0  # idempotent: nothing more is due
    assert _balance(world, resident) == 784
    assert _expire(world, RECORDED + TWO_YEARS + timedelta(days=10)).points_g == 784
    assert _expire(world, RECORDED + TWO_YEARS + timedelta(days=400)).lots == 0
    assert _kinds(world, resident) == [
        ("earn", 392, 392),
        ("earn", 784, 1176),
        ("redeem", -200, 976),
        ("expire", -192, 784),
        ("expire", -784, 0),
    ]
    assert _balance(world, resident) == 0
    with (
        UnitOfWork(world.engine, world.operator.actor) as tx,
        pytest.raises(InvalidRequest, match="in the future"),
    ):
        points.expire(tx, world.operator, RECORDED + timedelta(days=1), now=RECORDED)


def test_redemption_takes_the_lot_that_expires_first(world: World, resident: int, record: Record) -> None:
    record("metro", 0, 30, distance_km="5", at=RECORDED)  # 392 g
    record("metro", 60, 30, distance_km="10", at=RECORDED + timedelta(days=10))  # 784 g
    _item(world, price=500, stock=5)
    _redeem(world, resident)  # 392 from the first lot, 108 from the second
    with world.engine.connect() as conn:
        remaining = (
            conn.execute(sa.select(points_lots.c.remaining_g).order_by(points_lots.c.id)).scalars().all()
        )
    assert remaining == [0, 676]


def test_redemption_refused_beyond_balance_or_stock_changes_nothing(
    world: World, resident: int, record: Record
) -> None:
    record("metro", 0, 30, distance_km="5")  # 392 g
    _item(world, price=200, stock=2)
    before = snapshot(world.engine)
    with pytest.raises(InsufficientPoints, match="holds 392 g of points; 400 g are needed"):
        _redeem(world, resident, 2)
    with pytest.raises(OutOfStock, match="has 2 left; 3 asked"):
        _redeem(world, resident, 3)
    with pytest.raises(PermissionDenied), UnitOfWork(world.engine, world.owner.actor) as tx:
        redemption.redeem_item(tx, world.owner, resident_id=resident, code="BUS-PASS", quantity=1)
    assert snapshot(world.engine) == before
    _redeem(world, resident)
    assert _balance(world, resident) == 192
    with world.engine.connect() as conn:
        assert redemption.item(conn, "BUS-PASS")["stock"] == 1


def _rebate(world: World, resident: int, fen: int, *, at: datetime = RECORDED) -> None:
    with UnitOfWork(world.engine, "user:resident") as tx:
        redemption.rebate(
            tx, _me(resident), resident_id=resident, rebate_fen=fen, loan_reference="GL-1", now=at
        )
        tx.commit()


def test_rebate_cap_exactly_at_the_cap_and_one_fen_over(world: World, resident: int, record: Record) -> None:
    # 38 days of 50 kWh saved (the daily cap) at 527.1 g/kWh: 38 × 26,355 = 1,001,490 g.
    for day in range(38):
        record("electricity_saving", day * 24 * 60, 60, saved_kwh="50", at=RECORDED + timedelta(days=40))
    assert _balance(world, resident) == 1_001_490
    at = RECORDED + timedelta(days=41)
    before = snapshot(world.engine)
    with pytest.raises(RebateCapReached, match=r"0.00 yuan of rebate in 2024; 2000.01 more"):
        _rebate(world, resident, 200_001, at=at)
    assert snapshot(world.engine) == before
    _rebate(world, resident, 199_999, at=at)  # 1,999.99 yuan = 999,995 g (1,000 g = 2 yuan: 5 g a fen)
    _rebate(world, resident, 1, at=at)  # exactly the 2,000-yuan cap
    assert _balance(world, resident) == 1_490
    before = snapshot(world.engine)
    with pytest.raises(RebateCapReached, match=r"at most 0.00 yuan remain"):
        _rebate(world, resident, 1, at=at)
    assert snapshot(world.engine) == before
    # The cap is per calendar year (Wuhan time): 1 January 2025 00:00 +08:00 starts a new one.
    with pytest.raises(RebateCapReached):
        _rebate(world, resident, 1, at=datetime(2024, 12, 31, 15, 59, tzinfo=UTC))
    _rebate(world, resident, 1, at=datetime(2024, 12, 31, 16, 0, tzinfo=UTC))
    assert _balance(world, resident) == 1_485


def test_rebate_needs_whole_fen_and_points(world: World, resident: int, record: Record) -> None:
    record("metro", 0, 30, distance_km="5")  # 392 g: 78 fen at most
    with pytest.raises(InsufficientPoints, match="392 g of points; 395 g"):
        _rebate(world, resident, 79)
    with pytest.raises(InvalidRequest, match="rebate_fen must be a whole number"):
        _rebate(world, resident, 0)
    _rebate(world, resident, 78)
    assert _balance(world, resident) == 2


def test_the_database_refuses_a_negative_balance_and_a_second_expiry(
    world: World, resident: int, record: Record
) -> None:
    record("metro", 0, 30, distance_km="5")
    with world.engine.connect() as conn:
        lot = conn.execute(sa.select(points_lots)).mappings().one()
    for statement in (
        sa.update(points_balances).values(balance_g=-1),
        sa.update(points_lots).values(remaining_g=-1),
        sa.insert(points_entries).values(
            resident_id=resident,
            kind="expire",
            amount_g=-1,
            balance_after_g=-1,
            lot_id=lot["id"],
            created_at=RECORDED,
        ),
        sa.insert(points_entries).values(
            resident_id=resident,
            kind="earn",
            amount_g=392,
            balance_after_g=784,
            lot_id=lot["id"],
            created_at=RECORDED,
        ),
        sa.update(points_entries).values(amount_g=1),
        sa.delete(points_entries),
    ):
        with world.engine.begin() as conn, pytest.raises((IntegrityError, DBAPIError)):
            conn.execute(statement)
    assert _balance(world, resident) == 392
