"""Monitoring-report use cases: submit a period's data, the verifier's review, the operator's issuance sign-off."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import BadInput, Conflict, InvalidRequest, NotFound, PermissionDenied
from tanhui.fields import text
from tanhui.identity.principal import Principal
from tanhui.identity.tables import organizations
from tanhui.methodologies.catalogue import find
from tanhui.methodologies.monitoring_data import parse_rows
from tanhui.mrv.registry import StagedReport
from tanhui.points.tables import packaged_events, travel_packages
from tanhui.projects import attachments, mrv_reports
from tanhui.projects.lifecycle import MAX_REPORT_DAYS, IllegalTransition, due, next_state
from tanhui.projects.tables import declarations, submitted_report_days, submitted_reports
from tanhui.registry import ledger
from tanhui.registry.queries import utc
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, deleting, read_one

_PERIOD_COLUMNS = (("period_start", "period_end"), ("date", "date"))


def get_report(conn: Connection, report_id: int) -> RowMapping:
    row = read_one(conn, submitted_reports, submitted_reports.c.id == report_id)
    if row is None:
        raise NotFound(f"monitoring report {report_id} does not exist")
    return row


def readable_report(conn: Connection, principal: Principal, report_id: int) -> RowMapping:
    """Its project's owner, its verifier and the operator read a report; others get 404."""
    row = get_report(conn, report_id)
    owner = _declaration(conn, row["project_id"])["owner_organization_id"]
    if not (principal.may_read(owner) or principal.organization_id == row["verifier_organization_id"]):
        raise NotFound(f"monitoring report {report_id} does not exist")
    return row


def _declaration(conn: Connection, project_id: int) -> RowMapping:
    row = read_one(conn, declarations, declarations.c.project_id == project_id)
    if row is None:
        raise NotFound(f"project {project_id} was not registered from a declaration, so it takes no monitoring "
                       "reports through the lifecycle")
    return row


def for_owner(conn: Connection, operator: Principal, project_id: int) -> Principal:
    """The operator acting on a declared project's owner's behalf (the journal names the operator)."""
    operator.require_operator("act on a project owner's behalf")
    owner = ledger.get_organization(conn, _declaration(conn, project_id)["owner_organization_id"])
    return Principal(operator.actor, owner["id"], owner["kind"], "admin")


def _check_rows_in_period(rows: list[dict[str, Any]], start: date, end: date) -> None:
    outside = []
    for row in rows:
        for first, last in _PERIOD_COLUMNS:
            if first in row and (row[first] < start or row[last] > end):
                outside.append(str(row["_row"]))
    if outside:
        raise BadInput(f"monitoring data rows {', '.join(outside[:20])} lie outside the report's period "
                       f"{start}..{end}; nothing was taken")


def _open_period(tx: UnitOfWork, principal: Principal, project_id: int, period_start: date, period_end: date,
                 verifier_organization_id: int) -> tuple[RowMapping, RowMapping]:
    """The checks every submission passes: the owner submits, names a verifier, for an ended period of at most
    ``MAX_REPORT_DAYS`` days that no live report of the project covers.  Returns declaration and verifier."""
    declaration = _declaration(tx.conn, project_id)
    principal.require_acts_for(declaration["owner_organization_id"], f"project {project_id}")
    verifier = ledger.get_organization(tx.conn, verifier_organization_id)
    if verifier["kind"] != "verifier":
        raise InvalidRequest(f"organisation {verifier['id']} is a {verifier['kind']}, not a verifier")
    if period_start > period_end:
        raise InvalidRequest(f"the monitoring period starts {period_start}, after it ends {period_end}")
    days = (period_end - period_start).days + 1
    if days > MAX_REPORT_DAYS:
        raise InvalidRequest(f"a monitoring period is at most {MAX_REPORT_DAYS} days, not {days}")
    if period_end >= utcnow().date():
        raise InvalidRequest(f"the monitoring period ends {period_end}; report after it has ended")
    taken = tx.conn.execute(
        select(submitted_report_days.c.report_id, submitted_report_days.c.day)
        .where(submitted_report_days.c.project_id == project_id,
               submitted_report_days.c.day.between(period_start, period_end)).limit(1)
    ).first()
    if taken is not None:
        raise Conflict(f"project {project_id}'s day {taken.day} is already covered by monitoring report "
                       f"{taken.report_id}; monitoring periods of one project cannot overlap")
    return declaration, verifier


