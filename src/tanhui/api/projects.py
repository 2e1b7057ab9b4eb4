"""Routes for projects (minimal for now: owner, methodology, region and status)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.pagination import Page, PageRequest, page_of, paging
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.registry import ledger, queries
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, response_model=models.Project, summary="Register a project",
             responses=problem_responses(401, 403, 404, 422))
def register_project(body: models.ProjectCreate, write: Writer) -> Response:
    """The operator, or the owner organisation itself, registers a project under a methodology and region."""

    def service(tx: UnitOfWork) -> models.Project:
        row = ledger.register_project(tx, write.principal, name=body.name,
                                      owner_organization_id=body.owner_organization_id,
                                      methodology=body.methodology, region=body.region)
        return models.Project.model_validate(queries.project(tx.conn, write.principal, row["id"]))

    return write.run(body, service)


@router.get("", summary="Projects (the operator sees all; others their own)",
            responses=problem_responses(401))
def list_projects(request: Request, caller: Caller,
                  page: Annotated[PageRequest, Depends(paging())]) -> Page[models.Project]:
    with reading(engine_of(request)) as conn:
        return page_of(queries.projects_page(conn, caller, after=page.after, limit=page.limit),
                       models.Project)


@router.get("/{project_id}", summary="One project", responses=problem_responses(401, 403, 404))
def get_project(request: Request, project_id: Annotated[int, Path(ge=1, le=models.MAX_ID)],
                caller: Caller) -> models.Project:
    with reading(engine_of(request)) as conn:
        return models.Project.model_validate(queries.project(conn, caller, project_id))
