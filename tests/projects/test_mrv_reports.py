"""An MRV verify output as a declared PV project's monitoring report: submitted, reviewed, signed off, traced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tanhui.cli.main import app
from tanhui.errors import InvalidRequest
from tanhui.journal.audit import verify
from tanhui.mrv import registry
from tanhui.mrv.tables import claimed_days, monitoring_reports
from tanhui.projects.tables import mrv_submissions
from tanhui.unit_of_work import UnitOfWork
from tests.factories import balance, invariant_problems, snapshot
from tests.mrv.test_mrv_registry import M1_KG, M2_KG, SiteSpec, register, write_report
from tests.projects.test_lifecycle_api import CASES, Case, Platform

PV = CASES["pv"]  # declared with grid connections of at most 450 kW
OWNER, BUYER = "Org project_owner", "Org buyer"
SITES = [SiteSpec("M1", OWNER), SiteSpec("M2", BUYER, kwh=0.5)]
FILES = ("summary.json", "intervals.parquet", "daily.parquet")


def upload(directory: Path) -> dict[str, Any]:
    return {field: (name, (directory / name).read_bytes()) for field, name in
            zip(("summary", "intervals", "daily"), FILES, strict=True)}


def submit(p: Platform, project: int, directory: Path, who: dict[str, str] | None = None, *,
           verifier: int | None = None, key: str | None = None) -> Any:
    headers = {**(who if who is not None else p.owner), **({"Idempotency-Key": key} if key else {})}
    return p.client.post(f"/api/v1/projects/{project}/reports/mrv", headers=headers, files=upload(directory),
                         data={"verifier_organization_id": str(verifier or p.verifier_org)})


def refused(response: Any, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert text in response.json()["detail"], response.json()["detail"]


def count(p: Platform, table: sa.Table) -> int:
    with p.world.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_verify_output_goes_through_review_and_sign_off_to_owners_with_its_meter_days(
        platform: Platform, tmp_path: Path) -> None:
    p = platform
    _, project = p.registered(PV)
    register(p.world.engine, p.world.operator, SITES)
    report = write_report(tmp_path / "out", SITES)

    submitted = p.ok(submit(p, project, report, key="mrv-1"), 201)
    assert (submitted["status"], submitted["net_kg"], submitted["issuable_kg"], submitted["data_rows"]) == (
        "submitted", M1_KG + M2_KG, M1_KG + M2_KG, 2)
    assert (submitted["period_start"], submitted["period_end"]) == ("2024-01-01", "2024-01-03")
    replay = submit(p, project, report, key="mrv-1")
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == submitted
    assert count(p, claimed_days) == 0, "meter-days are claimed at issuance, not before"

    # The verifier reads what was submitted: the summary, and the intervals byte for byte.
    number = submitted["id"]
    summary = p.client.get(f"/api/v1/reports/{number}/data", headers=p.verifier)
    assert summary.status_code == 200 and summary.headers["content-type"].startswith("application/json")
    assert json.loads(summary.content)["totals"]["reduction_kg"] == M1_KG + M2_KG
    intervals = p.client.get(f"/api/v1/reports/{number}/files/intervals.parquet", headers=p.verifier)
    assert intervals.status_code == 200 and intervals.content == (report / "intervals.parquet").read_bytes()
    assert p.client.get(f"/api/v1/reports/{number}/files/intervals.parquet", headers=p.buyer).status_code == 404

    # Before the review nothing is issued; the MRV command refuses to go around the verifier.
    refused(p.post(f"/reports/{number}/issue", p.operator, {"account_id": p.world.owner_account}), 409, "submitted")
    with pytest.raises(InvalidRequest, match="registered from a declaration"), \
            registry.StagedReport(report, tmp_path / "data" / "reports") as staged, \
            UnitOfWork(p.world.engine, p.world.operator.actor) as tx:
        registry.issue_from_report(tx, p.world.operator, staged, registry="TH", credit_type="PHCER",
                                   project_id=project, account_id=p.world.owner_account)

    p.ok(p.post(f"/reports/{number}/review", p.verifier, {"approve": True}))
    issued = p.ok(p.post(f"/reports/{number}/issue", p.operator,
                         {"account_id": p.world.owner_account, "to_owners": True}))
    assert issued["status"] == "issued" and issued["issuance_id"]
    assert balance(p.world.engine, p.world.owner_account) == (M1_KG, 0)
    assert balance(p.world.engine, p.world.buyer_account) == (M2_KG, 0)
    assert count(p, claimed_days) == 2 * 3  # two meters, three local days
    with p.world.engine.connect() as conn:
        mrv = conn.execute(sa.select(monitoring_reports)).mappings().one()
    assert (mrv["issuance_id"], mrv["project_id"], mrv["reduction_kg"]) == (issued["issuance_id"], project,
                                                                             M1_KG + M2_KG)

    issuance = p.ok(p.get(f"/issuances/{issued['issuance_id']}", p.owner))
    trace = p.ok(p.get(f"/serials/{issuance['serial']}/provenance", p.owner))
    assert [s["meter_id"] for s in trace["sites"]] == ["M1", "M2"]
    assert trace["report"]["summary_sha256"] == submitted["data_sha256"]
    assert invariant_problems(p.world.engine) == [] and verify(p.world.engine).ok


def test_a_verify_output_that_does_not_fit_its_project_is_refused_and_changes_nothing(
        platform: Platform, tmp_path: Path) -> None:
    p = platform
    _, project = p.registered(PV)
    _, other_project = p.registered(PV)
    _, national = p.registered(Case("PV-DIST@1-CN2023", PV.design, PV.data, 0, 0))
    report = write_report(tmp_path / "out", SITES)
    reports_root = tmp_path / "data" / "reports"

    def unchanged(response: Any, status: int, text: str) -> None:
        before = snapshot(p.world.engine)
        archived = sorted(reports_root.iterdir()) if reports_root.exists() else []
        refused(response, status, text)
        assert snapshot(p.world.engine) == before
        assert (sorted(reports_root.iterdir()) if reports_root.exists() else []) == archived

    unchanged(submit(p, project, report), 422, "2 of the report's meters are not registered")
    register(p.world.engine, p.world.operator, SITES)
    unchanged(submit(p, national, report), 422, "is pinned to PV-DIST@1-CN2023")
    unchanged(submit(p, project, report, p.buyer), 403, "")
    unchanged(submit(p, project, report, verifier=p.world.buyer_org), 422, "not a verifier")

    altered = write_report(tmp_path / "altered", SITES)
    pl.read_parquet(altered / "intervals.parquet").with_columns(pl.col("accepted_kwh") * 2).write_parquet(
        altered / "intervals.parquet")
    unchanged(submit(p, project, altered), 422, "was altered: intervals.parquet has SHA-256")

    big = write_report(tmp_path / "big", [SiteSpec("B1", OWNER, capacity_kw=300), SiteSpec("B2", OWNER,
                                                                                            capacity_kw=300)])
    register(p.world.engine, p.world.operator, [SiteSpec("B1", OWNER, capacity_kw=300),
                                                SiteSpec("B2", OWNER, capacity_kw=300)])
    unchanged(submit(p, project, big), 422, "bounds each grid connection at 450 kW, but the report's "
                                            "connections exceed it: T1: 600 kW")

    p.ok(p.post("/mrv/claims", p.owner, {"meter_id": "M1", "first_day": "2024-01-03", "last_day": "2024-01-03",
                                         "instrument": "green_certificate", "reference": "GEC-7"}), 201)
    unchanged(submit(p, project, report), 409, "meter M1 on 2024-01-03")

    # Once submitted, the same output cannot back another project; a rejection frees the period.
    clean = write_report(tmp_path / "clean", [SiteSpec("M2", BUYER, kwh=0.5)])
    first = p.ok(submit(p, project, clean), 201)
    unchanged(submit(p, other_project, clean), 409, f"already submitted as monitoring report {first['id']}")
    unchanged(submit(p, project, write_report(tmp_path / "again", [SiteSpec("M2", BUYER, kwh=0.5)],
                                              edit={"generated_at": "2024-02-02T00:00:00Z"})),
              409, "is already covered by monitoring report")
    p.ok(p.post(f"/reports/{first['id']}/review", p.verifier, {"approve": False, "findings": "M2 tilt unknown"}))
    corrected = write_report(tmp_path / "corrected", [SiteSpec("M2", BUYER, kwh=0.5)],
                             edit={"generated_at": "2024-02-03T00:00:00Z"})
    assert p.ok(submit(p, project, corrected), 201)["net_kg"] == M2_KG
    assert count(p, mrv_submissions) == 2 and count(p, claimed_days) == 1  # only the declared GEC claim


def test_the_operator_submits_and_signs_off_an_mrv_report_on_the_command_line(
        platform: Platform, tmp_path: Path) -> None:
    p = platform
    _, project = p.registered(PV)
    register(p.world.engine, p.world.operator, SITES)
    report = write_report(tmp_path / "out", SITES)
    runner = CliRunner()
    base = ["--database-url", p.world.engine.url.render_as_string(hide_password=False)]
    env = {"TANHUI_DATA_DIR": str(tmp_path / "data")}
    done = runner.invoke(app, [*base, "project", "submit-report", str(report), "--project", str(project),
                               "--verifier", str(p.verifier_org)], env=env)
    assert done.exit_code == 0, done.output
    assert f"{M1_KG + M2_KG:,} kgCO2e" in done.stdout and "2 sites" in done.stdout
    with p.world.engine.connect() as conn:
        number = conn.execute(sa.select(mrv_submissions.c.report_id)).scalar_one()
    early = runner.invoke(app, [*base, "project", "sign-off", str(number), "--account",
                                str(p.world.owner_account)], env=env)
    assert early.exit_code == 1 and "submitted" in early.output
    p.ok(p.post(f"/reports/{number}/review", p.verifier, {"approve": True}))
    signed = runner.invoke(app, [*base, "project", "sign-off", str(number), "--account", str(p.world.owner_account),
                                 "--to-owners"], env=env)
    assert signed.exit_code == 0, signed.output
    assert balance(p.world.engine, p.world.buyer_account) == (M2_KG, 0)
    assert verify(p.world.engine).ok
