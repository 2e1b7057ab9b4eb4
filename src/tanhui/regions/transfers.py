"""Transfers across regions: free, refused, or held in escrow until the receiving region's operator decides.

A transfer is cross-regional when the receiving account's organisation has a region and some of the credits
were issued outside it (`catalogue.same_area`); the receiving region's `incoming_transfers` policy decides.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tanhui.identity.principal import Principal
from tanhui.identity.services import operator_principal
from tanhui.prepared import Prepared
from tanhui.regions.catalogue import region as find_region
from tanhui.regions.catalogue import same_area, within
from tanhui.regions.holdings import offered_credits
from tanhui.regions.tables import cross_regional_transfers, organization_regions
from tanhui.registry import ledger, on_server
from tanhui.registry.tables import accounts
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

ESCROW_NAME = "cross-regional escrow / 跨区域托管"


class TransferRefused(Conflict):
    """The receiving region refuses credits from outside, or wants its operator to approve them first."""

    code, title = "cross-regional-transfer", "The receiving region's rules apply to this transfer"


def _require_operator_of(principal: Principal, region: str, what: str) -> None:
    """The operator acts for every region; a region's own operator user only for it and its districts."""
    principal.require_operator(what)
    if principal.region is not None and not within(region, principal.region):
        raise PermissionDenied(f"{principal.actor} is the operator of region {principal.region}, so may not {what} "
                               f"for region {region}")


def set_region(tx: UnitOfWork, principal: Principal, *, organization_id: int, region: str) -> RowMapping:
    """The operator places an organisation in a region (where it receives credits and owes compliance)."""
    principal.require_operator("set organisations' regions")
    ledger.get_organization(tx.conn, organization_id)
    find_region(region)
    now = utcnow()
    tx.entry("organization.region", organization_id=organization_id, region=region)
    if read_one(tx.conn, organization_regions, organization_regions.c.organization_id == organization_id):
        return tx.update(organization_regions, organization_regions.c.organization_id == organization_id,
                         {"region": region, "set_at": now})[0]
    return tx.insert(organization_regions, {"organization_id": organization_id, "region": region, "set_at": now})


# Every transfer asks it first: the receiving account's region (NULL when its organisation has none).
_RECEIVING_REGION = Prepared(
    select(accounts.c.id, organization_regions.c.region)
    .join_from(accounts, organization_regions,
               organization_regions.c.organization_id == accounts.c.organization_id, isouter=True)
    .where(accounts.c.id == bindparam("account"))
)


def region_of(conn: Connection, organization_id: int) -> str | None:
    return conn.execute(select(organization_regions.c.region)
                        .where(organization_regions.c.organization_id == organization_id)).scalar()


def _crossing(conn: Connection, from_account_id: int, to_account_id: int, quantity: int | None,
              serial_range: str | None) -> tuple[str, list[str]] | None:
    """(receiving region, the credits' regions outside it), or None when the transfer stays inside."""
    receiver = _RECEIVING_REGION.first(conn, {"account": to_account_id})
    if receiver is None:
        raise NotFound(f"account {to_account_id} does not exist")
    destination = receiver["region"]
    if destination is None:
        return None
    outside = sorted({c.region for c in offered_credits(conn, from_account_id, quantity, serial_range)
                      if not same_area(c.region, destination)})
    return (destination, outside) if outside else None


def transfer(tx: UnitOfWork, principal: Principal, **asked: Any) -> ledger.ActResult:
    """`ledger.transfer`, unless the receiving region refuses the credits or must approve them first."""
    if on_server.applies(tx, principal, asked["from_account_id"], asked["to_account_id"], asked.get("quantity"),
                         asked.get("serial_range")):
        # One round trip when the receiver's organisation has no region (it then reads no rules).
        done = on_server.transfer(tx, principal, from_account_id=asked["from_account_id"],
                                  to_account_id=asked["to_account_id"], quantity=asked["quantity"], region_free=True)
        if done is not None:
            return ledger.ActResult(*done)
    crossing = _crossing(tx.conn, asked["from_account_id"], asked["to_account_id"], asked.get("quantity"),
                         asked.get("serial_range"))
    if crossing is not None:
        destination, outside = crossing
        policy = find_region(destination).incoming_transfers
        if policy == "refused":
            raise TransferRefused(f"{destination} accepts no credits from outside the region ({', '.join(outside)})")
        if policy == "approval":
            raise TransferRefused(f"credits from {', '.join(outside)} enter {destination} only with its operator's "
                                  "approval: request it with POST /api/v1/cross-regional-transfers")
    return ledger.transfer(tx, principal, **asked)


