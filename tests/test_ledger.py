"""Ledger acts on both databases: what each does to balances, blocks and serials, and every refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tanhui.errors import (
    InsufficientHoldings,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    TanhuiError,
    UnitsNotAvailable,
)
from tanhui.identity.principal import Principal
from tanhui.registry import ledger
from tanhui.registry.tables import cancellations, pledges, retirements
from tanhui.types import MAX_QUANTITY
from tests.factories import (
    World,
    balance,
    detail_id,
    holdings,
    invariant_problems,
    serial_range,
    snapshot,
)

A, P, R, C, X = "available", "pledged", "retired", "cancelled", "revoked"


@pytest.fixture
def world(world_factory: Callable[..., World], database_kind: str) -> World:
    """A fresh world per test (a copy of one built world, faster than building it each time)."""
    return world_factory(database_kind)


@pytest.fixture(autouse=True)
def _invariants_hold_afterwards(world: World) -> Iterator[None]:
    yield
    assert invariant_problems(world.engine) == []


def _transfer(world: World, source: int, to: int, **how: Any) -> ledger.ActResult:
    principal = world.buyer if source == world.buyer_account else world.owner
    return world.act(principal, "transfer", from_account_id=source, to_account_id=to, **how)


# ---------------------------------------------------------------- what each act does

def test_issue_creates_one_block_with_its_serial(world: World) -> None:
    issued = world.issue(500_000)
    assert issued.serials == [f"TH1.SIP.PHCER.P{world.project}.V2024.I{detail_id(issued)}.1-500000"]
    assert balance(world.engine, world.owner_account) == (500_000, 0)
    assert holdings(world.engine, world.owner_account) == [(detail_id(issued), 1, 500_000, A)]


def test_transfer_by_quantity_takes_the_first_issued_units_first(world: World) -> None:
    older = world.issue(100)
    newer = world.issue(100, vintage=2023)
    i1, i2 = detail_id(older), detail_id(newer)
    moved = _transfer(world, world.owner_account, world.buyer_account, quantity=150)
    assert moved.serials == [serial_range(older, 1, 100), serial_range(newer, 1, 50)]
    assert moved.act["quantity"] == 150
    assert holdings(world.engine, world.buyer_account) == [(i1, 1, 100, A), (i2, 1, 50, A)]
    assert holdings(world.engine, world.owner_account) == [(i2, 51, 100, A)]
    assert balance(world.engine, world.owner_account) == (50, 0)
    assert balance(world.engine, world.buyer_account) == (150, 0)


def test_transfer_by_quantity_follows_serial_order_within_an_issuance(world: World) -> None:
    issued = world.issue(100)
    iid = detail_id(issued)
    # The owner keeps units 1-10 and 21-100; the next 15 by quantity are 1-10, then 21-25.
    _transfer(world, world.owner_account, world.buyer_account, serial_range=serial_range(issued, 11, 20))
    moved = _transfer(world, world.owner_account, world.buyer_account, quantity=15)
    assert moved.serials == [serial_range(issued, 1, 10), serial_range(issued, 21, 25)]
    assert holdings(world.engine, world.buyer_account) == [(iid, 1, 25, A)]
    assert holdings(world.engine, world.owner_account) == [(iid, 26, 100, A)]
    assert balance(world.engine, world.buyer_account) == (25, 0)


def test_transfer_by_serial_range_takes_exactly_that_range(world: World) -> None:
    issued = world.issue(1000)
    iid = detail_id(issued)
    _transfer(world, world.owner_account, world.buyer_account, serial_range=serial_range(issued, 101, 200))
    _transfer(world, world.owner_account, world.buyer_account, serial_range=serial_range(issued, 201, 300))
    moved = _transfer(world, world.buyer_account, world.owner_second,
                      serial_range=serial_range(issued, 151, 250))
    assert moved.serials == [serial_range(issued, 151, 250)]
    assert sum(m["last"] - m["first"] + 1 for m in moved.movements) == 100
    assert holdings(world.engine, world.buyer_account) == [(iid, 101, 150, A), (iid, 251, 300, A)]
    assert holdings(world.engine, world.owner_second) == [(iid, 151, 250, A)]
    assert holdings(world.engine, world.owner_account) == [(iid, 1, 100, A), (iid, 301, 1000, A)]
    assert balance(world.engine, world.buyer_account) == (100, 0)
    assert balance(world.engine, world.owner_second) == (100, 0)
    assert balance(world.engine, world.owner_account) == (800, 0)


def test_a_single_unit_serial_moves_one_unit(world: World) -> None:
    issued = world.issue(10)
    single = serial_range(issued, 5, 5).rsplit("-", 1)[0]  # "…I1.5", the short form of one unit
    moved = _transfer(world, world.owner_account, world.buyer_account, serial_range=single)
    assert moved.serials == [serial_range(issued, 5, 5)]
    assert balance(world.engine, world.buyer_account) == (1, 0)


def test_retire_ends_units_with_beneficiary_and_purpose(world: World) -> None:
    issued = world.issue(1000)
    iid = detail_id(issued)
    retired = world.act(world.owner, "retire", account_id=world.owner_account, quantity=300,
                        beneficiary="Suzhou Plant 1", purpose="2024 carbon neutrality",
                        period_start=date(2024, 1, 1), period_end=date(2024, 12, 31), note="scope 2")
    assert retired.serials == [serial_range(issued, 1, 300)]
    by_range = world.act(world.owner, "retire", account_id=world.owner_account, beneficiary="Plant 2",
                         purpose="event", serial_range=serial_range(issued, 901, 1000))
    assert by_range.serials == [serial_range(issued, 901, 1000)]
    assert holdings(world.engine, world.owner_account) == [(iid, 1, 300, R), (iid, 301, 900, A),
                                                           (iid, 901, 1000, R)]
    assert balance(world.engine, world.owner_account) == (600, 0)
    with world.engine.connect() as conn:
        record = conn.execute(sa.select(retirements).where(retirements.c.act_id == retired.act["id"])).one()
    assert (record.beneficiary, record.purpose, record.period_start, record.note) == (
        "Suzhou Plant 1", "2024 carbon neutrality", date(2024, 1, 1), "scope 2")


def test_cancel_for_compliance_names_the_year_and_regulatory_the_reason(world: World) -> None:
    issued = world.issue(100)
    iid = detail_id(issued)
    surrender = world.act(world.operator, "cancel", account_id=world.owner_account, quantity=30,
                          purpose="compliance", compliance_year=2025)
    regulatory = world.act(world.operator, "cancel", account_id=world.owner_account, quantity=20,
                           purpose="regulatory", reason="court order 17")
    assert surrender.serials == [serial_range(issued, 1, 30)]
    assert regulatory.act["reason"] == "court order 17"
    assert holdings(world.engine, world.owner_account) == [(iid, 1, 50, C), (iid, 51, 100, A)]
    assert balance(world.engine, world.owner_account) == (50, 0)
    with world.engine.connect() as conn:
        rows = conn.execute(sa.select(cancellations.c.purpose, cancellations.c.compliance_year)
                            .order_by(cancellations.c.act_id)).all()
    assert [tuple(r) for r in rows] == [("compliance", 2025), ("regulatory", None)]


def test_pledge_holds_units_in_place_until_the_bank_releases_them(world: World) -> None:
    issued = world.issue(100)
    iid = detail_id(issued)
    lien = world.act(world.owner, "pledge", account_id=world.owner_account,
                     bank_organization_id=world.bank_org, serial_range=serial_range(issued, 21, 60),
                     note="loan 7")
    assert lien.serials == [serial_range(issued, 21, 60)]
    assert balance(world.engine, world.owner_account) == (60, 40)
    assert holdings(world.engine, world.owner_account) == [(iid, 1, 20, A), (iid, 21, 60, P),
                                                           (iid, 61, 100, A)]
    released = world.act(world.bank, "release", pledge_id=detail_id(lien))
    assert released.serials == [serial_range(issued, 21, 60)]
    assert balance(world.engine, world.owner_account) == (100, 0)
    assert holdings(world.engine, world.owner_account) == [(iid, 1, 100, A)]
    with world.engine.connect() as conn:
        status = conn.execute(sa.select(pledges.c.status)
                              .where(pledges.c.id == detail_id(lien))).scalar_one()
    assert status == "released"


def test_the_operator_may_release_a_pledge(world: World) -> None:
    world.issue(100)
    lien = world.act(world.owner, "pledge", account_id=world.owner_account,
                     bank_organization_id=world.bank_org, quantity=10)
    world.act(world.operator, "release", pledge_id=detail_id(lien))
    assert balance(world.engine, world.owner_account) == (100, 0)


def test_revoke_by_serial_range_across_two_accounts(world: World) -> None:
    issued = world.issue(1000)
    iid = detail_id(issued)
    _transfer(world, world.owner_account, world.buyer_account, quantity=100)
    revoked = world.act(world.operator, "revoke", serial_range=serial_range(issued, 51, 150),
                        reason="double counted meter")
    assert revoked.serials == [serial_range(issued, 51, 150)]
    assert revoked.act["quantity"] == 100
    assert revoked.act["account_id"] is None  # it touched two accounts
    assert holdings(world.engine, world.buyer_account) == [(iid, 1, 50, A), (iid, 51, 100, X)]
    assert holdings(world.engine, world.owner_account) == [(iid, 101, 150, X), (iid, 151, 1000, A)]
    assert balance(world.engine, world.buyer_account) == (50, 0)
    assert balance(world.engine, world.owner_account) == (850, 0)


def test_revoke_by_account_and_quantity(world: World) -> None:
    issued = world.issue(100)
    iid = detail_id(issued)
    revoked = world.act(world.operator, "revoke", account_id=world.owner_account, quantity=25, reason="audit")
    assert revoked.act["account_id"] == world.owner_account
    assert holdings(world.engine, world.owner_account) == [(iid, 1, 25, X), (iid, 26, 100, A)]
    assert balance(world.engine, world.owner_account) == (75, 0)


def test_every_act_records_the_movements_of_its_units_in_order(world: World) -> None:
    world.issue(100)
    _transfer(world, world.owner_account, world.buyer_account, quantity=40)
    world.act(world.buyer, "retire", account_id=world.buyer_account, quantity=40, beneficiary="B",
              purpose="P")
    with world.engine.connect() as conn:
        moves = conn.execute(sa.text("SELECT first, last, from_state, to_state FROM movements ORDER BY id")
                             ).all()
    assert [tuple(m) for m in moves] == [(1, 100, None, A), (1, 40, A, A), (1, 40, A, R)]


# ---------------------------------------------------------------- refusals

@pytest.fixture
def busy(world: World) -> dict[str, Any]:
    """1,000 units: 1-10 retired, 11-20 cancelled, 21-30 revoked, 31-40 pledged, 41-1000 available."""
    issued = world.issue(1000)
    world.act(world.owner, "retire", account_id=world.owner_account, quantity=10, beneficiary="B",
              purpose="P")
    world.act(world.operator, "cancel", account_id=world.owner_account, quantity=10, purpose="compliance",
              compliance_year=2025)
    world.act(world.operator, "revoke", account_id=world.owner_account, quantity=10, reason="audit")
    lien = world.act(world.owner, "pledge", account_id=world.owner_account,
                     bank_organization_id=world.bank_org, quantity=10)
    assert balance(world.engine, world.owner_account) == (960, 10)
    return {"issued": issued, "serial": lambda first, last: serial_range(issued, first, last),
            "pledge": detail_id(lien)}


Refusal = Callable[[World, dict[str, Any]], tuple[Principal, str, dict[str, Any]]]


def _from_owner(**how: Any) -> Refusal:
    """A transfer by the owner's admin from the owner's account to the buyer's."""
    def build(w: World, b: dict[str, Any]) -> tuple[Principal, str, dict[str, Any]]:
        resolved = {k: (v(w, b) if callable(v) else v) for k, v in how.items()}
        return w.owner, "transfer", {"from_account_id": w.owner_account, "to_account_id": w.buyer_account,
                                     **resolved}
    return build


