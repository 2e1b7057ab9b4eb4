"""Carbon-account use cases that write: holders, their economic figures, energy records and meters (the bureau)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.accounts.rows import clean, describe
from tanhui.accounts.tables import carbon_holders, energy_records, holder_economics, holder_meters
from tanhui.errors import Conflict, InvalidRequest, NotFound
from tanhui.identity.principal import Principal
from tanhui.identity.tables import organizations
from tanhui.registry import ledger
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one


def holder(conn: Connection, holder_id: int) -> RowMapping:
    found = read_one(conn, carbon_holders, carbon_holders.c.id == holder_id)
    if found is None:
        raise NotFound(f"carbon account holder {holder_id} does not exist")
    return found


def holder_by_reference(conn: Connection, reference: str) -> RowMapping | None:
    return read_one(conn, carbon_holders, carbon_holders.c.reference == reference)


def may_read(principal: Principal, found: Mapping[Any, Any]) -> bool:
    """The bureau (operator) reads every account; an organisation reads the one linked to it."""
    return principal.is_operator or (found["organization_id"] is not None
                                     and found["organization_id"] == principal.organization_id)


def _checked(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    values, problems = clean(kind, fields)
    if problems:
        raise InvalidRequest(describe(problems))
    return values


def holder_conflicts(conn: Connection, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What in the database a new holder would collide with, by column."""
    problems = []
    if holder_by_reference(conn, values["reference"]) is not None:
        problems.append(("reference", f"holder {values['reference']!r} already exists"))
    code = values["unified_social_credit_code"]
    if code is not None and read_one(conn, carbon_holders,
                                     carbon_holders.c.unified_social_credit_code == code) is not None:
        problems.append(("unified_social_credit_code", f"{code} already belongs to a holder"))
    if values["organization_id"] is not None:
        problems += link_conflicts(conn, values["kind"], values["organization_id"])
    return problems


def link_conflicts(conn: Connection, kind: str, organization_id: int) -> list[tuple[str, str]]:
    """Why a new holder of ``kind`` may not be linked to the organisation, by column."""
    found = read_one(conn, organizations, organizations.c.id == organization_id)
    problem = (f"organisation {organization_id} does not exist" if found is None else
               _kind_problem(kind, found) or _taken_problem(conn, organization_id))
    return [("organization_id", problem)] if problem else []


def _kind_problem(kind: str, organization: Mapping[Any, Any]) -> str | None:
    """A resident's organisation is its own (kind individual); an enterprise's or institution's is a company's."""
    if (kind == "resident") == (organization["kind"] == "individual") and organization["kind"] != "operator":
        return None
    wanted = "its own, of kind individual" if kind == "resident" else "a company's (not individual or operator)"
    holder = {"resident": "a resident", "enterprise": "an enterprise"}.get(kind, "a public institution")
    return f"organisation {organization['id']} is of kind {organization['kind']}; {holder}'s organisation is {wanted}"


def _taken_problem(conn: Connection, organization_id: int) -> str | None:
    taken = read_one(conn, carbon_holders, carbon_holders.c.organization_id == organization_id)
    return None if taken is None else f"organisation {organization_id} already acts for holder {taken['id']}"


def link_organization(tx: UnitOfWork, principal: Principal, holder_id: int, organization_id: int) -> RowMapping:
    """The bureau names the registry organisation whose users act for a holder: they read its account and grant
    banks consent to its credit reports.  A link is not moved; linking again to the same one changes nothing."""
    principal.require_operator("link carbon accounts to organisations")
    found = holder(tx.conn, holder_id)
    if found["organization_id"] == organization_id:
        return found
    if found["organization_id"] is not None:
        raise Conflict(f"holder {holder_id} is linked to organisation {found['organization_id']} already; a link "
                       "is not moved")
    problem = _kind_problem(found["kind"], ledger.get_organization(tx.conn, organization_id))
    if problem:
        raise InvalidRequest(problem)
    if (taken := _taken_problem(tx.conn, organization_id)) is not None:
        raise Conflict(taken)
    tx.entry("accounts.holder_linked", holder_id=holder_id, organization_id=organization_id)
    return tx.update(carbon_holders, carbon_holders.c.id == holder_id, {"organization_id": organization_id})[0]


def insert_holder(tx: UnitOfWork, values: Mapping[str, Any]) -> RowMapping:
    tx.entry("accounts.holder", reference=values["reference"], kind=values["kind"])
    row = tx.insert(carbon_holders, {**{k: values[k] for k in (
        "reference", "kind", "name", "unified_social_credit_code", "industry_code", "region", "area",
        "organization_id")}, "created_at": utcnow()})
    tx.note(holder_id=row["id"])
    return row


def register_holder(tx: UnitOfWork, principal: Principal, fields: Mapping[str, Any]) -> RowMapping:
    """The bureau opens a carbon account for an enterprise, public institution or resident."""
    principal.require_operator("open carbon accounts")
    values = _checked("holders", fields)
    problems = holder_conflicts(tx.conn, values)
    if problems:
        raise Conflict(describe(problems))
    return insert_holder(tx, values)