def _record(tx: UnitOfWork, declaration: RowMapping, verifier: RowMapping, *, period_start: date,
            period_end: date, data_sha256: str, data_rows: int, net_kg: int, buffer_kg: int) -> RowMapping:
    """The submitted report's row and its days."""
    now = utcnow()
    project_id = declaration["project_id"]
    tx.entry("report.submitted", project_id=project_id, methodology=declaration["methodology"], net_kg=net_kg)
    report = tx.insert(submitted_reports, {
        "declaration_id": declaration["id"], "project_id": project_id, "methodology": declaration["methodology"],
        "period_start": period_start, "period_end": period_end, "data_sha256": data_sha256, "data_rows": data_rows,
        "verifier_organization_id": verifier["id"], "status": "submitted", "net_kg": net_kg,
        "buffer_kg": buffer_kg, "issuable_kg": net_kg - buffer_kg, "findings": None, "issuance_id": None,
        "buffer_issuance_id": None, "created_at": now, "updated_at": now,
    })
    tx.note(report_id=report["id"])
    # The primary key (project_id, day) is the guarantee; the look-up before only names the other report.
    for offset in range((period_end - period_start).days + 1):
        tx.insert(submitted_report_days, {"project_id": project_id, "day": period_start + timedelta(days=offset),
                                          "report_id": report["id"]})
    return report


def submit_report(tx: UnitOfWork, principal: Principal, data_dir: Any, *, project_id: int, period_start: date,
                  period_end: date, verifier_organization_id: int, data: bytes) -> RowMapping:
    """The owner submits a period's monitoring data in its methodology version's template, for verification."""
    declaration, verifier = _open_period(tx, principal, project_id, period_start, period_end,
                                         verifier_organization_id)
    methodology = find(declaration["methodology"])
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"the monitoring data is not UTF-8 text: {exc}") from None
    rows = parse_rows(methodology, content)
    _check_rows_in_period(rows, period_start, period_end)
    result = methodology.reductions(rows)
    digest = attachments.store(data_dir, data, "text/csv")
    return _record(tx, declaration, verifier, period_start=period_start, period_end=period_end,
                   data_sha256=digest, data_rows=len(rows), net_kg=result.net_kg, buffer_kg=result.buffer_kg)


def submit_mrv_report(tx: UnitOfWork, principal: Principal, staged: StagedReport, *, project_id: int,
                      verifier_organization_id: int) -> RowMapping:
    """The owner submits a checked MRV verify output (``staged``) for verification; it is archived, and its
    meter-days are claimed only when the operator issues it."""
    summary = staged.summary
    declaration, verifier = _open_period(tx, principal, project_id, summary.period_start, summary.period_end,
                                         verifier_organization_id)
    mrv_reports.check_submission(tx.conn, declaration, staged)
    report = _record(tx, declaration, verifier, period_start=summary.period_start, period_end=summary.period_end,
                     data_sha256=staged.summary_sha256, data_rows=len(summary.sites),
                     net_kg=summary.reduction_kg, buffer_kg=0)
    mrv_reports.record_submission(tx, report, staged)
    return report


def _move(tx: UnitOfWork, row: RowMapping, act: str, **values: Any) -> RowMapping:
    status = next_state(f"monitoring report {row['id']}", row["status"], act)
    updated = tx.update(submitted_reports,
                        (submitted_reports.c.id == row["id"]) & (submitted_reports.c.status == row["status"]),
                        {"status": status, "updated_at": utcnow(), **values})
    if not updated:
        raise IllegalTransition(f"monitoring report {row['id']} changed meanwhile; read it again")
    return updated[0]


def review(tx: UnitOfWork, principal: Principal, report_id: int, *, approve: bool,
           findings: str | None) -> RowMapping:
    """The named verifier approves the report or rejects it with findings (its days become free again)."""
    row = get_report(tx.conn, report_id)
    principal.require_write()
    if principal.organization_id != row["verifier_organization_id"]:
        raise PermissionDenied(f"only organisation {row['verifier_organization_id']}, the verifier named on "
                               f"monitoring report {report_id}, may review it")
    act = "verified" if approve else "rejected"
    next_state(f"monitoring report {row['id']}", row["status"], act)
    noted = text(findings, "findings", limit=5000, required=not approve)
    tx.entry(f"report.{act}", report_id=report_id, findings=noted)
    updated = _move(tx, row, act, findings=noted)
    if not approve:
        _free_claims(tx, report_id)
    return updated


def _free_claims(tx: UnitOfWork, report_id: int) -> None:
    """A rejected report claims nothing: its days may be reported again, and residents' travel it packaged
    may be packaged again (the database lets those rows go only once the report is rejected)."""
    days = tx.conn.execute(select(submitted_report_days).where(submitted_report_days.c.report_id == report_id))
    packaged = tx.conn.execute(
        select(packaged_events).join(travel_packages, travel_packages.c.id == packaged_events.c.package_id)
        .where(travel_packages.c.report_id == report_id).order_by(packaged_events.c.event_id))
    freed = [deleting(submitted_report_days, day) for day in days.mappings().all()]
    freed += [deleting(packaged_events, event) for event in packaged.mappings().all()]
    if freed:
        tx.apply(freed)


