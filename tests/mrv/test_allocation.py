"""Allocating an issuance's serials to sites and owners: sub-ranges tile the issuance exactly, owners get one run."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanhui.mrv.allocation import Contribution, allocate, day_runs, days, owner_ranges

contributions = st.lists(
    st.builds(Contribution, meter_id=st.text("0123456789", min_size=1, max_size=4), owner=st.integers(1, 5),
              quantity=st.integers(0, 10_000)),
    max_size=40, unique_by=lambda c: c.meter_id,
)


@given(contributions)
def test_sub_ranges_tile_the_issuance_exactly(given_: list[Contribution]) -> None:
    ranges = allocate(given_)
    total = sum(c.quantity for c in given_)
    units = [unit for sub in ranges for unit in range(sub.first, sub.last + 1)]
    assert units == list(range(1, total + 1))  # no gap, no overlap, in order
    assert {s.meter_id: s.quantity for s in ranges} == {c.meter_id: c.quantity for c in given_ if c.quantity}
    assert {s.meter_id: s.owner for s in ranges} == {c.meter_id: c.owner for c in given_ if c.quantity}


@given(contributions, st.randoms(use_true_random=False))
def test_the_allocation_does_not_depend_on_the_order_sites_are_listed(given_: list[Contribution],
                                                                      rng: random.Random) -> None:
    shuffled = list(given_)
    rng.shuffle(shuffled)
    assert allocate(shuffled) == allocate(given_)


@given(contributions)
def test_each_owner_gets_one_contiguous_run_of_its_sites_units(given_: list[Contribution]) -> None:
    runs = owner_ranges(allocate(given_))
    owed: dict[int, int] = {}
    for c in given_:
        if c.quantity:
            owed[c.owner] = owed.get(c.owner, 0) + c.quantity
    assert {owner: last - first + 1 for owner, (first, last) in runs.items()} == owed
    spans = sorted(runs.values())
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))


def test_sites_of_one_owner_are_allocated_in_meter_order_and_zero_sites_get_nothing() -> None:
    ranges = allocate([Contribution("B", 2, 5), Contribution("C", 1, 0), Contribution("A", 2, 3),
                       Contribution("D", 1, 4)])
    assert [(s.meter_id, s.first, s.last) for s in ranges] == [("D", 1, 4), ("A", 5, 7), ("B", 8, 12)]


def test_a_meter_listed_twice_or_a_negative_reduction_is_refused() -> None:
    with pytest.raises(ValueError, match="'A' contributes twice"):
        allocate([Contribution("A", 1, 1), Contribution("A", 2, 1)])
    with pytest.raises(ValueError, match="'A' contributes -1"):
        allocate([Contribution("A", 1, -1)])


def test_days_and_runs_of_days() -> None:
    assert days(date(2024, 2, 28), date(2024, 3, 1)) == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert day_runs([date(2024, 1, 3), date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 5)]) == [
        (date(2024, 1, 1), date(2024, 1, 3)), (date(2024, 1, 5), date(2024, 1, 5))]
