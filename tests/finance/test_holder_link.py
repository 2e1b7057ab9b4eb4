"""A holder of any kind is linked to the one registry organisation acting for it; reports name registered holders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tanhui.accounts import credit_report as reports
from tanhui.accounts import register
from tanhui.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tanhui.finance import consent
from tanhui.finance.tables import credit_reports
from tanhui.identity import services as identity
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.finance.profiles import profile
from tests.test_api_support import Api, assert_problem, serving
from tests.test_cli import ok, refused, tanhui


def _link(world: World, holder_id: int, organization_id: int) -> int | None:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        row = register.link_organization(tx, world.operator, holder_id, organization_id)
        tx.commit()
    return row["organization_id"]


def _resident(world: World) -> int:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        org = identity.create_organization(tx, world.operator, name="Resident Li", kind="individual")["id"]
        tx.commit()
    return int(org)


def test_an_enterprise_is_linked_once_to_a_companys_organisation(world: World) -> None:
    before = snapshot(world.engine)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(PermissionDenied):
        register.link_organization(tx, world.buyer, 1, world.buyer_org)
    for holder, organization, error, phrase in (
            (99, world.buyer_org, NotFound, "holder 99 does not exist"),
            (1, 9_999, NotFound, "organisation 9999"),
            (1, _resident(world), InvalidRequest, "is of kind individual; an enterprise's organisation is a company's"),
            (1, world.operator.organization_id, InvalidRequest, "is of kind operator")):
        before = snapshot(world.engine)
        with pytest.raises(error, match=phrase):
            _link(world, holder, organization)
        assert snapshot(world.engine) == before
    assert _link(world, 1, world.buyer_org) == world.buyer_org
    assert _link(world, 1, world.buyer_org) == world.buyer_org  # again: nothing changes
    before = snapshot(world.engine)
    with pytest.raises(Conflict, match=r"linked to organisation \d+ already; a link is not moved"):
        _link(world, 1, world.owner_org)
    with pytest.raises(Conflict, match=f"organisation {world.buyer_org} already acts for holder 1"):
        _link(world, 2, world.buyer_org)
    assert snapshot(world.engine) == before


def test_a_report_names_a_registered_holder_and_its_organisation(world: World) -> None:
    def issue(organization: int | None = None, **changes: object) -> int:
        with UnitOfWork(world.engine, world.operator.actor) as tx:
            row = reports.issue_report(tx, world.operator, profile(**changes), holder_organization_id=organization)
            tx.commit()
        return int(row["holder_organization_id"])

    before = snapshot(world.engine)
    for changes, error, phrase in (
            ({"holder_id": 99}, NotFound, "holder 99 does not exist"),
            ({"unified_social_credit_code": "91330800MA28F3KX5L"}, InvalidRequest, "describes another holder"),
            ({"holder_kind": "public_institution"}, InvalidRequest, "holder_kind is 'public_institution'"),
            ({}, InvalidRequest, "holder 1 is linked to no registry organisation")):
        with pytest.raises(error, match=phrase):
            issue(**changes)  # type: ignore[arg-type]
        assert snapshot(world.engine) == before
    # Nobody can consent for a holder no organisation acts for.
    with UnitOfWork(world.engine, world.operator.actor) as tx, pytest.raises(InvalidRequest, match="none can consent"):
        consent.grant(tx, world.operator, holder_id=1, bank_organization_id=world.bank_org, scope="full", days=5)
    assert issue(world.buyer_org) == world.buyer_org  # the first report links the holder
    assert issue() == world.buyer_org
    before = snapshot(world.engine)
    with pytest.raises(InvalidRequest, match=f"linked to organisation {world.buyer_org}, not {world.owner_org}"):
        issue(world.owner_org)
    assert snapshot(world.engine) == before
    # The database, too, refuses a report of a holder that does not exist.
    with world.engine.begin() as conn:
        row = dict(conn.execute(sa.select(credit_reports)).mappings().first() or {})
    with world.engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.insert(credit_reports).values({**row, "id": 99, "holder_id": 99, "content_sha256": "0" * 64,
                                                       "verification_code": "x"}))


@pytest.fixture
def api(world: World, database_url: str, tmp_path: Path) -> Iterator[Api]:
    with serving(world, database_url, data_dir=tmp_path / "data") as api:
        yield api


def test_the_linked_organisation_reads_its_carbon_account_over_http(api: Api) -> None:
    world = api.world
    path = "/carbon-accounts/holders/1"
    assert_problem(api.get(path, who=world.buyer), 403)
    before = snapshot(world.engine)
    assert_problem(api.post(f"{path}/organization", {"organization_id": world.buyer_org}, who=world.buyer), 403)
    assert_problem(api.post(f"{path}/organization", {"organization_id": 0}, who=world.operator), 422)
    assert snapshot(world.engine) == before
    linked = api.ok(api.post(f"{path}/organization", {"organization_id": world.buyer_org}, who=world.operator))
    assert linked["organization_id"] == world.buyer_org
    assert api.ok(api.get(path, who=world.buyer))["reference"] == "QZ-GREEN"
    assert_problem(api.get(path, who=world.owner), 403)


def test_the_cli_links_a_holder(world: World, database_url: str) -> None:
    assert "does not exist" in refused(tanhui(database_url, "accounts", "link-organization", "QZ-GREEN", "9999"))
    assert f"organisation {world.buyer_org} acts for QZ-GREEN" in ok(
        tanhui(database_url, "accounts", "link-organization", "QZ-GREEN", str(world.buyer_org)))
    assert "not moved" in refused(tanhui(database_url, "accounts", "link-organization", "QZ-GREEN",
                                         str(world.owner_org)))
