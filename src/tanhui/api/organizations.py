"""Routes for organisations and their users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from tanhui.api import models
from tanhui.api.deps import engine_of, reading
from tanhui.api.pagination import Page, PageRequest, page_of, paging
from tanhui.api.problems import problem_responses
from tanhui.api.security import Caller
from tanhui.api.writes import Writer
from tanhui.identity import services as identity
from tanhui.registry import queries
from tanhui.unit_of_work import UnitOfWork

router = APIRouter(prefix="/organizations", tags=["organisations"])
OrganizationId = Annotated[int, Path(ge=1, le=models.MAX_ID)]


@router.post("", status_code=201, response_model=models.Organization, summary="Onboard an organisation",
             responses=problem_responses(401, 403, 409, 422))
def create_organization(body: models.OrganizationCreate, write: Writer) -> Response:
    """The operator's admins onboard project owners, aggregators, verifiers, buyers, banks and individuals."""

    def service(tx: UnitOfWork) -> models.Organization:
        row = identity.create_organization(tx, write.principal, name=body.name, kind=body.kind)
        return models.Organization.model_validate(queries.organization(tx.conn, write.principal, row["id"]))

    return write.run(body, service)


@router.get("", summary="Organisations (the operator sees all; others their own)",
            responses=problem_responses(401))
def list_organizations(request: Request, caller: Caller,
                       page: Annotated[PageRequest, Depends(paging())]) -> Page[models.Organization]:
    with reading(engine_of(request)) as conn:
        return page_of(queries.organizations_page(conn, caller, after=page.after, limit=page.limit),
                       models.Organization)


@router.get("/{organization_id}", summary="One organisation", responses=problem_responses(401, 403, 404))
def get_organization(request: Request, organization_id: OrganizationId,
                     caller: Caller) -> models.Organization:
    with reading(engine_of(request)) as conn:
        return models.Organization.model_validate(queries.organization(conn, caller, organization_id))


@router.post("/{organization_id}/users", status_code=201, response_model=models.User,
             summary="Add a user to an organisation", responses=problem_responses(401, 403, 404, 409, 422))
def create_user(organization_id: OrganizationId, body: models.UserCreate, write: Writer) -> Response:
    """The organisation's admins (or the operator's) add users as admin, representative or viewer."""

    def service(tx: UnitOfWork) -> models.User:
        row = identity.create_user(tx, write.principal, organization_id=organization_id,
                                   username=body.username, password=body.password, role=body.role,
                                   region=body.region)
        return models.User.model_validate({**row, "created_at": queries.utc(row["created_at"])})

    return write.run(body, service)
