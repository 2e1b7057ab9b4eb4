"""Routes of the project lifecycle: declarations, public announcements and comments, monitoring reports, sign-off."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from tanhui.api import models
from tanhui.api.deps import engine_of, reading, settings_of
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller, app_secret
from tanhui.api.writes import Writer
from tanhui.identity.principal import Principal
from tanhui.mrv.registry import StagedReport
from tanhui.projects import attachments, mrv_reports, reminders, reports
from tanhui.projects import declarations as declaring
from tanhui.projects.tables import declarations
from tanhui.registry.queries import utc
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["project lifecycle"])
RecordId = Annotated[int, Path(ge=1, le=models.MAX_ID)]
Reason = Annotated[StrictStr, Field(min_length=1, max_length=2000)]
_WRITES = problem_responses(401, 403, 404, 409, 422)
PUBLIC_ACTOR = "public"


# ---------------------------------------------------------------- bodies and answers

class DeclarationCreate(models.RequestBody):
    """A project declared under a methodology version (``CODE@VERSION``; a code alone takes its default)."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    owner_organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    methodology: Annotated[StrictStr, Field(min_length=1, max_length=60)]
    region: Annotated[StrictStr, Field(min_length=1, max_length=12)]
    design: dict[str, Any] = Field(description="The version's design fields (see its document)")


class DeclarationEdit(models.RequestBody):
    design: dict[str, Any]
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None


class WithReason(models.RequestBody):
    reason: Reason


class MaybeReason(models.RequestBody):
    reason: Reason | None = None


class Announcement(models.RequestBody):
    days: Annotated[StrictInt, Field(description="Length of the public announcement in days (1-90)")]


class CommentIn(models.RequestBody):
    author: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    body: Annotated[StrictStr, Field(min_length=1, max_length=5000)]


class ReportIn(models.RequestBody):
    """A monitoring period's data, as the CSV text of the project's methodology template."""

    period_start: date
    period_end: date
    verifier_organization_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    data: Annotated[StrictStr, Field(min_length=1, max_length=20 * 1024 * 1024)]


class ReviewIn(models.RequestBody):
    approve: StrictBool
    findings: Annotated[StrictStr, Field(max_length=5000)] | None = None


class IssueIn(models.RequestBody):
    account_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)]
    to_owners: StrictBool = Field(False, description="MRV reports: pass each site owner's units on to that "
                                  "owner's oldest holding account")
    buffer_account_id: Annotated[StrictInt, Field(ge=1, le=models.MAX_ID)] | None = None
    vintage: Annotated[StrictInt, Field(ge=2000, le=2100)] | None = None
    credit_type: Annotated[StrictStr, Field(min_length=2, max_length=10)] | None = None


class Reminder(BaseModel):
    id: int
    what: str
    name: str
    step: str
    kind: Literal["due_soon", "overdue"]
    due_at: datetime
    sent_at: datetime


class Event(BaseModel):
    action: str
    at: datetime
    reason: str | None
    actor: str | None = None


