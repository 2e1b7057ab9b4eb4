"""Registry use cases: open accounts, register projects, issue, transfer, retire, cancel, pledge, release, revoke.

Each runs inside a UnitOfWork and follows one locking discipline: first change the balances of every
account it touches, in ascending id order, with guarded updates that refuse to go below zero (this takes
the row locks on PostgreSQL; SQLite already holds its write lock); only then read the blocks, which no
one else can touch while the accounts are locked; then lock the issuances whose blocks it splits, in
ascending id order (see ``_lock_issuances``), and split them; the journal head is locked last, at commit.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import bindparam, or_, select, tuple_, update
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import (
    Conflict,
    InsufficientHoldings,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    TanhuiError,
)
from tanhui.fields import text as _text
from tanhui.identity.principal import Principal
from tanhui.identity.tables import organizations
from tanhui.prepared import Prepared
from tanhui.registry import on_server, sqlite_transfer
from tanhui.registry import serials as serial_format
from tanhui.registry.blocks import (
    SHAPE_COLUMNS,
    Block,
    State,
    Take,
    cover_range,
    ranges,
    shape,
    take_quantity,
    total,
)
from tanhui.registry.tables import (
    ACCOUNT_KINDS,
    CANCELLATION_PURPOSES,
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
from tanhui.types import MAX_QUANTITY, utcnow
from tanhui.unit_of_work import Change, Read, UnitOfWork, deleting, inserting, read_one

_METHODOLOGY = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,39}$")
_REGION = re.compile(rf"^{serial_format.REGION_PATTERN}$")
_CREDIT_TYPE = re.compile(rf"^{serial_format.CREDIT_TYPE_PATTERN}$")
# Accounts whose units may be sent elsewhere; retirement and compliance accounts only receive and end units.
SENDING_KINDS = ("holding", "buffer", "escrow")
ENDING_KINDS = ("holding", "retirement", "compliance")
OPERATOR_ONLY_KINDS = ("buffer", "escrow")
# Most acts take one or two blocks: the first page of an account's blocks is small, later ones larger.
_FIRST_PAGE, _PAGE = 4, 64

# The hot paths' statements, prepared once (see ``tanhui.prepared``): building a statement costs several
# times more than running it, and SQLAlchemy's per-execution work as much again.
_ACCOUNT = Prepared(select(accounts).where(accounts.c.id == bindparam("id")))
_ISSUANCE = select(issuances).where(issuances.c.id == bindparam("id"))
_READ_ISSUANCE = Prepared(_ISSUANCE)
# FOR NO KEY UPDATE: see _lock_issuances.
_LOCK_ISSUANCE = Prepared(_ISSUANCE.with_for_update(key_share=True))
_BALANCE = Prepared(
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"), accounts.c.available >= bindparam("b_min_available"),
           accounts.c.pledged >= bindparam("b_min_pledged"))
    .values(available=accounts.c.available + bindparam("b_available"),
            pledged=accounts.c.pledged + bindparam("b_pledged"))
    .returning(*accounts.columns)
)
_AVAILABLE_BLOCKS = (
    select(blocks).where(blocks.c.account_id == bindparam("account"), blocks.c.state == State.AVAILABLE)
    .order_by(blocks.c.issuance_id, blocks.c.first)
)
_AVAILABLE = Prepared(_AVAILABLE_BLOCKS.limit(_FIRST_PAGE))
_AVAILABLE_AFTER = Prepared(_AVAILABLE_BLOCKS.where(
    tuple_(blocks.c.issuance_id, blocks.c.first) > tuple_(bindparam("after_issuance"), bindparam("after_first"))
).limit(_PAGE))
_SHAPED = (*SHAPE_COLUMNS, "account_id", "state", "pledge_id")
_RESHAPE = Prepared(
    update(blocks).where(blocks.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _SHAPED}).returning(*blocks.columns)
)
_NEIGHBOURS = Prepared(select(blocks).where(
    blocks.c.issuance_id == bindparam("issuance"),
    or_(blocks.c.last == bindparam("before"), blocks.c.first == bindparam("after")),
))


@dataclass
class ActResult:
    """What an act did: its row, its kind-specific record and the serial ranges it touched."""

    act: RowMapping
    serials: list[str]
    movements: list[RowMapping]
    detail: RowMapping | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- validation helpers

def check_quantity(quantity: object, what: str = "quantity") -> int:
    """A positive whole number of kgCO2e no larger than MAX_QUANTITY."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidRequest(f"{what} must be a whole number of kgCO2e, not {quantity!r}")
    if quantity <= 0:
        raise InvalidRequest(f"{what} must be positive, got {quantity}")
    if quantity > MAX_QUANTITY:
        raise InvalidRequest(f"{what} {quantity} exceeds the largest allowed, {MAX_QUANTITY} kgCO2e (1 Gt)")
    return quantity


