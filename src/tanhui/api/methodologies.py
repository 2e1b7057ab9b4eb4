"""The public methodology catalogue: every version with its figures, data template and document, no login."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StrictStr

from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.problems import problem_responses
from tanhui.api.writes import Writer
from tanhui.errors import NotFound, UnknownReference
from tanhui.methodologies import publication
from tanhui.methodologies.catalogue import find, versions
from tanhui.methodologies.document import document
from tanhui.methodologies.methodology import Methodology
from tanhui.methodologies.monitoring_data import template_csv
from tanhui.registry.queries import utc
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(tags=["methodologies"])
PUBLIC = "/public/methodologies"


class MethodologySummary(BaseModel):
    reference: str
    code: str
    version: str
    title_zh: str
    title_en: str
    default: bool
    state: str
    superseded_by: str | None


def _version(reference: str) -> Methodology:
    try:
        return find(reference)
    except UnknownReference as exc:
        raise NotFound(exc.detail) from None


@router.get(PUBLIC, summary="Every methodology version")
def list_methodologies(request: Request) -> list[MethodologySummary]:
    """Every version with its state: projects are declared under published ones; ``reference``
    (``CODE@VERSION``) names one."""
    with reading(engine_of(request)) as conn:
        known = publication.states(conn)
    return [MethodologySummary(reference=m.reference, code=m.code, version=m.version, title_zh=m.title_zh,
                               title_en=m.title_en, default=m.default, state=known[m.reference][0],
                               superseded_by=known[m.reference][1]) for m in versions()]


@router.get(PUBLIC + "/{reference}", summary="One methodology version in full")
def methodology(request: Request, reference: str) -> dict[str, Any]:
    """Formula, parameters with value, unit, tag and source, applicability conditions, design and monitoring
    fields, and its state. A code alone (``EV-CHARGE``) names its default version."""
    version = _version(reference)
    with reading(engine_of(request)) as conn:
        state, successor = publication.states(conn)[version.reference]
    return {**version.describe(), "state": state, "superseded_by": successor}


@router.get(PUBLIC + "/{reference}/template.csv", summary="The monitoring-data template", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def template(reference: str) -> Response:
    """The CSV header that monitoring data for this version must have."""
    m = _version(reference)
    return Response(template_csv(m), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{m.code}-{m.version}-template.csv"'})


@router.get(PUBLIC + "/{reference}/document", summary="The methodology document (Markdown)", response_class=Response,
            responses={200: {"content": {"text/markdown": {}}}})
def methodology_document(reference: str) -> Response:
    """The bilingual document, rendered from the figures the calculation uses, so the two cannot disagree."""
    m = _version(reference)
    return Response(document(m), media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{m.code}-{m.version}.md"'})


class Successor(models.RequestBody):
    by: Annotated[StrictStr, Field(min_length=1, max_length=60, description="The published version that replaces it")]


class VersionState(BaseModel):
    reference: str
    state: str
    superseded_by: str | None
    changed_at: datetime


def _state(row: Any) -> VersionState:
    return VersionState.model_validate({**row, "changed_at": utc(row["changed_at"])})


@router.post("/methodologies/{reference}/publish", response_model=VersionState,
             summary="Publish a draft version (operator)", responses=problem_responses(401, 403, 404, 409, 422))
def publish(reference: str, write: Writer) -> Response:
    def service(tx: UnitOfWork) -> VersionState:
        return _state(publication.publish(tx, write.principal, _version(reference).reference))

    return write.run(None, service, status_code=200)


@router.post("/methodologies/{reference}/supersede", response_model=VersionState,
             summary="Supersede a published version (operator)", responses=problem_responses(401, 403, 404, 409, 422))
def supersede(reference: str, body: Successor, write: Writer) -> Response:
    """New projects must then use the successor; projects declared under this version keep it."""

    def service(tx: UnitOfWork) -> VersionState:
        return _state(publication.supersede(tx, write.principal, _version(reference).reference, by=body.by))

    return write.run(body, service, status_code=200)
