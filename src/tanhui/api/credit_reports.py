"""Routes for carbon credit reports: issuing (operator), reading (holder, or a bank under consent), verifying."""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlalchemy.engine import RowMapping

from tanhui.accounts import credit_report as reports
from tanhui.accounts.credit_report_pdf import stored_report_pdf, verification_url
from tanhui.accounts.periods import Period
from tanhui.accounts.register import holder_by_reference
from tanhui.api import models
from tanhui.api.deps import engine_of, reading, settings_of
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.errors import InvalidRequest, NotFound
from tanhui.finance import consent
from tanhui.identity.principal import Principal
from tanhui.registry.queries import utc
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["carbon credit reports"])
RecordId = Annotated[int, Path(ge=1, le=models.MAX_ID)]


class ReportIn(models.RequestBody):
    """A holder's profile for a period, as the accounting computed it, and the organisation acting for them."""

    holder_organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)] | None = Field(
        None, description="the organisation acting for the holder: links a holder not yet linked; for a linked "
                          "holder it may be left out, or must be its organisation")
    profile: dict[str, Any] | None = Field(None, description="the CreditProfile as JSON: exact numbers as text like "
                                           "\"5399/18250\"; or name the holder and period instead")
    holder_reference: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = Field(
        None, description="a carbon account holder, whose report is computed from its records now")
    period: Annotated[StrictStr, Field(min_length=4, max_length=21)] | None = Field(
        None, description="with holder_reference: 2025, 2025-03 or 2025-01..2025-06")


class ReportSummary(BaseModel):
    """What a summary consent shows: who, which period, the evaluations and the totals."""

    id: int
    holder_id: int
    holder_name: str
    period_start: date
    period_end: date
    label: str | None
    carbon_efficiency_grade: str | None
    credit_rating: str | None
    emissions_kg: int
    retired_offsets_kg: int
    intensity_per_value_added: str | None
    benchmark_intensity: str | None
    issued_at: datetime
    content_sha256: str
    verify_url: str


class Report(ReportSummary):
    holder_organization_id: int
    issued_by: str
    content: str = Field(description="the canonical JSON whose SHA-256 is content_sha256")


class PublicReport(BaseModel):
    report_id: int
    holder_name: str
    period_start: date
    period_end: date
    label: str | None
    carbon_efficiency_grade: str | None
    credit_rating: str | None
    issued_at: datetime
    content_format: str
    content_sha256: str


def _summary(request: Request, row: RowMapping) -> dict[str, Any]:
    profile, _ = reports.stored_profile(row)
    return {
        "id": row["id"], "holder_id": row["holder_id"], "holder_name": row["holder_name"],
        "period_start": row["period_start"], "period_end": row["period_end"], "label": row["label"],
        "carbon_efficiency_grade": row["carbon_efficiency_grade"], "credit_rating": row["credit_rating"],
        "emissions_kg": profile.emissions_kg, "retired_offsets_kg": profile.retired_offsets_kg,
        "intensity_per_value_added": reports.profile_json(profile)["intensity_per_value_added"],
        "benchmark_intensity": reports.profile_json(profile)["benchmark_intensity"],
        "issued_at": utc(row["issued_at"]), "content_sha256": row["content_sha256"],
        "verify_url": verification_url(settings_of(request).public_url, row)}


def _report(request: Request, row: RowMapping) -> Report:
    return Report.model_validate({**_summary(request, row), "holder_organization_id": row["holder_organization_id"],
                                  "issued_by": row["issued_by"], "content": row["content"]})


def _readable(request: Request, caller: Principal, report_id: int, kind: str) -> RowMapping:
    """The report, to its holder's members and the operator; to a bank only under consent (logged)."""
    with reading(engine_of(request)) as conn:
        row = reports.get_report(conn, report_id)
    if caller.may_read(row["holder_organization_id"]):
        return row
    return consent.bank_access(engine_of(request), caller, kind=kind, report_id=report_id).reports[0]


@router.post("/credit-reports", status_code=201, response_model=Report,
             summary="Issue a holder's carbon credit report (operator)",
             responses=problem_responses(401, 403, 404, 422))
