"""`tanhui project pending` lists what waits, and `--overdue` exits 1 once a step is past its due time."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from tanhui.cli.main import app
from tanhui.identity.principal import Principal
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


def test_the_operator_decides_declarations_and_signs_off_reports_on_the_command_line(
        world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from datetime import date

    from tanhui.identity import services as identity

    world = world_factory("sqlite")
    url = world.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()

    def tanhui(*args: str) -> str:
        result = runner.invoke(app, ["--database-url", url, *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    with UnitOfWork(world.engine, world.owner.actor) as tx:
        numbers = [declaring.declare(tx, world.owner, name=f"Chargers {n}", owner_organization_id=world.owner_org,
                                     methodology="EV-CHARGE", region="SIP",
                                     design={"pile_count": 4, "separately_metered": True})["id"] for n in range(3)]
        for number in numbers:
            declaring.submit(tx, world.owner, number)
        verifier_org = identity.create_organization(tx, world.operator, name="Verifier", kind="verifier")["id"]
        tx.commit()
    assert "returned" in tanhui("project", "return", str(numbers[0]), "--reason", "site list missing")
    assert "rejected" in tanhui("project", "reject", str(numbers[1]), "--reason", "duplicate")
    assert "announced" in tanhui("project", "announce", str(numbers[2]), "--days", "7")
    refused = runner.invoke(app, ["--database-url", url, "project", "approve", str(numbers[2])])
    assert refused.exit_code == 1 and "approve after that" in refused.stderr
    monkeypatch.setattr(declaring, "utcnow", lambda: utcnow() + timedelta(days=8))
    assert "project" in tanhui("project", "approve", str(numbers[2]))
    with UnitOfWork(world.engine, world.owner.actor) as tx:
        project = declaring.get_declaration(tx.conn, numbers[2])["project_id"]
        verifier = Principal("user:v", verifier_org, "verifier", "admin")
        report = reports.submit_report(tx, world.owner, tmp_path, project_id=project, period_start=date(2024, 1, 1),
                                       period_end=date(2024, 1, 31), verifier_organization_id=verifier_org,
                                       data=b"charger_id,period_start,period_end,charged_kwh\n"
                                            b"C1,2024-01-01,2024-01-31,10000\n")["id"]
        reports.review(tx, verifier, report, approve=True, findings=None)
        tx.commit()
    assert "4,464 kgCO2e to account" in tanhui("project", "sign-off", str(report), "--account",
                                              str(world.owner_account))