def _serial(first: int, last: int) -> Callable[[World, dict[str, Any]], str]:
    return lambda w, b: b["serial"](first, last)


def _tweaked(old: str, new: str) -> Callable[[World, dict[str, Any]], str]:
    """A serial of units 41-50 with one part changed."""
    return lambda w, b: b["serial"](41, 50).replace(old, new, 1)


def _issue(**changes: Any) -> Refusal:
    def build(w: World, b: dict[str, Any]) -> tuple[Principal, str, dict[str, Any]]:
        kwargs = {"registry": "TH", "project_id": w.project, "vintage": 2024,
                  "period_start": date(2024, 1, 1), "period_end": date(2024, 12, 31), "quantity": 100,
                  "account_id": w.owner_account, "credit_type": "PHCER", **changes}
        return w.operator, "issue", kwargs
    return build


def _act(who: str, name: str, **kwargs: Any) -> Refusal:
    def build(w: World, b: dict[str, Any]) -> tuple[Principal, str, dict[str, Any]]:
        resolved = {k: (v(w, b) if callable(v) else v) for k, v in kwargs.items()}
        return getattr(w, who), name, resolved
    return build


def _account(name: str) -> Callable[[World, dict[str, Any]], int]:
    return lambda w, b: getattr(w, name)


_TOMORROW = date.today() + timedelta(days=2)

