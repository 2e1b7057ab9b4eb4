"""Transfer by quantity on SQLite in a dozen plain statements: the ledger's hot path, same rows, journal and errors.

``ledger.transfer`` sends the common case here: two accounts that exist, a sender that may send and holds
enough.  It writes exactly the rows the general path writes, in the same order (so the same ids), and
records the same after-images in the act's journal entry; what it saves is the general machinery per
statement (prepared-statement binding, SQLAlchemy rows, type processing), which on SQLite costs more than
the statement itself.  Anything else (a missing account, a refusal, too few units) returns None *before
any write*, and the general path then raises the error it always raised.  ``tests/test_sqlite_transfer.py``
runs both paths side by side and compares every row and journal entry.

Runs inside the act's transaction, which holds SQLite's write lock (``UnitOfWork``): nobody else can
change the rows it reads until it commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from tanhui.errors import TanhuiError
from tanhui.journal.chain import canonical_value
from tanhui.prepared import shared_cursor
from tanhui.registry.blocks import SHAPE_COLUMNS, Block, State, Take, ranges, shape, take_quantity
from tanhui.registry.serials import format_serial
from tanhui.registry.tables import accounts, acts, blocks, movements
from tanhui.types import MAX_QUANTITY, utcnow
from tanhui.unit_of_work import UnitOfWork

_FIRST_PAGE, _PAGE = 4, 64  # as ledger's pages of an account's blocks
# False sends every transfer down the general path (the test comparing the two paths sets it).
ENABLED = True


def _columns(table: Table) -> tuple[str, ...]:
    return tuple(str(column.name) for column in table.columns)


_ACCOUNT_COLUMNS = _columns(accounts)
_BLOCK_COLUMNS = _columns(blocks)
_MOVEMENT_COLUMNS = _columns(movements)
_ACT_COLUMNS = _columns(acts)
_SELECT_BLOCKS = f"SELECT {', '.join(_BLOCK_COLUMNS)} FROM blocks"
_ACCOUNTS = f"SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM accounts WHERE id IN (?, ?)"
# Both balances in one statement: the sender's guarded, as ledger.change_balances guards it.
_BALANCES = ("UPDATE accounts SET available = available + CASE id WHEN ? THEN -? ELSE ? END "
             "WHERE id IN (?, ?) AND available >= CASE id WHEN ? THEN ? ELSE 0 END "
             f"RETURNING {', '.join(_ACCOUNT_COLUMNS)}")
_AVAILABLE = (f"{_SELECT_BLOCKS} WHERE account_id = ? AND state = 'available' "
              "AND (issuance_id, first) > (?, ?) ORDER BY issuance_id, first LIMIT ?")
_NEIGHBOURS = f"{_SELECT_BLOCKS} WHERE issuance_id = ? AND (last = ? OR first = ?)"
_ISSUANCE = "SELECT registry, region, credit_type, project_id, vintage FROM issuances WHERE id = ?"
_SHAPED = (*SHAPE_COLUMNS, "account_id", "state", "pledge_id")
_RESHAPE = (f"UPDATE blocks SET {', '.join(f'{name} = ?' for name in _SHAPED)} WHERE id = ? "
            f"RETURNING {', '.join(_BLOCK_COLUMNS)}")
_INSERTED_BLOCK = tuple(name for name in _BLOCK_COLUMNS if name != "id")
_INSERT_BLOCK = (f"INSERT INTO blocks ({', '.join(_INSERTED_BLOCK)}) VALUES ({', '.join('?' * len(_INSERTED_BLOCK))}) "
                 f"RETURNING {', '.join(_BLOCK_COLUMNS)}")
_DELETE_BLOCK = "DELETE FROM blocks WHERE id = ?"
_INSERT_MOVEMENT = (f"INSERT INTO movements ({', '.join(_MOVEMENT_COLUMNS[1:])}) "
                    f"VALUES ({', '.join('?' * (len(_MOVEMENT_COLUMNS) - 1))}) RETURNING id")
_INSERT_ACT = (f"INSERT INTO acts ({', '.join(_ACT_COLUMNS[1:])}) VALUES ({', '.join('?' * (len(_ACT_COLUMNS) - 1))}) "
               "RETURNING id")
assert _MOVEMENT_COLUMNS[0] == _ACT_COLUMNS[0] == "id"


@dataclass
class Transferred:
    """What the transfer wrote: the act's row, its movements and the serial ranges moved."""

    act: dict[str, Any]
    movements: list[dict[str, Any]]
    serials: list[str]


