"""Reminders of pending lifecycle steps: due soon and overdue, each sent once to the responsible organisation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.identity.principal import Principal
from tanhui.projects.reports import pending_steps
from tanhui.projects.tables import reminders
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork

# A step's first reminder comes this long before it is due; the second when it is overdue.
DUE_SOON = timedelta(days=2)


def send(tx: UnitOfWork, principal: Principal, *, now: datetime | None = None) -> list[RowMapping]:
    """Deliver the reminders that are due now and were not sent yet; returns those sent (a rerun sends none)."""
    principal.require_operator("send lifecycle reminders")
    now = now or utcnow()
    steps = pending_steps(tx.conn, now=now)
    whats = sorted({step["what"] for step in steps})
    sent = {(r.what, r.step, r.kind) for r in tx.conn.execute(
        select(reminders.c.what, reminders.c.step, reminders.c.kind).where(reminders.c.what.in_(whats)))}
    delivered = []
    for step in steps:
        kind = "overdue" if step["overdue"] else "due_soon" if now >= step["due_at"] - DUE_SOON else None
        if kind is None or (step["what"], step["step"], kind) in sent or step["organization_id"] is None:
            continue
        tx.entry("reminder.sent", what=step["what"], step=step["step"], kind=kind,
                 organization_id=step["organization_id"])
        # The unique key (what, step, kind) is the guarantee when two reminder jobs overlap.
        delivered.append(tx.insert(reminders, {
            "organization_id": step["organization_id"], "what": step["what"], "step": step["step"],
            "name": step["name"], "kind": kind, "due_at": step["due_at"], "sent_at": now}))
    return delivered


def inbox(conn: Connection, principal: Principal, *, limit: int = 100) -> list[dict[str, Any]]:
    """The caller's organisation's reminders, newest first."""
    rows = conn.execute(select(reminders).where(reminders.c.organization_id == principal.organization_id)
                        .order_by(reminders.c.id.desc()).limit(limit)).mappings()
    return [dict(row) for row in rows]
