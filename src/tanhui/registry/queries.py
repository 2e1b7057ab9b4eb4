"""Read-side queries: what the API shows of organisations, accounts, acts, serials and the public register.

Every function reads through one connection and returns plain dictionaries.  Those that take a ``viewer``
apply the read rules here, so no caller can forget them: a principal reads only what ``may_read`` allows
(else PermissionDenied), and account ids of other organisations are shown as None.  Lists are keyset
pages: a function takes the key of the last row already seen (``after``) and returns the next key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select, tuple_
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import InvalidRequest, NotFound, PermissionDenied
from tanhui.identity.principal import Principal
from tanhui.identity.tables import api_keys, organizations
from tanhui.journal.tables import journal_head
from tanhui.registry.blocks import State, merge_spans
from tanhui.registry.ledger import (
    ActResult,
    get_account,
    get_issuance,
    get_organization,
    resolve_serial_range,
    serial_of,
)
from tanhui.registry.tables import (
    accounts,
    acts,
    blocks,
    cancellations,
    issuances,
    movements,
    pledges,
    projects,
    retirements,
)
from tanhui.unit_of_work import read_one

Row = dict[str, Any]
# What the public register shows instead of an individual's name.
INDIVIDUAL = "个人 / individual"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list and the key to continue after it (None on the last page)."""

    items: list[Row]
    next_key: tuple[int, ...] | None


def utc(value: datetime) -> datetime:
    """A stored time in UTC (SQLite hands back naive UTC values, PostgreSQL the session's zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _keyset(rows: Sequence[RowMapping], limit: int,
            *key: str) -> tuple[Sequence[RowMapping], tuple[int, ...] | None]:
    """Rows of a page fetched with ``limit + 1`` and the key of its last row when more follow."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, tuple(int(rows[-1][k]) for k in key)


def _readable(viewer: Principal, organization_id: int, what: str) -> None:
    if not viewer.may_read(organization_id):
        raise PermissionDenied(f"{what} belongs to another organisation")


def _account_orgs(conn: Connection, account_ids: Iterable[int | None]) -> dict[int, int]:
    ids = {a for a in account_ids if a is not None}
    if not ids:
        return {}
    rows = conn.execute(select(accounts.c.id, accounts.c.organization_id).where(accounts.c.id.in_(ids)))
    return {r.id: r.organization_id for r in rows}


def _shown(viewer: Principal, account_id: int | None, orgs: Mapping[int, int]) -> int | None:
    """An account id as a viewer may see it: only the operator and the holder's organisation see it."""
    if account_id is None or not viewer.may_read(orgs[account_id]):
        return None
    return account_id


def _issuances_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, RowMapping]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {r["id"]: r for r in conn.execute(select(issuances).where(issuances.c.id.in_(wanted))).mappings()}


def _serials(spans: Iterable[tuple[int, int, int]], by_id: Mapping[int, RowMapping]) -> list[str]:
    """Serial ranges of (issuance_id, first, last) spans, adjacent spans of one issuance merged."""
    return [serial_of(by_id[i], first, last) for i, first, last in merge_spans(spans)]


def _act_serials(conn: Connection, act_ids: Sequence[int],
                 where: ColumnElement[bool] | None = None) -> dict[int, list[str]]:
    """The serial ranges each act moved (optionally only its movements matching ``where``)."""
    if not act_ids:
        return {}
    query = select(movements.c.act_id, movements.c.issuance_id, movements.c.first, movements.c.last).where(
        movements.c.act_id.in_(act_ids))
    if where is not None:
        query = query.where(where)
    spans: dict[int, list[tuple[int, int, int]]] = {a: [] for a in act_ids}
    for row in conn.execute(query):
        spans[row.act_id].append((row.issuance_id, row.first, row.last))
    by_id = _issuances_by_id(conn, (s[0] for ss in spans.values() for s in ss))
    return {act_id: _serials(s, by_id) for act_id, s in spans.items()}


# ---------------------------------------------------------------- organisations and API keys

def _organization(row: RowMapping) -> Row:
    return {"id": row["id"], "name": row["name"], "kind": row["kind"], "created_at": utc(row["created_at"])}


