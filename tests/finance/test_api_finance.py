"""Credit reports, consent and loans over HTTP: issue, verify in public, read under consent, quote."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from tanhui.accounts.credit_report import profile_json
from tanhui.accounts.credit_report_pdf import attached_content
from tanhui.finance.loans import product_json
from tanhui.finance.products import example
from tests.factories import World, snapshot
from tests.finance.profiles import profile
from tests.test_api_support import Api, assert_problem, serving


@pytest.fixture
def api(world: World, database_url: str, tmp_path: Path) -> Iterator[Api]:
    with serving(world, database_url, data_dir=tmp_path / "data", public_url="https://tanhui.example.org") as api:
        yield api


def _issue(api: Api, **changes: object) -> dict[str, object]:
    world = api.world
    return api.ok(api.post("/credit-reports", {"holder_organization_id": world.buyer_org,
                                               "profile": profile_json(profile(**changes))}, who=world.operator))


def test_a_report_is_issued_rendered_and_verified_in_public(api: Api) -> None:
    world = api.world
    report = _issue(api)
    verify_url = str(report["verify_url"])
    assert verify_url.startswith(f"https://tanhui.example.org/api/v1/public/credit-reports/{report['id']}?code=")
    public_path = verify_url.removeprefix("https://tanhui.example.org")
    assert report["label"] == "light_green" and report["emissions_kg"] == 5_399_000
    assert hashlib.sha256(str(report["content"]).encode()).hexdigest() == report["content_sha256"]
    pdf = api.client.get(f"/api/v1/credit-reports/{report['id']}/pdf", headers=api.headers(world.buyer))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "碳征信报告" in text and "衢州绿源新材料有限公司" in text and str(report["content_sha256"]) in text
    assert attached_content(pdf.content) == report["content"]
    public = api.client.get(public_path)  # no login
    assert public.json() == {
        "report_id": report["id"], "holder_name": "衢州绿源新材料有限公司", "period_start": "2025-01-01",
        "period_end": "2025-12-31", "label": "light_green", "carbon_efficiency_grade": "2", "credit_rating": "AA",
        "issued_at": public.json()["issued_at"], "content_format": "tanhui-credit-report@1",
        "content_sha256": report["content_sha256"]}
    page = api.client.get(public_path, headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html") and report["content_sha256"] in page.text
    assert "衢州绿源新材料有限公司" in page.text
    # Without the code from the QR code, ids cannot be walked to read holders' labels.
    assert_problem(api.client.get(f"/api/v1/public/credit-reports/{report['id']}?code=guess"), 404,
                   "with this verification code")
    assert api.client.get(f"/api/v1/public/credit-reports/{report['id']}").status_code == 422
    assert_problem(api.client.get("/api/v1/public/credit-reports/999?code=x"), 404, "no credit report 999")


def test_a_bad_profile_is_refused_and_nothing_changes(api: Api) -> None:
    world = api.world
    before = snapshot(world.engine)
    bad = profile_json(profile()) | {"emissions_kg": 12}
    assert_problem(api.post("/credit-reports", {"holder_organization_id": world.buyer_org, "profile": bad},
                            who=world.operator), 422, "adds up to 5399000 kgCO2e, not the total 12")
    missing = {k: v for k, v in profile_json(profile()).items() if k != "factors"}
    assert_problem(api.post("/credit-reports", {"holder_organization_id": world.buyer_org, "profile": missing},
                            who=world.operator), 422, "lacks 'factors'")
    assert snapshot(world.engine) == before


def test_a_bank_reads_under_consent_and_the_holder_sees_the_log(api: Api) -> None:
    world = api.world
    report = _issue(api)
    path = f"/credit-reports/{report['id']}"
    assert_problem(api.get(path, who=world.bank), 403, "refused and logged", "no consent")
    assert_problem(api.get(path, who=world.owner), 403, "not a bank's")
    body = {"holder_id": 1, "bank_organization_id": world.bank_org, "scope": "summary", "days": 90,
            "purpose": "working-capital loan application"}
    granted = api.ok(api.post("/consents", body, who=world.buyer, key="consent-1"))
    replay = api.post("/consents", body, who=world.buyer, key="consent-1")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json()["id"] == granted["id"]
    assert api.ok(api.get(f"{path}/summary", who=world.bank))["credit_rating"] == "AA"
    assert_problem(api.get(f"{path}/pdf", who=world.bank), 403, "covers the summary of reports, not the pdf")
    assert [r["id"] for r in api.ok(api.get("/holders/1/credit-reports", who=world.bank))] == [report["id"]]
    assert [c["id"] for c in api.ok(api.get("/consents", who=world.bank))] == [granted["id"]]
    revoked = api.ok(api.post(f"/consents/{granted['id']}/revoke", who=world.buyer))
    assert revoked["active"] is False and revoked["revoked_by"] == world.buyer.actor
    assert_problem(api.get(f"{path}/summary", who=world.bank), 403, "was revoked")
    log = api.ok(api.get("/holders/1/access-log", who=world.buyer))
    assert [(e["actor"], e["kind"], e["allowed"]) for e in log] == [
        (world.bank.actor, "full", False), (world.owner.actor, "full", False), (world.bank.actor, "summary", True),
        (world.bank.actor, "pdf", False), (world.bank.actor, "list", True), (world.bank.actor, "summary", False)]
    assert_problem(api.get("/holders/1/access-log", who=world.bank), 403)
    consents = api.ok(api.get("/holders/1/consents", who=world.buyer))
    assert [(c["purpose"], c["active"]) for c in consents] == [("working-capital loan application", False)]


def test_a_bank_defines_a_product_and_the_holder_gets_a_quote(api: Api) -> None:
    world = api.world
    _issue(api)
    definition = product_json(example("QZ-INDUSTRIAL-CARBON-REDUCTION"))
    made = api.ok(api.post("/finance/loan-products", {"bank_organization_id": world.bank_org,
                                                      "definition": definition}, who=world.bank))
    assert made["version"] == 1 and made["definition"]["rules"][0]["limit_multiplier"] == "3/2"
    listed = api.ok(api.get("/finance/loan-products", who=world.buyer))
    assert [(p["code"], p["version"]) for p in listed] == [("QZ-INDUSTRIAL-CARBON-REDUCTION", 1)]
    path = f"/finance/loan-products/{world.bank_org}/QZ-INDUSTRIAL-CARBON-REDUCTION"
    terms = api.ok(api.get(f"{path}/quote", who=world.buyer, holder_id=1, normal_limit_fen=5_000_000_00,
                           base_rate_bp=385))
    assert (terms["eligible"], terms["rule"], terms["limit_fen"], terms["rate_bp"]) == (True, "green label",
                                                                                        7_500_000_00, 355)
    assert terms["reasons"][-1] == "terms: limit 7,500,000.00 yuan (normal 5,000,000.00), rate 355 bp (base 385)"
    assert_problem(api.get(f"{path}/quote", who=world.bank, holder_id=1, normal_limit_fen=1, base_rate_bp=1), 403,
                   "refused and logged")
    assert [v["version"] for v in api.ok(api.get(f"{path}/versions", who=world.bank))] == [1]
    bad = definition | {"rules": [{"name": "x", "limit_multiplier": 1.5}]}
    assert_problem(api.post("/finance/loan-products", {"bank_organization_id": world.bank_org, "definition": bad},
                            who=world.bank), 422, "rules[1].limit_multiplier must be an exact number")


def test_the_public_page_escapes_what_it_shows(api: Api) -> None:
    report = _issue(api, name="<script>alert(1)</script> 公司")
    path = str(report["verify_url"]).removeprefix("https://tanhui.example.org")
    page = api.client.get(path, headers={"Accept": "text/html"}).text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; 公司" in page