class Comment(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


class Attachment(BaseModel):
    sha256: str
    filename: str
    media_type: str
    size_bytes: int
    created_at: datetime


class Declaration(BaseModel):
    id: int
    name: str
    owner_organization_id: int
    owner_name: str
    methodology: str
    region: str
    design: dict[str, Any]
    status: str
    announcement_ends_at: datetime | None
    due_at: datetime | None
    project_id: int | None
    created_at: datetime
    updated_at: datetime
    events: list[Event]
    attachments: list[Attachment]
    comments: list[Comment]


class Report(BaseModel):
    id: int
    project_id: int
    methodology: str
    period_start: date
    period_end: date
    data_sha256: str
    data_rows: int
    verifier_organization_id: int
    status: str
    net_kg: int
    buffer_kg: int
    issuable_kg: int
    findings: str | None
    issuance_id: int | None
    buffer_issuance_id: int | None
    created_at: datetime
    updated_at: datetime


class PendingStep(BaseModel):
    what: str
    name: str
    step: str
    organization_id: int | None = Field(description="The organisation whose step it is")
    due_at: datetime
    overdue: bool


def _declaration(conn: Any, principal: Principal | None, declaration_id: int) -> Declaration:
    view = declaring.declaration_view(conn, principal, declaration_id)
    for key in ("announcement_ends_at", "due_at", "created_at", "updated_at"):
        view[key] = view[key] and utc(view[key])
    for item in view["attachments"]:
        item["created_at"] = utc(item["created_at"])
    return Declaration.model_validate(view)


def _act(write: Writer, body: BaseModel | None, declaration_id: int, act: Any, **arguments: Any) -> Response:
    def service(tx: UnitOfWork) -> Declaration:
        act(tx, write.principal, declaration_id, **arguments)
        return _declaration(tx.conn, write.principal, declaration_id)

    return write.run(body, service, status_code=200)


# ---------------------------------------------------------------- declarations

@router.post("/declarations", status_code=201, response_model=Declaration, summary="Declare a project (a draft)",
             responses=_WRITES)
def declare(body: DeclarationCreate, write: Writer) -> Response:
    """The owner (or the operator for it) declares a project; the design is checked against the version's
    fields now, its applicability conditions on submission."""

    def service(tx: UnitOfWork) -> Declaration:
        row = declaring.declare(tx, write.principal, **body.model_dump())
        return _declaration(tx.conn, write.principal, row["id"])

    return write.run(body, service)


@router.get("/declarations/{declaration_id}", summary="One declaration with its history",
            responses=problem_responses(401, 404))
def get_declaration(request: Request, declaration_id: RecordId, caller: Caller) -> Declaration:
    with reading(engine_of(request)) as conn:
        return _declaration(conn, caller, declaration_id)


@router.post("/declarations/{declaration_id}/edit", response_model=Declaration, summary="Change a draft's design",
             responses=_WRITES)
def edit(declaration_id: RecordId, body: DeclarationEdit, write: Writer) -> Response:
    return _act(write, body, declaration_id, declaring.edit, design=body.design, name=body.name)


@router.post("/declarations/{declaration_id}/attachments", status_code=201, response_model=Declaration,
             summary="Attach evidence to a draft or returned declaration", responses=_WRITES)
async def attach(request: Request, declaration_id: RecordId, file: UploadFile, write: Writer) -> Response:
    """A multipart upload (field ``file``): CSV, PDF, PNG, JPEG, JSON or XLSX, at most 20 MiB; kept once under
    its SHA-256, and listed on the declaration for its owner, the operator and verifiers."""
    content = await file.read(attachments.MAX_BYTES + 1)
    data_dir = settings_of(request).data_dir

    def service(tx: UnitOfWork) -> Declaration:
        declaring.attach(tx, write.principal, data_dir, declaration_id, filename=file.filename or "",
                         media_type=file.content_type or "", content=content)
        return _declaration(tx.conn, write.principal, declaration_id)

    return await run_in_threadpool(write.run, None, service)


@router.get("/declarations/{declaration_id}/attachments/{sha256}", summary="One attachment's file",
            response_class=Response, responses=problem_responses(401, 404))
def attachment(request: Request, declaration_id: RecordId, sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
               caller: Caller) -> Response:
    with reading(engine_of(request)) as conn:
        row, content = declaring.attachment(conn, caller, settings_of(request).data_dir, declaration_id, sha256)
    return Response(content, media_type=row["media_type"],
                    headers={"Content-Disposition": f'attachment; filename="{row["sha256"][:12]}"'})


@router.post("/declarations/{declaration_id}/submit", response_model=Declaration,
             summary="Submit for the operator's review", responses=_WRITES)
def submit(declaration_id: RecordId, write: Writer) -> Response:
    """Refused, naming every failed condition, unless the methodology version applies to the design."""
    return _act(write, None, declaration_id, declaring.submit)


@router.post("/declarations/{declaration_id}/return", response_model=Declaration,
             summary="Return for changes (operator)", responses=_WRITES)
def return_for_changes(declaration_id: RecordId, body: WithReason, write: Writer) -> Response:
    return _act(write, body, declaration_id, declaring.return_for_changes, reason=body.reason)


@router.post("/declarations/{declaration_id}/announce", response_model=Declaration,
             summary="Announce to the public (operator)", responses=_WRITES)
def announce(declaration_id: RecordId, body: Announcement, write: Writer) -> Response:
    return _act(write, body, declaration_id, declaring.announce, days=body.days)


@router.post("/declarations/{declaration_id}/approve", response_model=Declaration,
             summary="Approve and register the project (operator)", responses=_WRITES)
def approve(declaration_id: RecordId, body: MaybeReason, write: Writer) -> Response:
    """Only after the announcement has ended; the registered project stays pinned to its methodology version."""
    return _act(write, body, declaration_id, declaring.approve, reason=body.reason)


@router.post("/declarations/{declaration_id}/reject", response_model=Declaration,
             summary="Reject the declaration (operator)", responses=_WRITES)
def reject(declaration_id: RecordId, body: WithReason, write: Writer) -> Response:
    return _act(write, body, declaration_id, declaring.reject, reason=body.reason)


# ---------------------------------------------------------------- the public announcement

@router.get("/public/announcements", summary="Declarations open for public comment")
def announcements(request: Request) -> list[Declaration]:
    """Every declaration now announced, with its design, history (without who acted) and comments."""
    with reading(engine_of(request)) as conn:
        ids = conn.execute(declarations.select().with_only_columns(declarations.c.id)
                           .where(declarations.c.status == "announced").order_by(declarations.c.id)).scalars().all()
        return [_declaration(conn, None, declaration_id) for declaration_id in ids]


@router.get("/public/announcements/{declaration_id}", summary="One announced declaration",
            responses=problem_responses(404))
def announcement(request: Request, declaration_id: RecordId) -> Declaration:
    with reading(engine_of(request)) as conn:
        return _declaration(conn, None, declaration_id)


@router.post("/public/announcements/{declaration_id}/comments", status_code=201, response_model=Comment,
             summary="Comment on an announced declaration (no login)",
             responses=problem_responses(404, 409, 422, 429))
def comment(request: Request, declaration_id: RecordId, body: CommentIn) -> Comment:
    """Anyone may comment while the announcement lasts; the comment is public and journaled. One client
    address sends at most ten comments an hour (429 with Retry-After beyond that)."""
    engine = engine_of(request)
    # A keyed hash: comments are counted per address without the registry ever storing an address.
    key = app_secret(request.app, "comment-source").encode()
    address = request.client.host if request.client else "unknown"
    source = hmac.new(key, address.encode(), hashlib.sha256).hexdigest()
    with UnitOfWork(engine, PUBLIC_ACTOR) as tx:
        row = declaring.comment(tx, declaration_id, author=body.author, body=body.body, source=source)
        tx.commit()
    return Comment.model_validate({**row, "created_at": utc(row["created_at"])})


# ---------------------------------------------------------------- monitoring reports

def _report(row: Any) -> Report:
    return Report.model_validate({**row, "created_at": utc(row["created_at"]), "updated_at": utc(row["updated_at"])})


@router.post("/projects/{project_id}/reports", status_code=201, response_model=Report,
             summary="Submit a monitoring report for verification", responses=_WRITES)
def submit_report(request: Request, project_id: RecordId, body: ReportIn, write: Writer) -> Response:
    """The owner's data for one period, in its methodology version's template; the reductions are computed now,
    and the period's days are claimed so that no other report of the project can cover them."""
    data_dir = settings_of(request).data_dir

    def service(tx: UnitOfWork) -> Report:
        row = reports.submit_report(tx, write.principal, data_dir, project_id=project_id,
                                    period_start=body.period_start, period_end=body.period_end,
                                    verifier_organization_id=body.verifier_organization_id,
                                    data=body.data.encode("utf-8"))
        return _report(row)

    return write.run(body, service)


class MrvUpload(models.RequestBody):
    """What an MRV submission's idempotency key stands for: the verifier and the three files' hashes."""

    verifier_organization_id: int
    summary_sha256: str
    intervals_sha256: str
    daily_sha256: str


@router.post("/projects/{project_id}/reports/mrv", status_code=201, response_model=Report,
             summary="Submit an MRV verify output as a monitoring report for verification", responses=_WRITES)
async def submit_mrv_report(request: Request, project_id: RecordId, summary: UploadFile, intervals: UploadFile,
                            daily: UploadFile, verifier_organization_id: Annotated[int, Form(ge=1, le=models.MAX_ID)],
                            write: Writer) -> Response:
    """A multipart upload of the files `tanhui mrv verify --out DIR` wrote (fields ``summary``: summary.json,
    ``intervals``: intervals.parquet, ``daily``: daily.parquet, each at most 4 GiB) and the verifier's
    organisation id.  The files are checked as at issuance (hashes, sums, each site's reduction, registered
    meters, unclaimed meter-days), archived, and left for the verifier; the period is the report's own."""
    data_dir = settings_of(request).data_dir
    uploads = {"summary.json": summary, "intervals.parquet": intervals, "daily.parquet": daily}

    def run() -> Response:
        with mrv_reports.Upload(data_dir, {name: upload.file for name, upload in uploads.items()}) as upload:
            fingerprint = MrvUpload(verifier_organization_id=verifier_organization_id,
                                    summary_sha256=upload.sha256["summary.json"],
                                    intervals_sha256=upload.sha256["intervals.parquet"],
                                    daily_sha256=upload.sha256["daily.parquet"])
            with StagedReport(upload.directory, mrv_reports.reports_root(data_dir)) as staged:
                def service(tx: UnitOfWork) -> Report:
                    return _report(reports.submit_mrv_report(tx, write.principal, staged, project_id=project_id,
                                                             verifier_organization_id=verifier_organization_id))

                return write.run(fingerprint, service)

    return await run_in_threadpool(run)


@router.get("/reports/{report_id}", summary="One monitoring report", responses=problem_responses(401, 404))
def get_report(request: Request, report_id: RecordId, caller: Caller) -> Report:
    with reading(engine_of(request)) as conn:
        return _report(reports.readable_report(conn, caller, report_id))


@router.get("/reports/{report_id}/data", summary="The report's monitoring data as submitted",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 404)})
def report_data(request: Request, report_id: RecordId, caller: Caller) -> Response:
    with reading(engine_of(request)) as conn:
        row = reports.readable_report(conn, caller, report_id)
        content, media_type = reports.monitoring_data(settings_of(request).data_dir, conn, row)
    return Response(content, media_type=media_type)


