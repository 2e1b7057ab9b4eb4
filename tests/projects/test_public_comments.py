"""Public comments need no login, so one client address is limited to ten an hour, counted by a keyed hash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tanhui.projects import declarations as declaring
from tanhui.projects.tables import public_comments
from tanhui.types import utcnow
from tests.factories import snapshot
from tests.projects.test_lifecycle_api import CASES, Platform

EV = CASES["ev"]


def test_one_address_sends_at_most_ten_public_comments_an_hour(platform: Platform,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    p = platform
    declared = p.ok(p.post("/declarations", p.owner, {
        "name": "Chargers", "owner_organization_id": p.world.owner_org, "methodology": EV.methodology,
        "region": "SIP", "design": EV.design}), 201)
    p.ok(p.post(f"/declarations/{declared['id']}/submit", p.owner))
    p.ok(p.post(f"/declarations/{declared['id']}/announce", p.operator, {"days": 7}))
    path = f"/public/announcements/{declared['id']}/comments"
    for number in range(declaring.COMMENTS_PER_HOUR):
        p.ok(p.post(path, None, {"author": f"居民 {number}", "body": "支持"}), 201)
    before = snapshot(p.world.engine)
    over = p.post(path, None, {"author": "居民 X", "body": "one too many"})
    assert over.status_code == 429 and over.headers["Retry-After"] == "3600"
    assert "as many as an hour allows" in over.json()["detail"]
    assert snapshot(p.world.engine) == before
    later = utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(declaring, "utcnow", lambda: later)
    p.ok(p.post(path, None, {"author": "居民 X", "body": "an hour on"}), 201)
    with p.world.engine.connect() as conn:
        sources = set(conn.execute(select(public_comments.c.source)).scalars())
    assert len(sources) == 1 and "testclient" not in next(iter(sources)), "a keyed hash, never the address"