REFUSALS: list[Any] = [
    pytest.param(_act("owner", "transfer", from_account_id=_account("owner_account"),
                      to_account_id=_account("owner_account"), quantity=1),
                 InvalidRequest, "two different accounts", id="same-account"),
    pytest.param(_from_owner(quantity=961), InsufficientHoldings,
                 "holds 960 available units; 961 were asked for", id="insufficient-holdings"),
    pytest.param(_from_owner(serial_range=_serial(5, 8)), UnitsNotAvailable, "units 5-8 are retired",
                 id="retired-units"),
    pytest.param(_from_owner(serial_range=_serial(11, 12)), UnitsNotAvailable, "units 11-12 are cancelled",
                 id="cancelled-units"),
    pytest.param(_from_owner(serial_range=_serial(25, 45)), UnitsNotAvailable, "units 25-30 are revoked",
                 id="revoked-units"),
    pytest.param(_from_owner(serial_range=_serial(31, 40)), UnitsNotAvailable, "units 31-40 are pledged",
                 id="pledged-units"),
    pytest.param(_act("owner", "retire", account_id=_account("owner_account"), beneficiary="B", purpose="P",
                      serial_range=_serial(35, 36)), UnitsNotAvailable, "units 35-36 are pledged",
                 id="retire-pledged-units"),
    pytest.param(_act("operator", "revoke", serial_range=_serial(1, 50), reason="r"), UnitsNotAvailable,
                 "units 1-10 are retired", id="revoke-retired-units"),
    pytest.param(_act("operator", "revoke", serial_range=_serial(31, 31), reason="r"), UnitsNotAvailable,
                 "units 31-31 are pledged", id="revoke-pledged-units"),
    pytest.param(_act("operator", "cancel", account_id=_account("owner_account"), purpose="compliance",
                      compliance_year=2025, serial_range=_serial(8, 12)), UnitsNotAvailable,
                 "units 8-10 are retired", id="cancel-retired-units"),
    pytest.param(_act("buyer", "transfer", from_account_id=_account("owner_account"),
                      to_account_id=_account("buyer_account"), quantity=1),
                 PermissionDenied, "belongs to another organisation", id="foreign-account"),
    pytest.param(_act("buyer", "pledge", account_id=_account("owner_account"),
                      bank_organization_id=_account("bank_org"), quantity=1),
                 PermissionDenied, "belongs to another organisation", id="pledge-foreign-account"),
    pytest.param(lambda w, b: (Principal("user:owner-viewer", w.owner_org, "project_owner", "viewer"),
                               "transfer", {"from_account_id": w.owner_account,
                                            "to_account_id": w.buyer_account, "quantity": 1}),
                 PermissionDenied, "viewer role", id="viewer-role"),
    pytest.param(_act("owner", "transfer", from_account_id=_account("owner_account"), to_account_id=10**9,
                      quantity=1), NotFound, f"account {10**9} does not exist", id="unknown-account"),
    pytest.param(_act("owner", "pledge", account_id=_account("owner_account"),
                      bank_organization_id=_account("buyer_org"), quantity=1),
                 InvalidRequest, "is a buyer, not a bank", id="non-bank-pledgee"),
    pytest.param(_act("bank", "release", pledge_id=lambda w, b: b["pledge"] + 1000), NotFound,
                 "does not exist", id="release-unknown-pledge"),
    pytest.param(_act("owner", "release", pledge_id=lambda w, b: b["pledge"]), PermissionDenied,
                 "only the pledgee bank or the operator", id="release-by-pledgor"),
    pytest.param(_act("buyer", "release", pledge_id=lambda w, b: b["pledge"]), PermissionDenied,
                 "only the pledgee bank or the operator", id="release-by-non-bank"),
    pytest.param(_from_owner(serial_range=lambda w, b: b["serial"](41, 50).replace(
                     f".P{w.project}.", f".P{w.project + 1}.")), InvalidRequest,
                 "names project_id", id="serial-wrong-project"),
    pytest.param(_from_owner(serial_range=_tweaked(".V2024", ".V2023")), InvalidRequest,
                 "names vintage 2023, but issuance", id="serial-wrong-vintage"),
    pytest.param(_from_owner(serial_range=_tweaked(".SIP.", ".SZX.")), InvalidRequest,
                 "names region 'SZX'", id="serial-wrong-region"),
    pytest.param(_from_owner(serial_range=_tweaked(".PHCER.", ".CCER.")), InvalidRequest,
                 "names credit_type 'CCER'", id="serial-wrong-credit-type"),
    pytest.param(_from_owner(serial_range=_tweaked(".I", ".I9")), NotFound, "does not exist",
                 id="serial-unknown-issuance"),
    pytest.param(_from_owner(serial_range=_serial(990, 1001)), InvalidRequest, "has units 1-1000",
                 id="range-beyond-issuance"),
    pytest.param(_from_owner(serial_range=lambda w, b: b["serial"](41, 50).replace("41-50", "50-41")),
                 InvalidRequest, "range end 41 is before its start 50", id="range-reversed"),
    pytest.param(_from_owner(serial_range="TH1.SIP.PHCER.P1.V2024.I1.0-5"), InvalidRequest,
                 "unit range (start-end) part '0-5' is malformed", id="range-from-zero"),
    pytest.param(_from_owner(serial_range="not a serial"), InvalidRequest, "is not a serial",
                 id="malformed-serial"),
    pytest.param(_from_owner(quantity=0), InvalidRequest, "quantity must be positive, got 0", id="zero"),
    pytest.param(_from_owner(quantity=-5), InvalidRequest, "quantity must be positive, got -5",
                 id="negative"),
    pytest.param(_from_owner(quantity=True), InvalidRequest, "whole number of kgCO2e, not True", id="bool"),
    pytest.param(_from_owner(quantity=2.5), InvalidRequest, "whole number of kgCO2e, not 2.5",
                 id="fractional"),
    pytest.param(_from_owner(quantity="10"), InvalidRequest, "whole number of kgCO2e, not '10'", id="text"),
    pytest.param(_from_owner(quantity=MAX_QUANTITY + 1), InvalidRequest, "exceeds the largest allowed",
                 id="huge"),
    pytest.param(_from_owner(), InvalidRequest, "exactly one of quantity and serial_range", id="neither"),
    pytest.param(_from_owner(quantity=10, serial_range=_serial(41, 50)), InvalidRequest,
                 "exactly one of quantity and serial_range", id="both"),
    pytest.param(_act("owner", "retire", account_id=_account("owner_account"), beneficiary=" ", purpose="P",
                      quantity=1), InvalidRequest, "beneficiary is required",
                 id="retire-without-beneficiary"),
    pytest.param(_act("owner", "retire", account_id=_account("owner_account"), beneficiary="B", purpose="P",
                      quantity=1, period_start=date(2024, 1, 1)), InvalidRequest,
                 "give both period_start and period_end", id="retire-half-period"),
    pytest.param(_act("operator", "cancel", account_id=_account("owner_account"), purpose="compliance",
                      quantity=1), InvalidRequest, "needs the compliance_year", id="compliance-without-year"),
    pytest.param(_act("operator", "cancel", account_id=_account("owner_account"), purpose="regulatory",
                      quantity=1), InvalidRequest, "reason is required", id="regulatory-without-reason"),
    pytest.param(_act("operator", "cancel", account_id=_account("owner_account"), purpose="regulatory",
                      reason="r", compliance_year=2025, quantity=1), InvalidRequest,
                 "compliance_year applies only to compliance", id="regulatory-with-year"),
    pytest.param(_act("operator", "cancel", account_id=_account("owner_account"), purpose="voluntary",
                      quantity=1), InvalidRequest, "purpose must be one of compliance, regulatory",
                 id="cancel-unknown-purpose"),
    pytest.param(_act("owner", "cancel", account_id=_account("owner_account"), purpose="compliance",
                      compliance_year=2025, quantity=1), PermissionDenied, "only the registry operator",
                 id="cancel-by-non-operator"),
    pytest.param(_act("owner", "revoke", account_id=_account("owner_account"), quantity=1, reason="r"),
                 PermissionDenied, "only the registry operator may revoke", id="revoke-by-non-operator"),
    pytest.param(_act("operator", "revoke", account_id=_account("owner_account"), quantity=1, reason=""),
                 InvalidRequest, "reason is required", id="revoke-without-reason"),
    pytest.param(_act("operator", "revoke", account_id=_account("owner_account"), quantity=961, reason="r"),
                 InsufficientHoldings, "holds 960 available units", id="revoke-more-than-held"),
    pytest.param(_issue(quantity=0), InvalidRequest, "quantity must be positive", id="issue-zero"),
    pytest.param(_issue(period_start=date.today(), period_end=_TOMORROW), InvalidRequest, "in the future",
                 id="issue-future-period"),
    pytest.param(_issue(vintage=2023), InvalidRequest, "vintage 2023 is outside the monitoring period",
                 id="issue-vintage-outside-period"),
    pytest.param(_issue(period_start=date(2024, 12, 31), period_end=date(2024, 1, 1)), InvalidRequest,
                 "after it ends", id="issue-period-reversed"),
    pytest.param(_issue(project_id=10**9), NotFound, f"project {10**9} does not exist",
                 id="issue-unknown-project"),
    pytest.param(lambda w, b: (w.owner, "issue", _issue()(w, b)[2]), PermissionDenied,
                 "only the registry operator may issue", id="issue-by-non-operator"),
]


