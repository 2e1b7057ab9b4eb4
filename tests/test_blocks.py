"""Block arithmetic: takes conserve units exactly, never off by one, in the order the blocks are given."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanhui.errors import InsufficientHoldings, UnitsNotAvailable
from tanhui.registry.blocks import Block, State, Take, cover_range, ranges, take_quantity, total


@st.composite
def holdings(draw: st.DrawFn, *, max_blocks: int = 8) -> list[Block]:
    """Disjoint blocks of a few issuances, in the registry's order (issuance, then first unit)."""
    found = []
    number = 0
    for issuance in range(1, draw(st.integers(1, 3)) + 1):
        unit = 1
        for _ in range(draw(st.integers(0, max_blocks))):
            unit += draw(st.integers(0, 5))  # a gap: units held elsewhere
            size = draw(st.integers(1, 10**6 if draw(st.booleans()) else 20))
            number += 1
            found.append(Block(number, issuance, unit, unit + size - 1, 1, State.AVAILABLE))
            unit += size
    return found


@st.composite
def tiled_issuance(draw: st.DrawFn) -> list[Block]:
    """Blocks tiling units 1..Q of one issuance, each at one of three accounts in some state."""
    found = []
    unit = 1
    for number in range(1, draw(st.integers(1, 10)) + 1):
        size = draw(st.integers(1, 30))
        found.append(Block(number, 1, unit, unit + size - 1, draw(st.integers(1, 3)),
                           draw(st.sampled_from([State.AVAILABLE] * 3 + list(State.ALL)))))
        unit += size
    return found


def _first_units(blocks: list[Block], quantity: int) -> list[tuple[int, int, int]]:
    """The first ``quantity`` units of the blocks, in the blocks' order, as (issuance, first, last) ranges."""
    found = []
    for block in blocks:
        if quantity == 0:
            break
        part = min(quantity, block.quantity)
        found.append((block.issuance_id, block.first, block.first + part - 1))
        quantity -= part
    return found


def _assert_exact(take: Take) -> None:
    """A take lies within its block, and the take plus its remainders are exactly the block."""
    block = take.block
    assert block.first <= take.first <= take.last <= block.last
    assert take.quantity == take.last - take.first + 1 > 0
    pieces = sorted([(take.first, take.last), *take.remainders()])
    assert pieces[0][0] == block.first and pieces[-1][1] == block.last
    assert all(a[1] + 1 == b[0] for a, b in pairwise(pieces))  # no gap, no overlap
    assert sum(last - first + 1 for first, last in pieces) == block.quantity
    assert take.whole == (len(pieces) == 1)


@given(holdings(), st.data())
def test_a_quantity_is_taken_exactly_first_in_first_out(blocks: list[Block], data: st.DataObject) -> None:
    held = sum(b.quantity for b in blocks)
    if held == 0:
        return
    quantity = data.draw(st.integers(1, held))
    takes = take_quantity(blocks, quantity)
    assert total(takes) == quantity
    for take in takes:
        _assert_exact(take)
    # First in, first out: the units taken are exactly the first ``quantity`` units in the order given,
    # every block but the last one touched is taken whole, and the last is cut at its start.
    assert [t.block for t in takes] == blocks[:len(takes)]
    assert all(t.whole for t in takes[:-1])
    assert takes[-1].first == takes[-1].block.first
    assert [(t.block.issuance_id, t.first, t.last) for t in takes] == _first_units(blocks, quantity)


def test_a_split_of_250_units_takes_250_ids() -> None:
    """The off-by-one a peer registry shipped: 250 units from 1-1000 must be 1-250, leaving 251-1000."""
    (take,) = take_quantity([Block(1, 1, 1, 1000, 1, State.AVAILABLE)], 250)
    assert (take.first, take.last, take.quantity) == (1, 250, 250)
    assert take.remainders() == [(251, 1000)]


@given(holdings(), st.integers(1, 20))
def test_asking_for_more_than_is_held_names_both_amounts(blocks: list[Block], extra: int) -> None:
    held = sum(b.quantity for b in blocks)
    with pytest.raises(InsufficientHoldings) as refused:
        take_quantity(blocks, held + extra)
    assert refused.value.detail == f"the account holds {held} available units; {held + extra} were asked for"
    assert refused.value.extra == {"available": held, "requested": held + extra}