def applies(tx: UnitOfWork, quantity: object, serial_range: str | None) -> bool:
    """Whether to try the quick path: on SQLite, by a valid quantity (``transfer`` may still decline)."""
    return (ENABLED and tx.dialect == "sqlite" and serial_range is None and type(quantity) is int
            and 0 < quantity <= MAX_QUANTITY)


def transfer(tx: UnitOfWork, *, actor: str, from_account_id: int, to_account_id: int, quantity: int,
             check_sender: Callable[[Mapping[Any, Any]], None]) -> Transferred | None:
    """Move ``quantity`` available units, first issued first out; None (nothing written) if it would fail.

    ``quantity`` is already checked; ``check_sender`` raises if the principal may not send from the account.
    """
    cursor = shared_cursor(tx.conn)
    found = {row[0]: dict(zip(_ACCOUNT_COLUMNS, row, strict=True))
             for row in cursor.execute(_ACCOUNTS, (from_account_id, to_account_id))}
    sender = found.get(from_account_id)
    if sender is None or to_account_id not in found or sender["available"] < quantity:
        return None
    try:
        check_sender(sender)
    except TanhuiError:
        return None

    tx.entry("transfer", from_account_id=from_account_id, to_account_id=to_account_id, quantity=quantity)
    # On SQLite the write lock is already held: the order of the two updates does not matter.
    updated = cursor.execute(_BALANCES, (from_account_id, quantity, quantity, from_account_id, to_account_id,
                                         from_account_id, quantity)).fetchall()
    if len(updated) != 2:  # the accounts were read under the write lock a moment ago
        raise RuntimeError(f"a balance of accounts {from_account_id}, {to_account_id} changed under the write lock")
    for row in updated:
        tx.record(accounts, str(row[0]), _image(dict(zip(_ACCOUNT_COLUMNS, row, strict=True))))
    issued: dict[int, int] = {}  # issuance id -> its last unit, which its block rows carry
    takes = take_quantity(_available_blocks(cursor, from_account_id, issued), quantity)

    now = utcnow()
    act_values = ("transfer", from_account_id, to_account_id, quantity, None, actor, _stored_time(now))
    act_id = cursor.execute(_INSERT_ACT, act_values).fetchone()[0]
    act = dict(zip(_ACT_COLUMNS, (act_id, *act_values[:-1], now.replace(tzinfo=None)), strict=True))
    tx.record(acts, str(act_id), {**act, "created_at": canonical_value(now)})
    tx.note(act_id=act_id)

    moved = []
    for take in takes:
        _move(tx, cursor, take, to_account_id, issued[take.block.issuance_id])
        values = (act_id, take.block.issuance_id, take.first, take.last, take.block.account_id, to_account_id,
                  State.AVAILABLE, State.AVAILABLE)
        movement_id = cursor.execute(_INSERT_MOVEMENT, values).fetchone()[0]
        movement = dict(zip(_MOVEMENT_COLUMNS, (movement_id, *values), strict=True))
        tx.record(movements, str(movement_id), movement)
        moved.append(movement)
    serials = []
    for issuance_id, first, last in ranges(takes):
        registry, region, credit_type, project_id, vintage = cursor.execute(_ISSUANCE, (issuance_id,)).fetchone()
        serials.append(format_serial(registry=registry, region=region, credit_type=credit_type, project_id=project_id,
                                     vintage=vintage, issuance_id=issuance_id, first=first, last=last))
    return Transferred(act, moved, serials)


