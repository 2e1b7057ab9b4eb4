"""Pure arithmetic of issuing a monitoring report: each site's serial sub-range, each owner's share, claimed days.

An issuance of Q units (kgCO2e) holds units 1..Q.  ``allocate`` gives every site that reduced something a
contiguous sub-range of exactly its reduction, ordered by owner and then meter, so the sub-ranges tile 1..Q
with no gap and no overlap and each owner's sites form one contiguous run: splitting an issuance to owners is
then one transfer (and one serial) per owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one site adds to an issuance: whole kgCO2e (0 or more) credited to its owner organisation."""

    meter_id: str
    owner: int
    quantity: int


@dataclass(frozen=True, slots=True)
class SubRange:
    """Units ``first..last`` of an issuance, backed by one site's meter and credited to its owner."""

    meter_id: str
    owner: int
    first: int
    last: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1


def allocate(contributions: Iterable[Contribution]) -> list[SubRange]:
    """Sub-ranges of units 1..total for every contribution above zero, ordered by (owner, meter_id).

    The order does not depend on the input's order.  A meter listed twice or a negative quantity is a
    ValueError: a report's sites are distinct meters with whole, non-negative reductions.
    """
    ordered = sorted(contributions, key=lambda c: (c.owner, c.meter_id))
    seen: set[str] = set()
    ranges: list[SubRange] = []
    last = 0
    for contribution in ordered:
        if contribution.meter_id in seen:
            raise ValueError(f"meter {contribution.meter_id!r} contributes twice")
        seen.add(contribution.meter_id)
        if contribution.quantity < 0:
            raise ValueError(f"meter {contribution.meter_id!r} contributes {contribution.quantity} kgCO2e")
        if contribution.quantity:
            ranges.append(SubRange(contribution.meter_id, contribution.owner, last + 1,
                                   last + contribution.quantity))
            last += contribution.quantity
    return ranges


def owner_ranges(ranges: Sequence[SubRange]) -> dict[int, tuple[int, int]]:
    """Each owner's units as one (first, last) run, from sub-ranges that ``allocate`` made."""
    runs: dict[int, tuple[int, int]] = {}
    for sub in ranges:
        if sub.owner in runs:
            first, last = runs[sub.owner]
            if last + 1 != sub.first:
                raise ValueError(f"owner {sub.owner}'s sub-ranges are not contiguous; allocate() orders them so")
            runs[sub.owner] = (first, sub.last)
        else:
            runs[sub.owner] = (sub.first, sub.last)
    return runs


def days(first: date, last: date) -> list[date]:
    """Every local day from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_runs(claimed: Iterable[date]) -> list[tuple[date, date]]:
    """Days as inclusive runs of consecutive days, in order (for messages that name periods, not lists)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(claimed)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
