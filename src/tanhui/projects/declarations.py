"""Declaration use cases: declare, edit, submit, return, announce, comment, approve (register) or reject a project."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import InvalidRequest, NotFound, TooManyComments
from tanhui.fields import text
from tanhui.identity.principal import Principal
from tanhui.methodologies.catalogue import find
from tanhui.methodologies.methodology import Methodology
from tanhui.methodologies.monitoring_data import parse_design
from tanhui.methodologies.publication import require_published
from tanhui.projects import attachments
from tanhui.projects.lifecycle import ANNOUNCEMENT_DAYS, IllegalTransition, due, next_state
from tanhui.projects.tables import declaration_attachments, declaration_events, declarations, public_comments
from tanhui.registry import ledger
from tanhui.registry import serials as serial_format
from tanhui.registry.queries import utc
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

_REGION = re.compile(rf"^{serial_format.REGION_PATTERN}$")
# Individuals' names are personal data: the public sees their declarations without them.
PUBLIC_INDIVIDUAL = "个人 / individual"
# Public comments need no login; this bounds what one address can add to the journal.
COMMENTS_PER_HOUR = 10
COMMENT_WINDOW = timedelta(hours=1)


def _design_json(methodology: Methodology, design: Mapping[str, Any]) -> str:
    typed = parse_design(methodology, design)
    return json.dumps(typed, default=str, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def design_of(declaration: Mapping[Any, Any]) -> dict[str, Any]:
    """The stored design, typed again by its methodology's fields."""
    return parse_design(find(declaration["methodology"]), json.loads(declaration["design"]))


def get_declaration(conn: Connection, declaration_id: int) -> RowMapping:
    row = read_one(conn, declarations, declarations.c.id == declaration_id)
    if row is None:
        raise NotFound(f"declaration {declaration_id} does not exist")
    return row


def readable_declaration(conn: Connection, principal: Principal, declaration_id: int) -> RowMapping:
    """A declaration its owner, the operator or (once announced) anyone may read; others get 404."""
    row = get_declaration(conn, declaration_id)
    if not principal.may_read(row["owner_organization_id"]) and row["status"] not in ("announced", "approved"):
        raise NotFound(f"declaration {declaration_id} does not exist")
    return row


def _record(tx: UnitOfWork, principal: Principal, row: RowMapping, act: str, *, reason: str | None = None,
            **values: Any) -> RowMapping:
    """Move a declaration by ``act``, journaled with who, when and why."""
    status = next_state(f"declaration {row['id']}", row["status"], act)
    now = utcnow()
    tx.entry(f"declaration.{act}", declaration_id=row["id"], reason=reason)
    updated = tx.update(declarations, (declarations.c.id == row["id"]) & (declarations.c.status == row["status"]),
                        {"status": status, "updated_at": now, **values})
    if not updated:  # changed by someone else between our read and our write
        raise IllegalTransition(f"declaration {row['id']} changed meanwhile; read it again")
    tx.insert(declaration_events, {"declaration_id": row["id"], "action": act, "actor": principal.actor,
                                   "reason": reason, "at": now})
    return updated[0]


def declare(tx: UnitOfWork, principal: Principal, *, name: str, owner_organization_id: int, methodology: str,
            region: str, design: Mapping[str, Any]) -> RowMapping:
    """A project owner (or the operator for it) declares a project under a methodology version, as a draft."""
    owner = ledger.get_organization(tx.conn, owner_organization_id)
    if not principal.is_operator:
        principal.require_acts_for(owner["id"], f"organisation {owner['id']}")
    principal.require_write()
    version = find(methodology)
    require_published(tx.conn, version.reference)
    if not _REGION.match(region or ""):
        raise InvalidRequest(f"region code {region!r} must be 2-12 upper-case letters or digits, "
                             "starting with a letter")
    values = {"name": text(name, "project name", limit=200), "owner_organization_id": owner["id"],
              "methodology": version.reference, "region": region, "design": _design_json(version, design)}
    now = utcnow()
    tx.entry("declaration.declared", owner_organization_id=owner["id"], methodology=version.reference)
    row = tx.insert(declarations, {**values, "status": "draft", "announcement_ends_at": None, "due_at": None,
                                   "project_id": None, "created_at": now, "updated_at": now})
    tx.note(declaration_id=row["id"])
    tx.insert(declaration_events, {"declaration_id": row["id"], "action": "declared", "actor": principal.actor,
                                   "reason": None, "at": now})
    return row