def test_the_callers_balance_is_named_when_given() -> None:
    with pytest.raises(InsufficientHoldings, match="holds 7 available units; 20 were asked for"):
        take_quantity([Block(1, 1, 1, 5, 1, State.AVAILABLE)], 20, held=7)


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_quantity_must_be_positive(quantity: int) -> None:
    with pytest.raises(ValueError, match="quantity must be positive"):
        take_quantity([Block(1, 1, 1, 5, 1, State.AVAILABLE)], quantity)


def test_blocks_beyond_the_quantity_are_not_read() -> None:
    """Takes stop at the quantity, so the ledger can stream an account's blocks lazily."""
    def endless() -> object:
        number = 0
        while True:
            number += 1
            yield Block(number, 1, 10 * number - 9, 10 * number, 1, State.AVAILABLE)

    takes = take_quantity(endless(), 25)  # type: ignore[arg-type]
    assert [(t.first, t.last) for t in takes] == [(1, 10), (11, 20), (21, 25)]


@given(tiled_issuance(), st.data())
def test_a_serial_range_is_covered_exactly_or_refused_naming_the_unit(blocks: list[Block],
                                                                      data: st.DataObject) -> None:
    issued = blocks[-1].last
    first = data.draw(st.integers(1, issued))
    last = data.draw(st.integers(first, issued + 5))
    account = data.draw(st.integers(1, 3))
    owner = {u: (b.account_id, b.state) for b in blocks for u in range(b.first, b.last + 1)}
    wanted = [owner.get(u) for u in range(first, last + 1)]
    if all(w == (account, State.AVAILABLE) for w in wanted):
        takes = cover_range(blocks, first, last, account_id=account)
        for take in takes:
            _assert_exact(take)
        covered = [u for t in takes for u in range(t.first, t.last + 1)]
        assert covered == list(range(first, last + 1))  # every unit once, in serial order
        assert ranges(takes) == [(1, first, last)]
    else:
        with pytest.raises(UnitsNotAvailable) as refused:
            cover_range(blocks, first, last, account_id=account)
        bad = next(u for u in range(first, last + 1) if owner.get(u) != (account, State.AVAILABLE))
        assert f"unit {bad} " in refused.value.detail or f"units {bad}-" in refused.value.detail


def test_cover_range_names_what_is_wrong() -> None:
    blocks = [Block(1, 1, 1, 10, 1, State.AVAILABLE), Block(2, 1, 11, 20, 1, State.RETIRED),
              Block(3, 1, 21, 30, 2, State.AVAILABLE)]
    with pytest.raises(UnitsNotAvailable, match="units 11-15 are retired, not available"):
        cover_range(blocks, 5, 15, account_id=1)
    with pytest.raises(UnitsNotAvailable, match="units 21-25 are not held by account 1"):
        cover_range(blocks, 21, 25, account_id=1)
    with pytest.raises(UnitsNotAvailable, match="unit 31 of the range 25-35 does not exist in this issuance"):
        cover_range(blocks, 25, 35, account_id=None)
    # Any account's units, when the act does not name one (a revocation by serial range).
    anyones = cover_range(blocks, 21, 22, account_id=None)
    assert [(t.block.id, t.first, t.last) for t in anyones] == [(3, 21, 22)]
    # Pledged units are found only when the act asks for them.
    pledged = [Block(4, 2, 1, 10, 1, State.PLEDGED, pledge_id=9)]
    with pytest.raises(UnitsNotAvailable, match="units 2-3 are pledged, not available"):
        cover_range(pledged, 2, 3, account_id=1)
    assert total(cover_range(pledged, 2, 3, account_id=1, states=(State.PLEDGED,))) == 2


def test_ranges_merge_adjacent_takes_of_one_issuance_only() -> None:
    def block(number: int, issuance: int, first: int, last: int) -> Block:
        return Block(number, issuance, first, last, 1, State.AVAILABLE)

    takes = [Take(block(1, 1, 1, 10), 1, 10), Take(block(2, 1, 11, 20), 11, 15),
             Take(block(3, 2, 1, 5), 1, 5), Take(block(4, 1, 30, 40), 30, 31)]
    assert ranges(takes) == [(1, 1, 15), (1, 30, 31), (2, 1, 5)]