def _one_of(quantity: int | None, serial_range: str | None) -> None:
    if (quantity is None) == (serial_range is None):
        raise InvalidRequest("give exactly one of quantity and serial_range")


def get_account(conn: Connection, account_id: int) -> RowMapping:
    row = _ACCOUNT.first(conn, {"id": account_id})
    if row is None:
        raise NotFound(f"account {account_id} does not exist")
    return row


def get_organization(conn: Connection, organization_id: int) -> RowMapping:
    row = read_one(conn, organizations, organizations.c.id == organization_id)
    if row is None:
        raise NotFound(f"organisation {organization_id} does not exist")
    return row


def get_issuance(conn: Connection, issuance_id: int) -> RowMapping:
    row = _READ_ISSUANCE.first(conn, {"id": issuance_id})
    if row is None:
        raise NotFound(f"issuance {issuance_id} does not exist")
    return row


def serial_of(issuance: RowMapping, first: int, last: int) -> str:
    return serial_format.format_serial(
        registry=issuance["registry"], region=issuance["region"], credit_type=issuance["credit_type"],
        project_id=issuance["project_id"], vintage=issuance["vintage"], issuance_id=issuance["id"],
        first=first, last=last,
    )


def resolve_serial_range(conn: Connection, text: str) -> tuple[RowMapping, int, int]:
    """The issuance and unit range a serial range names, checking every part against the issuance."""
    try:
        serial = serial_format.parse_serial(text)
    except serial_format.SerialError as exc:
        raise InvalidRequest(str(exc), field="serial_range") from exc
    issuance = get_issuance(conn, serial.issuance_id)
    expected = serial_format.parse_serial(serial_of(issuance, 1, issuance["quantity"]))
    for part in ("registry", "region", "credit_type", "project_id", "vintage"):
        if getattr(serial, part) != getattr(expected, part):
            raise InvalidRequest(
                f"serial {text!r} names {part} {getattr(serial, part)!r}, but issuance {issuance['id']} has "
                f"{getattr(expected, part)!r}", field="serial_range",
            )
    if serial.last > issuance["quantity"]:
        raise InvalidRequest(
            f"issuance {issuance['id']} has units 1-{issuance['quantity']}; {text!r} reaches unit {serial.last}",
            field="serial_range",
        )
    return issuance, serial.first, serial.last


# ---------------------------------------------------------------- accounts and projects

def open_account(tx: UnitOfWork, principal: Principal, *, organization_id: int, kind: str,
                 name: str) -> RowMapping:
    organization = get_organization(tx.conn, organization_id)
    principal.require_admin_of(organization_id)
    if kind not in ACCOUNT_KINDS:
        raise InvalidRequest(f"unknown account kind {kind!r}; one of {', '.join(ACCOUNT_KINDS)}")
    if kind in OPERATOR_ONLY_KINDS and organization["kind"] != "operator":
        raise InvalidRequest(f"{kind} accounts belong to the registry operator only")
    name = _text(name, "account name") or ""
    if read_one(tx.conn, accounts, (accounts.c.organization_id == organization_id) & (accounts.c.name == name)):
        raise InvalidRequest(f"organisation {organization_id} already has an account named {name!r}")
    tx.entry("account.opened", organization_id=organization_id, kind=kind, name=name)
    row = tx.insert(accounts, {"organization_id": organization_id, "kind": kind, "name": name,
                               "available": 0, "pledged": 0, "created_at": utcnow()})
    tx.note(account_id=row["id"])
    return row


def register_project(tx: UnitOfWork, principal: Principal, *, name: str, owner_organization_id: int,
                     methodology: str, region: str) -> RowMapping:
    owner = get_organization(tx.conn, owner_organization_id)
    if not principal.is_operator:
        principal.require_acts_for(owner["id"], f"organisation {owner['id']}")
    principal.require_write()
    if not _METHODOLOGY.match(methodology or ""):
        raise InvalidRequest(f"methodology code {methodology!r} must be 2-40 upper-case letters, digits, '.', '_', '-'")
    if not _REGION.match(region or ""):
        raise InvalidRequest(f"region code {region!r} must be 2-12 upper-case letters or digits, "
                             "starting with a letter")
    name = _text(name, "project name") or ""
    tx.entry("project.registered", name=name, owner_organization_id=owner["id"])
    row = tx.insert(projects, {"name": name, "owner_organization_id": owner["id"], "methodology": methodology,
                               "region": region, "status": "registered", "created_at": utcnow()})
    tx.note(project_id=row["id"])
    return row


# ---------------------------------------------------------------- the machinery every act shares

