"""Holders' consent to banks: grant, revoke, and every bank read of a holder's reports checked and logged.

Safety: a bank reads a holder's reports only through ``bank_access``, which decides against the grants as they
stand at that moment and writes one access-log row whether it allows or refuses; a refusal changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine, RowMapping

from tanhui.accounts.credit_report import get_report, holder_reports
from tanhui.accounts.tables import carbon_holders
from tanhui.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tanhui.finance.tables import CONSENT_SCOPES, consent_grants, report_accesses
from tanhui.identity.principal import Principal
from tanhui.registry import ledger
from tanhui.registry.queries import utc
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

# What each scope lets a bank read: a summary (label, grade, rating, totals) for screening, or everything.
SCOPE_ALLOWS = {"summary": ("list", "summary", "quote"), "full": ("list", "summary", "quote", "full", "pdf")}
MAX_GRANT_DAYS = 3 * 366  # a consent is renewed at least every three years, so none is forgotten for ever


def holder_organization(conn: Connection, holder_id: int, *, lock: bool = False) -> int | None:
    """The registry organisation whose members act for the holder (None: not linked yet); ``lock`` serialises
    the holder's grants, so two grants to one bank cannot both see no active consent (a second active consent
    would survive the holder's revocation)."""
    query = select(carbon_holders.c.organization_id).where(carbon_holders.c.id == holder_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"carbon account holder {holder_id} does not exist")
    return None if row[0] is None else int(row[0])


def _require_for_holder(conn: Connection, principal: Principal, holder_id: int, what: str) -> int:
    """The holder's organisation, once the principal is shown to act for it (or is the operator)."""
    organization = holder_organization(conn, holder_id, lock=True)
    if organization is None:
        raise InvalidRequest(f"holder {holder_id} is linked to no registry organisation, so none can consent for it "
                             "(the bureau links one: tanhui accounts link-organization)")
    if principal.is_operator:
        principal.require_write()
    else:
        principal.require_acts_for(organization, what)
    return organization


def _require_reads_holder(conn: Connection, principal: Principal, holder_id: int) -> None:
    if not principal.may_read(holder_organization(conn, holder_id)):
        raise PermissionDenied(f"holder {holder_id}'s consents and access log are theirs and the operator's")


def is_active(grant: RowMapping, at: datetime) -> bool:
    return grant["revoked_at"] is None and utc(grant["expires_at"]) > at


