"""Compliance use cases: record a major emitter's verified emissions, surrender credits against them, export."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import Conflict, InvalidRequest, NotFound
from tanhui.identity.principal import Principal
from tanhui.identity.tables import organizations
from tanhui.regions.catalogue import region as find_region
from tanhui.regions.holdings import offered_credits
from tanhui.regions.offsetting import caps, check
from tanhui.regions.tables import compliance_obligations, compliance_surrenders
from tanhui.registry import ledger
from tanhui.registry.queries import utc
from tanhui.types import MAX_QUANTITY, utcnow
from tanhui.unit_of_work import UnitOfWork, read_one


def record_obligation(tx: UnitOfWork, principal: Principal, *, organization_id: int, region: str,
                      compliance_year: int, verified_emissions_kg: int) -> RowMapping:
    """The operator records an emitter's verified emissions for a region's compliance year (once)."""
    principal.require_operator("record verified emissions")
    emitter = ledger.get_organization(tx.conn, organization_id)
    find_region(region).rules_for(compliance_year)
    if isinstance(verified_emissions_kg, bool) or not 0 < verified_emissions_kg <= MAX_QUANTITY * 1000:
        raise InvalidRequest(f"verified emissions must be a positive whole number of kgCO2e, not "
                             f"{verified_emissions_kg!r}")
    taken = read_one(tx.conn, compliance_obligations,
                     (compliance_obligations.c.organization_id == emitter["id"])
                     & (compliance_obligations.c.region == region)
                     & (compliance_obligations.c.compliance_year == compliance_year))
    if taken is not None:
        raise Conflict(f"organisation {emitter['id']}'s {region} {compliance_year} emissions are already recorded "
                       f"(obligation {taken['id']})")
    tx.entry("compliance.obligation", organization_id=emitter["id"], region=region, compliance_year=compliance_year)
    row = tx.insert(compliance_obligations, {
        "organization_id": emitter["id"], "region": region, "compliance_year": compliance_year,
        "verified_emissions_kg": verified_emissions_kg, "created_at": utcnow()})
    tx.note(obligation_id=row["id"])
    return row


def _obligation(conn: Connection, obligation_id: int, *, lock: bool = False) -> RowMapping:
    query = select(compliance_obligations).where(compliance_obligations.c.id == obligation_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound(f"compliance obligation {obligation_id} does not exist")
    return row


def surrender(tx: UnitOfWork, principal: Principal, *, obligation_id: int, account_id: int,
              quantity: int | None = None, serial_range: str | None = None) -> RowMapping:
    """End the emitter's credits against its obligation, within the region's eligibility rules and caps.

    The operator performs it on the emitter's request; the obligation row is locked first, so two surrenders
    against one obligation cannot both fit under the cap.
    """
    principal.require_operator("surrender credits for compliance")
    obligation = _obligation(tx.conn, obligation_id, lock=True)
    account = ledger.get_account(tx.conn, account_id)
    if account["organization_id"] != obligation["organization_id"]:
        raise InvalidRequest(f"account {account_id} is not the emitter's (organisation "
                             f"{obligation['organization_id']})")
    rules = find_region(obligation["region"]).rules_for(obligation["compliance_year"])
    done = tx.conn.execute(
        select(func.coalesce(func.sum(compliance_surrenders.c.quantity), 0),
               func.coalesce(func.sum(compliance_surrenders.c.outside_kg), 0))
        .where(compliance_surrenders.c.obligation_id == obligation_id)).one()
    offered = offered_credits(tx.conn, account_id, quantity, serial_range)
    outside = check(rules, region=obligation["region"], compliance_year=obligation["compliance_year"],
                    verified_emissions_kg=obligation["verified_emissions_kg"], surrendered_kg=int(done[0]),
                    surrendered_outside_kg=int(done[1]), offered=offered)
    result = ledger.cancel(tx, principal, account_id=account_id, purpose="compliance", quantity=quantity,
                           serial_range=serial_range, compliance_year=obligation["compliance_year"],
                           reason=f"compliance surrender against obligation {obligation_id}")
    tx.entry("compliance.surrender", obligation_id=obligation_id, act_id=result.act["id"])
    return tx.insert(compliance_surrenders, {
        "act_id": result.act["id"], "obligation_id": obligation_id, "quantity": result.act["quantity"],
        "outside_kg": outside, "serials": " ".join(result.serials), "created_at": result.act["created_at"]})


def obligation_view(conn: Connection, obligation_id: int) -> dict[str, Any]:
    """An obligation with its caps, what was surrendered and what may still be."""
    obligation = _obligation(conn, obligation_id)
    rules = find_region(obligation["region"]).rules_for(obligation["compliance_year"])
    total_cap, outside_cap = caps(rules, obligation["verified_emissions_kg"])
    rows = conn.execute(select(compliance_surrenders).where(compliance_surrenders.c.obligation_id == obligation_id)
                        .order_by(compliance_surrenders.c.act_id)).mappings().all()
    done = sum(r["quantity"] for r in rows)
    outside = sum(r["outside_kg"] for r in rows)
    return {**obligation, "cap_kg": total_cap, "outside_cap_kg": outside_cap, "surrendered_kg": done,
            "surrendered_outside_kg": outside, "remaining_kg": total_cap - done,
            "rules": rules.describe(), "surrenders": [dict(r) for r in rows]}


EXPORT_COLUMNS = ("region", "compliance_year", "organization_id", "organization", "verified_emissions_kg",
                  "cap_kg", "act_id", "surrendered_at", "quantity_kg", "outside_region_kg", "serials")


def export_csv(conn: Connection, *, region: str, compliance_year: int) -> str:
    """The regulator's record of a region's compliance year: one line per surrender, with its serials."""
    rules = find_region(region).rules_for(compliance_year)
    obligation, surrendered = compliance_obligations.c, compliance_surrenders.c
    rows = conn.execute(
        select(obligation.organization_id, organizations.c.name.label("organization"),
               obligation.verified_emissions_kg, surrendered.act_id, surrendered.created_at.label("surrendered_at"),
               surrendered.quantity, surrendered.outside_kg, surrendered.serials)
        .join(compliance_surrenders, surrendered.obligation_id == obligation.id)
        .join(organizations, organizations.c.id == obligation.organization_id)
        .where(obligation.region == region, obligation.compliance_year == compliance_year)
        .order_by(surrendered.act_id)).mappings().all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([region, compliance_year, row["organization_id"], row["organization"],
                         row["verified_emissions_kg"], caps(rules, row["verified_emissions_kg"])[0], row["act_id"],
                         utc(row["surrendered_at"]).isoformat(), row["quantity"], row["outside_kg"], row["serials"]])
    return out.getvalue()