def organization(conn: Connection, viewer: Principal, organization_id: int) -> Row:
    row = get_organization(conn, organization_id)
    _readable(viewer, organization_id, f"organisation {organization_id}")
    return _organization(row)


def organizations_page(conn: Connection, viewer: Principal, *, after: tuple[int, ...] | None,
                       limit: int) -> Page:
    """Every organisation for the operator; a member's own organisation for anyone else."""
    owner = None if viewer.is_operator else viewer.organization_id
    rows, next_key = _owned_rows(conn, organizations, organizations.c.id, owner, after=after, limit=limit)
    return Page([_organization(r) for r in rows], next_key)


def _owned_rows(conn: Connection, table: Table, owner_column: ColumnElement[int], owner: int | None, *,
                after: tuple[int, ...] | None, limit: int) -> tuple[Sequence[RowMapping], tuple[int, ...] | None]:
    """A keyset page of ``table`` in id order, only the rows of organisation ``owner`` unless it is None."""
    query = select(table).order_by(table.c.id).limit(limit + 1)
    if owner is not None:
        query = query.where(owner_column == owner)
    if after is not None:
        query = query.where(table.c.id > after[0])
    return _keyset(conn.execute(query).mappings().all(), limit, "id")


def api_key(row: RowMapping) -> Row:
    """An API key as shown to its organisation's admins: never its secret."""
    view = {k: row[k] for k in ("id", "organization_id", "name", "role", "prefix", "created_by")}
    return view | {"created_at": utc(row["created_at"]),
                   "revoked_at": utc(row["revoked_at"]) if row["revoked_at"] else None}


def api_keys_page(conn: Connection, viewer: Principal, *, after: tuple[int, ...] | None, limit: int) -> Page:
    """The API keys of the viewer's organisation (its admins only)."""
    viewer.require_admin_of(viewer.organization_id)
    query = (select(api_keys).where(api_keys.c.organization_id == viewer.organization_id)
             .order_by(api_keys.c.id).limit(limit + 1))
    if after is not None:
        query = query.where(api_keys.c.id > after[0])
    rows, next_key = _keyset(conn.execute(query).mappings().all(), limit, "id")
    return Page([api_key(r) for r in rows], next_key)


# ---------------------------------------------------------------- accounts

