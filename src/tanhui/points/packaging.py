"""An aggregator packages consenting residents' travel of a period into its TRAVEL-LOW project's report.

The rule against double counting: a resident's points are a reward in a separate ledger of gCO2e, never a
carbon credit, and never convertible into one.  The reduction an event stands for can be claimed as credits
once, by the aggregator whose project packaged it, and only with the resident's consent: ``packaged_events``
is keyed by the event, so the database refuses a second package of it, whichever project asks.  Only events
accepted in full and never reversed are packaged (a capped event's excess was judged doubtful).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import Conflict, InvalidRequest, NotFound
from tanhui.identity.principal import Principal
from tanhui.methodologies import personal_travel
from tanhui.methodologies.catalogue import find
from tanhui.points import ledger as points_ledger
from tanhui.points.award import ACCEPTED, MILLI
from tanhui.points.tables import behaviour_events, packaged_events, resident_settings, travel_packages
from tanhui.projects import reports
from tanhui.projects.tables import declarations
from tanhui.regions.tables import organization_regions
from tanhui.registry import ledger
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one


def participant(resident_id: int) -> str:
    """The pseudonymous id a resident has in monitoring data (the package keeps who it is)."""
    return f"R{resident_id}"


def _unpackaged(
    conn: Connection, *, region: str, modes: Sequence[str], start: date, end: date
) -> Sequence[RowMapping]:
    events = behaviour_events.c
    return (
        conn.execute(
            select(behaviour_events)
            .join(
                resident_settings,
                and_(
                    resident_settings.c.resident_id == events.resident_id,
                    resident_settings.c.packaging_consent.is_(True),
                ),
            )
            .join(
                organization_regions,
                and_(
                    organization_regions.c.organization_id == events.resident_id,
                    organization_regions.c.region == region,
                ),
            )
            .outerjoin(packaged_events, packaged_events.c.event_id == events.id)
            .where(
                events.status == ACCEPTED,
                events.behaviour.in_(tuple(modes)),
                events.day.between(start, end),
                packaged_events.c.event_id.is_(None),
                ~points_ledger.reversed_event(events.id),
            )
            .order_by(events.resident_id, events.day, events.behaviour, events.id)
        )
        .mappings()
        .all()
    )


def monitoring_csv(methodology_reference: str, rows: Sequence[RowMapping]) -> str:
    """The methodology's monitoring template filled with one line per resident, day and mode."""
    methodology = find(methodology_reference)
    counted = personal_travel.modes(methodology)
    sums: dict[tuple[int, date, str], int] = defaultdict(int)
    for row in rows:
        sums[(row["resident_id"], row["day"], row["behaviour"])] += row["counted_milli"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [f.name for f in methodology.monitoring_fields]
    writer.writerow(columns)
    for (resident_id, day, mode), milli in sorted(sums.items()):
        column = counted[mode][0]
        amount: Any = milli // MILLI if column == "trips" else Decimal(milli) / MILLI
        line = {
            "participant_id": participant(resident_id),
            "date": day.isoformat(),
            "mode": mode,
            column: amount,
        }
        writer.writerow([line.get(name, "") for name in columns])
    return out.getvalue()


def _refuse_empty(conn: Connection, *, region: str, start: date, end: date) -> None:
    """Why there is nothing to package: the period's travel is packaged already (409), or there is none."""
    events = behaviour_events.c
    taken = (
        conn.execute(
            select(packaged_events.c.package_id)
            .join(behaviour_events, events.id == packaged_events.c.event_id)
            .join(
                organization_regions,
                and_(
                    organization_regions.c.organization_id == events.resident_id,
                    organization_regions.c.region == region,
                ),
            )
            .where(events.day.between(start, end))
            .distinct()
            .order_by(packaged_events.c.package_id)
        )
        .scalars()
        .all()
    )
    if taken:
        raise Conflict(
            f"the {region} residents' travel of {start}..{end} is already packaged (travel package(s) "
            f"{', '.join(map(str, taken))}); an event is packaged once"
        )
    raise InvalidRequest(
        f"no travel to package: no fully accepted, unreversed event of a consenting {region} "
        f"resident in {start}..{end}"
    )


def package(
    tx: UnitOfWork,
    principal: Principal,
    data_dir: Any,
    *,
    project_id: int,
    period_start: date,
    period_end: date,
    verifier_organization_id: int,
) -> RowMapping:
    """The aggregator submits its project's monitoring report from every not yet packaged, fully accepted
    travel event of consenting residents of the project's region in the period; the events are marked."""
    declaration = read_one(tx.conn, declarations, declarations.c.project_id == project_id)
    if declaration is None:
        raise NotFound(f"project {project_id} was not registered from a declaration")
    principal.require_acts_for(declaration["owner_organization_id"], f"project {project_id}")
    aggregator = ledger.get_organization(tx.conn, declaration["owner_organization_id"])
    if aggregator["kind"] != "aggregator":
        raise InvalidRequest(
            f"organisation {aggregator['id']} is a {aggregator['kind']}; residents' travel is "
            "packaged by an aggregator"
        )
    methodology = find(declaration["methodology"])
    if methodology.code != personal_travel.CODE:
        raise InvalidRequest(
            f"project {project_id} is under {methodology.reference}; residents' travel is "
            f"packaged into {personal_travel.CODE} projects"
        )
    if period_start > period_end:
        raise InvalidRequest(f"the monitoring period starts {period_start}, after it ends {period_end}")
    rows = _unpackaged(
        tx.conn,
        region=declaration["region"],
        modes=tuple(personal_travel.modes(methodology)),
        start=period_start,
        end=period_end,
    )
    if not rows:
        _refuse_empty(tx.conn, region=declaration["region"], start=period_start, end=period_end)
    data = monitoring_csv(methodology.reference, rows).encode("utf-8")
    report = reports.submit_report(
        tx,
        principal,
        data_dir,
        project_id=project_id,
        period_start=period_start,
        period_end=period_end,
        verifier_organization_id=verifier_organization_id,
        data=data,
    )
    residents = {row["resident_id"] for row in rows}
    tx.entry("points.packaged", project_id=project_id, report_id=report["id"], events=len(rows))
    made = tx.insert(
        travel_packages,
        {
            "aggregator_organization_id": aggregator["id"],
            "project_id": project_id,
            "report_id": report["id"],
            "methodology": methodology.reference,
            "period_start": period_start,
            "period_end": period_end,
            "residents": len(residents),
            "events": len(rows),
            "net_kg": report["net_kg"],
            "created_at": utcnow(),
        },
    )
    # The primary key (event_id) is the guarantee: a concurrent package of the same events fails here.
    for row in rows:
        tx.insert(
            packaged_events,
            {"event_id": row["id"], "package_id": made["id"], "resident_id": row["resident_id"]},
        )
    return made


def get_package(conn: Connection, principal: Principal, package_id: int) -> RowMapping:
    row = read_one(conn, travel_packages, travel_packages.c.id == package_id)
    if row is None or not principal.may_read(row["aggregator_organization_id"]):
        raise NotFound(f"travel package {package_id} does not exist")
    return row