def issue(tx: UnitOfWork, principal: Principal, report_id: int, *, registry: str, credit_type: str,
          account_id: int, buffer_account_id: int | None = None, vintage: int | None = None,
          data_dir: Any = None, to_owners: bool = False) -> RowMapping:
    """The operator signs off a verified report: its issuable reductions to the owner, its buffer share to the
    registry's buffer account, each as one serial block.  An MRV report (``data_dir`` holds its archive) claims
    its meter-days as it is issued, and ``to_owners`` passes each site owner's units on to that owner."""
    principal.require_operator("sign off issuance")
    row = get_report(tx.conn, report_id)
    next_state(f"monitoring report {row['id']}", row["status"], "issued")
    owner = _declaration(tx.conn, row["project_id"])["owner_organization_id"]
    account = ledger.get_account(tx.conn, account_id)
    if account["organization_id"] != owner:
        raise InvalidRequest(f"account {account_id} is not the project owner's (organisation {owner})")
    if row["buffer_kg"] and buffer_account_id is None:
        raise InvalidRequest(f"monitoring report {report_id} withholds {row['buffer_kg']:,} kgCO2e for the buffer: "
                             "name the registry's buffer account (buffer_account_id)")
    if buffer_account_id is not None and ledger.get_account(tx.conn, buffer_account_id)["kind"] != "buffer":
        raise InvalidRequest(f"account {buffer_account_id} is not a buffer account")
    if row["net_kg"] == 0:
        raise InvalidRequest(f"monitoring report {report_id} comes to 0 kgCO2e; there is nothing to issue")
    from_mrv = mrv_reports.submission(tx.conn, report_id) is not None
    if to_owners and not from_mrv:
        raise InvalidRequest(f"monitoring report {report_id} was uploaded in its methodology's template, which "
                             "names no site owners; its credits go to the project owner")
    if from_mrv:
        if vintage not in (None, row["period_end"].year):
            raise InvalidRequest(f"monitoring report {report_id} is issued with its period's vintage, "
                                 f"{row['period_end'].year}, not {vintage}")
        issued = mrv_reports.issue(tx, principal, row, data_dir, registry=registry, credit_type=credit_type,
                                   account_id=account_id, to_owners=to_owners)
        tx.entry("report.issued", report_id=report_id, **issued)
        return _move(tx, row, "issued", issuance_id=issued["issuance_id"])
    common = {"registry": registry, "project_id": row["project_id"], "credit_type": credit_type,
              "vintage": row["period_end"].year if vintage is None else vintage,
              "period_start": row["period_start"], "period_end": row["period_end"]}
    issued = {}
    if row["issuable_kg"]:
        result = ledger.issue(tx, principal, quantity=row["issuable_kg"], account_id=account_id, **common)
        issued["issuance_id"] = result.detail["id"] if result.detail else None
    if row["buffer_kg"]:
        assert buffer_account_id is not None
        result = ledger.issue(tx, principal, quantity=row["buffer_kg"], account_id=buffer_account_id, **common)
        issued["buffer_issuance_id"] = result.detail["id"] if result.detail else None
    tx.entry("report.issued", report_id=report_id, **issued)
    return _move(tx, row, "issued", **issued)


def monitoring_data(data_dir: Any, conn: Connection, row: RowMapping) -> tuple[bytes, str]:
    """The report's monitoring data as submitted, checked against its SHA-256, and its media type: the template
    CSV, or an MRV report's summary.json (whose file hashes name the rest of its archive)."""
    if mrv_reports.submission(conn, row["id"]) is not None:
        return mrv_reports.archived_summary(data_dir, row), "application/json"
    return attachments.read(data_dir, row["data_sha256"]), "text/csv; charset=utf-8"


def pending_steps(conn: Connection, *, now: Any = None) -> list[dict[str, Any]]:
    """Steps waiting on someone, oldest due first: declarations to review or decide, reports to verify or sign;
    each names the organisation whose step it is (``organization_id``)."""
    now = now or utcnow()
    operator = conn.execute(select(organizations.c.id).where(organizations.c.kind == "operator")).scalar()
    steps: list[dict[str, Any]] = []
    waiting = {"submitted": "operator: completeness review", "announced": "operator: approve or reject"}
    for row in conn.execute(select(declarations).where(declarations.c.status.in_(tuple(waiting)))).mappings():
        at = utc(row["due_at"])
        steps.append({"what": f"declaration {row['id']}", "name": row["name"], "step": waiting[row["status"]],
                      "organization_id": operator, "due_at": at, "overdue": now > at})
    steps_of_reports = {"submitted": "verifier: review", "verified": "operator: issuance sign-off"}
    for row in conn.execute(select(submitted_reports)
                            .where(submitted_reports.c.status.in_(tuple(steps_of_reports)))).mappings():
        at = due(utc(row["updated_at"]))
        steps.append({"what": f"monitoring report {row['id']}", "name": f"project {row['project_id']}",
                      "step": steps_of_reports[row["status"]],
                      "organization_id": row["verifier_organization_id"] if row["status"] == "submitted"
                      else operator, "due_at": at, "overdue": now > at})
    return sorted(steps, key=lambda step: step["due_at"])