def _shape(first: int, last: int, issued_last: int) -> dict[str, int | None]:
    """A block's range columns by name (``blocks.shape``)."""
    return dict(zip(SHAPE_COLUMNS, shape(first, last, issued_last), strict=True))


def _reshaping(block_id: int, first: int, last: int, issued_last: int, *, account_id: int, state: str,
               pledge_id: int | None) -> Change:
    """The write that gives a block's row a new range, holder and state."""
    values = {**_shape(first, last, issued_last), "account_id": account_id, "state": state, "pledge_id": pledge_id}
    return Change(blocks, _RESHAPE, {"b_id": block_id, **{f"b_{k}": v for k, v in values.items()}})


def _reshape(tx: UnitOfWork, block_id: int, first: int, last: int, issued_last: int, *, account_id: int,
             state: str, pledge_id: int | None) -> RowMapping:
    return tx.apply([_reshaping(block_id, first, last, issued_last, account_id=account_id, state=state,
                                pledge_id=pledge_id)])[0][0]


def _block(row: RowMapping) -> Block:
    return Block(row["id"], row["issuance_id"], row["first"], row["last"], row["account_id"], row["state"],
                 row["pledge_id"])


def change_balances(tx: UnitOfWork, deltas: dict[int, tuple[int, int]], *,
                    then: Sequence[Change | Read] = ()) -> tuple[dict[int, RowMapping], list[list[RowMapping]]]:
    """Add (available, pledged) deltas to accounts in ascending id order, refusing to go below zero.

    This is the ledger's lock: on PostgreSQL each guarded UPDATE takes the account's row lock, always in
    the same order, so concurrent acts serialise per account and never deadlock (invariant 5).
    Returns the accounts as the updates left them, and the rows of the statements ``then`` (sent after
    the updates, in the same round trip on PostgreSQL, so they run under the locks just taken).
    """
    order = sorted(deltas)
    # Sent together (one round trip on PostgreSQL), run in this order; a refused one is rolled back with
    # the act, so the statements after it do no harm.
    updated = tx.apply([*(Change(accounts, _BALANCE, {
        "b_id": account_id, "b_available": deltas[account_id][0], "b_pledged": deltas[account_id][1],
        "b_min_available": max(0, -deltas[account_id][0]), "b_min_pledged": max(0, -deltas[account_id][1]),
    }) for account_id in order), *then])
    changed = {}
    for account_id, rows in zip(order, updated, strict=False):
        d_available, d_pledged = deltas[account_id]
        if rows:
            changed[account_id] = rows[0]
        else:
            current = get_account(tx.conn, account_id)
            if d_available < 0:
                raise InsufficientHoldings(
                    f"account {account_id} holds {current['available']} available units; "
                    f"{-d_available} were asked for", available=current["available"], requested=-d_available,
                )
            raise InsufficientHoldings(f"account {account_id} has {current['pledged']} pledged units; "
                                       f"{-d_pledged} were asked for")
    return changed, updated[len(order):]


def _first_page(account_id: int) -> Read:
    """The read of an account's first page of available blocks, to send ahead with its balance update."""
    return Read(_AVAILABLE, {"account": account_id})


def _available_blocks(conn: Connection, account_id: int, first_page: list[RowMapping] | None = None) -> Iterator[Block]:
    """The account's available blocks in the stated order: first issued, first out (issuance, then serial)."""
    rows = _AVAILABLE.rows(conn, {"account": account_id}) if first_page is None else first_page
    page = _FIRST_PAGE
    while True:
        for row in rows:
            yield _block(row)
        if len(rows) < page:
            return
        page = _PAGE
        rows = _AVAILABLE_AFTER.rows(conn, {"account": account_id, "after_issuance": rows[-1]["issuance_id"],
                                            "after_first": rows[-1]["first"]})


def _range_blocks(conn: Connection, issuance_id: int, first: int, last: int) -> list[Block]:
    """The issuance's blocks that intersect ``first..last``, in serial order."""
    # The block holding ``first`` starts at or before it; the index on (issuance_id, first) finds it.
    start = conn.execute(
        select(blocks.c.first).where(blocks.c.issuance_id == issuance_id, blocks.c.first <= first)
        .order_by(blocks.c.first.desc()).limit(1)
    ).scalar_one_or_none()
    rows = conn.execute(
        select(blocks).where(blocks.c.issuance_id == issuance_id, blocks.c.first >= (start or first),
                             blocks.c.first <= last).order_by(blocks.c.first)
    ).mappings().all()
    return [_block(r) for r in rows]


@dataclass(frozen=True, slots=True)
class _Asked:
    """The units an act asks for: a count, and the (issuance_id, first, last) span when named by serial range."""

    count: int
    span: tuple[int, int, int] | None = None