def _escrow(tx: UnitOfWork, actor: str) -> int:
    operator = operator_principal(tx.conn, actor)
    found = tx.conn.execute(select(accounts.c.id).where(
        accounts.c.organization_id == operator.organization_id, accounts.c.kind == "escrow",
        accounts.c.name == ESCROW_NAME)).scalar()
    if found is not None:
        return int(found)
    return int(ledger.open_account(tx, operator, organization_id=operator.organization_id, kind="escrow",
                                   name=ESCROW_NAME)["id"])


def request(tx: UnitOfWork, principal: Principal, *, from_account_id: int, to_account_id: int,
            quantity: int | None = None, serial_range: str | None = None) -> RowMapping:
    """Send credits towards a region that approves incoming ones: they wait in escrow for its decision."""
    if from_account_id == to_account_id:
        raise InvalidRequest("a transfer needs two different accounts; from_account_id equals to_account_id")
    crossing = _crossing(tx.conn, from_account_id, to_account_id, quantity, serial_range)
    if crossing is None or find_region(crossing[0]).incoming_transfers != "approval":
        raise InvalidRequest("this transfer needs no approval; send it with POST /api/v1/transfers")
    destination, outside = crossing
    escrow = _escrow(tx, principal.actor)
    moved = ledger.transfer(tx, principal, from_account_id=from_account_id, to_account_id=escrow,
                            quantity=quantity, serial_range=serial_range)
    tx.entry("cross_regional.requested", to_region=destination, act_id=moved.act["id"])
    row = tx.insert(cross_regional_transfers, {
        "escrow_act_id": moved.act["id"], "from_account_id": from_account_id, "to_account_id": to_account_id,
        "escrow_account_id": escrow, "quantity": moved.act["quantity"], "serials": " ".join(moved.serials),
        "from_regions": ",".join(outside), "to_region": destination, "status": "pending", "reason": None,
        "decision_act_ids": None, "created_at": moved.act["created_at"], "decided_at": None})
    tx.note(transfer_id=row["id"])
    return row


def decide(tx: UnitOfWork, principal: Principal, transfer_id: int, *, approve: bool,
           reason: str | None = None) -> RowMapping:
    """The receiving region's operator releases the units to the receiver, or returns them to the sender."""
    principal.require_operator("decide cross-regional transfers")
    row = read_one(tx.conn, cross_regional_transfers, cross_regional_transfers.c.id == transfer_id)
    if row is None:
        raise NotFound(f"cross-regional transfer {transfer_id} does not exist")
    _require_operator_of(principal, row["to_region"], "decide cross-regional transfers")
    if row["status"] != "pending":
        raise Conflict(f"cross-regional transfer {transfer_id} was already {row['status']}")
    if not approve and not (reason or "").strip():
        raise InvalidRequest("refusing a cross-regional transfer needs a reason")
    target = row["to_account_id"] if approve else row["from_account_id"]
    acts = [ledger.transfer(tx, principal, from_account_id=row["escrow_account_id"], to_account_id=target,
                            serial_range=serial).act["id"] for serial in row["serials"].split()]
    tx.entry(f"cross_regional.{'approved' if approve else 'refused'}", transfer_id=transfer_id)
    return tx.update(cross_regional_transfers, cross_regional_transfers.c.id == transfer_id, {
        "status": "approved" if approve else "refused", "reason": (reason or "").strip() or None,
        "decision_act_ids": " ".join(map(str, acts)), "decided_at": utcnow()})[0]


def region_records(conn: Connection, principal: Principal, code: str) -> list[dict[str, Any]]:
    """Every cross-regional transfer into the region or of its credits: both regions' records show it."""
    if not principal.is_operator:
        raise PermissionDenied("only the registry operator sees a region's cross-regional transfers")
    find_region(code)
    _require_operator_of(principal, code, "read cross-regional records")
    rows = conn.execute(select(cross_regional_transfers).where(or_(
        cross_regional_transfers.c.to_region == code, cross_regional_transfers.c.from_regions.contains(code)))
        .order_by(cross_regional_transfers.c.id)).mappings().all()
    return [dict(row) for row in rows if row["to_region"] == code or code in row["from_regions"].split(",")]