@router.get("/reports/{report_id}/files/{name}", summary="A file of an MRV report's archived verify output",
            response_class=FileResponse, responses=problem_responses(401, 404, 409))
def report_file(request: Request, report_id: RecordId, name: Literal["intervals.parquet", "daily.parquet"],
                caller: Caller) -> FileResponse:
    """The intervals (every 15-minute interval with its flags) or daily file, checked against the hash its
    summary records, for the verifier's own analysis."""
    with reading(engine_of(request)) as conn:
        row = reports.readable_report(conn, caller, report_id)
        path = mrv_reports.archived_file(settings_of(request).data_dir, conn, row, name)
    return FileResponse(path, media_type="application/vnd.apache.parquet", filename=f"report-{report_id}-{name}")


@router.post("/reports/{report_id}/review", response_model=Report, summary="The verifier's review",
             responses=_WRITES)
def review(report_id: RecordId, body: ReviewIn, write: Writer) -> Response:
    """Approve, or reject with findings (required); a rejected report frees its period for a corrected one."""

    def service(tx: UnitOfWork) -> Report:
        return _report(reports.review(tx, write.principal, report_id, approve=body.approve, findings=body.findings))

    return write.run(body, service, status_code=200)


@router.post("/reports/{report_id}/issue", response_model=Report, summary="Issuance sign-off (operator)",
             responses=_WRITES)
