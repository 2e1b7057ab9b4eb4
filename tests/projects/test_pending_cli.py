"""`tanhui project pending` lists what waits, and `--overdue` exits 1 once a step is past its due time."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from tanhui.cli.main import app
from tanhui.projects import declarations as declaring
from tanhui.projects import reports
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World


def test_pending_steps_and_the_overdue_exit_code(world_factory: Callable[..., World],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    world = world_factory("sqlite")
    url = world.engine.url.render_as_string(hide_password=False)
    with UnitOfWork(world.engine, world.owner.actor) as tx:
        number = declaring.declare(tx, world.owner, name="Chargers", owner_organization_id=world.owner_org,
                                   methodology="EV-CHARGE", region="SIP",
                                   design={"pile_count": 4, "separately_metered": True})["id"]
        declaring.submit(tx, world.owner, number)
        tx.commit()
    runner = CliRunner()
    listed = runner.invoke(app, ["--database-url", url, "project", "pending", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(s["what"], s["step"], s["overdue"]) for s in json.loads(listed.stdout)] == [
        (f"declaration {number}", "operator: completeness review", False)]
    assert runner.invoke(app, ["--database-url", url, "project", "pending", "--overdue"]).exit_code == 0
    monkeypatch.setattr(reports, "utcnow", lambda: utcnow() + timedelta(days=11))
    late = runner.invoke(app, ["--database-url", url, "project", "pending", "--overdue"])
    assert late.exit_code == 1 and "OVERDUE" in late.stdout and "Chargers" in late.stdout
