"""Serial-block arithmetic: choosing and splitting inclusive unit ranges, with no I/O.

A block is an inclusive range ``first..last`` of one issuance's units, so its quantity is
``last - first + 1`` (peers have broken exactly here: a split of 250 units that produced 251 ids).
Every function returns *takes*: which part of which block an act touches.  Applying a take either
moves a whole block or splits it into at most three pieces whose quantities add up to the original.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tanhui.errors import InsufficientHoldings, UnitsNotAvailable


class State:
    """The states a block can be in; the last three are final (invariant 4)."""

    AVAILABLE = "available"
    PLEDGED = "pledged"
    RETIRED = "retired"
    CANCELLED = "cancelled"
    REVOKED = "revoked"
    ALL = (AVAILABLE, PLEDGED, RETIRED, CANCELLED, REVOKED)
    FINAL = (RETIRED, CANCELLED, REVOKED)


@dataclass(frozen=True, slots=True)
class Block:
    """A live block as read from the ledger."""

    id: int
    issuance_id: int
    first: int
    last: int
    account_id: int
    state: str
    pledge_id: int | None = None

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class Take:
    """The part ``first..last`` of ``block`` that an act touches."""

    block: Block
    first: int
    last: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    @property
    def whole(self) -> bool:
        return self.first == self.block.first and self.last == self.block.last

    def remainders(self) -> list[tuple[int, int]]:
        """The untouched pieces of the block left and right of the take, in serial order."""
        pieces = []
        if self.first > self.block.first:
            pieces.append((self.block.first, self.first - 1))
        if self.last < self.block.last:
            pieces.append((self.last + 1, self.block.last))
        return pieces


def shape(first: int, last: int, issued_last: int) -> tuple[int, int, int, int | None, int | None]:
    """A block's range columns (first, last, quantity, predecessor_last, successor_first): the neighbour keys
    name the blocks that must lie either side, which makes gaps impossible (invariant 3)."""
    return (first, last, last - first + 1, None if first == 1 else first - 1,
            None if last == issued_last else last + 1)


SHAPE_COLUMNS = ("first", "last", "quantity", "predecessor_last", "successor_first")


def take_quantity(blocks: Iterable[Block], quantity: int, *, held: int | None = None) -> list[Take]:
    """Take ``quantity`` units from ``blocks`` in the order given, splitting only the last block touched.

    The caller passes blocks in the registry's stated order (first issued, first out: by issuance,
    then by serial).  Raises InsufficientHoldings when the blocks hold fewer units.
    """
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    takes: list[Take] = []
    remaining = quantity
    for block in blocks:
        part = min(block.quantity, remaining)
        takes.append(Take(block, block.first, block.first + part - 1))
        remaining -= part
        if remaining == 0:
            break  # before asking for another block: the caller may read them page by page
    if remaining:
        have = quantity - remaining if held is None else held
        raise InsufficientHoldings(
            f"the account holds {have} available units; {quantity} were asked for", available=have,
            requested=quantity,
        )
    return takes


def cover_range(blocks: Sequence[Block], first: int, last: int, *, account_id: int | None,
                states: Sequence[str] = (State.AVAILABLE,)) -> list[Take]:
    """Take exactly the units ``first..last`` of one issuance from ``blocks``.

    ``blocks`` are the issuance's blocks that intersect the range, in serial order.  Every unit must lie
    in a block in one of ``states`` (and, unless ``account_id`` is None, held by that account); otherwise
    UnitsNotAvailable names the first unit that is not.
    """
    takes: list[Take] = []
    expected = first
    for block in blocks:
        if block.last < first or block.first > last:
            continue
        if block.first > expected:
            break
        if block.state not in states:
            raise UnitsNotAvailable(
                f"units {max(block.first, first)}-{min(block.last, last)} are {block.state}, "
                f"not {' or '.join(states)}", state=block.state,
            )
        if account_id is not None and block.account_id != account_id:
            raise UnitsNotAvailable(
                f"units {max(block.first, first)}-{min(block.last, last)} are not held by account {account_id}"
            )
        takes.append(Take(block, max(block.first, first), min(block.last, last)))
        expected = min(block.last, last) + 1
        if expected > last:
            return takes
    raise UnitsNotAvailable(f"unit {expected} of the range {first}-{last} does not exist in this issuance")


def total(takes: Iterable[Take]) -> int:
    """Units in a list of takes."""
    return sum(take.quantity for take in takes)


def ranges(takes: Iterable[Take]) -> list[tuple[int, int, int]]:
    """(issuance_id, first, last) of each take, adjacent ones of one issuance merged, for display."""
    return merge_spans((take.block.issuance_id, take.first, take.last) for take in takes)


def merge_spans(spans: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(issuance_id, first, last) spans in serial order, adjacent spans of one issuance merged."""
    merged: list[tuple[int, int, int]] = []
    for issuance_id, first, last in sorted(spans):
        if merged and merged[-1][0] == issuance_id and merged[-1][2] + 1 == first:
            merged[-1] = (issuance_id, merged[-1][1], last)
        else:
            merged.append((issuance_id, first, last))
    return merged