def grant(tx: UnitOfWork, principal: Principal, *, holder_id: int, bank_organization_id: int, scope: str,
          days: int, purpose: str | None = None) -> RowMapping:
    """The holder lets a bank read their reports for ``days`` days; one active grant per holder and bank."""
    holder_org = _require_for_holder(tx.conn, principal, holder_id, f"holder {holder_id}'s consent")
    bank = ledger.get_organization(tx.conn, bank_organization_id)
    if bank["kind"] != "bank":
        raise InvalidRequest(f"organisation {bank_organization_id} is a {bank['kind']}, not a bank")
    if scope not in CONSENT_SCOPES:
        raise InvalidRequest(f"unknown scope {scope!r}; one of {', '.join(CONSENT_SCOPES)}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_GRANT_DAYS:
        raise InvalidRequest(f"a consent lasts 1 to {MAX_GRANT_DAYS} days, not {days!r}")
    now = utcnow()
    for existing in _grants(tx.conn, holder_id, bank_organization_id):
        if is_active(existing, now):
            raise Conflict(f"holder {holder_id} already lets bank {bank_organization_id} read (consent "
                           f"{existing['id']}, until {utc(existing['expires_at']).isoformat()}); revoke it first")
    tx.entry("consent.granted", holder_id=holder_id, bank_organization_id=bank_organization_id, scope=scope)
    row = tx.insert(consent_grants, {
        "holder_id": holder_id, "holder_organization_id": holder_org, "bank_organization_id": bank_organization_id,
        "scope": scope, "purpose": purpose, "granted_at": now, "expires_at": now + timedelta(days=days),
        "granted_by": principal.actor, "revoked_at": None, "revoked_by": None})
    tx.note(consent_id=row["id"])
    return row


def revoke(tx: UnitOfWork, principal: Principal, grant_id: int) -> RowMapping:
    """The holder (or the operator) ends a consent at once; the bank's next read is refused."""
    found = read_one(tx.conn, consent_grants, consent_grants.c.id == grant_id)
    if found is None:
        raise NotFound(f"consent {grant_id} does not exist")
    _require_for_holder(tx.conn, principal, found["holder_id"], f"consent {grant_id}")
    if found["revoked_at"] is not None:
        raise Conflict(f"consent {grant_id} was already revoked at {utc(found['revoked_at']).isoformat()}")
    now = utcnow()
    if not is_active(found, now):
        raise Conflict(f"consent {grant_id} already expired at {utc(found['expires_at']).isoformat()}")
    tx.entry("consent.revoked", consent_id=grant_id, holder_id=found["holder_id"])
    return tx.update(consent_grants, consent_grants.c.id == grant_id,
                     {"revoked_at": now, "revoked_by": principal.actor})[0]


def _grants(conn: Connection, holder_id: int, bank_organization_id: int | None = None) -> list[RowMapping]:
    query = select(consent_grants).where(consent_grants.c.holder_id == holder_id)
    if bank_organization_id is not None:
        query = query.where(consent_grants.c.bank_organization_id == bank_organization_id)
    return list(conn.execute(query.order_by(consent_grants.c.id)).mappings())


def holder_grants(conn: Connection, principal: Principal, holder_id: int) -> list[dict[str, Any]]:
    """Every consent a holder gave, with whether it is active now."""
    _require_reads_holder(conn, principal, holder_id)
    now = utcnow()
    return [{**row, "active": is_active(row, now)} for row in _grants(conn, holder_id)]


def bank_grants(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    """The consents given to the caller's bank, with whether each is active now."""
    now = utcnow()
    rows = conn.execute(select(consent_grants)
                        .where(consent_grants.c.bank_organization_id == principal.organization_id)
                        .order_by(consent_grants.c.id)).mappings()
    return [{**row, "active": is_active(row, now)} for row in rows]


def access_log(conn: Connection, principal: Principal, holder_id: int) -> list[RowMapping]:
    """Who read (or tried to read) what of the holder's, and when, oldest first."""
    _require_reads_holder(conn, principal, holder_id)
    return list(conn.execute(select(report_accesses).where(report_accesses.c.holder_id == holder_id)
                             .order_by(report_accesses.c.id)).mappings())


@dataclass(frozen=True)
class Access:
    """What a bank was allowed to read: the holder's reports (one, or all for a list) under a grant."""

    grant: RowMapping
    reports: list[RowMapping]


def _decide(conn: Connection, principal: Principal, holder_id: int, kind: str, report: RowMapping | None,
            now: datetime) -> tuple[RowMapping | None, str]:
    """The grant that allows the read, or None and why not."""
    if principal.organization_kind != "bank":
        return None, f"{principal.actor} is not a bank's; only banks read holders' reports under consent"
    mine = _grants(conn, holder_id, principal.organization_id)
    active = [g for g in mine if is_active(g, now)]
    if not active:
        why = "no consent" if not mine else (
            f"consent {mine[-1]['id']} was revoked" if mine[-1]["revoked_at"] is not None
            else f"consent {mine[-1]['id']} expired at {utc(mine[-1]['expires_at']).isoformat()}")
        return None, f"holder {holder_id} gives bank {principal.organization_id} {why}"
    current = active[-1]
    if kind not in SCOPE_ALLOWS[current["scope"]]:
        return None, f"consent {current['id']} covers the {current['scope']} of reports, not the {kind}"
    if report is not None and report["holder_id"] != holder_id:
        return None, f"credit report {report['id']} is not holder {holder_id}'s"
    return current, f"consent {current['id']}"


def bank_access(engine: Engine, principal: Principal, *, kind: str, holder_id: int | None = None,
                report_id: int | None = None) -> Access:
    """Check a bank's read of a holder's reports (or of one report) against consent, log it, and allow or refuse.

    The log row commits in its own transaction before a refusal is raised, so a refused read is recorded
    and changes nothing else.  Unknown holders and reports are 404s, not logged.
    """
    with UnitOfWork(engine, principal.actor) as tx:
        now = utcnow()
        report = None if report_id is None else get_report(tx.conn, report_id)
        if holder_id is None:
            if report is None:
                raise InvalidRequest("name a holder or a report")
            holder_id = int(report["holder_id"])
        holder_organization(tx.conn, holder_id)
        found, reason = _decide(tx.conn, principal, holder_id, kind, report, now)
        tx.conn.execute(insert(report_accesses).values(
            at=now, holder_id=holder_id, organization_id=principal.organization_id, actor=principal.actor,
            kind=kind, report_id=report["id"] if report is not None and report["holder_id"] == holder_id else None,
            grant_id=found and found["id"], allowed=found is not None, reason=reason))
        reports = [report] if report is not None else holder_reports(tx.conn, holder_id)
        tx.commit()
    if found is None:
        raise PermissionDenied(f"refused and logged: {reason}")
    return Access(found, reports)