def economics_conflicts(conn: Connection, holder_id: int, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    taken = read_one(conn, holder_economics, (holder_economics.c.holder_id == holder_id)
                     & (holder_economics.c.period_start == values["period_start"])
                     & (holder_economics.c.period_end == values["period_end"]))
    return [("period_start", f"the figures of {values['period_start']}..{values['period_end']} are already "
                             f"recorded")] if taken is not None else []


def insert_economics(tx: UnitOfWork, holder_id: int, values: Mapping[str, Any]) -> RowMapping:
    tx.entry("accounts.economics", holder_id=holder_id, period_start=values["period_start"])
    return tx.insert(holder_economics, {
        "holder_id": holder_id, "period_start": values["period_start"], "period_end": values["period_end"],
        "output_value_10k_yuan": _decimal_text(values["output_value_10k_yuan"]),
        "value_added_10k_yuan": _decimal_text(values["value_added_10k_yuan"]),
        "pollution_score": values["pollution_score"], "source": values["source"], "created_at": utcnow()})


def _decimal_text(value: Any) -> str | None:
    return None if value is None else format(value, "f")


def record_economics(tx: UnitOfWork, principal: Principal, fields: Mapping[str, Any]) -> RowMapping:
    """Output value and value added (10k yuan) of a holder over a period, once per period."""
    principal.require_operator("record economic figures")
    values = _checked("economics", fields)
    found = _holder_of(tx.conn, values["reference"])
    problems = economics_conflicts(tx.conn, found["id"], values)
    if problems:
        raise Conflict(describe(problems))
    return insert_economics(tx, found["id"], values)


def _holder_of(conn: Connection, reference: str) -> RowMapping:
    found = holder_by_reference(conn, reference)
    if found is None:
        raise NotFound(f"no carbon account holder with reference {reference!r}")
    return found


def record_conflicts(conn: Connection, holder_id: int, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    certificate = values.get("certificate_id")
    if certificate is not None and read_one(conn, energy_records,
                                            energy_records.c.certificate_id == certificate) is not None:
        problems.append(("certificate_id", f"certificate {certificate} is already deducted"))
    r = energy_records.c
    same = read_one(conn, energy_records, (r.holder_id == holder_id) & (r.energy_type == values["energy_type"])
                    & (r.period_start == values["period_start"]) & (r.period_end == values["period_end"])
                    & (r.source == values["source"]))
    if same is not None:
        problems.append(("source", f"{values['energy_type']} of {values['period_start']}..{values['period_end']} "
                                   f"from {values['source']!r} is already recorded (record {same['id']})"))
    return problems


def insert_record(tx: UnitOfWork, found: Mapping[Any, Any], values: Mapping[str, Any]) -> RowMapping:
    tx.entry("accounts.energy_record", holder_id=found["id"], energy_type=values["energy_type"],
             period_start=values["period_start"])
    row = tx.insert(energy_records, {
        "holder_id": found["id"], "energy_type": values["energy_type"], "unit": values["unit"],
        "quantity": format(values["quantity"], "f"), "period_start": values["period_start"],
        "period_end": values["period_end"], "source": values["source"], "metered": bool(values["metered"]),
        "area": values["area"] or found["area"], "certificate_id": values["certificate_id"], "created_at": utcnow()})
    tx.note(record_id=row["id"])
    return row


def add_record(tx: UnitOfWork, principal: Principal, fields: Mapping[str, Any]) -> RowMapping:
    """An energy record of a holder (by its reference); a certificate can back one green record only."""
    principal.require_operator("record energy use")
    values = _checked("records", fields)
    found = _holder_of(tx.conn, values["reference"])
    problems = record_conflicts(tx.conn, found["id"], values)
    if problems:
        raise Conflict(describe(problems))
    return insert_record(tx, found, values)


def link_meter(tx: UnitOfWork, principal: Principal, *, holder_id: int, meter_id: str) -> RowMapping:
    """A meter whose accepted energy is the holder's electricity (``tanhui accounts feed``); one holder each."""
    principal.require_operator("link meters to carbon accounts")
    holder(tx.conn, holder_id)
    meter = meter_id.strip()
    if not meter or len(meter) > 64:
        raise InvalidRequest("a meter id has 1 to 64 characters")
    taken = read_one(tx.conn, holder_meters, holder_meters.c.meter_id == meter)
    if taken is not None:
        raise Conflict(f"meter {meter} already feeds holder {taken['holder_id']}")
    tx.entry("accounts.meter", holder_id=holder_id, meter_id=meter)
    return tx.insert(holder_meters, {"meter_id": meter, "holder_id": holder_id, "created_at": utcnow()})


def meters_of(conn: Connection, holder_id: int) -> list[str]:
    return list(conn.execute(select(holder_meters.c.meter_id).where(holder_meters.c.holder_id == holder_id)
                             .order_by(holder_meters.c.meter_id)).scalars())