def _asked(conn: Connection, quantity: int | None, serial_range: str | None) -> _Asked:
    """What an act asks for, validated (and a serial range resolved, once) before any lock is taken."""
    _one_of(quantity, serial_range)
    if serial_range is not None:
        issuance, first, last = resolve_serial_range(conn, serial_range)
        return _Asked(last - first + 1, (issuance["id"], first, last))
    return _Asked(check_quantity(quantity))


def _takes(tx: UnitOfWork, account_id: int, asked: _Asked, first_page: list[RowMapping] | None = None) -> list[Take]:
    """The available units of one account that an act touches, by quantity or by its serial range."""
    if asked.span is not None:
        issuance_id, first, last = asked.span
        return cover_range(_range_blocks(tx.conn, issuance_id, first, last), first, last, account_id=account_id)
    return take_quantity(_available_blocks(tx.conn, account_id, first_page), asked.count)


def _apply(tx: UnitOfWork, act: RowMapping | Change, takes: Sequence[Take], *, to_account_id: int | None = None,
           to_state: str, pledge_id: int | None = None) -> tuple[RowMapping, list[RowMapping], list[str]]:
    """Move each take to ``to_account_id`` (default: where it is) in ``to_state``, splitting blocks exactly.

    ``act``: the act's row, or the insert that records it, sent with the issuances' locks; returns the
    act's row, the movements and the serial ranges moved.
    """
    moved = []
    merging = [to_state == State.AVAILABLE and take.block.state == State.AVAILABLE
               and to_account_id not in (None, take.block.account_id) for take in takes]
    # The first take's neighbours are read with the locks (one round trip on PostgreSQL); a later take's
    # only after the writes before it, which may have grown them.
    first_beside = _beside(takes[0]) if merging and merging[0] else None
    beside = [first_beside] if first_beside is not None else []
    recording = [act] if isinstance(act, Change) else []
    results = tx.apply([*recording, *_lock_issuances(tx, {take.block.issuance_id for take in takes}), *beside])
    if recording:
        act = results[0][0]
        tx.note(act_id=act["id"])
    assert not isinstance(act, Change)
    issued = {rows[0]["id"]: rows[0] for rows in results[len(recording):len(results) - len(beside)]}
    neighbours = results[-1] if beside else None
    for take, merges in zip(takes, merging, strict=True):
        block = take.block
        issued_last = issued[block.issuance_id]["quantity"]
        destination = block.account_id if to_account_id is None else to_account_id
        movement = inserting(movements, {
            "act_id": act["id"], "issuance_id": block.issuance_id, "first": take.first, "last": take.last,
            "from_account_id": block.account_id, "to_account_id": destination, "from_state": block.state,
            "to_state": to_state,
        })
        if merges:
            # Available units changing hands: merged into the receiver's blocks beside them, if any; if
            # there are none, split off, with nothing to merge.  Either way the writes go together.
            if neighbours is None:
                read = _beside(take)
                neighbours = tx.apply([read])[0] if read is not None else []
            changes = (_into_neighbours(take, destination, issued_last, neighbours)
                       or _split(take, issued_last, account_id=destination, state=to_state, pledge_id=None))
            moved.append(tx.apply([*changes, movement])[-1][0])
            neighbours = None
            continue
        changes = _split(take, issued_last, account_id=destination, state=to_state, pledge_id=pledge_id)
        row = tx.apply(changes)[0][0]
        if to_state == State.AVAILABLE:
            _coalesce(tx, row, issued_last)
        moved.append(tx.apply([movement])[0][0])
    serials = [serial_of(issued[i], first, last) for i, first, last in ranges(takes)]
    return act, moved, serials


def _split(take: Take, issued_last: int, *, account_id: int, state: str, pledge_id: int | None) -> list[Change]:
    """The writes that give the take its block's own row in its new holder and state, and the remainders
    rows of their own beside it (the first write's row is the take's)."""
    block = take.block
    # The block's own row becomes the part taken; it only ever shrinks, so no overlap arises even
    # for an instant, and the remainders are inserted after it.
    changes = [_reshaping(block.id, take.first, take.last, issued_last, account_id=account_id, state=state,
                          pledge_id=pledge_id)]
    for first, last in take.remainders():
        changes.append(inserting(blocks, {"issuance_id": block.issuance_id, **_shape(first, last, issued_last),
                                          "issued_last": issued_last, "account_id": block.account_id,
                                          "state": block.state, "pledge_id": block.pledge_id}))
    return changes