def _owners(principal: Principal, row: RowMapping) -> None:
    if not principal.is_operator:
        principal.require_acts_for(row["owner_organization_id"], f"declaration {row['id']}")
    principal.require_write()


def edit(tx: UnitOfWork, principal: Principal, declaration_id: int, *, design: Mapping[str, Any],
         name: str | None = None) -> RowMapping:
    """Change a draft's or returned declaration's design (and name); the methodology version stays."""
    row = get_declaration(tx.conn, declaration_id)
    _owners(principal, row)
    values = {"design": _design_json(find(row["methodology"]), design)}
    if name is not None:
        values["name"] = text(name, "project name", limit=200) or ""
    return _record(tx, principal, row, "edited", **values)


def attach(tx: UnitOfWork, principal: Principal, data_dir: Any, declaration_id: int, *, filename: str,
           media_type: str, content: bytes) -> RowMapping:
    """The owner attaches evidence to a draft or returned declaration; the file is kept by its SHA-256."""
    row = get_declaration(tx.conn, declaration_id)
    _owners(principal, row)
    if row["status"] not in ("draft", "returned"):
        raise IllegalTransition(f"declaration {declaration_id} is {row['status']}; evidence is attached only while "
                                "it is draft or returned")
    name = text(filename, "file name", limit=200) or ""
    digest = attachments.store(data_dir, content, media_type)
    tx.entry("declaration.attached", declaration_id=declaration_id, sha256=digest)
    return tx.insert(declaration_attachments, {"declaration_id": declaration_id, "sha256": digest, "filename": name,
                                               "media_type": media_type, "size_bytes": len(content),
                                               "created_at": utcnow()})


def attachment(conn: Connection, principal: Principal, data_dir: Any, declaration_id: int,
               digest: str) -> tuple[RowMapping, bytes]:
    """One of a declaration's attachments and its bytes, for those who may read the declaration."""
    readable_declaration(conn, principal, declaration_id)
    row = conn.execute(select(declaration_attachments).where(
        declaration_attachments.c.declaration_id == declaration_id,
        declaration_attachments.c.sha256 == digest)).mappings().first()
    if row is None:
        raise NotFound(f"declaration {declaration_id} has no attachment {digest}")
    return row, attachments.read(data_dir, digest)


def submit(tx: UnitOfWork, principal: Principal, declaration_id: int) -> RowMapping:
    """Send a declaration to the operator's completeness review; refused unless the methodology applies."""
    row = get_declaration(tx.conn, declaration_id)
    _owners(principal, row)
    next_state(f"declaration {row['id']}", row["status"], "submitted")
    find(row["methodology"]).check_applicability(design_of(row))
    return _record(tx, principal, row, "submitted", due_at=due(utcnow()))


def return_for_changes(tx: UnitOfWork, principal: Principal, declaration_id: int, *, reason: str) -> RowMapping:
    """The operator's review finds the declaration incomplete: back to the owner with the reasons."""
    principal.require_operator("review declarations")
    row = get_declaration(tx.conn, declaration_id)
    return _record(tx, principal, row, "returned", reason=text(reason, "reason", limit=2000), due_at=None)


def announce(tx: UnitOfWork, principal: Principal, declaration_id: int, *, days: int) -> RowMapping:
    """The review passes: the declaration is announced to the public for ``days`` days of comments."""
    principal.require_operator("announce declarations")
    low, high = ANNOUNCEMENT_DAYS
    if isinstance(days, bool) or not isinstance(days, int) or not low <= days <= high:
        raise InvalidRequest(f"an announcement lasts {low}-{high} whole days, not {days!r}")
    row = get_declaration(tx.conn, declaration_id)
    ends = utcnow() + timedelta(days=days)
    return _record(tx, principal, row, "announced", reason=f"announced for {days} days",
                   announcement_ends_at=ends, due_at=due(ends))


