"""The project lifecycle as pure rules: which act moves a declaration or a monitoring report from which state.

declaration: draft → submitted → (returned → submitted)* → announced → approved (a registered project)
             submitted | announced → rejected
report:      submitted → verified → issued;  submitted → rejected (its days are free again)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tanhui.errors import Conflict

# act → (states it may start from, state it leads to)
DECLARATION_ACTS: dict[str, tuple[frozenset[str], str]] = {
    "edited": (frozenset({"draft", "returned"}), "same"),
    "submitted": (frozenset({"draft", "returned"}), "submitted"),
    "returned": (frozenset({"submitted"}), "returned"),
    "announced": (frozenset({"submitted"}), "announced"),
    "approved": (frozenset({"announced"}), "approved"),
    "rejected": (frozenset({"submitted", "announced"}), "rejected"),
}
REPORT_ACTS: dict[str, tuple[frozenset[str], str]] = {
    "verified": (frozenset({"submitted"}), "verified"),
    "rejected": (frozenset({"submitted"}), "rejected"),
    "issued": (frozenset({"verified"}), "issued"),
}
# Platform defaults for how long a pending step may wait before it is overdue (days), and the bounds of a
# public announcement; operators choose each announcement's length within them.
REVIEW_DAYS = 10
ANNOUNCEMENT_DAYS = (1, 90)
MAX_REPORT_DAYS = 3660  # a monitoring period of at most ten years: each day is one exclusivity row


class IllegalTransition(Conflict):
    """The act does not apply to the declaration's or report's present state."""

    code, title = "illegal-transition", "Not allowed in the present state"


def next_state(what: str, current: str, act: str) -> str:
    """The state ``act`` leads to from ``current``; `IllegalTransition` says which states allow it."""
    acts = DECLARATION_ACTS if what.startswith("declaration") else REPORT_ACTS
    allowed, target = acts[act]
    if current not in allowed:
        raise IllegalTransition(f"{what} is {current}; it can be {act} only when {' or '.join(sorted(allowed))}")
    return current if target == "same" else target


def due(at: datetime, days: int = REVIEW_DAYS) -> datetime:
    """When a step that became pending at ``at`` is overdue."""
    return at + timedelta(days=days)
