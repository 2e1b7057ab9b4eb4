"""Projects of every methodology from declaration to issued credits through the API, and every rejection path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tanhui.api.app import create_app
from tanhui.config import Settings
from tanhui.journal.audit import verify
from tanhui.projects import declarations as declaring
from tanhui.types import utcnow
from tests.factories import PASSWORD, World, balance, invariant_problems, snapshot


@dataclass
class Case:
    methodology: str
    design: dict[str, Any]
    data: str
    net_kg: int
    buffer_kg: int


CASES = {
    "pv": Case("PV-DIST@1-EC2023", {"max_grid_connection_kw": 450, "site_count": 3},
               "meter_id,period_start,period_end,accepted_kwh\n"
               "M1,2024-01-01,2024-01-31,1000.5\nM2,2024-01-01,2024-01-31,2000\nM3,2024-01-01,2024-01-31,0.9\n",
               1650, 0),
    "ev": Case("EV-CHARGE", {"pile_count": 1, "separately_metered": True},
               "charger_id,period_start,period_end,charged_kwh\nC1,2024-01-01,2024-01-31,10000\n", 4464, 0),
    "lighting": Case("LIGHT-EFF", {"fixture_count": 200, "baseline_removed": True},
                     "fixture_group,period_start,period_end,method,baseline_count,baseline_watts,project_count,"
                     "project_watts,operating_hours\nhall,2024-01-01,2024-01-31,rated,200,40,200,18,3000\n", 7260, 0),
    "wetland": Case("WETLAND-SEQ", {"area_ha": 100, "ecosystem": "mangrove", "tenure_documented": True},
                    "parcel_id,ecosystem,area_ha,period_start,period_end,leakage_kg\n"
                    "W1,mangrove,100,2024-01-01,2024-12-31,1000\n", 593_000, 59_300),
    "travel": Case("TRAVEL-LOW@1-WUHAN", {"participant_count": 3, "consent_recorded": True},
                   "participant_id,date,mode,trips,km\nr1,2024-03-01,bus,1000,\nr2,2024-03-01,metro,,1000\n"
                   "r3,2024-03-02,shared_bike,,100\n", 300, 0),
}
PERIOD = {"pv": ("2024-01-01", "2024-01-31"), "ev": ("2024-01-01", "2024-01-31"),
          "lighting": ("2024-01-01", "2024-01-31"), "wetland": ("2024-01-01", "2024-12-31"),
          "travel": ("2024-03-01", "2024-03-31")}


class Platform:
    """The API over a fresh world, with a verifier organisation, a buffer account and a settable clock."""

    def __init__(self, world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.world, self.client, self._monkeypatch = world, client, monkeypatch
        self._days_on = 0
        self.operator = self.login("operator")
        self.owner = self.login("project-owner-admin")
        self.buyer = self.login("buyer-admin")
        self.verifier_org = self.ok(self.post("/organizations", self.operator,
                                              {"name": "CQC (test)", "kind": "verifier"}), 201)["id"]
        self.ok(self.post(f"/organizations/{self.verifier_org}/users", self.operator,
                          {"username": "verifier-admin", "password": PASSWORD, "role": "admin"}), 201)
        self.verifier = self.login("verifier-admin")
        self.buffer_account = self.ok(self.post("/accounts", self.operator, {
            "organization_id": world.operator_org, "kind": "buffer", "name": "buffer"}), 201)["id"]

    def login(self, username: str) -> dict[str, str]:
        response = self.client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def post(self, path: str, who: dict[str, str] | None, body: Any = None) -> Any:
        return self.client.post(f"/api/v1{path}", headers=who or {}, json=body)

    def get(self, path: str, who: dict[str, str] | None = None) -> Any:
        return self.client.get(f"/api/v1{path}", headers=who or {})

    @staticmethod
    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def days_later(self, days: int) -> None:
        """The lifecycle's clock moves on by ``days`` more (announcements end); the ledger keeps the real one."""
        self._days_on += days
        moved: Callable[[], datetime] = lambda: utcnow() + timedelta(days=self._days_on)  # noqa: E731
        self._monkeypatch.setattr(declaring, "utcnow", moved)

    def registered(self, case: Case) -> tuple[int, int]:
        """Declare, submit, announce and approve: (declaration id, project id)."""
        declared = self.ok(self.post("/declarations", self.owner, {
            "name": f"{case.methodology} project", "owner_organization_id": self.world.owner_org,
            "methodology": case.methodology, "region": "SIP", "design": case.design}), 201)
        self.ok(self.post(f"/declarations/{declared['id']}/submit", self.owner))
        self.ok(self.post(f"/declarations/{declared['id']}/announce", self.operator, {"days": 7}))
        self.days_later(8)
        approved = self.ok(self.post(f"/declarations/{declared['id']}/approve", self.operator, {}))
        return declared["id"], approved["project_id"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def platform(request: pytest.FixtureRequest, world_factory: Callable[..., World], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    world = world_factory(request.param)
    settings = Settings(database_url=world.engine.url.render_as_string(hide_password=False),
                        data_dir=tmp_path / "data")
    with TestClient(create_app(settings, engine=world.engine)) as client:
        yield Platform(world, client, monkeypatch)


@pytest.mark.parametrize("name", list(CASES))
def test_a_project_goes_from_declaration_to_issued_credits(platform: Platform, name: str) -> None:
    case, p = CASES[name], platform
    declared = p.ok(p.post("/declarations", p.owner, {
        "name": f"{name} project", "owner_organization_id": p.world.owner_org, "methodology": case.methodology,
        "region": "SIP", "design": case.design}), 201)
    assert declared["status"] == "draft" and "@" in declared["methodology"]
    number = declared["id"]
    p.ok(p.post(f"/declarations/{number}/submit", p.owner))
    # The operator's completeness review returns it once; the owner edits and resubmits.
    returned = p.ok(p.post(f"/declarations/{number}/return", p.operator, {"reason": "attach the site list"}))
    assert returned["status"] == "returned" and returned["events"][-1]["reason"] == "attach the site list"
    p.ok(p.post(f"/declarations/{number}/edit", p.owner, {"design": case.design, "name": f"{name} project v2"}))
    p.ok(p.post(f"/declarations/{number}/submit", p.owner))
    announced = p.ok(p.post(f"/declarations/{number}/announce", p.operator, {"days": 7}))
    assert announced["status"] == "announced" and announced["announcement_ends_at"]
    # The public sees it and comments, without logging in; approval must wait for the announcement's end.
    assert [a["id"] for a in p.ok(p.get("/public/announcements"))] == [number]
    p.ok(p.post(f"/public/announcements/{number}/comments", None, {"author": "居民 A", "body": "支持 / support"}), 201)
    early = p.post(f"/declarations/{number}/approve", p.operator, {})
    assert early.status_code == 409 and "approve after that" in early.json()["detail"]
    p.days_later(8)
    closed = p.post(f"/public/announcements/{number}/comments", None, {"author": "late", "body": "too late"})
    assert closed.status_code == 409
    approved = p.ok(p.post(f"/declarations/{number}/approve", p.operator, {"reason": "no objections"}))
    project = approved["project_id"]
    assert approved["status"] == "approved" and project
    assert [e["action"] for e in approved["events"]] == [
        "declared", "submitted", "returned", "edited", "submitted", "announced", "approved"]
    assert [c["author"] for c in approved["comments"]] == ["居民 A"]

    start, end = PERIOD[name]
    report_body = {"period_start": start, "period_end": end, "verifier_organization_id": p.verifier_org,
                   "data": case.data}
    first = p.ok(p.post(f"/projects/{project}/reports", p.owner, report_body), 201)
    assert (first["net_kg"], first["buffer_kg"]) == (case.net_kg, case.buffer_kg)
    # The verifier rejects with findings, which frees the period for a corrected report.
    rejected = p.ok(p.post(f"/reports/{first['id']}/review", p.verifier, {"approve": False,
                                                                         "findings": "meter M9 uncalibrated"}))
    assert rejected["status"] == "rejected"
    second = p.ok(p.post(f"/projects/{project}/reports", p.owner, report_body), 201)
    p.ok(p.post(f"/reports/{second['id']}/review", p.verifier, {"approve": True}))
    assert p.client.get(f"/api/v1/reports/{second['id']}/data", headers=p.owner).text == case.data
    before = balance(p.world.engine, p.world.owner_account)[0]
    issued = p.ok(p.post(f"/reports/{second['id']}/issue", p.operator, {
        "account_id": p.world.owner_account, "buffer_account_id": p.buffer_account}))
    assert issued["status"] == "issued" and issued["issuance_id"]
    assert balance(p.world.engine, p.world.owner_account)[0] - before == case.net_kg - case.buffer_kg
    assert balance(p.world.engine, p.buffer_account)[0] == case.buffer_kg
    assert (issued["buffer_issuance_id"] is not None) == (case.buffer_kg > 0)
    again = p.post(f"/reports/{second['id']}/issue", p.operator, {"account_id": p.world.owner_account,
                                                                  "buffer_account_id": p.buffer_account})
    assert again.status_code == 409
    assert invariant_problems(p.world.engine) == []
    assert verify(p.world.engine).ok


def refused(p: Platform, response: Any, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert text in response.json()["detail"]


def test_every_refusal_names_the_problem_and_changes_nothing(platform: Platform) -> None:
    p, case = platform, CASES["wetland"]
    draft = p.ok(p.post("/declarations", p.owner, {
        "name": "wetland", "owner_organization_id": p.world.owner_org, "methodology": case.methodology,
        "region": "SIP", "design": {**case.design, "tenure_documented": False}}), 201)["id"]
    before = snapshot(p.world.engine)
    refused(p, p.post(f"/declarations/{draft}/submit", p.owner), 422,
            "the right to manage the parcels must be documented: tenure_documented is false")
    refused(p, p.post(f"/declarations/{draft}/announce", p.operator, {"days": 7}), 409,
            f"declaration {draft} is draft; it can be announced only when submitted")
    refused(p, p.post(f"/declarations/{draft}/edit", p.buyer, {"design": case.design}), 403, "another organisation")
    refused(p, p.post(f"/declarations/{draft}/edit", p.owner, {"design": {"area_ha": -1}}), 422,
            "area_ha: -1 is below the smallest allowed value 0")
    refused(p, p.post(f"/declarations/{draft}/return", p.owner, {"reason": "x"}), 403, "only the registry operator")
    refused(p, p.post("/declarations", p.owner, {
        "name": "x", "owner_organization_id": p.world.owner_org, "methodology": "SOLAR@9", "region": "SIP",
        "design": {}}), 422, "unknown methodology 'SOLAR@9'")
    refused(p, p.post("/declarations", p.buyer, {
        "name": "x", "owner_organization_id": p.world.owner_org, "methodology": "EV-CHARGE", "region": "SIP",
        "design": {"pile_count": 1, "separately_metered": True}}), 403, "belongs to another organisation")
    refused(p, p.post(f"/public/announcements/{draft}/comments", None, {"author": "a", "body": "b"}), 409,
            "not open for public comments")
    assert p.get(f"/public/announcements/{draft}").status_code == 404
    assert p.get(f"/declarations/{draft}", p.buyer).status_code == 404
    assert snapshot(p.world.engine) == before


def test_reports_are_refused_when_they_overlap_stray_or_come_from_the_wrong_party(platform: Platform) -> None:
    p, case = platform, CASES["ev"]
    _, project = p.registered(case)
    body = {"period_start": "2024-01-01", "period_end": "2024-01-31", "verifier_organization_id": p.verifier_org,
            "data": case.data}
    first = p.ok(p.post(f"/projects/{project}/reports", p.owner, body), 201)
    before = snapshot(p.world.engine)
    refused(p, p.post(f"/projects/{project}/reports", p.owner, {**body, "period_start": "2024-01-31",
                                                                 "period_end": "2024-02-29"}),
            409, f"day 2024-01-31 is already covered by monitoring report {first['id']}")
    refused(p, p.post(f"/projects/{project}/reports", p.owner, {**body, "period_start": "2024-02-01",
                                                                 "period_end": "2024-02-29"}),
            422, "rows 2 lie outside the report's period 2024-02-01..2024-02-29")
    refused(p, p.post(f"/projects/{project}/reports", p.owner, {**body, "period_start": "2024-02-01",
                                                                 "period_end": "2024-02-29",
                                                                 "data": "charger_id,kwh\nC1,5\n"}),
            422, "missing column(s) period_start, period_end, charged_kwh")
    refused(p, p.post(f"/projects/{project}/reports", p.owner, {**body, "verifier_organization_id":
                                                                 p.world.bank_org}), 422, "not a verifier")
    refused(p, p.post(f"/projects/{project}/reports", p.buyer, body), 403, "belongs to another organisation")
    refused(p, p.post(f"/projects/{p.world.project}/reports", p.owner, body), 404, "not registered from a declaration")
    refused(p, p.post(f"/reports/{first['id']}/review", p.owner, {"approve": True}), 403,
            f"only organisation {p.verifier_org}, the verifier named")
    refused(p, p.post(f"/reports/{first['id']}/review", p.verifier, {"approve": False}), 422, "findings is required")
    refused(p, p.post(f"/reports/{first['id']}/issue", p.operator, {"account_id": p.world.owner_account}), 409,
            "can be issued only when verified")
    assert p.get(f"/reports/{first['id']}", p.buyer).status_code == 404
    assert snapshot(p.world.engine) == before
    p.ok(p.post(f"/reports/{first['id']}/review", p.verifier, {"approve": True}))
    refused(p, p.post(f"/reports/{first['id']}/issue", p.owner, {"account_id": p.world.owner_account}), 403,
            "only the registry operator")
    refused(p, p.post(f"/reports/{first['id']}/issue", p.operator, {"account_id": p.world.buyer_account}), 422,
            "is not the project owner's")


def test_a_rejected_declaration_is_final_and_pending_steps_show_what_waits(platform: Platform) -> None:
    p, case = platform, CASES["travel"]
    number = p.ok(p.post("/declarations", p.owner, {
        "name": "travel", "owner_organization_id": p.world.owner_org, "methodology": case.methodology,
        "region": "WH", "design": case.design}), 201)["id"]
    p.ok(p.post(f"/declarations/{number}/submit", p.owner))
    waiting = p.ok(p.get("/lifecycle/pending", p.operator))
    assert [(s["what"], s["step"], s["overdue"]) for s in waiting] == [
        (f"declaration {number}", "operator: completeness review", False)]
    p.days_later(11)
    assert p.ok(p.get("/lifecycle/pending", p.operator)) and p.get("/lifecycle/pending", p.owner).status_code == 403
    p.ok(p.post(f"/declarations/{number}/reject", p.operator, {"reason": "duplicates project 12"}))
    refused(p, p.post(f"/declarations/{number}/submit", p.owner), 409, "is rejected")
    assert p.ok(p.get("/lifecycle/pending", p.operator)) == []


def test_evidence_is_attached_while_draft_kept_by_its_hash_and_refused_when_bad(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from tanhui.projects import attachments

    p, case = platform, CASES["ev"]
    number = p.ok(p.post("/declarations", p.owner, {
        "name": "chargers", "owner_organization_id": p.world.owner_org, "methodology": case.methodology,
        "region": "SIP", "design": case.design}), 201)["id"]
    evidence = b"%PDF-1.4 grid connection approval"

    def upload(name: str, content: bytes, media_type: str, who: dict[str, str] | None = None) -> Any:
        return p.client.post(f"/api/v1/declarations/{number}/attachments", headers=who or p.owner,
                             files={"file": (name, content, media_type)})

    attached = p.ok(upload("approval.pdf", evidence, "application/pdf"), 201)
    digest = hashlib.sha256(evidence).hexdigest()
    assert [(a["sha256"], a["filename"], a["size_bytes"]) for a in attached["attachments"]] == [
        (digest, "approval.pdf", len(evidence))]
    fetched = p.client.get(f"/api/v1/declarations/{number}/attachments/{digest}", headers=p.operator)
    assert fetched.status_code == 200 and fetched.content == evidence
    assert p.client.get(f"/api/v1/declarations/{number}/attachments/{digest}", headers=p.buyer).status_code == 404

    before = snapshot(p.world.engine)
    refused(p, upload("page.html", b"<script>", "text/html"), 422, "attachments of type 'text/html' are not accepted")
    refused(p, upload("empty.csv", b"", "text/csv"), 422, "the attachment is empty")
    monkeypatch.setattr(attachments, "MAX_BYTES", 8)
    refused(p, upload("big.csv", b"a,b\n1,2\n3,4\n", "text/csv"), 422, "at most 8 are accepted")
    refused(p, upload("x.csv", b"a\n", "text/csv", p.buyer), 403, "another organisation")
    assert snapshot(p.world.engine) == before
    p.ok(p.post(f"/declarations/{number}/submit", p.owner))
    refused(p, upload("late.pdf", evidence, "application/pdf"), 409, "evidence is attached only while")
