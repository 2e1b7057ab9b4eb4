"""The database itself keeps lifecycle and compliance facts: events and comments are append-only, and
declarations, reports, obligations, surrenders and cross-regional transfers are never deleted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tanhui.projects import declarations as declaring
from tanhui.regions import compliance
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World


@pytest.mark.parametrize("statement", [
    "UPDATE declaration_events SET reason = 'rewritten'",
    "DELETE FROM declaration_events",
    "DELETE FROM declarations",
    "UPDATE compliance_obligations SET verified_emissions_kg = 1",
    "DELETE FROM compliance_obligations",
])
def test_direct_changes_to_facts_are_refused(world: World, statement: str) -> None:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        declaring.declare(tx, world.owner, name="Chargers", owner_organization_id=world.owner_org,
                          methodology="EV-CHARGE", region="SIP", design={"pile_count": 2, "separately_metered": True})
        compliance.record_obligation(tx, world.operator, organization_id=world.buyer_org, region="WUJIANG",
                                     compliance_year=2025, verified_emissions_kg=1000)
        tx.commit()
    with pytest.raises(sa.exc.DBAPIError, match="tanhui"), world.engine.begin() as conn:
        conn.exec_driver_sql(statement)
