"""A month of the 1,000-site demo park, from readings to owners' credits with provenance, as README walks it."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tanhui.api.app import create_app
from tanhui.cli.main import app
from tanhui.config import Settings
from tanhui.db import create_engine
from tanhui.demo import DEMO_PASSWORD
from tanhui.identity.tables import organizations
from tanhui.registry.tables import accounts, blocks
from tests.factories import snapshot

pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear is deprecated:DeprecationWarning")
runner = CliRunner()
PERIOD = "2024-06-01..2024-06-30"


def test_a_month_of_the_demo_park_becomes_owners_credits_traceable_to_its_intervals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tanhui.db'}"
    data = tmp_path / "tanhui-data"

    def tanhui(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, ["--database-url", url, *args], env={"TANHUI_DATA_DIR": str(data)})
        assert result.exit_code == code, result.output
        return result

    park, report = tmp_path / "park", tmp_path / "report-2024-06"
    tanhui("demo")
    tanhui("mrv", "demo-park", "--out", str(park), "--register-owners")  # 1,000 sites × 30 days, the defaults
    assert "1,000 meters registered" in tanhui("mrv", "sites", "import", str(park / "sites.csv")).stdout
    tanhui("mrv", "ingest", str(park / "readings.parquet"), str(park / "registers.parquet"))
    tanhui("mrv", "verify", "--sites", str(park / "sites.csv"), "--readings", str(data / "lake"),
           "--period", PERIOD, "--out", str(report))
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["totals"]["sites"] == 1000 and summary["totals"]["reduction_kg"] > 0
    issued = " ".join(tanhui("mrv", "issue", "--report", str(report), "--project", "1", "--to-owners").stdout.split())
    serial = re.search(r"(TH1\.SIP\.PHCER\.P1\.V2024\.I\d+)\.1-(\d+)", issued)
    assert serial is not None, issued
    prefix, quantity = serial.group(1), int(serial.group(2))
    assert quantity == summary["totals"]["reduction_kg"]

    # Each owner holds, in its own holding account, exactly the reductions of its sites.
    engine = create_engine(url)
    shares = Counter[str]()
    for site in summary["sites"]:
        shares[site["owner"]] += site["reduction_kg"]
    issuance = int(prefix.rsplit(".I", 1)[1])
    with engine.connect() as conn:
        held = dict(conn.execute(
            sa.select(organizations.c.name, sa.func.sum(blocks.c.quantity))
            .join(accounts, accounts.c.organization_id == organizations.c.id)
            .join(blocks, blocks.c.account_id == accounts.c.id)
            .where(blocks.c.issuance_id == issuance).group_by(organizations.c.name)).all())
    assert held == {owner: kg for owner, kg in shares.items() if kg} and len(held) == 12

    # The last unit's provenance over the API, logged in as the bank with its password.
    with TestClient(create_app(Settings(database_url=url, data_dir=data))) as client:
        login = client.post("/api/v1/auth/token", data={"username": "bank", "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        response = client.get(f"/api/v1/serials/{prefix}.{quantity}/provenance", headers=headers,
                              params={"limit": 50})
        assert response.status_code == 200, response.text
        view = response.json()
    shown = view["report"]
    assert (shown["period_start"], shown["period_end"]) == ("2024-06-01", "2024-06-30")
    assert shown["summary_sha256"] == hashlib.sha256((report / "summary.json").read_bytes()).hexdigest()
    assert summary["files"].items() <= shown["files"].items() and shown["reduction_kg"] == quantity
    assert len(view["sites"]) == 1
    credited = {site["meter_id"] for site in summary["sites"] if site["reduction_kg"]}
    meter = view["sites"][0]["meter_id"]
    assert meter in credited
    assert view["intervals"] and {i["meter_id"] for i in view["intervals"]} == {meter}

    # The same report again, and the same month verified anew (another report), are refused; nothing changes.
    before = snapshot(engine)
    again = tanhui("mrv", "issue", "--report", str(report), "--project", "1", "--to-owners", code=1)
    assert f"already issued as {prefix}.1-{quantity}" in " ".join(again.stderr.split())
    tanhui("mrv", "verify", "--sites", str(park / "sites.csv"), "--readings", str(data / "lake"),
           "--period", PERIOD, "--out", str(tmp_path / "again"))
    overlap = tanhui("mrv", "issue", "--report", str(tmp_path / "again"), "--project", "1", "--to-owners", code=1)
    said = " ".join(overlap.stderr.split())
    assert f"meter {summary['sites'][0]['meter_id']} on 2024-06-01..2024-06-30 by tanhui_credit" in said
    assert snapshot(engine) == before
    engine.dispose()
