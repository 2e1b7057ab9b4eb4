"""Methodology versions move draft → published → superseded by the operator; projects stay on their version."""

from __future__ import annotations

import pytest

from tanhui.errors import Conflict, InvalidRequest, PermissionDenied
from tanhui.methodologies import publication
from tanhui.projects import declarations as declaring
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot

TRAVEL = {"participant_count": 10, "consent_recorded": True}


def declare(world: World, methodology: str) -> int:
    with UnitOfWork(world.engine, world.owner.actor) as tx:
        row = declaring.declare(tx, world.owner, name="Green travel", owner_organization_id=world.owner_org,
                                methodology=methodology, region="WUHAN", design=TRAVEL)
        tx.commit()
    return int(row["id"])


def decide(world: World, act: str, reference: str, **by: str) -> None:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        getattr(publication, act)(tx, world.operator, reference, **by)
        tx.commit()


def test_a_draft_takes_no_projects_until_published_and_a_superseded_version_no_new_ones(world: World) -> None:
    with world.engine.connect() as conn:
        assert publication.states(conn)["TRAVEL-LOW@1-SHENZHEN"] == ("draft", None)
    before = snapshot(world.engine)
    with pytest.raises(InvalidRequest, match="TRAVEL-LOW@1-SHENZHEN is draft, not published"):
        declare(world, "TRAVEL-LOW@1-SHENZHEN")
    assert snapshot(world.engine) == before
    decide(world, "publish", "TRAVEL-LOW@1-SHENZHEN")
    pinned = declare(world, "TRAVEL-LOW@1-WUHAN")
    decide(world, "supersede", "TRAVEL-LOW@1-WUHAN", by="TRAVEL-LOW@1-SHENZHEN")
    with pytest.raises(InvalidRequest, match="TRAVEL-LOW@1-WUHAN is superseded, not published; declare under "
                                             "TRAVEL-LOW@1-SHENZHEN"):
        declare(world, "TRAVEL-LOW@1-WUHAN")
    declare(world, "TRAVEL-LOW@1-SHENZHEN")
    with world.engine.connect() as conn:  # the earlier project keeps its version
        assert declaring.get_declaration(conn, pinned)["methodology"] == "TRAVEL-LOW@1-WUHAN"


def test_illegal_moves_are_refused_and_change_nothing(world: World) -> None:
    before = snapshot(world.engine)
    with pytest.raises(Conflict, match="PV-DIST@1-EC2023 is published; only a draft is published"):
        decide(world, "publish", "PV-DIST@1-EC2023")
    with pytest.raises(InvalidRequest, match="must be another published version of the same methodology"):
        decide(world, "supersede", "PV-DIST@1-EC2023", by="EV-CHARGE@1-EC2023")
    with pytest.raises(InvalidRequest, match="must be another published version"):
        decide(world, "supersede", "TRAVEL-LOW@1-WUHAN", by="TRAVEL-LOW@1-SHENZHEN")  # still a draft
    with pytest.raises(Conflict, match="only a published version is superseded"):
        decide(world, "supersede", "TRAVEL-LOW@1-SHENZHEN", by="TRAVEL-LOW@1-WUHAN")
    with UnitOfWork(world.engine, world.owner.actor) as tx, pytest.raises(PermissionDenied):
        publication.publish(tx, world.owner, "TRAVEL-LOW@1-SHENZHEN")
    assert snapshot(world.engine) == before
