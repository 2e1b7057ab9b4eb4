"""The public register: issuances, retirements and the journal head, with no personal data and no login."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.pagination import Page, PageRequest, page_of, paging
from tanhui.registry import queries

router = APIRouter(prefix="/public", tags=["public register"])
Paging = Annotated[PageRequest, Depends(paging())]


@router.get("/issuances", summary="Every issuance")
def public_issuances(request: Request, page: Paging) -> Page[models.PublicIssuance]:
    """Serials, projects, vintages and quantities; the owner's name unless the owner is an individual."""
    with reading(engine_of(request)) as conn:
        return page_of(queries.public_issuances_page(conn, after=page.after, limit=page.limit),
                       models.PublicIssuance)


@router.get("/retirements", summary="Every retirement claim")
def public_retirements(request: Request, page: Paging) -> Page[models.PublicRetirement]:
    """Who the units were retired for and why; individuals appear as "个人 / individual". No accounts,
    users or notes."""
    with reading(engine_of(request)) as conn:
        return page_of(queries.public_retirements_page(conn, after=page.after, limit=page.limit),
                       models.PublicRetirement)


@router.get("/journal/head", summary="The journal's head, to anchor it outside the registry")
def journal_head(request: Request) -> models.JournalHead:
    """Publish this ``{seq, hash}`` anywhere: rewriting the journal up to ``seq`` would change the hash."""
    with reading(engine_of(request)) as conn:
        return models.JournalHead.model_validate(queries.journal_head_view(conn))