def issue(request: Request, body: ReportIn, write: Writer) -> Response:
    """The content (profile and issue time) is kept with its SHA-256; the PDF is rendered from it on request."""

    def service(tx: UnitOfWork) -> Report:
        if (body.profile is None) == (body.holder_reference is None) or \
                (body.holder_reference is None) != (body.period is None):
            raise InvalidRequest("give either profile, or holder_reference with period")
        if body.holder_reference is not None and body.period is not None:
            found = holder_by_reference(tx.conn, body.holder_reference)
            if found is None:
                raise NotFound(f"no carbon account holder with reference {body.holder_reference!r}")
            row = reports.issue_holder_report(tx, write.principal, found["id"], Period.parse(body.period),
                                              holder_organization_id=body.holder_organization_id)
        else:
            assert body.profile is not None
            row = reports.issue_report(tx, write.principal, reports.profile_from_json(body.profile),
                                       holder_organization_id=body.holder_organization_id)
        return _report(request, row)

    return write.run(body, service)


@router.get("/credit-reports/{report_id}", summary="A report with its full content",
            responses=problem_responses(401, 403, 404))
def get_report(request: Request, report_id: RecordId, caller: Caller) -> Report:
    """A bank needs the holder's active consent of scope `full`; its read is logged either way."""
    return _report(request, _readable(request, caller, report_id, "full"))


@router.get("/credit-reports/{report_id}/summary", summary="A report's evaluations and totals",
            responses=problem_responses(401, 403, 404))
def get_summary(request: Request, report_id: RecordId, caller: Caller) -> ReportSummary:
    """A bank needs the holder's active consent (scope `summary` or `full`); its read is logged either way."""
    return ReportSummary.model_validate(_summary(request, _readable(request, caller, report_id, "summary")))


@router.get("/credit-reports/{report_id}/pdf", summary="The report as a bilingual PDF",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}},
                                                **problem_responses(401, 403, 404)})
def get_pdf(request: Request, report_id: RecordId, caller: Caller) -> Response:
    row = _readable(request, caller, report_id, "pdf")
    pdf = stored_report_pdf(row, settings_of(request).public_url)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="credit-report-{report_id}.pdf"'})


@router.get("/holders/{holder_id}/credit-reports", summary="A holder's reports, newest period first",
            responses=problem_responses(401, 403, 404))
def holder_reports(request: Request, holder_id: RecordId, caller: Caller) -> list[ReportSummary]:
    engine = engine_of(request)
    with reading(engine) as conn:
        organization = consent.holder_organization(conn, holder_id)
        rows = reports.holder_reports(conn, holder_id) if caller.may_read(organization) else None
    if rows is None:
        rows = consent.bank_access(engine, caller, kind="list", holder_id=holder_id).reports
    return [ReportSummary.model_validate(_summary(request, row)) for row in rows]


_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>碳征信报告核验 Report verification</title>
<style>body{{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1f2d3a}}
h1{{color:#1d6b4f;font-size:1.4rem}}th{{text-align:left;color:#5b6b79;font-weight:normal;padding-right:1rem}}
td,th{{padding:.3rem 0;vertical-align:top}}code{{word-break:break-all}}</style></head><body>
<h1>碳征信报告核验 Carbon credit report verification</h1><table>{rows}</table>
<p>将报告附件 credit-report-content.json 的 SHA-256 与上面的哈希值比对。<br>
Compare the SHA-256 of the report's attachment credit-report-content.json with the hash above.</p></body></html>"""


@router.get("/public/credit-reports/{report_id}", summary="Verify a report (public, no login)",
            responses={200: {"content": {"application/json": {}, "text/html": {}}}, **problem_responses(404)})
def verify(request: Request, report_id: RecordId,
           code: Annotated[str, Query(max_length=64, description="the verification code in the report's QR code")],
           ) -> Any:
    """The holder's name, period, evaluations, issue time and content hash; HTML for a browser (the QR code).

    Only with the report's verification code: report ids alone do not open holders' labels to the public.
    """
    with reading(engine_of(request)) as conn:
        found = PublicReport.model_validate(reports.public_view(reports.verified(conn, report_id, code)))
    if "text/html" not in request.headers.get("accept", ""):
        return found
    shown = [("主体 Holder", found.holder_name), ("报告期 Period", f"{found.period_start} — {found.period_end}"),
             ("四色标签 Label", found.label or "—"), ("碳效等级 Grade", found.carbon_efficiency_grade or "—"),
             ("评级 Rating", found.credit_rating or "—"), ("出具时间 Issued", found.issued_at.isoformat()),
             ("内容格式 Format", found.content_format), ("SHA-256", f"<code>{found.content_sha256}</code>")]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{v if k == 'SHA-256' else escape(v)}</td></tr>" for k, v in shown)
    return HTMLResponse(_PAGE.format(rows=rows))
