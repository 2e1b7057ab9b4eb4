"""An aggregator packages consenting residents' accepted travel into its TRAVEL-LOW report, once each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tanhui.errors import Conflict, InvalidRequest, PermissionDenied
from tanhui.identity.principal import Principal
from tanhui.journal import audit
from tanhui.points import events, packaging
from tanhui.points.tables import packaged_events
from tanhui.projects import reports
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.points.conftest import Record
from tests.points.world import make_resident, settle_in, travel_project

MAY = {"period_start": date(2024, 5, 1), "period_end": date(2024, 5, 31)}


def _package(
    world: World, who: Principal, project: int, verifier: int, data_dir: Path, **period: date
) -> dict[str, object]:
    with UnitOfWork(world.engine, who.actor) as tx:
        made = packaging.package(
            tx, who, data_dir, project_id=project, verifier_organization_id=verifier, **(period or MAY)
        )
        tx.commit()
    return dict(made)


def test_packaging_known_answer_each_event_once(
    world: World, resident: int, record: Record, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregator, project, verifier = travel_project(world, monkeypatch)
    other = make_resident(world, "Resident Wang")[0]
    no_consent = make_resident(world, "Resident Zhao")[0]
    elsewhere = make_resident(world, "Resident Chen")[0]
    settle_in(world, resident)
    settle_in(world, other)
    settle_in(world, no_consent, consent=False)
    settle_in(world, elsewhere, region="QUZHOU")
    for i in range(10):
        record("bus", 40 * i, 30, distance_km="3")  # 10 trips × 212.5 g
    record("metro", 500, 60, distance_km="50")  # 3,920 g
    record("shared_bike", 600, 60, distance_km="20")  # 1,866 g
    record("electricity_saving", 0, 60, saved_kwh="5")  # not travel: never packaged
    record("bus", 700, 30, distance_km="3")  # refused: the eleventh trip of the day
    record("metro", 24 * 60, 60, distance_km="50", who=other)  # 2 May
    record("metro", 24 * 60 + 60, 60, distance_km="50", who=other)
    record("metro", 24 * 60 + 120, 60, distance_km="30", who=other)  # capped at 20 km: not packaged
    record("metro", 0, 60, distance_km="50", who=no_consent)
    record("metro", 0, 60, distance_km="50", who=elsewhere)
    made = _package(world, aggregator, project, verifier, tmp_path)
    # (2,125 + 3,920 + 1,866 + 7,840) g = 15.751 kg → 15 kg, rounded down once by the methodology.
    assert (made["residents"], made["events"], made["net_kg"]) == (2, 14, 15)
    with world.engine.connect() as conn:
        report = reports.get_report(conn, int(str(made["report_id"])))
        assert conn.execute(sa.select(sa.func.count()).select_from(packaged_events)).scalar() == 14
        content, media_type = reports.monitoring_data(tmp_path, conn, report)
    assert (report["status"], report["methodology"], report["net_kg"]) == (
        "submitted",
        "TRAVEL-LOW@1-WUHAN",
        15,
    )
    assert media_type.startswith("text/csv")
    data = content.decode()
    assert data.splitlines() == [
        "participant_id,date,mode,trips,km",
        f"R{resident},2024-05-01,bus,10,",
        f"R{resident},2024-05-01,metro,,50",
        f"R{resident},2024-05-01,shared_bike,,20",
        f"R{other},2024-05-02,metro,,100",
    ]

    # A second package, by another aggregator's project for the same period, finds nothing left.
    second, second_project, second_verifier = travel_project(world, monkeypatch, "Second travel")
    before = snapshot(world.engine)
    with pytest.raises(Conflict, match=r"already packaged \(travel package\(s\) 1\)"):
        _package(world, second, second_project, second_verifier, tmp_path)
    assert snapshot(world.engine) == before
    # The unique key, not the query, is the guarantee.
    with world.engine.begin() as conn, pytest.raises(IntegrityError):
        first = conn.execute(sa.select(packaged_events).limit(1)).mappings().one()
        conn.execute(sa.insert(packaged_events).values(dict(first)))
    # A packaged event's points are not reversed: its reduction is claimed in the report.
    event_id = first["event_id"]
    with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(Conflict, match="is packaged"):
        events.reverse(tx, world.operator, event_id, reason="fraud")
    # June's travel is packaged in its own period.
    record("metro", 31 * 24 * 60, 60, distance_km="10", at=datetime(2024, 7, 1, tzinfo=UTC))
    june = _package(
        world,
        aggregator,
        project,
        verifier,
        tmp_path,
        period_start=date(2024, 6, 1),
        period_end=date(2024, 6, 30),
    )
    assert (june["events"], june["net_kg"]) == (1, 0)  # 784 g → 0 kg


def test_packaging_is_for_the_aggregators_travel_project(
    world: World, resident: int, record: Record, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregator, project, verifier = travel_project(world, monkeypatch)
    settle_in(world, resident)
    record("metro", 0, 60, distance_km="50")
    before = snapshot(world.engine)
    with pytest.raises(PermissionDenied):
        _package(world, world.owner, project, verifier, tmp_path)
    with pytest.raises(InvalidRequest, match="starts 2024-05-31, after it ends 2024-05-01"):
        _package(
            world,
            aggregator,
            project,
            verifier,
            tmp_path,
            period_start=date(2024, 5, 31),
            period_end=date(2024, 5, 1),
        )
    with pytest.raises(InvalidRequest, match="no travel to package"):
        _package(
            world,
            aggregator,
            project,
            verifier,
            tmp_path,
            period_start=date(2024, 4, 1),
            period_end=date(2024, 4, 30),
        )
    with pytest.raises(InvalidRequest, match="not a verifier"):
        _package(world, aggregator, project, world.bank_org, tmp_path)
    assert snapshot(world.engine) == before


def test_a_rejected_package_frees_its_events_for_another(
    world: World, resident: int, record: Record, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aggregator, project, verifier = travel_project(world, monkeypatch)
    settle_in(world, resident)
    record("metro", 0, 60, distance_km="50")
    record("bus", 120, 30, distance_km="3")
    made = _package(world, aggregator, project, verifier, tmp_path)
    # While the report stands, the database keeps its events claimed, whoever asks.
    with world.engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="freed only when"):
        conn.execute(sa.delete(packaged_events))
    reviewer = Principal("user:travel-verifier", verifier, "verifier", "admin")
    with UnitOfWork(world.engine, reviewer.actor) as tx:
        reports.review(tx, reviewer, int(str(made["report_id"])), approve=False, findings="consent forms missing")
        tx.commit()
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(packaged_events)).scalar() == 0
    # The same events, packaged again (here by another aggregator's project), are claimed once more.
    second, second_project, second_verifier = travel_project(world, monkeypatch, "Second travel")
    again = _package(world, second, second_project, second_verifier, tmp_path)
    assert (again["events"], again["net_kg"]) == (made["events"], made["net_kg"]) == (2, 4)
    with world.engine.connect() as conn:
        packages = conn.execute(sa.select(packaged_events.c.package_id).distinct()).scalars().all()
    assert packages == [again["id"]]
    with pytest.raises(Conflict, match="already packaged"):
        _package(world, aggregator, project, verifier, tmp_path)
    assert audit.verify(world.engine).ok  # the freed rows' deletions are in the journal
