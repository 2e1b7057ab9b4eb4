"""A month of the 1,000-site demo park from readings to issued credits, as the README tells a user to do it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tanhui import demo
from tanhui.api.app import create_app
from tanhui.cli.main import app
from tanhui.config import Settings
from tanhui.db import create_engine
from tanhui.journal.audit import verify as audit
from tests.factories import invariant_problems, snapshot


def test_a_month_of_the_demo_park_becomes_credits_with_provenance(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the README's relative paths: tanhui.db, tanhui-data/, park/
    for name in ("TANHUI_DATABASE_URL", "TANHUI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def tanhui(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, f"tanhui {' '.join(args)}: {result.output}"
        return result.stdout

    tanhui("demo")
    tanhui("mrv", "demo-park", "--out", "park", "--register-owners")
    tanhui("mrv", "sites", "import", "park/sites.csv")
    tanhui("mrv", "ingest", "park/readings.parquet", "park/registers.parquet")
    tanhui("mrv", "verify", "--sites", "park/sites.csv", "--readings", "tanhui-data/lake",
           "--period", "2024-06-01..2024-06-30", "--out", "report-2024-06")
    summary = json.loads(Path("report-2024-06/summary.json").read_text(encoding="utf-8"))
    assert summary["totals"]["sites"] == 1000
    tanhui("mrv", "issue", "--report", "report-2024-06", "--project", "1", "--to-owners")

    engine = create_engine("sqlite:///tanhui.db")
    with engine.connect() as conn:
        issued = conn.execute(sa.text("SELECT id, quantity FROM issuances ORDER BY id DESC LIMIT 1")).one()
        owners = conn.execute(sa.text(
            "SELECT count(DISTINCT b.account_id), sum(b.quantity) FROM blocks b WHERE b.issuance_id = :i"),
            {"i": issued.id}).one()
    assert issued.quantity == summary["totals"]["reduction_kg"] > 0
    assert owners == (12, issued.quantity)  # every one of the 12 demo owners received its sites' share

    serial = f"TH1.SIP.PHCER.P1.V2024.I{issued.id}.1-1000"
    with TestClient(create_app(Settings(database_url="sqlite:///tanhui.db"))) as client:
        token = client.post("/api/v1/auth/token", data={"username": "operator", "password": demo.DEMO_PASSWORD})
        provenance = client.get(f"/api/v1/serials/{serial}/provenance",
                                headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert provenance.status_code == 200, provenance.text
    body = provenance.json()
    assert body["report"]["period_start"] == "2024-06-01" and body["report"]["period_end"] == "2024-06-30"
    assert body["sites"] and all(site["accepted_kwh"] > 0 for site in body["sites"])
    assert sum(site["intervals_expected"] for site in body["sites"]) == len(body["sites"]) * 30 * 96
    assert body["intervals"], "the provenance names the intervals behind the serial"

    # The same month cannot back a second instrument: issuing the report again is refused and changes nothing.
    before = snapshot(engine)
    again = runner.invoke(app, ["mrv", "issue", "--report", "report-2024-06", "--project", "1", "--to-owners"])
    assert again.exit_code == 1 and "already" in again.stderr
    assert snapshot(engine) == before
    assert invariant_problems(engine) == [] and audit(engine).ok
    engine.dispose()
