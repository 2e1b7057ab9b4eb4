"""The public methodology catalogue: every version with its figures, data template and document, no login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from tanhui.errors import NotFound, UnknownReference
from tanhui.methodologies.catalogue import find, versions
from tanhui.methodologies.document import document
from tanhui.methodologies.methodology import Methodology
from tanhui.methodologies.monitoring_data import template_csv

router = APIRouter(prefix="/public/methodologies", tags=["methodologies"])


class MethodologySummary(BaseModel):
    reference: str
    code: str
    version: str
    title_zh: str
    title_en: str
    default: bool


def _version(reference: str) -> Methodology:
    try:
        return find(reference)
    except UnknownReference as exc:
        raise NotFound(exc.detail) from None


@router.get("", summary="Every methodology version")
def list_methodologies() -> list[MethodologySummary]:
    """The versions projects can be declared under; ``reference`` (``CODE@VERSION``) names one."""
    return [MethodologySummary(reference=m.reference, code=m.code, version=m.version, title_zh=m.title_zh,
                               title_en=m.title_en, default=m.default) for m in versions()]


@router.get("/{reference}", summary="One methodology version in full")
def methodology(reference: str) -> dict[str, Any]:
    """Formula, parameters with value, unit, tag and source, applicability conditions, design and monitoring
    fields. A code alone (``EV-CHARGE``) names its default version."""
    return _version(reference).describe()


@router.get("/{reference}/template.csv", summary="The monitoring-data template", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def template(reference: str) -> Response:
    """The CSV header that monitoring data for this version must have."""
    m = _version(reference)
    return Response(template_csv(m), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{m.code}-{m.version}-template.csv"'})


@router.get("/{reference}/document", summary="The methodology document (Markdown)", response_class=Response,
            responses={200: {"content": {"text/markdown": {}}}})
def methodology_document(reference: str) -> Response:
    """The bilingual document, rendered from the figures the calculation uses, so the two cannot disagree."""
    m = _version(reference)
    return Response(document(m), media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{m.code}-{m.version}.md"'})
