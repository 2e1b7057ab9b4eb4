"""A resident's choices (leaderboard under a nickname, consent to packaging) and the opt-in leaderboard."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import InvalidRequest
from tanhui.fields import text
from tanhui.identity.principal import Principal
from tanhui.points import ledger
from tanhui.points.award import REFUSED
from tanhui.points.tables import behaviour_events, resident_settings
from tanhui.regions.catalogue import region as find_region
from tanhui.regions.tables import organization_regions
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

_LONGEST_PERIOD_DAYS = 366


def settings_of(conn: Connection, resident_id: int) -> dict[str, Any]:
    """The resident's choices; a resident who never chose is off the leaderboard and has not consented."""
    row = read_one(conn, resident_settings, resident_settings.c.resident_id == resident_id)
    if row is None:
        return {
            "resident_id": resident_id,
            "leaderboard": False,
            "nickname": None,
            "packaging_consent": False,
            "updated_at": None,
        }
    return dict(row)


def choose(
    tx: UnitOfWork,
    principal: Principal,
    resident_id: int,
    *,
    leaderboard: bool | None = None,
    nickname: str | None = None,
    packaging_consent: bool | None = None,
) -> RowMapping:
    """The resident opts in or out of the leaderboard (shown only under a nickname) and of packaging.

    Opting out takes effect at once: the leaderboard is computed from these choices at every read.
    """
    principal.require_acts_for(resident_id, f"the choices of resident {resident_id}")
    ledger.resident(tx.conn, resident_id)
    current = settings_of(tx.conn, resident_id)
    values = {
        "leaderboard": current["leaderboard"] if leaderboard is None else leaderboard,
        "nickname": current["nickname"] if nickname is None else text(nickname, "nickname", limit=40),
        "packaging_consent": current["packaging_consent"] if packaging_consent is None else packaging_consent,
        "updated_at": utcnow(),
    }
    if values["leaderboard"] and not values["nickname"]:
        raise InvalidRequest("a nickname is required to appear on the leaderboard (your name is never shown)")
    tx.entry(
        "points.choices",
        resident_id=resident_id,
        leaderboard=values["leaderboard"],
        packaging_consent=values["packaging_consent"],
    )
    if current["updated_at"] is None:
        return tx.insert(resident_settings, {"resident_id": resident_id, **values})
    return tx.update(resident_settings, resident_settings.c.resident_id == resident_id, values)[0]


def leaderboard(
    conn: Connection, *, region: str, start: date, end: date, limit: int = 100
) -> list[dict[str, Any]]:
    """Opted-in residents of a region ranked by points earned from events of the period's local days.

    Only nicknames and totals are shown; residents who did not opt in never appear, and reversed events do not
    count.  Equal totals share a rank (1, 1, 3).
    """
    find_region(region)
    if end < start or (end - start).days >= _LONGEST_PERIOD_DAYS:
        raise InvalidRequest(
            f"a leaderboard period runs from start to end within {_LONGEST_PERIOD_DAYS} days, "
            f"not {start}..{end}"
        )
    total = func.sum(behaviour_events.c.points_g).label("points_g")
    rows = conn.execute(
        select(resident_settings.c.nickname, total)
        .select_from(behaviour_events)
        .join(
            resident_settings,
            and_(
                resident_settings.c.resident_id == behaviour_events.c.resident_id,
                resident_settings.c.leaderboard.is_(True),
            ),
        )
        .join(
            organization_regions,
            and_(
                organization_regions.c.organization_id == behaviour_events.c.resident_id,
                organization_regions.c.region == region,
            ),
        )
        .where(
            behaviour_events.c.status != REFUSED,
            behaviour_events.c.day.between(start, end),
            ~ledger.reversed_event(behaviour_events.c.id),
        )
        .group_by(behaviour_events.c.resident_id, resident_settings.c.nickname)
        .having(total > 0)
        .order_by(total.desc(), resident_settings.c.nickname)
        .limit(limit)
    ).all()
    ranked: list[dict[str, Any]] = []
    for position, (nickname, points) in enumerate(rows, start=1):
        rank = ranked[-1]["rank"] if ranked and ranked[-1]["points_g"] == points else position
        ranked.append({"rank": rank, "nickname": nickname, "points_g": int(points)})
    return ranked
