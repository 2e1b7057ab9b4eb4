"""A hypothesis state machine drives random ledger acts against a unit-by-unit model, on both databases.

After every step every invariant holds (``check_invariants`` is []), every balance equals the model's,
and every issuance's blocks sit exactly where the model says its units are.  An act the model refuses must
be refused and change nothing; an act the model accepts must succeed and report the serials it predicts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tanhui.errors import TanhuiError
from tanhui.identity.principal import Principal
from tanhui.registry import ledger
from tanhui.registry.blocks import Block, State
from tanhui.registry.invariants import Run, merge_runs, runs_of
from tanhui.registry.tables import accounts, blocks
from tests.factories import World, invariant_problems, snapshot

A, P, R, C, X = State.AVAILABLE, State.PLEDGED, State.RETIRED, State.CANCELLED, State.REVOKED

# Where one unit is: (account, state, pledge id or None).
Unit = tuple[int, str, int | None]
Units = list[tuple[int, int]]  # (issuance, unit) pairs an act touches, in the order the ledger takes them

ACCOUNT = st.integers(0, 2)
# Each example gets a fresh database; these keep each database's run well under a minute.
EXAMPLES = {"sqlite": 50, "postgres": 25}
# A quantity as a percentage of what the account holds: up to 100 mostly succeed, above may exceed it, and
# zero or negative quantities must be refused.
SHARE = st.integers(-1, 110)


class LedgerMachine(RuleBasedStateMachine):
    """The model: every unit's place, and each account's available and pledged balance."""

    def make_world(self) -> World:
        raise NotImplementedError  # a test binds this to a fresh database of its kind

    def __init__(self) -> None:
        super().__init__()
        self.world = self.make_world()
        w = self.world
        self.accounts = [w.owner_account, w.owner_second, w.buyer_account]
        self.holder = {w.owner_account: w.owner, w.owner_second: w.owner, w.buyer_account: w.buyer}
        self.available = dict.fromkeys(self.accounts, 0)
        self.pledged = dict.fromkeys(self.accounts, 0)
        self.units: dict[int, list[Unit]] = {}  # issuance -> its units 1..Q (index 0 is unit 1)
        self.results: dict[int, ledger.ActResult] = {}  # issuance -> the act that issued it, for its serials
        self.liens: dict[int, tuple[int, Units]] = {}  # pledge -> (account, its units) while active
        self.released: list[int] = []

    # ------------------------------------------------------------ the model's view

    def _fifo(self, account: int, quantity: int) -> Units:
        """The first ``quantity`` available units of ``account``: by issuance, then serial."""
        taken: Units = []
        for issuance in sorted(self.units):
            for index, (holder, state, _) in enumerate(self.units[issuance]):
                if len(taken) == quantity:
                    return taken
                if holder == account and state == A:
                    taken.append((issuance, index + 1))
        return taken

    def _serials(self, units: Units) -> list[str]:
        """The serial ranges the ledger reports for these units: adjacent units of one issuance merged."""
        merged: list[list[int]] = []
        for issuance, unit in sorted(units):
            if merged and merged[-1][0] == issuance and merged[-1][2] + 1 == unit:
                merged[-1][2] = unit
            else:
                merged.append([issuance, unit, unit])
        return [self._serial(issuance, first, last) for issuance, first, last in merged]

    def _range(self, pick: int, first: int, length: int) -> tuple[int, int, int] | None:
        """An issuance (chosen by ``pick``) and a unit range of it, possibly reaching past its end."""
        if not self.units:
            return None
        issuance = sorted(self.units)[pick % len(self.units)]
        start = 1 + (first - 1) % len(self.units[issuance])
        return issuance, start, start + length - 1

    def _quantity(self, account: int, share: int) -> int:
        """``share`` percent of what the account holds, rounded up (a share below one is used as it is)."""
        return -(-self.available[account] * share // 100) if share > 0 else share

    def _serial(self, issuance: int, first: int, last: int) -> str:
        return ledger.serial_of(self.results[issuance].detail, first, last)  # type: ignore[arg-type]

    def _range_units(self, issuance: int, first: int, last: int) -> Units | None:
        """The units of the range, or None when it reaches past the issuance."""
        if last > len(self.units[issuance]):
            return None
        return [(issuance, unit) for unit in range(first, last + 1)]

    def _all(self, units: Units | None, account: int | None, state: str) -> bool:
        return bool(units) and all(
            self.units[i][u - 1][1] == state and (account is None or self.units[i][u - 1][0] == account)
            for i, u in units  # type: ignore[union-attr]
        )

    def _move(self, units: Units, *, to: int | None, state: str, pledge: int | None = None) -> None:
        """Move units in the model, keeping the balances in step."""
        for issuance, unit in units:
            holder, old, _ = self.units[issuance][unit - 1]
            destination = holder if to is None else to
            for account, was, now in ((holder, old, -1), (destination, state, 1)):
                if was == A:
                    self.available[account] += now
                elif was == P:
                    self.pledged[account] += now
            self.units[issuance][unit - 1] = (destination, state, pledge)

    # ------------------------------------------------------------ acting

    def _act(self, principal: Principal, name: str, accepted: bool, **kwargs: Any) -> ledger.ActResult | None:
        """Run the act; the model's verdict must be the ledger's, and a refusal must change nothing."""
        before = snapshot(self.world.engine)
        try:
            result = self.world.act(principal, name, **kwargs)
        except TanhuiError as refused:
            assert not accepted, f"{name}({kwargs}) was refused: {refused.detail}"
            assert snapshot(self.world.engine) == before, f"refused {name}({kwargs}) changed the database"
            return None
        assert accepted, f"{name}({kwargs}) succeeded, but the model says it must be refused"
        return result

    @initialize(quantities=st.lists(st.integers(1, 300), min_size=4, max_size=4))
    def issue_to_everyone(self, quantities: list[int]) -> None:
        """Two issuances to the first account (so first-in-first-out has a choice), one to each other."""
        for account, quantity in zip([0, 0, 1, 2], quantities, strict=True):
            self.issue(account, quantity)

    @rule(account=ACCOUNT, quantity=st.integers(1, 300))
    def issue(self, account: int, quantity: int) -> None:
        target = self.accounts[account]
        result = self.world.issue(quantity, account=target)
        issuance = result.detail["id"]  # type: ignore[index]
        self.results[issuance] = result
        self.units[issuance] = [(target, A, None)] * quantity
        self.available[target] += quantity

    @rule(source=ACCOUNT, to=ACCOUNT, share=SHARE)
    def transfer_by_quantity(self, source: int, to: int, share: int) -> None:
        a, b = self.accounts[source], self.accounts[to]
        quantity = self._quantity(a, share)
        accepted = a != b and 0 < quantity <= self.available[a]
        result = self._act(self.holder[a], "transfer", accepted, from_account_id=a, to_account_id=b,
                           quantity=quantity)
        if result is not None:
            taken = self._fifo(a, quantity)
            assert result.serials == self._serials(taken)
            self._move(taken, to=b, state=A)

    @precondition(lambda self: self.units)
    @rule(source=ACCOUNT, to=ACCOUNT, pick=st.integers(0, 50), first=st.integers(1, 300),
          length=st.integers(1, 120))
    def transfer_by_serial_range(self, source: int, to: int, pick: int, first: int, length: int) -> None:
        """Any range: some split blocks; many are refused (not held, not available, too long)."""
        a, b = self.accounts[source], self.accounts[to]
        issuance, start, end = self._range(pick, first, length)  # type: ignore[misc]
        units = self._range_units(issuance, start, end)
        accepted = a != b and self._all(units, a, A)
        result = self._act(self.holder[a], "transfer", accepted, from_account_id=a, to_account_id=b,
                           serial_range=self._serial(issuance, start, end))
        if result is not None:
            assert result.serials == [self._serial(issuance, start, end)]
            self._move(units, to=b, state=A)  # type: ignore[arg-type]

    @precondition(lambda self: any(self.available.values()))
    @rule(source=ACCOUNT, to=ACCOUNT, data=st.data())
    def transfer_part_of_a_holding(self, source: int, to: int, data: st.DataObject) -> None:
        """A range inside units the source does hold, so that splits mostly succeed."""
        a, b = self.accounts[source], self.accounts[to]
        held = [(i, u) for i in sorted(self.units) for u, (h, s, _) in enumerate(self.units[i], 1)
                if h == a and s == A]
        if not held:
            return
        issuance, start = data.draw(st.sampled_from(held))
        end = start
        while end < len(self.units[issuance]) and self.units[issuance][end][:2] == (a, A):
            end += 1  # ``end`` is now the last unit of the run that holds ``start``
        end = data.draw(st.integers(start, end))
        result = self._act(self.holder[a], "transfer", a != b, from_account_id=a, to_account_id=b,
                           serial_range=self._serial(issuance, start, end))
        if result is not None:
            self._move([(issuance, u) for u in range(start, end + 1)], to=b, state=A)

    @precondition(lambda self: any(s != A for units in self.units.values() for _, s, _ in units))
    @rule(to=ACCOUNT, act=st.sampled_from(["transfer", "retire", "pledge", "revoke"]), data=st.data())
    def act_on_units_that_are_not_available(self, to: int, act: str, data: st.DataObject) -> None:
        """A range inside pledged, retired, cancelled or revoked units: every act on it must be refused."""
        ended = [(i, u) for i in sorted(self.units) for u, (_, s, _) in enumerate(self.units[i], 1) if s != A]
        issuance, start = data.draw(st.sampled_from(ended))
        holder, state, _ = self.units[issuance][start - 1]
        end = start
        while end < len(self.units[issuance]) and self.units[issuance][end][:2] == (holder, state):
            end += 1
        serial = self._serial(issuance, start, data.draw(st.integers(start, end)))
        principal = self.holder[holder]
        if act == "transfer":
            other = self.accounts[to] if self.accounts[to] != holder else self.accounts[(to + 1) % 3]
            self._act(principal, act, False, from_account_id=holder, to_account_id=other, serial_range=serial)
        elif act == "retire":
            self._act(principal, act, False, account_id=holder, serial_range=serial, beneficiary="B",
                      purpose="P")
        elif act == "pledge":
            self._act(principal, act, False, account_id=holder, serial_range=serial,
                      bank_organization_id=self.world.bank_org)
        else:
            self._act(self.world.operator, act, False, serial_range=serial, reason="r")

    @rule(account=ACCOUNT, share=SHARE)
    def retire(self, account: int, share: int) -> None:
        a = self.accounts[account]
        quantity = self._quantity(a, share)
        result = self._act(self.holder[a], "retire", 0 < quantity <= self.available[a], account_id=a,
                           quantity=quantity, beneficiary="Plant", purpose="neutrality")
        if result is not None:
            self._move(self._fifo(a, quantity), to=None, state=R)

    @rule(account=ACCOUNT, share=SHARE)
    def cancel(self, account: int, share: int) -> None:
        a = self.accounts[account]
        quantity = self._quantity(a, share)
        result = self._act(self.world.operator, "cancel", 0 < quantity <= self.available[a], account_id=a,
                           quantity=quantity, purpose="compliance", compliance_year=2025)
        if result is not None:
            self._move(self._fifo(a, quantity), to=None, state=C)

    @rule(account=ACCOUNT, share=SHARE)
    def pledge(self, account: int, share: int) -> None:
        a = self.accounts[account]
        quantity = self._quantity(a, share)
        result = self._act(self.holder[a], "pledge", 0 < quantity <= self.available[a], account_id=a,
                           bank_organization_id=self.world.bank_org, quantity=quantity)
        if result is not None:
            taken = self._fifo(a, quantity)
            assert result.serials == self._serials(taken)
            lien = result.detail["id"]  # type: ignore[index]
            self._move(taken, to=None, state=P, pledge=lien)
            self.liens[lien] = (a, taken)

    @precondition(lambda self: self.liens or self.released)
    @rule(pick=st.integers(0, 50))
    def release(self, pick: int) -> None:
        """Release a pledge, sometimes one already released (which must be refused)."""
        known = sorted([*self.liens, *self.released])
        lien = known[pick % len(known)]
        result = self._act(self.world.bank, "release", lien in self.liens, pledge_id=lien)
        if result is not None:
            _, units = self.liens.pop(lien)
            assert result.serials == self._serials(units)
            self._move(units, to=None, state=A)
            self.released.append(lien)

    @precondition(lambda self: self.units)
    @rule(pick=st.integers(0, 50), first=st.integers(1, 300), length=st.integers(1, 60))
    def revoke_by_serial_range(self, pick: int, first: int, length: int) -> None:
        issuance, start, end = self._range(pick, first, length)  # type: ignore[misc]
        units = self._range_units(issuance, start, end)
        result = self._act(self.world.operator, "revoke", self._all(units, None, A),
                           serial_range=self._serial(issuance, start, end), reason="double counting")
        if result is not None:
            self._move(units, to=None, state=X)  # type: ignore[arg-type]

    @rule(account=ACCOUNT, share=SHARE)
    def revoke_by_quantity(self, account: int, share: int) -> None:
        a = self.accounts[account]
        quantity = self._quantity(a, share)
        result = self._act(self.world.operator, "revoke", 0 < quantity <= self.available[a], account_id=a,
                           quantity=quantity, reason="audit finding")
        if result is not None:
            self._move(self._fifo(a, quantity), to=None, state=X)

    # ------------------------------------------------------------ after every step

    @invariant()
    def every_invariant_holds(self) -> None:
        assert invariant_problems(self.world.engine) == []

    @invariant()
    def balances_and_blocks_match_the_model(self) -> None:
        with self.world.engine.connect() as conn:
            recorded = {row.id: (row.available, row.pledged) for row in conn.execute(
                sa.select(accounts.c.id, accounts.c.available, accounts.c.pledged)
                .where(accounts.c.id.in_(self.accounts)))}
            rows = conn.execute(sa.select(blocks).order_by(blocks.c.issuance_id, blocks.c.first)
                                ).mappings().all()
        assert recorded == {a: (self.available[a], self.pledged[a]) for a in self.accounts}
        by_issuance: dict[int, list[Block]] = defaultdict(list)
        for r in rows:
            by_issuance[r["issuance_id"]].append(Block(r["id"], r["issuance_id"], r["first"], r["last"],
                                                       r["account_id"], r["state"], r["pledge_id"]))
        assert sorted(by_issuance) == sorted(self.units)
        for issuance, units in self.units.items():
            expected = merge_runs(Run(u, u, holder, state) for u, (holder, state, _) in enumerate(units, 1))
            assert runs_of(by_issuance[issuance]) == expected, f"issuance {issuance}"
            pledged_to = {(b.first, b.last): b.pledge_id for b in by_issuance[issuance] if b.state == P}
            for (first, last), lien in pledged_to.items():
                assert {units[u - 1][2] for u in range(first, last + 1)} == {lien}


def test_random_act_sequences_keep_every_invariant(world_factory: Callable[..., World],
                                                   database_kind: str) -> None:
    class Machine(LedgerMachine):
        def make_world(self) -> World:
            return world_factory(database_kind)

    run_state_machine_as_test(Machine, settings=settings(
        max_examples=EXAMPLES[database_kind], stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    ))
