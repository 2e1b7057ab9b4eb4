"""The finance tests' world holds the sample profile's holder (id 1) and another enterprise (id 2)."""

from __future__ import annotations

import pytest

from tanhui.accounts import register
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World
from tests.finance.profiles import ANOTHER_HOLDER, HOLDER


@pytest.fixture
def world(world: World) -> World:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        ids = [register.register_holder(tx, world.operator, fields)["id"] for fields in (HOLDER, ANOTHER_HOLDER)]
        tx.commit()
    assert ids == [1, 2], "the profiles name holders 1 and 2"
    return world
