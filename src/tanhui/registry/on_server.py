"""Transfers by quantity on PostgreSQL in one round trip: ``ledger.transfer`` done by tanhui_transfer (migration 0013).

The function takes the same locks in the same order, takes the same blocks, splits and merges them the same
way and writes the same rows as the Python path; it also writes the journal entry's payload, as
``journal_json`` would, which the unit of work appends at commit (tests compare both paths byte for byte).
Its refusals come back as SQLSTATEs TH404/TH403/TH422/TH409 carrying the Python path's messages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, bindparam, column, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.engine.result import result_tuple
from sqlalchemy.exc import DBAPIError

from tanhui.errors import InsufficientHoldings, InvalidRequest, NotFound, PermissionDenied, TanhuiError
from tanhui.identity.principal import WRITE_ROLES, Principal
from tanhui.prepared import Prepared, together
from tanhui.registry.blocks import merge_spans
from tanhui.registry.serials import format_serial
from tanhui.registry.tables import acts, movements
from tanhui.types import MAX_QUANTITY, utcnow
from tanhui.unit_of_work import UnitOfWork

# False sends every transfer down the Python path (the test comparing the two paths sets it).
ENABLED = True

_MOVEMENT = tuple(str(c.name) for c in movements.columns)
_ACT = tuple(str(c.name) for c in acts.columns)
_SERIAL_PARTS = ("registry", "region", "credit_type", "project_id", "vintage")
# Each movement's columns (r_ and the column's name), its issuance's serial parts, the entry's payload.
_RESULT = [column(f"r_{name}", type_) for name, type_ in (
    ("id", BigInteger), ("act_id", BigInteger), ("issuance_id", BigInteger), ("first", BigInteger),
    ("last", BigInteger), ("from_account_id", BigInteger), ("to_account_id", BigInteger), ("from_state", String),
    ("to_state", String), ("registry", String), ("region", String), ("credit_type", String),
    ("project_id", BigInteger), ("vintage", Integer), ("payload", Text),
)]
_CALL = func.tanhui_transfer(
    bindparam("from_account_id", type_=BigInteger), bindparam("to_account_id", type_=BigInteger),
    bindparam("quantity", type_=BigInteger), bindparam("actor", type_=String),
    bindparam("organization_id", type_=BigInteger), bindparam("created_at", type_=DateTime(timezone=True)),
    bindparam("region_free", type_=Boolean),
).table_valued(*_RESULT)
_TRANSFER = Prepared(select(*_CALL.c))
_make_act = result_tuple(_ACT)
_make_movement = result_tuple(_MOVEMENT)
_REFUSALS: dict[str, type[TanhuiError]] = {
    "TH404": NotFound, "TH403": PermissionDenied, "TH422": InvalidRequest, "TH409": InsufficientHoldings,
}


def applies(tx: UnitOfWork, principal: Principal, from_account_id: int, to_account_id: int,
            quantity: object, serial_range: str | None) -> bool:
    """Whether tanhui_transfer does this transfer: on PostgreSQL, a valid quantity between two accounts, asked by
    a principal who may act at all; anything else goes down the Python path, which refuses it as it always has."""
    return (ENABLED and tx.dialect == "postgresql" and serial_range is None and type(quantity) is int
            and 0 < quantity <= MAX_QUANTITY and from_account_id != to_account_id and principal.role in WRITE_ROLES)


def transfer(tx: UnitOfWork, principal: Principal, *, from_account_id: int, to_account_id: int, quantity: int,
             region_free: bool = False) -> tuple[RowMapping, list[str], list[RowMapping]] | None:
    """The transfer's act row, serial ranges and movements (as ``ActResult`` takes them), its entry added to
    ``tx``; raises what ledger.transfer raises.

    ``region_free``: only if the receiving account's organisation has no region, else nothing is done and
    None is returned (regions.transfers then applies the region's rules).
    """
    created_at = utcnow()
    try:
        # With the BEGIN when it is the transaction's first statement: one round trip either way.
        rows = together(tx.conn, [(_TRANSFER, {
            "from_account_id": from_account_id, "to_account_id": to_account_id, "quantity": quantity,
            "actor": principal.actor, "organization_id": principal.organization_id, "created_at": created_at,
            "region_free": region_free,
        })])[0]
    except DBAPIError as error:
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal from None
    if not rows:
        return None
    first = rows[0]
    act = _make_act(tuple({
        "id": first["r_act_id"], "kind": "transfer", "account_id": from_account_id, "to_account_id": to_account_id,
        "quantity": quantity, "reason": None, "actor": principal.actor, "created_at": created_at,
    }[name] for name in _ACT))._mapping
    moved: list[RowMapping] = []
    parts: dict[int, dict[str, Any]] = {}
    for row in rows:
        moved.append(_make_movement(tuple(row[f"r_{name}"] for name in _MOVEMENT))._mapping)
        parts[row["r_issuance_id"]] = {name: row[f"r_{name}"] for name in _SERIAL_PARTS}
    tx.entry_written("transfer", first["r_payload"])
    serials = [format_serial(**parts[issuance_id], issuance_id=issuance_id, first=start, last=end)
               for issuance_id, start, end in merge_spans((m["issuance_id"], m["first"], m["last"]) for m in moved)]
    return act, serials, moved


def _refusal(error: DBAPIError) -> TanhuiError | None:
    """The tanhui error a refusal of tanhui_transfer stands for (None for any other database error)."""
    cause: Any = error.orig
    refusal = _REFUSALS.get(getattr(cause, "sqlstate", None) or "")
    if refusal is None:
        return None
    message = cause.diag.message_primary
    if refusal is InsufficientHoldings and cause.diag.message_detail:
        available, requested = map(int, cause.diag.message_detail.split())
        return InsufficientHoldings(message, available=available, requested=requested)
    return refusal(message)
