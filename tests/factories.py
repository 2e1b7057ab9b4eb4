"""A small registry world for tests: who exists, what they hold, and shortcuts to act as them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tanhui.identity import services as identity
from tanhui.identity.principal import Principal
from tanhui.registry import ledger
from tanhui.registry.invariants import check_invariants
from tanhui.registry.tables import accounts, blocks
from tanhui.schema import JOURNALED, journal_entries
from tanhui.unit_of_work import UnitOfWork

PASSWORD = "correct horse battery"


@dataclass
class World:
    engine: Engine
    operator: Principal
    owner: Principal
    buyer: Principal
    bank: Principal
    operator_org: int
    owner_org: int
    buyer_org: int
    bank_org: int
    owner_account: int
    owner_second: int
    buyer_account: int
    project: int

    @classmethod
    def build(cls, engine: Engine) -> World:
        admin = identity.bootstrap(engine, username="operator", password=PASSWORD, organization_name="Operator")
        operator = Principal("user:operator", admin["organization_id"], "operator", "admin")
        with UnitOfWork(engine, operator.actor) as tx:
            orgs = {kind: identity.create_organization(tx, operator, name=f"Org {kind}", kind=kind)["id"]
                    for kind in ("project_owner", "buyer", "bank")}
            for kind, org in orgs.items():
                identity.create_user(tx, operator, organization_id=org, username=f"{kind.replace('_', '-')}-admin",
                                     password=PASSWORD, role="admin")
            accounts = {
                name: ledger.open_account(tx, operator, organization_id=orgs[kind], kind="holding", name=name)["id"]
                for name, kind in (("owner", "project_owner"), ("owner-second", "project_owner"),
                                   ("buyer", "buyer"))
            }
            project = ledger.register_project(tx, operator, name="Rooftop PV bundle", methodology="PV-DIST",
                                              owner_organization_id=orgs["project_owner"], region="SIP")["id"]
            tx.commit()
        return cls(
            engine=engine, operator=operator,
            owner=Principal("user:project-owner-admin", orgs["project_owner"], "project_owner", "admin"),
            buyer=Principal("user:buyer-admin", orgs["buyer"], "buyer", "admin"),
            bank=Principal("user:bank-admin", orgs["bank"], "bank", "admin"),
            operator_org=operator.organization_id, owner_org=orgs["project_owner"], buyer_org=orgs["buyer"],
            bank_org=orgs["bank"], owner_account=accounts["owner"], owner_second=accounts["owner-second"],
            buyer_account=accounts["buyer"], project=project,
        )

    def act(self, principal: Principal, name: str, **kwargs: Any) -> ledger.ActResult:
        """Run one ledger use case in its own unit of work and commit it."""
        with UnitOfWork(self.engine, principal.actor) as tx:
            result = getattr(ledger, name)(tx, principal, **kwargs)
            tx.commit()
            return result  # type: ignore[no-any-return]

    def issue(self, quantity: int, *, account: int | None = None, vintage: int = 2024) -> ledger.ActResult:
        return self.act(self.operator, "issue", registry="TH", project_id=self.project, vintage=vintage,
                        period_start=date(vintage, 1, 1), period_end=date(vintage, 12, 31), quantity=quantity,
                        account_id=account or self.owner_account, credit_type="PHCER")


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every ledger row and journal entry, to show that a refused request changed nothing."""
    with engine.connect() as conn:
        return {
            table.name: [tuple(r) for r in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]
            for table in (*JOURNALED, journal_entries)
        }


def serial_range(issued: ledger.ActResult, first: int, last: int) -> str:
    """The serial of units ``first..last`` of the issuance an ``issue`` act created."""
    assert issued.detail is not None
    return ledger.serial_of(issued.detail, first, last)


def balance(engine: Engine, account_id: int) -> tuple[int, int]:
    """An account's (available, pledged) as the ledger records them."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(accounts.c.available, accounts.c.pledged)
                           .where(accounts.c.id == account_id)).one()
        return int(row.available), int(row.pledged)


def holdings(engine: Engine, account_id: int) -> list[tuple[int, int, int, str]]:
    """An account's units as runs (issuance_id, first, last, state) in serial order.

    Adjacent blocks of one issuance in one state are shown as one run, so a test states what the account
    holds, not how the ledger happens to cut it into rows.
    """
    with engine.connect() as conn:
        rows = conn.execute(sa.select(blocks.c.issuance_id, blocks.c.first, blocks.c.last, blocks.c.state)
                            .where(blocks.c.account_id == account_id)
                            .order_by(blocks.c.issuance_id, blocks.c.first)).all()
    runs: list[tuple[int, int, int, str]] = []
    for issuance, first, last, state in rows:
        if runs and runs[-1][0] == issuance and runs[-1][2] + 1 == first and runs[-1][3] == state:
            runs[-1] = (issuance, runs[-1][1], last, state)
        else:
            runs.append((issuance, first, last, state))
    return runs


def invariant_problems(engine: Engine) -> list[str]:
    """What ``check_invariants`` finds wrong with the registry ([] when every invariant holds)."""
    with engine.connect() as conn:
        return check_invariants(conn)


def detail_id(result: ledger.ActResult) -> int:
    """The id of an act's kind-specific record: the issuance an ``issue`` made, the pledge a ``pledge`` made."""
    assert result.detail is not None
    return int(result.detail["id"])
