"""`tanhui report`, `tanhui consent` and `tanhui loan` on a registry: issue, render, verify, consent, quote."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tanhui.accounts import credit_report as reports
from tanhui.accounts.credit_report_pdf import render_pdf, verification_url
from tests.factories import World, snapshot
from tests.finance.profiles import profile
from tests.test_cli import created_id, ok, refused, tanhui


def _profile_file(tmp_path: Path, **changes: object) -> str:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(reports.profile_json(profile(**changes)), ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_issue_render_and_verify_a_report(world: World, database_url: str, tmp_path: Path) -> None:
    issued = ok(tanhui(database_url, "report", "issue", _profile_file(tmp_path), "--holder-org",
                       str(world.buyer_org), "--pdf", str(tmp_path / "issued.pdf")))
    report = created_id(issued, "credit report")
    assert "衢州绿源新材料有限公司" in issued
    ok(tanhui(database_url, "report", "render", str(report), "--out", str(tmp_path / "again.pdf")))
    for name in ("issued.pdf", "again.pdf"):
        assert f"Verified / 核验通过: credit report {report}" in ok(
            tanhui(database_url, "report", "verify", str(tmp_path / name)))
    assert "light_green" in ok(tanhui(database_url, "report", "list", "--holder", "1"))

    # Pages that state another label over the genuine attachment: the attachment hashes, the pages do not match.
    with world.engine.connect() as conn:
        row = reports.get_report(conn, report)
    genuine, issued_at = reports.stored_profile(row)
    assert genuine.label is not None
    forged = dataclasses.replace(genuine, label=dataclasses.replace(genuine.label, outcome="dark_green"))
    address = verification_url("http://127.0.0.1:8000", row)
    for name, shown, url, phrase in (
            ("forged.pdf", forged, address, "pages do not read as credit report"),
            ("elsewhere.pdf", genuine, address.replace(row["verification_code"], "phish"), "not credit report")):
        (tmp_path / name).write_bytes(render_pdf(
            shown, issued_at=issued_at, report_id=report, content_sha256=row["content_sha256"],
            content=row["content"], verify_url=url))
        assert phrase in refused(tanhui(database_url, "report", "verify", str(tmp_path / name)))
    # An attachment that was edited no longer hashes to any issued report.
    (tmp_path / "edited.pdf").write_bytes(render_pdf(
        genuine, issued_at=issued_at, report_id=report, content_sha256=row["content_sha256"],
        content=row["content"].replace("light_green", "dark_green"), verify_url="http://x/"))
    assert "no issued credit report has the content hash" in refused(
        tanhui(database_url, "report", "verify", str(tmp_path / "edited.pdf")))
    (tmp_path / "not.pdf").write_text("hello")
    assert "is not a readable PDF" in refused(tanhui(database_url, "report", "verify", str(tmp_path / "not.pdf")))


def test_a_bad_profile_file_is_one_line_and_changes_nothing(world: World, database_url: str,
                                                             tmp_path: Path) -> None:
    before = snapshot(world.engine)
    bad = _profile_file(tmp_path, emissions_kg=10)
    assert "adds up to 5399000 kgCO2e, not the total 10" in refused(
        tanhui(database_url, "report", "issue", bad, "--holder-org", str(world.buyer_org)))
    (tmp_path / "broken.json").write_text("{")
    assert "is not valid JSON" in refused(tanhui(database_url, "report", "issue", str(tmp_path / "broken.json"),
                                                 "--holder-org", "3"))
    assert snapshot(world.engine) == before


def test_consent_products_and_quotes(world: World, database_url: str, tmp_path: Path) -> None:
    ok(tanhui(database_url, "report", "issue", _profile_file(tmp_path), "--holder-org", str(world.buyer_org)))
    granted = ok(tanhui(database_url, "consent", "grant", "--holder", "1", "--bank", str(world.bank_org),
                        "--scope", "full", "--days", "30", "--purpose", "signed form 2026-001"))
    consent = created_id(granted, "Consent")
    assert "yes" in ok(tanhui(database_url, "consent", "list", "--holder", "1"))
    assert "not a bank" in refused(tanhui(database_url, "consent", "grant", "--holder", "1", "--bank",
                                          str(world.buyer_org), "--scope", "full", "--days", "30"))
    ok(tanhui(database_url, "consent", "revoke", str(consent)))
    assert "already revoked" in refused(tanhui(database_url, "consent", "revoke", str(consent)))
    assert json.loads(ok(tanhui(database_url, "consent", "log", "--holder", "1", "--json"))) == []

    code = "QZ-INDUSTRIAL-CARBON-REDUCTION"
    assert f"Defined {code} version 1" in ok(tanhui(database_url, "loan", "product", "define", "--bank",
                                                    str(world.bank_org), "--example", code))
    mine = tmp_path / "product.toml"
    mine.write_text('code = "MINE"\nname_zh = "我的"\nname_en = "Mine"\n[[rules]]\nname = "AA or better"\n'
                    'when = { min_rating = "AA" }\nlimit_multiplier = "2"\nrate_discount_bp = 15\n')
    ok(tanhui(database_url, "loan", "product", "define", "--bank", str(world.bank_org), "--file", str(mine)))
    listed = ok(tanhui(database_url, "loan", "product", "list"))
    assert code in listed and "MINE" in listed
    assert json.loads(ok(tanhui(database_url, "loan", "product", "show", "MINE", "--bank",
                                str(world.bank_org))))[0]["version"] == 1
    assert len(json.loads(ok(tanhui(database_url, "loan", "product", "examples")))) == 2
    quoted = ok(tanhui(database_url, "loan", "quote", "--bank", str(world.bank_org), "--product", "MINE",
                       "--holder", "1", "--normal-limit", "1,234,567.89", "--base-rate", "400"))
    assert "limit 2,469,135.78 yuan, rate 385 bp" in quoted
    assert "must be yuan with at most two decimals" in refused(
        tanhui(database_url, "loan", "quote", "--bank", str(world.bank_org), "--product", "MINE", "--holder", "1",
               "--normal-limit", "1.005", "--base-rate", "400"), code=2)
    assert "exactly one of --file and --example" in refused(
        tanhui(database_url, "loan", "product", "define", "--bank", str(world.bank_org)), code=2)
