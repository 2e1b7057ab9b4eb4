"""Which credits an act would take from an account, per issuance, with the region, type, methodology and vintage."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.regions.offsetting import Credits
from tanhui.registry import ledger
from tanhui.registry.blocks import State
from tanhui.registry.tables import blocks, projects


def _credits(issuance: RowMapping, conn: Connection, quantity: int) -> Credits:
    methodology = conn.execute(select(projects.c.methodology).where(projects.c.id == issuance["project_id"])).scalar()
    return Credits(quantity, issuance["region"], issuance["credit_type"], str(methodology), issuance["vintage"])


def offered_credits(conn: Connection, account_id: int, quantity: int | None, serial_range: str | None) -> list[Credits]:
    """The units an act on the account would take, per issuance, in the order the ledger takes them."""
    if serial_range is not None:
        issuance, first, last = ledger.resolve_serial_range(conn, serial_range)
        return [_credits(issuance, conn, last - first + 1)]
    wanted = ledger.check_quantity(quantity)
    offered: dict[int, int] = {}
    rows = conn.execute(select(blocks.c.issuance_id, blocks.c.quantity)
                        .where(blocks.c.account_id == account_id, blocks.c.state == State.AVAILABLE)
                        .order_by(blocks.c.issuance_id, blocks.c.first))
    for issuance_id, held in rows:
        take = min(held, wanted - sum(offered.values()))
        if take <= 0:
            break
        offered[issuance_id] = offered.get(issuance_id, 0) + take
    return [_credits(ledger.get_issuance(conn, issuance_id), conn, count) for issuance_id, count in offered.items()]