def _beside(take: Take) -> Read | None:
    """The read of the blocks that could lie beside a take, or None when none can.

    Only where the take reaches its block's edge: inside the block the neighbour is the block itself (its
    remainder stays with the sender).  Before unit 1 there is nothing; past the issuance's last unit the
    read finds nothing (the block's row knows that unit, the take does not).
    """
    block = take.block
    before = take.first - 1 if take.first == block.first and take.first > 1 else None
    after = take.last + 1 if take.last == block.last else None
    if before is None and after is None:
        return None
    return Read(_NEIGHBOURS, {"issuance": block.issuance_id, "before": before, "after": after})


def _into_neighbours(take: Take, destination: int, issued_last: int, neighbours: Sequence[RowMapping]) -> list[Change]:
    """The writes that move available units straight into the destination's available blocks beside them.

    The result is what ``_split`` and ``_coalesce`` leave, in fewer writes: the block taken from keeps
    its row for its remainder (or is deleted when taken whole), and the destination's neighbour grows
    over the units.  Each statement leaves the blocks disjoint (the block shrinks, or a row goes, before
    the neighbour grows); the neighbour keys are checked at commit as always.  Empty when no neighbour
    (of those ``_beside`` read) is the destination's: the units, once split off, have nothing to merge with.
    """
    block = take.block
    beside = [row for row in neighbours if row["account_id"] == destination and row["state"] == State.AVAILABLE]
    if not beside:
        return []
    remainders = take.remainders()
    if remainders:
        (first, last), = remainders  # the take reaches one edge, so one remainder is left
        changes = [_reshaping(block.id, first, last, issued_last, account_id=block.account_id, state=block.state,
                              pledge_id=block.pledge_id)]
    else:
        changes = [deleting(blocks, {"id": block.id})]
    survivor, *absorbed = sorted(beside, key=lambda row: row["first"])
    changes += [deleting(blocks, row) for row in absorbed]
    first = min(take.first, *(row["first"] for row in beside))
    last = max(take.last, *(row["last"] for row in beside))
    changes.append(_reshaping(survivor["id"], first, last, issued_last, account_id=destination,
                              state=State.AVAILABLE, pledge_id=None))
    return changes


def _coalesce(tx: UnitOfWork, row: RowMapping, issued_last: int) -> None:
    """Merge a block that became available with the available blocks beside it in the same account.

    Without this, units traded back and forth are cut into ever smaller blocks and every act slows down.
    Every change into ``available`` merges, so no two neighbouring available blocks of one account remain;
    the merged-away rows are deleted (the journal records it), which the database allows only for
    available blocks, never for an issuance's last block, and only when the neighbour keys still tile.
    """
    first, last = row["first"], row["last"]
    beside = _NEIGHBOURS.rows(tx.conn, {"issuance": row["issuance_id"], "before": first - 1, "after": last + 1})
    for neighbour in beside:
        if neighbour["account_id"] == row["account_id"] and neighbour["state"] == State.AVAILABLE:
            tx.delete(blocks, neighbour)
            first, last = min(first, neighbour["first"]), max(last, neighbour["last"])
    if (first, last) != (row["first"], row["last"]):
        _reshape(tx, row["id"], first, last, issued_last, account_id=row["account_id"], state=row["state"],
                 pledge_id=None)


def _lock_issuances(tx: UnitOfWork, issuance_ids: set[int]) -> list[Read]:
    """The reads of the issuances whose blocks an act is about to split, locked in ascending id order on PostgreSQL.

    A split changes the unit keys that the neighbouring blocks, often other accounts' blocks, refer to, and
    those references are checked at commit.  Two acts splitting neighbours under disjoint account locks
    would each wait there for the other's keys, one of them holding the journal head: a deadlock.  Locking
    the issuance first serialises such acts.  FOR NO KEY UPDATE leaves the foreign-key checks that blocks
    and movements make on the issuance free, and the lock comes after every account lock (the fixed order).
    """
    query = _LOCK_ISSUANCE if tx.dialect == "postgresql" else _READ_ISSUANCE
    # One statement each, in ascending id order: a prepared statement takes a fixed number of parameters.
    return [Read(query, {"id": issuance_id}) for issuance_id in sorted(issuance_ids)]


def _recording(principal: Principal, kind: str, *, account_id: int | None, quantity: int,
               to_account_id: int | None = None, reason: str | None = None) -> Change:
    """The insert of an act's row."""
    return inserting(acts, {"kind": kind, "account_id": account_id, "to_account_id": to_account_id,
                            "quantity": quantity, "reason": reason, "actor": principal.actor, "created_at": utcnow()})


def _record_act(tx: UnitOfWork, principal: Principal, kind: str, *, account_id: int | None,
                quantity: int, to_account_id: int | None = None, reason: str | None = None) -> RowMapping:
    act = tx.apply([_recording(principal, kind, account_id=account_id, quantity=quantity,
                               to_account_id=to_account_id, reason=reason)])[0][0]
    tx.note(act_id=act["id"])
    return act