def _final_balances(conn: Connection, account_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Units each account has retired, cancelled or had revoked (they stay where they ended)."""
    totals: dict[int, dict[str, int]] = {a: dict.fromkeys(State.FINAL, 0) for a in account_ids}
    if account_ids:
        rows = conn.execute(
            select(blocks.c.account_id, blocks.c.state, func.sum(blocks.c.quantity).label("units"))
            .where(blocks.c.account_id.in_(account_ids), blocks.c.state.in_(State.FINAL))
            .group_by(blocks.c.account_id, blocks.c.state)
        )
        for row in rows:
            totals[row.account_id][row.state] = int(row.units)
    return totals


def _accounts(conn: Connection, rows: Sequence[RowMapping]) -> list[Row]:
    final = _final_balances(conn, [r["id"] for r in rows])
    return [{
        "id": r["id"], "organization_id": r["organization_id"], "kind": r["kind"], "name": r["name"],
        "created_at": utc(r["created_at"]),
        "balances": {"available": r["available"], "pledged": r["pledged"], **final[r["id"]]},
    } for r in rows]


def account(conn: Connection, viewer: Principal, account_id: int) -> Row:
    row = get_account(conn, account_id)
    _readable(viewer, row["organization_id"], f"account {account_id}")
    return _accounts(conn, [row])[0]


def accounts_page(conn: Connection, viewer: Principal, *, organization_id: int | None,
                  after: tuple[int, ...] | None, limit: int) -> Page:
    """Accounts the viewer may read (the operator: all, or one organisation's), in id order."""
    if organization_id is not None:
        get_organization(conn, organization_id)
        _readable(viewer, organization_id, f"organisation {organization_id}")
    elif not viewer.is_operator:
        organization_id = viewer.organization_id
    rows, next_key = _owned_rows(conn, accounts, accounts.c.organization_id, organization_id, after=after,
                                 limit=limit)
    return Page(_accounts(conn, rows), next_key)


def account_blocks(conn: Connection, viewer: Principal, account_id: int, *, state: str | None,
                   after: tuple[int, ...] | None, limit: int) -> Page:
    """An account's blocks in the order quantity transfers take them: by issuance, then serial."""
    account(conn, viewer, account_id)
    query = (select(blocks, issuances.c.project_id, issuances.c.vintage)
             .join(issuances, issuances.c.id == blocks.c.issuance_id)
             .where(blocks.c.account_id == account_id)
             .order_by(blocks.c.issuance_id, blocks.c.first).limit(limit + 1))
    if state is not None:
        query = query.where(blocks.c.state == state)
    if after is not None:
        query = query.where(tuple_(blocks.c.issuance_id, blocks.c.first) > tuple_(*after))
    rows, next_key = _keyset(conn.execute(query).mappings().all(), limit, "issuance_id", "first")
    by_id = _issuances_by_id(conn, {r["issuance_id"] for r in rows})
    return Page([{
        "serial": serial_of(by_id[r["issuance_id"]], r["first"], r["last"]), "issuance_id": r["issuance_id"],
        "first": r["first"], "last": r["last"], "quantity": r["quantity"], "state": r["state"],
        "pledge_id": r["pledge_id"], "vintage": r["vintage"], "project_id": r["project_id"],
    } for r in rows], next_key)


def _balance_changes(account_id: int) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """How one movement changes an account's (available, pledged) balances, as SQL expressions."""
    units = movements.c.last - movements.c.first + 1

    def change(state: str) -> ColumnElement[int]:
        into = and_(movements.c.to_account_id == account_id, movements.c.to_state == state)
        out_of = and_(movements.c.from_account_id == account_id, movements.c.from_state == state)
        return case((into, units), else_=0) - case((out_of, units), else_=0)

    return change(State.AVAILABLE), change(State.PLEDGED)


def statement_page(conn: Connection, viewer: Principal, account_id: int, *, since: datetime | None,
                   until: datetime | None, after: tuple[int, ...] | None, limit: int) -> Page:
    """One row per act that touched the account, in act order, with the balances after each.

    Acts on one account are serialised by its row lock and numbered inside it, so act id order is the
    order the balances changed in; the running balances start from the sum of every earlier act's changes.
    """
    account(conn, viewer, account_id)
    touching = or_(movements.c.from_account_id == account_id, movements.c.to_account_id == account_id)
    available, pledged = _balance_changes(account_id)
    act_columns = (acts.c.kind, acts.c.created_at, acts.c.account_id, acts.c.to_account_id)
    query = (select(movements.c.act_id, *act_columns, func.sum(available).label("available"),
                    func.sum(pledged).label("pledged"))
             .join(acts, acts.c.id == movements.c.act_id).where(touching)
             .group_by(movements.c.act_id, *act_columns)
             .order_by(movements.c.act_id).limit(limit + 1))
    if since is not None:
        query = query.where(acts.c.created_at >= since)
    if until is not None:
        query = query.where(acts.c.created_at < until)
    if after is not None:
        query = query.where(movements.c.act_id > after[0])
    rows, next_key = _keyset(conn.execute(query).mappings().all(), limit, "act_id")
    if not rows:
        return Page([], None)
    before = conn.execute(
        select(func.coalesce(func.sum(available), 0), func.coalesce(func.sum(pledged), 0))
        .where(touching, movements.c.act_id < rows[0]["act_id"])
    ).one()
    running_available, running_pledged = int(before[0]), int(before[1])
    serials = _act_serials(conn, [r["act_id"] for r in rows], touching)
    items = []
    for r in rows:
        running_available += int(r["available"])
        running_pledged += int(r["pledged"])
        counterparty = None
        if r["kind"] == "transfer":
            counterparty = r["to_account_id"] if r["account_id"] == account_id else r["account_id"]
        items.append({
            "act_id": r["act_id"], "at": utc(r["created_at"]), "kind": r["kind"],
            "counterparty_account_id": counterparty, "serials": serials[r["act_id"]],
            "available_change": int(r["available"]), "pledged_change": int(r["pledged"]),
            "available_after": running_available, "pledged_after": running_pledged,
        })
    return Page(items, next_key)


# ---------------------------------------------------------------- projects

def _project(row: RowMapping) -> Row:
    view = {k: row[k] for k in ("id", "name", "owner_organization_id", "methodology", "region", "status")}
    return view | {"created_at": utc(row["created_at"])}


def project(conn: Connection, viewer: Principal, project_id: int) -> Row:
    row = read_one(conn, projects, projects.c.id == project_id)
    if row is None:
        raise NotFound(f"project {project_id} does not exist")
    _readable(viewer, row["owner_organization_id"], f"project {project_id}")
    return _project(row)


def projects_page(conn: Connection, viewer: Principal, *, after: tuple[int, ...] | None, limit: int) -> Page:
    """Every project for the operator; an organisation's own projects for anyone else."""
    owner = None if viewer.is_operator else viewer.organization_id
    rows, next_key = _owned_rows(conn, projects, projects.c.owner_organization_id, owner, after=after, limit=limit)
    return Page([_project(r) for r in rows], next_key)


# ---------------------------------------------------------------- issuances, acts and pledges

def _issuance(conn: Connection, viewer: Principal, row: RowMapping) -> Row:
    issued = conn.execute(
        select(movements.c.first, movements.c.last).where(movements.c.act_id == row["act_id"])
        .order_by(movements.c.first)
    ).all()
    orgs = _account_orgs(conn, [row["account_id"]])
    return {
        **{k: row[k] for k in ("id", "act_id", "project_id", "registry", "region", "credit_type", "vintage",
                               "period_start", "period_end", "quantity")},
        "account_id": _shown(viewer, row["account_id"], orgs), "serial": serial_of(row, 1, row["quantity"]),
        "blocks": [{"serial": serial_of(row, m.first, m.last), "first": m.first, "last": m.last,
                    "quantity": m.last - m.first + 1} for m in issued],
        "created_at": utc(row["created_at"]),
    }


def issuance(conn: Connection, viewer: Principal, issuance_id: int) -> Row:
    """An issuance; its facts are public, its account is shown only to those who may read it."""
    return _issuance(conn, viewer, get_issuance(conn, issuance_id))


def _pledge_parties(conn: Connection, row: RowMapping) -> set[int]:
    return {row["bank_organization_id"], *_account_orgs(conn, [row["account_id"]]).values()}


def _pledge(conn: Connection, row: RowMapping) -> Row:
    act = read_one(conn, acts, acts.c.id == row["act_id"])
    assert act is not None  # foreign key
    return {
        "id": row["id"], "act_id": row["act_id"], "account_id": row["account_id"],
        "bank_organization_id": row["bank_organization_id"], "quantity": row["quantity"],
        "status": row["status"], "release_act_id": row["release_act_id"], "note": row["note"],
        "serials": _act_serials(conn, [row["act_id"]])[row["act_id"]], "created_at": utc(act["created_at"]),
    }


def pledge(conn: Connection, viewer: Principal, pledge_id: int) -> Row:
    """A pledge, for the operator, the pledging organisation and the pledgee bank."""
    row = read_one(conn, pledges, pledges.c.id == pledge_id)
    if row is None:
        raise NotFound(f"pledge {pledge_id} does not exist")
    if not viewer.is_operator and viewer.organization_id not in _pledge_parties(conn, row):
        raise PermissionDenied(f"pledge {pledge_id} belongs to other organisations")
    return _pledge(conn, row)


def act(conn: Connection, viewer: Principal, act_id: int) -> Row:
    """One act (transaction) with its kind's details, for the operator and the organisations it touched."""
    row = read_one(conn, acts, acts.c.id == act_id)
    if row is None:
        raise NotFound(f"act {act_id} does not exist")
    moved = conn.execute(select(movements).where(movements.c.act_id == act_id)).mappings().all()
    parties = set(_account_orgs(conn, [row["account_id"], row["to_account_id"],
                                       *(m["from_account_id"] for m in moved),
                                       *(m["to_account_id"] for m in moved)]).values())
    lien = None
    if row["kind"] in ("pledge", "release"):
        column = pledges.c.act_id if row["kind"] == "pledge" else pledges.c.release_act_id
        lien = read_one(conn, pledges, column == act_id)
        assert lien is not None  # every pledge and release act has its pledge row
        parties.add(lien["bank_organization_id"])
    if not viewer.is_operator and viewer.organization_id not in parties:
        raise PermissionDenied(f"act {act_id} touched only other organisations' accounts")
    table = _DETAILS.get(row["kind"])
    detail = None if table is None else read_one(conn, table, table.c.act_id == act_id)
    serials = _serials(((m["issuance_id"], m["first"], m["last"]) for m in moved),
                       _issuances_by_id(conn, {m["issuance_id"] for m in moved}))
    return _act_view(conn, viewer, row, serials, detail, lien)


def recorded_act(conn: Connection, actor: Principal, result: ActResult) -> Row:
    """An act its use case has just recorded, shown as ``act`` will show it, from the use case's result.

    It spares the write path the reads ``act`` makes: the result already holds the act, its serials and
    its kind's record (the pledge itself, for pledges and releases).
    """
    lien = result.detail if result.act["kind"] in ("pledge", "release") else None
    detail = None if lien is not None else result.detail
    return _act_view(conn, actor, result.act, result.serials, detail, lien)


# The record each kind of act keeps besides the act itself (pledges and releases share the pledge).
_DETAILS = {"issuance": issuances, "retirement": retirements, "cancellation": cancellations}


def _act_view(conn: Connection, viewer: Principal, row: RowMapping, serials: list[str],
              detail: RowMapping | None, lien: RowMapping | None) -> Row:
    view: Row = {
        "id": row["id"], "kind": row["kind"], "quantity": row["quantity"], "serials": serials,
        "created_at": utc(row["created_at"]), "actor": row["actor"], "account_id": row["account_id"],
        "to_account_id": row["to_account_id"], "reason": row["reason"],
        "issuance": None, "retirement": None, "cancellation": None, "pledge": None,
    }
    if row["kind"] == "issuance":
        assert detail is not None
        view["issuance"] = _issuance(conn, viewer, detail)
    elif row["kind"] == "retirement":
        assert detail is not None
        view["retirement"] = {k: detail[k]
                              for k in ("beneficiary", "purpose", "period_start", "period_end", "note")}
    elif row["kind"] == "cancellation":
        assert detail is not None
        view["cancellation"] = {"purpose": detail["purpose"], "compliance_year": detail["compliance_year"]}
    elif lien is not None:
        view["pledge"] = _pledge(conn, lien)
    return view


# ---------------------------------------------------------------- serial lifecycle

def lifecycle(conn: Connection, viewer: Principal, serial: str, *, after: tuple[int, ...] | None,
              limit: int) -> tuple[Row, tuple[int, ...] | None]:
    """Everything that happened to a serial range: its issuance, every movement in order, its blocks now.

    The events are paged (``after`` is a movement id); the current blocks come with every page.
    """
    try:
        issued, first, last = resolve_serial_range(conn, serial)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.detail, field="serial") from exc
    overlaps = and_(movements.c.issuance_id == issued["id"], movements.c.first <= last,
                    movements.c.last >= first)
    query = (select(movements, acts.c.kind, acts.c.created_at).join(acts, acts.c.id == movements.c.act_id)
             .where(overlaps).order_by(movements.c.id).limit(limit + 1))
    if after is not None:
        query = query.where(movements.c.id > after[0])
    events, next_key = _keyset(conn.execute(query).mappings().all(), limit, "id")
    current = conn.execute(
        select(blocks).where(blocks.c.issuance_id == issued["id"], blocks.c.first <= last,
                             blocks.c.last >= first).order_by(blocks.c.first)
    ).mappings().all()
    orgs = _account_orgs(conn, [*(e["from_account_id"] for e in events),
                                *(e["to_account_id"] for e in events), *(b["account_id"] for b in current)])
    view = {
        "serial": serial_of(issued, first, last), "quantity": last - first + 1,
        "issuance": _issuance(conn, viewer, issued),
        "events": [{
            "act_id": e["act_id"], "kind": e["kind"], "at": utc(e["created_at"]),
            "serial": serial_of(issued, max(e["first"], first), min(e["last"], last)),
            "from_account_id": _shown(viewer, e["from_account_id"], orgs),
            "to_account_id": _shown(viewer, e["to_account_id"], orgs),
            "from_state": e["from_state"], "to_state": e["to_state"],
        } for e in events],
        "blocks": [{
            "serial": serial_of(issued, b["first"], b["last"]), "first": b["first"], "last": b["last"],
            "quantity": b["quantity"], "state": b["state"],
            "account_id": _shown(viewer, b["account_id"], orgs),
        } for b in current],
    }
    return view, next_key


# ---------------------------------------------------------------- the public register

def public_issuances_page(conn: Connection, *, after: tuple[int, ...] | None, limit: int) -> Page:
    """Issuances as the public sees them: no accounts, and no names of individuals."""
    query = (select(issuances, projects.c.name.label("project"), projects.c.methodology,
                    organizations.c.name.label("owner"), organizations.c.kind.label("owner_kind"))
             .join(projects, projects.c.id == issuances.c.project_id)
             .join(organizations, organizations.c.id == projects.c.owner_organization_id)
             .order_by(issuances.c.id).limit(limit + 1))
    if after is not None:
        query = query.where(issuances.c.id > after[0])
    rows, next_key = _keyset(conn.execute(query).mappings().all(), limit, "id")
    return Page([{
        "serial": serial_of(r, 1, r["quantity"]), "project": r["project"], "methodology": r["methodology"],
        "region": r["region"], "vintage": r["vintage"], "period_start": r["period_start"],
        "period_end": r["period_end"], "quantity": r["quantity"], "credit_type": r["credit_type"],
        "issued_at": utc(r["created_at"]),
        "owner_organization": None if r["owner_kind"] == "individual" else r["owner"],
    } for r in rows], next_key)


def public_retirements_page(conn: Connection, *, after: tuple[int, ...] | None, limit: int) -> Page:
    """Retirements as the public sees them: the claim, never accounts, actors, notes or individuals' names."""
    query = (select(acts.c.id, acts.c.quantity, acts.c.created_at, retirements.c.beneficiary,
                    retirements.c.purpose, retirements.c.period_start, retirements.c.period_end,
                    organizations.c.kind.label("holder_kind"))
             .join(retirements, retirements.c.act_id == acts.c.id)
             .join(accounts, accounts.c.id == acts.c.account_id)
             .join(organizations, organizations.c.id == accounts.c.organization_id)
             .order_by(acts.c.id).limit(limit + 1))
    if after is not None:
        query = query.where(acts.c.id > after[0])
    rows, next_key = _keyset(conn.execute(query).mappings().all(), limit, "id")
    ids = [r["id"] for r in rows]
    serials = _act_serials(conn, ids)
    origins: dict[int, list[Row]] = {i: [] for i in ids}
    if ids:
        for o in conn.execute(
            select(movements.c.act_id, projects.c.name, projects.c.methodology, issuances.c.vintage)
            .distinct()
            .join(issuances, issuances.c.id == movements.c.issuance_id)
            .join(projects, projects.c.id == issuances.c.project_id)
            .where(movements.c.act_id.in_(ids))
            .order_by(movements.c.act_id, projects.c.name, issuances.c.vintage)
        ):
            origins[o.act_id].append({"project": o.name, "methodology": o.methodology, "vintage": o.vintage})
    return Page([{
        "id": r["id"], "serials": serials[r["id"]], "quantity": r["quantity"],
        "beneficiary": INDIVIDUAL if r["holder_kind"] == "individual" else r["beneficiary"],
        "purpose": r["purpose"], "period_start": r["period_start"], "period_end": r["period_end"],
        "retired_at": utc(r["created_at"]), "projects": origins[r["id"]],
    } for r in rows], next_key)


def journal_head_view(conn: Connection) -> Row:
    """The journal's newest sequence number and hash, for anchoring it outside the registry."""
    head = conn.execute(select(journal_head.c.seq, journal_head.c.hash).where(journal_head.c.id == 1)).one()
    return {"seq": head.seq, "hash": head.hash}
