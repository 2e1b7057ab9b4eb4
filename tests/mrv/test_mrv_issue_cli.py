"""`tanhui mrv sites|claims|issue|provenance` on real registries: a report becomes credits, once, traceably."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tanhui.cli.main import app
from tests.factories import World, holdings, snapshot
from tests.mrv.test_mrv_registry import M1_KG, M2_KG, VERSION, SiteSpec, kg, owners, write_report

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def tanhui(url: str, data_dir: Path, *args: str) -> Result:
    return runner.invoke(app, ["--database-url", url, *args], env={"TANHUI_DATA_DIR": str(data_dir)})


def ok(result: Result) -> str:
    """What the command printed, its tables' rules and borders dropped and whitespace collapsed."""
    assert result.exit_code == 0, result.output
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", result.stdout).split())


def refused(result: Result) -> str:
    assert result.exit_code == 1, result.output
    return " ".join(result.stderr.split())


def sites_csv(path: Path, specs: list[SiteSpec]) -> Path:
    lines = ["meter_id,site_id,owner,capacity_kw,latitude,longitude,region,commissioned,tilt,azimuth,grid_point"]
    lines += [f"{s.meter_id},S-{s.meter_id},{s.owner},{s.capacity_kw},31.3,120.72,{s.region},2023-05-01,25,180,T1"
              for s in specs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_report_goes_from_sites_to_credits_with_provenance(world: World, database_url: str, tmp_path: Path,
                                                             data_dir: Path) -> None:
    owner, buyer = owners(world)
    specs = [SiteSpec("M1", owner), SiteSpec("M2", buyer, kwh=0.5)]
    csv = sites_csv(tmp_path / "sites.csv", specs)
    assert "2 meters registered, 0 updated, 0 already registered" in ok(
        tanhui(database_url, data_dir, "mrv", "sites", "import", str(csv)))
    assert "0 meters registered, 0 updated, 2 already registered" in ok(
        tanhui(database_url, data_dir, "mrv", "sites", "import", str(csv)))
    listed = ok(tanhui(database_url, data_dir, "mrv", "sites", "list", "--owner", str(world.buyer_org)))
    assert "M2" in listed and "M1" not in listed

    report = write_report(tmp_path / "report", specs)
    args = ("mrv", "issue", "--report", str(report), "--project", str(world.project),
            "--account", str(world.owner_account))
    issued = ok(tanhui(database_url, data_dir, *args))
    total = M1_KG + M2_KG
    assert "2 sites, 2024-01-01..2024-01-03" in issued and f"{total} kgCO2e" in issued
    prefix = next(word for word in issued.split() if word.startswith("TH1.")).rsplit(".", 1)[0]
    assert f"{prefix}.1-{total}" in issued
    # The per-owner allocation: each owner's sites' units (all still in the account issued into).
    assert f"{owner} {world.owner_account} {prefix}.1-{M1_KG} 1 {M1_KG}" in issued
    assert f"{buyer} {world.owner_account} {prefix}.{M1_KG + 1}-{total} 1 {M2_KG}" in issued
    assert f"Archived / 已归档: {data_dir / 'reports'}" in issued

    before = snapshot(world.engine)
    assert f"already issued as {prefix}.1-{total}" in refused(tanhui(database_url, data_dir, *args))
    assert snapshot(world.engine) == before

    traced = ok(tanhui(database_url, data_dir, "mrv", "provenance", f"{prefix}.{total}", "--intervals", "2"))
    assert "2024-01-01..2024-01-03, PV-DIST 1-EC2023" in traced
    factor = VERSION.grid_factor
    assert f"{factor.value} tCO2/MWh, mee-nbs-average 2023 east ({factor.source})" in traced
    assert f"M2 S-M2 {buyer} 10 SIP 48.000 46.500 outlier 3 {prefix}.{M1_KG + 1}-{total} {M2_KG}" in traced
    assert "M2 2024-01-01 00:15 0.5 0.5" in traced  # local 08:15 is 00:15 UTC; 08:00 was flagged
    as_json = json.loads(tanhui(database_url, data_dir, "mrv", "provenance", f"{prefix}.{total}", "--json").stdout)
    assert [s["meter_id"] for s in as_json["sites"]] == ["M2"] and as_json["intervals"] == []


def test_owners_receive_their_units_and_bad_reports_change_nothing(world: World, database_url: str,
                                                                   tmp_path: Path, data_dir: Path) -> None:
    owner, buyer = owners(world)
    specs = [SiteSpec("M1", owner), SiteSpec("M2", buyer)]
    ok(tanhui(database_url, data_dir, "mrv", "sites", "import", str(sites_csv(tmp_path / "s.csv", specs))))
    before = snapshot(world.engine)

    report = write_report(tmp_path / "report", specs)
    (report / "daily.parquet").write_bytes((report / "daily.parquet").read_bytes() + b"\0")
    assert "was altered: daily.parquet has SHA-256" in refused(tanhui(
        database_url, data_dir, "mrv", "issue", "--report", str(report), "--project", str(world.project),
        "--account", str(world.owner_account)))
    assert "give the account to issue into" in refused(tanhui(
        database_url, data_dir, "mrv", "issue", "--report", str(write_report(tmp_path / "r2", specs)),
        "--project", str(world.project)))
    assert "is not a monitoring report: it has no summary.json" in refused(tanhui(
        database_url, data_dir, "mrv", "issue", "--report", str(tmp_path), "--project", str(world.project)))
    assert snapshot(world.engine) == before
    assert [p.name for p in (data_dir / "reports").iterdir()] == []

    ok(tanhui(database_url, data_dir, "mrv", "claims", "declare", "--meter", "M2", "--period",
              "2024-01-03..2024-01-10", "--instrument", "green_certificate", "--reference", "GEC-77"))
    before = snapshot(world.engine)
    good = write_report(tmp_path / "r3", specs)
    args = ("mrv", "issue", "--report", str(good), "--project", str(world.project), "--to-owners")
    assert "meter M2 on 2024-01-03 by green_certificate GEC-77" in refused(tanhui(database_url, data_dir, *args))
    assert snapshot(world.engine) == before

    january = write_report(tmp_path / "r4", specs, (date(2024, 1, 1), date(2024, 1, 2)))
    issued = ok(tanhui(database_url, data_dir, "mrv", "issue", "--report", str(january), "--project",
                       str(world.project), "--to-owners"))
    assert f"{buyer} {world.buyer_account}" in issued
    issuance = int(issued.split("as issuance ")[1].split(",")[0])
    two_days = kg(2, 1.25)
    assert holdings(world.engine, world.owner_account) == [(issuance, 1, two_days, "available")]
    assert holdings(world.engine, world.buyer_account) == [(issuance, two_days + 1, 2 * two_days, "available")]
    claims = ok(tanhui(database_url, data_dir, "mrv", "claims", "list", "--meter", "M2"))
    assert "2024-01-03..2024-01-10 green_certificate GEC-77" in claims
    assert "2024-01-01..2024-01-02 tanhui_credit" in claims
