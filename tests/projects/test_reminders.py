"""Reminders of pending steps reach the responsible organisation once when due soon and once when overdue."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from tanhui.cli.main import app
from tanhui.projects import reminders
from tanhui.types import utcnow
from tests.factories import snapshot
from tests.projects.test_lifecycle_api import CASES, Platform

EV = CASES["ev"]


def remind(p: Platform, monkeypatch: pytest.MonkeyPatch, days: float) -> list[dict[str, Any]]:
    """Run the reminder job from the command line, ``days`` from now."""
    monkeypatch.setattr(reminders, "utcnow", lambda: utcnow() + timedelta(days=days))
    done = CliRunner().invoke(app, ["--database-url", p.world.engine.url.render_as_string(hide_password=False),
                                    "project", "remind", "--json"])
    assert done.exit_code == 0, done.output
    return list(json.loads(done.stdout))


def test_each_step_is_reminded_once_due_soon_and_once_overdue_to_whoever_must_act(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    p = platform
    declared = p.ok(p.post("/declarations", p.owner, {
        "name": "Chargers", "owner_organization_id": p.world.owner_org, "methodology": EV.methodology,
        "region": "SIP", "design": EV.design}), 201)
    p.ok(p.post(f"/declarations/{declared['id']}/submit", p.owner))  # the operator's review is due in 10 days

    before = snapshot(p.world.engine)
    assert remind(p, monkeypatch, 7.9) == [], "more than two days before it is due"
    assert snapshot(p.world.engine) == before
    soon = remind(p, monkeypatch, 8.1)
    assert [(r["organization_id"], r["what"], r["step"], r["kind"]) for r in soon] == [
        (p.world.operator_org, f"declaration {declared['id']}", "operator: completeness review", "due_soon")]
    assert remind(p, monkeypatch, 8.2) == [], "a rerun sends nothing again"
    late = remind(p, monkeypatch, 10.1)
    assert [r["kind"] for r in late] == ["overdue"] and remind(p, monkeypatch, 30) == []

    # A report waiting for review reminds its verifier, and only the verifier sees it.
    _, project = p.registered(EV)
    report = p.ok(p.post(f"/projects/{project}/reports", p.owner, {
        "period_start": "2024-01-01", "period_end": "2024-01-31", "verifier_organization_id": p.verifier_org,
        "data": EV.data}), 201)
    due = remind(p, monkeypatch, 30 + 10.5)  # p.registered moved the lifecycle's clock, not the report's
    assert [(r["organization_id"], r["what"], r["kind"]) for r in due] == [
        (p.verifier_org, f"monitoring report {report['id']}", "overdue")]
    inbox = p.ok(p.get("/reminders", p.verifier))
    assert [(r["what"], r["step"], r["kind"]) for r in inbox] == [
        (f"monitoring report {report['id']}", "verifier: review", "overdue")]
    assert p.ok(p.get("/reminders", p.owner)) == []
    assert [r["kind"] for r in p.ok(p.get("/reminders", p.operator))] == ["overdue", "due_soon"]
    assert p.get("/reminders").status_code == 401
    pending = p.ok(p.get("/lifecycle/pending", p.operator))
    assert {s["organization_id"] for s in pending} == {p.world.operator_org, p.verifier_org}