@pytest.mark.parametrize(("refusal", "error", "message"), REFUSALS)
def test_refusals_name_the_problem_and_change_nothing(world: World, busy: dict[str, Any], refusal: Refusal,
                                                      error: type[TanhuiError], message: str) -> None:
    principal, name, kwargs = refusal(world, busy)
    before = snapshot(world.engine)
    with pytest.raises(error) as caught:
        world.act(principal, name, **kwargs)
    assert type(caught.value) is error
    assert message in caught.value.detail
    assert snapshot(world.engine) == before


def test_a_pledge_is_released_only_once(world: World, busy: dict[str, Any]) -> None:
    world.act(world.bank, "release", pledge_id=busy["pledge"])
    before = snapshot(world.engine)
    with pytest.raises(InvalidRequest, match="already released"):
        world.act(world.bank, "release", pledge_id=busy["pledge"])
    assert snapshot(world.engine) == before


def test_pledged_units_are_not_taken_by_quantity(world: World, busy: dict[str, Any]) -> None:
    _transfer(world, world.owner_account, world.buyer_account, quantity=960)
    before = snapshot(world.engine)
    with pytest.raises(InsufficientHoldings, match="holds 0 available units; 1 were asked for"):
        _transfer(world, world.owner_account, world.buyer_account, quantity=1)
    assert snapshot(world.engine) == before
    assert balance(world.engine, world.owner_account) == (0, 10)


def test_units_held_by_someone_else_are_not_moved_by_serial(world: World, busy: dict[str, Any]) -> None:
    _transfer(world, world.owner_account, world.buyer_account, serial_range=busy["serial"](41, 50))
    before = snapshot(world.engine)
    with pytest.raises(UnitsNotAvailable, match=f"units 41-50 are not held by account {world.owner_account}"):
        _transfer(world, world.owner_account, world.owner_second, serial_range=busy["serial"](41, 60))
    assert snapshot(world.engine) == before
