"""Behaviour events in bulk from a source's CSV file: every row checked first, then all recorded or none."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime
from typing import Any

from tanhui.errors import BadInput, TanhuiError
from tanhui.identity.principal import Principal
from tanhui.points import events, ledger
from tanhui.points.award import check_event
from tanhui.points.scheme import scheme
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork

COLUMNS = (
    "resident_id",
    "source",
    "event_id",
    "behaviour",
    "started_at",
    "ended_at",
    "distance_km",
    "saved_kwh",
)
_REQUIRED = COLUMNS[:6]
_SHOWN_ERRORS = 20


def parse(text: str) -> list[dict[str, Any]]:
    """The file's rows as event fields (``_row`` is the line number); `BadInput` names every bad row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in _REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        raise BadInput(
            f"events file: columns must be {', '.join(COLUMNS)} (distance_km or saved_kwh may be "
            f"empty); missing {', '.join(missing) or 'none'}, unknown {', '.join(unknown) or 'none'}"
        )
    rows, errors = [], []
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        cells = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append(f"row {number}: more cells than columns")
            continue
        row: dict[str, Any] = {name: cells.get(name) or None for name in COLUMNS}
        resident = row["resident_id"] or ""
        row["resident_id"] = int(resident) if resident.isdigit() else resident
        rows.append({"_row": number, **row})
    if not rows and not errors:
        raise BadInput("events file: no rows under the header")
    if errors:
        raise BadInput(f"events file: {len(errors)} problem(s), nothing was recorded: " + "; ".join(errors))
    return rows


def record_file(
    tx: UnitOfWork, principal: Principal, text: str, *, now: datetime | None = None
) -> Counter[str]:
    """Record every event of the file in this unit of work; how many were accepted, capped, refused, replayed.

    Rows are checked before any is recorded, so a bad file names all its bad rows; a row refused while
    recording (a changed replay) names its row, and the caller's rollback leaves nothing recorded.
    """
    principal.require_operator("record residents' behaviour events")
    now = now or utcnow()
    rows = parse(text)
    rules = scheme()
    errors = []
    for row in rows:
        try:
            ledger.resident(tx.conn, check_event(rules, row, now=now).resident_id)
        except TanhuiError as exc:
            errors.append(f"row {row['_row']}: {exc.detail}")
    if errors:
        shown = "; ".join(errors[:_SHOWN_ERRORS])
        more = f" (and {len(errors) - _SHOWN_ERRORS} more)" if len(errors) > _SHOWN_ERRORS else ""
        raise BadInput(f"events file: {len(errors)} problem(s), nothing was recorded: {shown}{more}")
    outcome: Counter[str] = Counter()
    for row in rows:
        try:
            recorded = events.record(tx, principal, row, now=now)
        except TanhuiError as exc:
            raise type(exc)(f"events file row {row['_row']}: {exc.detail}; nothing was recorded") from None
        outcome["replayed" if recorded.replayed else recorded.row["status"]] += 1
    return outcome