# ---------------------------------------------------------------- acts

def issue(tx: UnitOfWork, principal: Principal, *, registry: str, project_id: int, vintage: int,
          period_start: date, period_end: date, quantity: int, account_id: int,
          credit_type: str) -> ActResult:
    """Issue ``quantity`` units of a project's vintage and monitoring period into an account, as one block."""
    principal.require_operator("issue credits")
    quantity = check_quantity(quantity)
    project = read_one(tx.conn, projects, projects.c.id == project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    if project["status"] != "registered":
        raise InvalidRequest(f"project {project_id} is {project['status']}; only registered projects are issued")
    account = get_account(tx.conn, account_id)
    if account["kind"] not in ("holding", "buffer"):
        raise InvalidRequest(f"credits are issued into holding or buffer accounts, not a {account['kind']} account")
    if period_start > period_end:
        raise InvalidRequest(f"the monitoring period starts {period_start}, after it ends {period_end}")
    if period_end > utcnow().date():
        raise InvalidRequest(f"the monitoring period ends {period_end}, in the future; issue after it ends")
    if not period_start.year <= vintage <= period_end.year:
        raise InvalidRequest(f"vintage {vintage} is outside the monitoring period {period_start}..{period_end}")
    if not _CREDIT_TYPE.match(credit_type or ""):
        raise InvalidRequest(f"credit type {credit_type!r} must be 2-10 upper-case letters or digits")

    tx.entry("issuance", project_id=project_id, account_id=account_id, quantity=quantity, vintage=vintage)
    change_balances(tx, {account_id: (quantity, 0)})
    act = _record_act(tx, principal, "issuance", account_id=None, to_account_id=account_id, quantity=quantity)
    issuance = tx.insert(issuances, {
        "act_id": act["id"], "project_id": project_id, "registry": registry, "region": project["region"],
        "credit_type": credit_type, "vintage": vintage, "period_start": period_start, "period_end": period_end,
        "quantity": quantity, "account_id": account_id, "created_at": act["created_at"],
    })
    tx.note(issuance_id=issuance["id"])
    tx.insert(blocks, {"issuance_id": issuance["id"], **_shape(1, quantity, quantity), "issued_last": quantity,
                       "account_id": account_id, "state": State.AVAILABLE, "pledge_id": None})
    movement = tx.insert(movements, {
        "act_id": act["id"], "issuance_id": issuance["id"], "first": 1, "last": quantity,
        "from_account_id": None, "to_account_id": account_id, "from_state": None, "to_state": State.AVAILABLE,
    })
    return ActResult(act, [serial_of(issuance, 1, quantity)], [movement], detail=issuance)


def transfer(tx: UnitOfWork, principal: Principal, *, from_account_id: int, to_account_id: int,
             quantity: int | None = None, serial_range: str | None = None) -> ActResult:
    """Move available units to another account, by quantity (first issued, first out) or by serial range."""
    if from_account_id == to_account_id:
        raise InvalidRequest("a transfer needs two different accounts; from_account_id equals to_account_id")
    if on_server.applies(tx, principal, from_account_id, to_account_id, quantity, serial_range):
        assert quantity is not None
        done = on_server.transfer(tx, principal, from_account_id=from_account_id, to_account_id=to_account_id,
                                  quantity=quantity)
        assert done is not None  # None only when asked to leave receivers in a region alone
        return ActResult(*done)
    if sqlite_transfer.applies(tx, quantity, serial_range):
        assert quantity is not None
        quick = sqlite_transfer.transfer(tx, actor=principal.actor, from_account_id=from_account_id,
                                         to_account_id=to_account_id, quantity=quantity,
                                         check_sender=lambda source: _check_sender(principal, source))
        if quick is not None:
            return ActResult(quick.act, quick.serials, quick.movements)  # type: ignore[arg-type]
    # The source is checked on the row its balance update returns, which spares reading it first; when
    # anything fails before that, it is read and checked then, so the caller gets the same error, in the
    # same order, as if it had been checked first.  Either way nothing is kept: the act's transaction
    # (or savepoint) rolls back on the error.
    try:
        asked = _asked(tx.conn, quantity, serial_range)
        count = asked.count
        tx.entry("transfer", from_account_id=from_account_id, to_account_id=to_account_id, quantity=count)
        # By quantity, the sender's first blocks are read with the balance updates, under their locks.
        changed, pages = change_balances(tx, {from_account_id: (-count, 0), to_account_id: (count, 0)},
                                         then=[_first_page(from_account_id)] if asked.span is None else [])
    except TanhuiError:
        _check_sender(principal, get_account(tx.conn, from_account_id))
        raise
    _check_sender(principal, changed[from_account_id])
    takes = _takes(tx, from_account_id, asked, pages[0] if pages else None)
    act, moved, serials = _apply(
        tx, _recording(principal, "transfer", account_id=from_account_id, to_account_id=to_account_id,
                       quantity=count), takes, to_account_id=to_account_id, to_state=State.AVAILABLE)
    return ActResult(act, serials, moved)


def _check_sender(principal: Principal, source: Mapping[Any, Any]) -> None:
    principal.require_acts_for(source["organization_id"], f"account {source['id']}")
    if source["kind"] not in SENDING_KINDS:
        raise InvalidRequest(f"units in a {source['kind']} account cannot be transferred out")


def retire(tx: UnitOfWork, principal: Principal, *, account_id: int, beneficiary: str, purpose: str,
           quantity: int | None = None, serial_range: str | None = None, period_start: date | None = None,
           period_end: date | None = None, note: str | None = None) -> ActResult:
    """End units as a claim on behalf of a beneficiary, for a purpose and consumption period; final."""
    account = get_account(tx.conn, account_id)
    principal.require_acts_for(account["organization_id"], f"account {account_id}")
    if account["kind"] not in ENDING_KINDS:
        raise InvalidRequest(f"units in a {account['kind']} account cannot be retired")
    beneficiary_text = _text(beneficiary, "beneficiary")
    purpose_text = _text(purpose, "purpose")
    note_text = _text(note, "note", required=False, limit=2000)
    if (period_start is None) != (period_end is None):
        raise InvalidRequest("give both period_start and period_end of the consumption period, or neither")
    if period_start and period_end and period_start > period_end:
        raise InvalidRequest(f"the consumption period starts {period_start}, after it ends {period_end}")
    asked = _asked(tx.conn, quantity, serial_range)
    count = asked.count

    tx.entry("retirement", account_id=account_id, quantity=count, beneficiary=beneficiary_text)
    change_balances(tx, {account_id: (-count, 0)})
    takes = _takes(tx, account_id, asked)
    act = _record_act(tx, principal, "retirement", account_id=account_id, quantity=count)
    detail = tx.insert(retirements, {"act_id": act["id"], "beneficiary": beneficiary_text, "purpose": purpose_text,
                                     "period_start": period_start, "period_end": period_end, "note": note_text})
    _, moved, serials = _apply(tx, act, takes, to_state=State.RETIRED)
    return ActResult(act, serials, moved, detail=detail)


def cancel(tx: UnitOfWork, principal: Principal, *, account_id: int, purpose: str,
           quantity: int | None = None, serial_range: str | None = None, compliance_year: int | None = None,
           reason: str | None = None) -> ActResult:
    """End units by compliance surrender or regulatory act (the operator only); final."""
    principal.require_operator("cancel credits")
    get_account(tx.conn, account_id)
    if purpose not in CANCELLATION_PURPOSES:
        raise InvalidRequest(f"cancellation purpose must be one of {', '.join(CANCELLATION_PURPOSES)}")
    if purpose == "compliance":
        if compliance_year is None or not 2000 <= compliance_year <= 2100:
            raise InvalidRequest("a compliance surrender needs the compliance_year it counts for (2000-2100)")
    elif compliance_year is not None:
        raise InvalidRequest("compliance_year applies only to compliance surrenders")
    reason_text = _text(reason, "reason", required=purpose == "regulatory", limit=2000)
    asked = _asked(tx.conn, quantity, serial_range)
    count = asked.count

    tx.entry("cancellation", account_id=account_id, quantity=count, purpose=purpose)
    change_balances(tx, {account_id: (-count, 0)})
    takes = _takes(tx, account_id, asked)
    act = _record_act(tx, principal, "cancellation", account_id=account_id, quantity=count, reason=reason_text)
    detail = tx.insert(cancellations, {"act_id": act["id"], "purpose": purpose, "compliance_year": compliance_year})
    _, moved, serials = _apply(tx, act, takes, to_state=State.CANCELLED)
    return ActResult(act, serials, moved, detail=detail)


def pledge(tx: UnitOfWork, principal: Principal, *, account_id: int, bank_organization_id: int,
           quantity: int | None = None, serial_range: str | None = None, note: str | None = None) -> ActResult:
    """Put a bank's lien on units: they stay in the account but cannot move until the bank releases them."""
    account = get_account(tx.conn, account_id)
    principal.require_acts_for(account["organization_id"], f"account {account_id}")
    bank = get_organization(tx.conn, bank_organization_id)
    if bank["kind"] != "bank":
        raise InvalidRequest(f"organisation {bank_organization_id} is a {bank['kind']}, not a bank")
    note_text = _text(note, "note", required=False, limit=2000)
    asked = _asked(tx.conn, quantity, serial_range)
    count = asked.count

    tx.entry("pledge", account_id=account_id, bank_organization_id=bank_organization_id, quantity=count)
    change_balances(tx, {account_id: (-count, count)})
    takes = _takes(tx, account_id, asked)
    act = _record_act(tx, principal, "pledge", account_id=account_id, quantity=count)
    detail = tx.insert(pledges, {"act_id": act["id"], "account_id": account_id,
                                 "bank_organization_id": bank_organization_id, "quantity": count,
                                 "status": "active", "release_act_id": None, "note": note_text})
    tx.note(pledge_id=detail["id"])
    _, moved, serials = _apply(tx, act, takes, to_state=State.PLEDGED, pledge_id=detail["id"])
    return ActResult(act, serials, moved, detail=detail)


def release(tx: UnitOfWork, principal: Principal, *, pledge_id: int) -> ActResult:
    """Lift a bank's lien (the bank or the operator only): the units become available again."""
    lien = read_one(tx.conn, pledges, pledges.c.id == pledge_id)
    if lien is None:
        raise NotFound(f"pledge {pledge_id} does not exist")
    principal.require_write()
    if not principal.is_operator and principal.organization_id != lien["bank_organization_id"]:
        raise PermissionDenied(f"only the pledgee bank or the operator may release pledge {pledge_id}")
    if lien["status"] != "active":
        raise InvalidRequest(f"pledge {pledge_id} was already released")

    tx.entry("release", pledge_id=pledge_id, account_id=lien["account_id"], quantity=lien["quantity"])
    change_balances(tx, {lien["account_id"]: (lien["quantity"], -lien["quantity"])})
    rows = tx.conn.execute(select(blocks).where(blocks.c.pledge_id == pledge_id)
                           .order_by(blocks.c.issuance_id, blocks.c.first)).mappings().all()
    takes = [Take(b, b.first, b.last) for b in map(_block, rows)]
    act = _record_act(tx, principal, "release", account_id=lien["account_id"], quantity=lien["quantity"])
    _, moved, serials = _apply(tx, act, takes, to_state=State.AVAILABLE)
    detail = tx.update(pledges, pledges.c.id == pledge_id, {"status": "released", "release_act_id": act["id"]})[0]
    return ActResult(act, serials, moved, detail=detail)


def revoke(tx: UnitOfWork, principal: Principal, *, reason: str, serial_range: str | None = None,
           account_id: int | None = None, quantity: int | None = None) -> ActResult:
    """Invalidate available units (the operator only), by serial range across accounts or from one account."""
    principal.require_operator("revoke credits")
    reason_text = _text(reason, "reason", limit=2000)
    if serial_range is None and (account_id is None or quantity is None):
        raise InvalidRequest("give serial_range, or account_id with quantity")
    if serial_range is not None and quantity is not None:
        raise InvalidRequest("give exactly one of quantity and serial_range")
    if serial_range is None:
        assert account_id is not None
        get_account(tx.conn, account_id)
        count = check_quantity(quantity)
        tx.entry("revocation", account_id=account_id, quantity=count)
        change_balances(tx, {account_id: (-count, 0)})
        takes = take_quantity(_available_blocks(tx.conn, account_id), count)
    else:
        issuance, first, last = resolve_serial_range(tx.conn, serial_range)
        if account_id is not None:
            get_account(tx.conn, account_id)
        count = last - first + 1
        tx.entry("revocation", serial_range=serial_range, quantity=count)
        holders = sorted({b.account_id for b in _range_blocks(tx.conn, issuance["id"], first, last)})
        _lock(tx, holders)
        # Re-read under the locks: the blocks cannot change now.
        takes = cover_range(_range_blocks(tx.conn, issuance["id"], first, last), first, last,
                            account_id=account_id, states=(State.AVAILABLE,))
        if not {t.block.account_id for t in takes} <= set(holders):
            raise Conflict("some of these units moved while they were being revoked; try again")
        per_account: dict[int, int] = defaultdict(int)
        for take in takes:
            per_account[take.block.account_id] += take.quantity
        change_balances(tx, {a: (-q, 0) for a, q in per_account.items()})
    holders_touched = {t.block.account_id for t in takes}
    act = _record_act(tx, principal, "revocation", quantity=total(takes), reason=reason_text,
                      account_id=holders_touched.pop() if len(holders_touched) == 1 else None)
    _, moved, serials = _apply(tx, act, takes, to_state=State.REVOKED)
    return ActResult(act, serials, moved)


def _lock(tx: UnitOfWork, account_ids: Sequence[int]) -> None:
    """Lock accounts in id order before reading blocks that span several of them."""
    if tx.dialect == "postgresql":
        tx.conn.execute(select(accounts.c.id).where(accounts.c.id.in_(account_ids))
                        .order_by(accounts.c.id).with_for_update())