def _available_blocks(cursor: Any, account_id: int, issued: dict[int, int]) -> Iterator[Block]:
    """The account's available blocks, first issued first out, a small page first (most transfers take one or two)."""
    after, page = (0, 0), _FIRST_PAGE
    while True:
        rows = cursor.execute(_AVAILABLE, (account_id, *after, page)).fetchall()
        for row in rows:
            issued[row[1]] = row[5]
            yield _block(row)
        if len(rows) < page:
            return
        after, page = (rows[-1][1], rows[-1][2]), _PAGE


def _block(row: tuple[Any, ...]) -> Block:
    # id, issuance_id, first, last, quantity, issued_last, predecessor_last, successor_first, account_id, state,
    # pledge_id: the table's column order, which _BLOCK_COLUMNS states and the tests pin.
    return Block(row[0], row[1], row[2], row[3], row[8], row[9], row[10])


def _move(tx: UnitOfWork, cursor: Any, take: Take, destination: int, issued_last: int) -> None:
    """Give the take to ``destination``: grown into its available blocks beside the take, or split off.

    The same writes as ``ledger._into_neighbours`` or else ``ledger._split``, in the same order.
    """
    block = take.block
    before = take.first - 1 if take.first == block.first and take.first > 1 else None
    after = take.last + 1 if take.last == block.last else None
    beside = []
    if before is not None or after is not None:
        beside = [row for row in cursor.execute(_NEIGHBOURS, (block.issuance_id, before, after)).fetchall()
                  if row[8] == destination and row[9] == State.AVAILABLE]
    remainders = take.remainders()
    if not beside:
        _reshape(tx, cursor, block.id, take.first, take.last, issued_last, destination, State.AVAILABLE, None)
        for first, last in remainders:
            _first, _last, count, predecessor, successor = shape(first, last, issued_last)
            row = cursor.execute(_INSERT_BLOCK, (block.issuance_id, first, last, count, issued_last, predecessor,
                                                 successor, block.account_id, block.state, block.pledge_id)).fetchone()
            tx.record(blocks, str(row[0]), dict(zip(_BLOCK_COLUMNS, row, strict=True)))
        return
    if remainders:
        (first, last), = remainders  # the take reaches one edge, so one remainder is left
        _reshape(tx, cursor, block.id, first, last, issued_last, block.account_id, block.state, block.pledge_id)
    else:
        _delete(tx, cursor, block.id)
    survivor, *absorbed = sorted(beside, key=lambda row: row[2])
    for row in absorbed:
        _delete(tx, cursor, row[0])
    first = min(take.first, *(row[2] for row in beside))
    last = max(take.last, *(row[3] for row in beside))
    _reshape(tx, cursor, survivor[0], first, last, issued_last, destination, State.AVAILABLE, None)


def _reshape(tx: UnitOfWork, cursor: Any, block_id: int, first: int, last: int, issued_last: int, account_id: int,
             state: str, pledge_id: int | None) -> None:
    row = cursor.execute(_RESHAPE, (*shape(first, last, issued_last), account_id, state, pledge_id,
                                    block_id)).fetchone()
    tx.record(blocks, str(block_id), dict(zip(_BLOCK_COLUMNS, row, strict=True)))


def _delete(tx: UnitOfWork, cursor: Any, block_id: int) -> None:
    cursor.execute(_DELETE_BLOCK, (block_id,))
    tx.record(blocks, str(block_id), None)


def _stored_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores a DateTime on SQLite (its default storage format)."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _image(account: dict[str, Any]) -> dict[str, Any]:
    """An account row's journal image: its stored time spelled as ``canonical_value`` spells it."""
    stored = account["created_at"]
    return {**account, "created_at": canonical_value(datetime.fromisoformat(stored))}
