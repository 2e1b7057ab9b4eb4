"""Consent: a bank reads a holder's reports only while a grant is active, and every read is logged."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tanhui.accounts import credit_report as reports
from tanhui.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tanhui.finance import consent
from tanhui.finance.tables import report_accesses
from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.journal import audit
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.finance.profiles import profile

HOLDER = 1


def _issue(world: World, organization: int | None = None, **changes: object) -> int:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        row = reports.issue_report(tx, world.operator, profile(**changes),
                                   holder_organization_id=organization or world.buyer_org)
        tx.commit()
    return int(row["id"])


def _grant(world: World, who: Principal | None = None, **kwargs: object) -> int:
    values = {"holder_id": HOLDER, "bank_organization_id": world.bank_org, "scope": "full", "days": 30} | kwargs
    with UnitOfWork(world.engine, (who or world.buyer).actor) as tx:
        row = consent.grant(tx, who or world.buyer, **values)  # type: ignore[arg-type]
        tx.commit()
    return int(row["id"])


def _revoke(world: World, grant_id: int, who: Principal | None = None) -> None:
    with UnitOfWork(world.engine, (who or world.buyer).actor) as tx:
        consent.revoke(tx, who or world.buyer, grant_id)
        tx.commit()


def _log(world: World) -> list[tuple[object, ...]]:
    with world.engine.connect() as conn:
        return [(r["actor"], r["kind"], r["report_id"], r["allowed"], r["reason"])
                for r in consent.access_log(conn, world.buyer, HOLDER)]


def _second_bank(world: World) -> Principal:
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        org = identity.create_organization(tx, world.operator, name="Second bank", kind="bank")["id"]
        tx.commit()
    return Principal("user:second-bank", org, "bank", "admin")


def test_a_bank_reads_only_while_the_grant_is_active(world: World) -> None:
    report = _issue(world)
    with pytest.raises(PermissionDenied, match=r"refused and logged: holder 1 gives bank \d+ no consent"):
        consent.bank_access(world.engine, world.bank, kind="pdf", report_id=report)
    grant = _grant(world)
    allowed = consent.bank_access(world.engine, world.bank, kind="pdf", report_id=report)
    assert allowed.grant["id"] == grant and [r["id"] for r in allowed.reports] == [report]
    listed = consent.bank_access(world.engine, world.bank, kind="list", holder_id=HOLDER)
    assert [r["id"] for r in listed.reports] == [report]
    _revoke(world, grant)
    with pytest.raises(PermissionDenied, match=f"consent {grant} was revoked"):
        consent.bank_access(world.engine, world.bank, kind="summary", report_id=report)
    bank = world.bank.actor
    assert _log(world) == [
        (bank, "pdf", report, False, f"holder 1 gives bank {world.bank_org} no consent"),
        (bank, "pdf", report, True, f"consent {grant}"),
        (bank, "list", None, True, f"consent {grant}"),
        (bank, "summary", report, False, f"holder 1 gives bank {world.bank_org} consent {grant} was revoked"),
    ]
    # The journal describes every report and consent row as stored.
    assert audit.verify(world.engine).problems == []


def test_a_grant_expires_by_itself(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _issue(world)
    grant = _grant(world, days=3)
    consent.bank_access(world.engine, world.bank, kind="full", report_id=report)
    later = utcnow() + timedelta(days=3, seconds=1)
    monkeypatch.setattr(consent, "utcnow", lambda: later)
    with pytest.raises(PermissionDenied, match=f"consent {grant} expired at"):
        consent.bank_access(world.engine, world.bank, kind="full", report_id=report)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(Conflict, match="already expired"):
        consent.revoke(tx, world.buyer, grant)
    # An expired grant no longer blocks a new one.
    assert _grant(world, days=10) != grant
    assert [row[3] for row in _log(world)] == [True, False]


def test_a_refused_access_changes_nothing_but_the_log(world: World) -> None:
    report = _issue(world)
    _grant(world, scope="summary")
    other_bank = _second_bank(world)
    before = snapshot(world.engine)
    for who, kind in ((world.bank, "pdf"), (world.bank, "full"), (other_bank, "summary"), (world.owner, "list")):
        with pytest.raises(PermissionDenied, match="refused and logged"):
            consent.bank_access(world.engine, who, kind=kind, report_id=report)
    assert snapshot(world.engine) == before
    log = _log(world)
    assert [(row[1], row[3]) for row in log] == [("pdf", False), ("full", False), ("summary", False),
                                                 ("list", False)]
    assert "covers the summary of reports, not the pdf" in str(log[0][4])
    assert "not a bank's" in str(log[3][4])
    # The summary scope allows what it says.
    assert consent.bank_access(world.engine, world.bank, kind="summary", report_id=report).reports


def test_a_bank_cannot_reach_another_holders_report_through_its_grant(world: World) -> None:
    other = _issue(world, world.owner_org, holder_id=2, name="Another holder",
                   unified_social_credit_code="91330800MA28F3KX5L")
    _issue(world)
    _grant(world)
    with pytest.raises(PermissionDenied, match=f"credit report {other} is not holder 1's"):
        consent.bank_access(world.engine, world.bank, kind="pdf", holder_id=HOLDER, report_id=other)
    assert _log(world)[-1][2] is None  # the other holder's report is not named in this holder's log


def test_who_may_grant_revoke_and_read_the_log(world: World) -> None:
    _issue(world)
    with UnitOfWork(world.engine, world.owner.actor) as tx, pytest.raises(PermissionDenied, match="another org"):
        consent.grant(tx, world.owner, holder_id=HOLDER, bank_organization_id=world.bank_org, scope="full", days=5)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(InvalidRequest, match="not a bank"):
        consent.grant(tx, world.buyer, holder_id=HOLDER, bank_organization_id=world.owner_org, scope="full", days=5)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(InvalidRequest, match="1 to 1098 days"):
        consent.grant(tx, world.buyer, holder_id=HOLDER, bank_organization_id=world.bank_org, scope="full", days=0)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(NotFound, match="holder 99 does not exist"):
        consent.grant(tx, world.buyer, holder_id=99, bank_organization_id=world.bank_org, scope="full", days=5)
    grant = _grant(world)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(Conflict, match="already lets bank"):
        consent.grant(tx, world.buyer, holder_id=HOLDER, bank_organization_id=world.bank_org, scope="full", days=5)
    with UnitOfWork(world.engine, world.bank.actor) as tx, pytest.raises(PermissionDenied):
        consent.revoke(tx, world.bank, grant)
    with world.engine.connect() as conn, pytest.raises(PermissionDenied, match="theirs and the operator's"):
        consent.access_log(conn, world.bank, HOLDER)
    _revoke(world, grant, who=world.operator)  # the operator may end a consent, e.g. on a court order
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(Conflict, match="already revoked"):
        consent.revoke(tx, world.buyer, grant)
    with world.engine.connect() as conn:
        grants = consent.holder_grants(conn, world.buyer, HOLDER)
        assert [(g["id"], g["active"], g["revoked_by"]) for g in grants] == [(grant, False, world.operator.actor)]
        assert consent.bank_grants(conn, world.bank)[0]["id"] == grant


def test_the_access_log_is_append_only(world: World) -> None:
    report = _issue(world)
    _grant(world)
    consent.bank_access(world.engine, world.bank, kind="pdf", report_id=report)
    with pytest.raises(sa.exc.DatabaseError), world.engine.begin() as conn:
        conn.execute(sa.update(report_accesses).values(allowed=False))
    with pytest.raises(sa.exc.DatabaseError), world.engine.begin() as conn:
        conn.execute(sa.delete(report_accesses))
    assert _log(world)[0][3] is True


def test_two_simultaneous_grants_to_one_bank_make_one_consent(world: World) -> None:
    _issue(world)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        start.wait()
        try:
            _grant(world)
            outcomes.append("granted")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "granted"]
    with world.engine.connect() as conn:
        assert len(consent.holder_grants(conn, world.buyer, HOLDER)) == 1