def issue(request: Request, report_id: RecordId, body: IssueIn, write: Writer) -> Response:
    """Issues the verified reductions to the owner's account and the buffer share to the buffer account."""
    settings = settings_of(request)

    def service(tx: UnitOfWork) -> Report:
        return _report(reports.issue(tx, write.principal, report_id, registry=settings.registry_code,
                                     credit_type=body.credit_type or settings.default_credit_type,
                                     account_id=body.account_id, buffer_account_id=body.buffer_account_id,
                                     vintage=body.vintage, data_dir=settings.data_dir,
                                     to_owners=body.to_owners))

    return write.run(body, service, status_code=200)


@router.get("/lifecycle/pending", summary="Steps waiting, oldest due first (operator)",
            responses=problem_responses(401, 403))
def pending(request: Request, caller: Caller) -> list[PendingStep]:
    """Declarations to review or decide and reports to verify or sign off, each with its due time."""
    caller.require_operator("see every pending step")
    with reading(engine_of(request)) as conn:
        return [PendingStep.model_validate(step) for step in reports.pending_steps(conn)]


@router.get("/reminders", summary="Reminders of the caller's organisation's pending steps, newest first",
            responses=problem_responses(401))
def reminder_inbox(request: Request, caller: Caller,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Reminder]:
    """What `tanhui project remind` (run by a scheduled job) delivered: a step due within two days, then overdue."""
    with reading(engine_of(request)) as conn:
        return [Reminder.model_validate({**row, "due_at": utc(row["due_at"]), "sent_at": utc(row["sent_at"])})
                for row in reminders.inbox(conn, caller, limit=limit)]
