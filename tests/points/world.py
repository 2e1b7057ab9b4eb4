"""Residents and projects for the points tests: individuals, regions, choices, a travel project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.points import residents
from tanhui.points.tables import behaviour_events
from tanhui.projects import declarations
from tanhui.regions import transfers as regions
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork
from tests.factories import PASSWORD, World

# Events happen on 1 May 2024 in Wuhan (UTC+8) unless a test says otherwise; they are recorded a day later.
MORNING = datetime(2024, 5, 1, 8, 0, tzinfo=UTC) - timedelta(hours=8)
RECORDED = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)


def make_resident(world: World, name: str) -> tuple[int, Principal]:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        org = identity.create_organization(tx, world.operator, name=name, kind="individual")["id"]
        tx.commit()
    return org, Principal(f"user:{name}", org, "individual", "admin")


def event_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(sa.select(behaviour_events).order_by(behaviour_events.c.id)).mappings()
        ]


def settle_in(
    world: World,
    resident_id: int,
    *,
    region: str = "WUHAN",
    consent: bool = True,
    nickname: str | None = None,
) -> None:
    """Place a resident in a region and record its choices (consent to packaging, leaderboard nickname)."""
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        regions.set_region(tx, world.operator, organization_id=resident_id, region=region)
        tx.commit()
    me = Principal("user:resident", resident_id, "individual", "admin")
    with UnitOfWork(world.engine, me.actor) as tx:
        residents.choose(
            tx,
            me,
            resident_id,
            packaging_consent=consent,
            leaderboard=nickname is not None,
            nickname=nickname,
        )
        tx.commit()


def travel_project(
    world: World, monkeypatch: pytest.MonkeyPatch, name: str = "Wuhan green travel", *, region: str = "WUHAN"
) -> tuple[Principal, int, int]:
    """An aggregator's approved TRAVEL-LOW project in a region: (the aggregator, the project, a verifier)."""
    op = world.operator
    with UnitOfWork(world.engine, op.actor) as tx:
        aggregator = identity.create_organization(tx, op, name=f"{name} aggregator", kind="aggregator")["id"]
        verifier = identity.create_organization(tx, op, name=f"{name} verifier", kind="verifier")["id"]
        declared = declarations.declare(
            tx,
            op,
            name=name,
            owner_organization_id=aggregator,
            methodology="TRAVEL-LOW@1-WUHAN",
            region=region,
            design={"participant_count": 2, "consent_recorded": True},
        )["id"]
        declarations.submit(tx, op, declared)
        declarations.announce(tx, op, declared, days=1)
        tx.commit()
    with monkeypatch.context() as patched:
        patched.setattr(
            declarations, "utcnow", lambda: utcnow() + timedelta(days=10)
        )  # the announcement ended
        with UnitOfWork(world.engine, op.actor) as tx:
            project = declarations.approve(tx, op, declared)["project_id"]
            tx.commit()
    return Principal(f"user:{name}", aggregator, "aggregator", "admin"), project, verifier


def walk_setup(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """For the authorization walk: a resident and an aggregator with admin and viewer users, a travel project,
    and two recorded May events of the resident (one to reverse, one to package)."""
    from tanhui.points import events  # the walk imports this module; keep its imports light

    aggregator, project, verifier = travel_project(world, monkeypatch, "Walk travel")
    resident = make_resident(world, "Resident Walk")[0]
    settle_in(world, resident)
    users = {}
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        for org, kind, name in (
            (resident, "individual", "resident-walk"),
            (aggregator.organization_id, "aggregator", "aggregator-walk"),
        ):
            for role, suffix in (("admin", ""), ("viewer", "-viewer")):
                identity.create_user(
                    tx,
                    world.operator,
                    organization_id=org,
                    username=f"{name}{suffix}",
                    password=PASSWORD,
                    role=role,
                )
                users[f"{name}{suffix}"] = Principal(f"user:{name}{suffix}", org, kind, role)
        made = [
            events.record(
                tx,
                world.operator,
                {
                    "resident_id": resident,
                    "source": "walk",
                    "event_id": f"walk-{minute}",
                    "behaviour": "metro",
                    "started_at": (MORNING + timedelta(minutes=minute)).isoformat(),
                    "ended_at": (MORNING + timedelta(minutes=minute + 30)).isoformat(),
                    "distance_km": "20",
                },
                now=RECORDED,
            ).row["id"]
            for minute in (0, 60)
        ]
        tx.commit()
    return {
        "resident": users["resident-walk"],
        "resident_viewer": users["resident-walk-viewer"],
        "aggregator": users["aggregator-walk"],
        "aggregator_viewer": users["aggregator-walk-viewer"],
        "project": project,
        "verifier": verifier,
        "reverse": made[0],
    }