def comment(tx: UnitOfWork, declaration_id: int, *, author: str, body: str,
            source: str | None = None) -> RowMapping:
    """Anyone comments on an announced declaration until its announcement ends; one ``source`` (a keyed hash
    of the client's address) sends at most ``COMMENTS_PER_HOUR`` comments an hour."""
    row = get_declaration(tx.conn, declaration_id)
    now = utcnow()
    if row["status"] != "announced" or now >= utc(row["announcement_ends_at"]):
        raise IllegalTransition(f"declaration {declaration_id} is not open for public comments")
    values = {"declaration_id": declaration_id, "author": text(author, "author", limit=100),
              "body": text(body, "comment", limit=5000), "created_at": now, "source": source}
    if source is not None:
        # A count, not a lock: two comments at the same instant may pass one over the limit, which is harmless.
        sent = tx.conn.execute(select(func.count()).select_from(public_comments).where(
            public_comments.c.source == source, public_comments.c.created_at >= now - COMMENT_WINDOW)).scalar_one()
        if sent >= COMMENTS_PER_HOUR:
            raise TooManyComments(f"this address has sent {sent} public comments in the last hour, as many as "
                                  "an hour allows; try again later", retry_after=int(COMMENT_WINDOW.total_seconds()))
    tx.entry("declaration.commented", declaration_id=declaration_id)
    return tx.insert(public_comments, values)


def approve(tx: UnitOfWork, principal: Principal, declaration_id: int, *, reason: str | None = None) -> RowMapping:
    """After the announcement, the operator approves: the project is registered, pinned to its version."""
    principal.require_operator("approve declarations")
    row = get_declaration(tx.conn, declaration_id)
    next_state(f"declaration {row['id']}", row["status"], "approved")
    if utcnow() < utc(row["announcement_ends_at"]):
        raise IllegalTransition(f"declaration {declaration_id} is announced until "
                                f"{row['announcement_ends_at'].isoformat(timespec='minutes')}; approve after that")
    version = find(row["methodology"])
    project = ledger.register_project(tx, principal, name=row["name"],
                                      owner_organization_id=row["owner_organization_id"],
                                      methodology=version.code, region=row["region"])
    return _record(tx, principal, row, "approved", reason=text(reason, "reason", limit=2000, required=False),
                   project_id=project["id"], due_at=None)


def reject(tx: UnitOfWork, principal: Principal, declaration_id: int, *, reason: str) -> RowMapping:
    """The operator refuses the declaration, for good, with the reasons."""
    principal.require_operator("reject declarations")
    row = get_declaration(tx.conn, declaration_id)
    return _record(tx, principal, row, "rejected", reason=text(reason, "reason", limit=2000), due_at=None)


def declaration_view(conn: Connection, principal: Principal | None, declaration_id: int) -> dict[str, Any]:
    """A declaration with its history and comments; the public (``principal`` None) sees announced ones only."""
    if principal is None:
        row = get_declaration(conn, declaration_id)
        if row["status"] not in ("announced", "approved"):
            raise NotFound(f"declaration {declaration_id} is not announced")
    else:
        row = readable_declaration(conn, principal, declaration_id)
    view = dict(row)
    view["design"] = json.loads(row["design"])
    owner = ledger.get_organization(conn, row["owner_organization_id"])
    view["owner_name"] = PUBLIC_INDIVIDUAL if owner["kind"] == "individual" else owner["name"]
    shows_actors = principal is not None and principal.may_read(row["owner_organization_id"])
    view["events"] = [
        {"action": e["action"], "at": e["at"], "reason": e["reason"],
         **({"actor": e["actor"]} if shows_actors else {})}
        for e in conn.execute(select(declaration_events).where(declaration_events.c.declaration_id == row["id"])
                              .order_by(declaration_events.c.id)).mappings()
    ]
    view["attachments"] = [
        {k: a[k] for k in ("sha256", "filename", "media_type", "size_bytes", "created_at")}
        for a in conn.execute(select(declaration_attachments).where(
            declaration_attachments.c.declaration_id == row["id"]).order_by(declaration_attachments.c.id)).mappings()
    ] if shows_actors else []
    view["comments"] = [dict(c) for c in conn.execute(
        select(public_comments).where(public_comments.c.declaration_id == row["id"]).order_by(public_comments.c.id)
    ).mappings()]
    return view
