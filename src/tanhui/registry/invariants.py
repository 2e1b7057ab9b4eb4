"""The ledger's six safety invariants, where each is enforced, and a checker that proves them from the rows.

The invariants (issue 2), each with the mechanism that upholds it:

1. **A block's quantity = last - first + 1 > 0.**
   Database: ``ck_blocks_quantity`` (``first <= last AND quantity = last - first + 1``).
2. **No two live blocks of one issuance overlap.**
   Database: on PostgreSQL the exclusion constraint ``ex_blocks_overlap`` (gist over issuance and unit range);
   on SQLite the triggers ``blocks_no_overlap_insert`` / ``blocks_no_overlap_update``, which see a consistent
   table because every writer holds the database's write lock (``BEGIN IMMEDIATE``).
3. **Per issuance, the issued quantity equals the sum of its blocks over all states, always.**
   Database: ``ck_blocks_bounds`` and ``fk_blocks_issuance`` keep every block inside 1..issued quantity; the
   deferred keys ``fk_blocks_predecessor`` / ``fk_blocks_successor`` make every block's neighbours exist at
   commit, so with no overlap there is no gap; the ``blocks_delete_guard`` trigger lets only an available
   block be deleted (merged into its neighbour), never an issuance's last one, and the neighbour keys
   refuse the deletion at commit unless the merged block covers its units.  Ledger: acts only split and
   merge blocks, never create units.
4. **Retired, cancelled and revoked units never move again.**
   Database: trigger ``blocks_guard`` (PostgreSQL) / ``blocks_final`` (SQLite) refuses any change to a
   block in a final state; movements are append-only, so history cannot be rewritten.
5. **No account ever holds less than zero or transfers what it does not hold.**
   Database: ``ck_accounts_available`` / ``ck_accounts_pledged``.  Lock discipline
   (``ledger.change_balances``): every act first changes the balances of the accounts it touches with
   guarded updates, in ascending account id, and only then reads and splits those accounts' blocks, which
   nobody else can touch meanwhile (the issuances whose blocks it splits are locked next, in ascending id,
   because a split changes keys that other accounts' neighbouring blocks refer to).
6. **Pledged units do not move.**
   Database: trigger ``blocks_guard`` (PostgreSQL) / ``blocks_pledged`` (SQLite) lets a pledged block change
   only back to available in the same account (the bank's release).

The database refuses the writes that break them, with two exceptions that only the services' discipline
prevents: a balance that stops matching its blocks (invariant 5 is guarded by the checks only as far as
"never below zero") and an issuance row written with no blocks at all.  ``check_invariants`` proves, from
the rows as they are, that nothing got past: it checks 1-3 over blocks and issuances, 5 over accounts and
their blocks, the active pledges against their blocks, and replays every issuance's movements from its
creation, refusing anything that moved units from where they were not (5), out of a final state (4) or
out of a pledge other than by release (6), and requiring the replay to end exactly where the blocks are.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, groupby, zip_longest
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from tanhui.registry.blocks import Block, State
from tanhui.registry.tables import accounts, acts, blocks, issuances, movements, pledges

T = TypeVar("T")

# Rows fetched per round trip when streaming a registry's blocks and movements.
_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Run:
    """Units ``first..last`` of one issuance, all held by one account in one state."""

    first: int
    last: int
    account_id: int
    state: str

    def __str__(self) -> str:
        return f"units {self.first}-{self.last} at account {self.account_id} {self.state}"


@dataclass(frozen=True, slots=True)
class Movement:
    """A recorded movement: units ``first..last`` of an issuance went from one (account, state) to another."""

    id: int
    act_id: int
    issuance_id: int
    first: int
    last: int
    from_account_id: int | None
    to_account_id: int
    from_state: str | None
    to_state: str


# ---------------------------------------------------------------- pure checks (no I/O)

def tiling_problems(issuance_id: int, quantity: int, issued_blocks: Sequence[Block]) -> list[str]:
    """Invariants 2 and 3 for one issuance: its blocks, sorted by first unit, tile 1..quantity exactly."""
    problems = []
    reach: Block | None = None  # the block reaching furthest so far; the next block must start right after it
    for block in issued_blocks:
        expected = 1 if reach is None else reach.last + 1
        if reach is not None and block.first < expected:
            problems.append(f"invariant 2: blocks {reach.id} (units {reach.first}-{reach.last}) and "
                            f"{block.id} (units {block.first}-{block.last}) of issuance {issuance_id} "
                            "overlap")
        elif block.first > expected:
            problems.append(f"invariant 3: units {expected}-{block.first - 1} of issuance {issuance_id} "
                            f"are in no block (the gap before block {block.id})")
        if block.first < 1 or block.last > quantity:
            problems.append(f"invariant 3: block {block.id} (units {block.first}-{block.last}) lies outside "
                            f"issuance {issuance_id}'s units 1-{quantity}")
        if reach is None or block.last > reach.last:
            reach = block
    covered = 0 if reach is None else reach.last
    if covered < quantity:
        problems.append(f"invariant 3: units {covered + 1}-{quantity} of issuance {issuance_id} "
                        "are in no block")
    held = sum(block.quantity for block in issued_blocks)
    if held != quantity:
        problems.append(f"invariant 3: issuance {issuance_id} issued {quantity} units but its blocks "
                        f"hold {held}")
    return problems


def merge_runs(runs: Iterable[Run]) -> list[Run]:
    """Runs in serial order with each adjacent pair of the same (account, state) joined into one."""
    merged: list[Run] = []
    for run in runs:
        last = merged[-1] if merged else None
        if (last is not None and last.last + 1 == run.first and last.account_id == run.account_id
                and last.state == run.state):
            merged[-1] = Run(last.first, run.last, run.account_id, run.state)
        else:
            merged.append(run)
    return merged


def runs_of(issued_blocks: Iterable[Block]) -> list[Run]:
    """An issuance's blocks, sorted by first unit, as merged runs (which pledge a block serves is ignored)."""
    return merge_runs(Run(b.first, b.last, b.account_id, b.state) for b in issued_blocks)


class Holdings:
    """Where every unit of one issuance is, as sorted, merged runs; ``move`` applies one movement.

    A movement finds its first run by bisection and splices the runs it covers, so a history of m
    movements over r runs costs O(m log r) comparisons plus the list splices.
    """

    def __init__(self, quantity: int, account_id: int, state: str) -> None:
        self.quantity = quantity
        self._runs = [Run(1, quantity, account_id, state)]
        self._firsts = [1]

    @property
    def runs(self) -> list[Run]:
        return list(self._runs)

    def move(self, movement: Movement) -> list[str]:
        """Apply ``movement``; returns what was wrong with it (it is applied anyway: history says it was)."""
        m = movement
        what = f"movement {m.id} (act {m.act_id}, units {m.first}-{m.last} of issuance {m.issuance_id})"
        if not 1 <= m.first <= m.last <= self.quantity:
            return [f"invariant 3: {what} lies outside the issuance's units 1-{self.quantity}"]
        problems = []
        if m.from_state is None or m.from_account_id is None:
            problems.append(f"invariant 3: {what} creates units that the issuance already created")
        if m.from_state in State.FINAL:
            problems.append(f"invariant 4: {what} moves units out of the final state {m.from_state}")
        released = m.to_state == State.AVAILABLE and m.to_account_id == m.from_account_id
        if m.from_state == State.PLEDGED and not released:
            problems.append(f"invariant 6: {what} moves pledged units to account {m.to_account_id} "
                            f"{m.to_state}; only a release to available in the same account may")
        start = bisect_right(self._firsts, m.first) - 1
        end = start
        while end < len(self._runs) and self._runs[end].first <= m.last:
            run = self._runs[end]
            if (run.account_id, run.state) != (m.from_account_id, m.from_state):
                problems.append(
                    f"invariant 5: {what} takes units from account {m.from_account_id} {m.from_state}, "
                    f"but units {max(run.first, m.first)}-{min(run.last, m.last)} were at account "
                    f"{run.account_id} {run.state}"
                )
            end += 1
        pieces = []
        if self._runs[start].first < m.first:
            head = self._runs[start]
            pieces.append(Run(head.first, m.first - 1, head.account_id, head.state))
        pieces.append(Run(m.first, m.last, m.to_account_id, m.to_state))
        tail = self._runs[end - 1]
        if tail.last > m.last:
            pieces.append(Run(m.last + 1, tail.last, tail.account_id, tail.state))
        # Re-merge with the untouched neighbours so the runs stay as few as the holdings are distinct.
        low, high = max(start - 1, 0), min(end + 1, len(self._runs))
        merged = merge_runs([*self._runs[low:start], *pieces, *self._runs[end:high]])
        self._runs[low:high] = merged
        self._firsts[low:high] = [run.first for run in merged]
        return problems


def replay(issuance_id: int, quantity: int, account_id: int,
           history: Iterable[Movement]) -> tuple[list[Run], list[str]]:
    """Replay one issuance's movements in id order; returns the runs they leave and what was wrong on the way.

    The first movement must be the issuance itself, creating units 1..quantity, available, in ``account_id``.
    """
    moves = iter(history)
    creation = next(moves, None)
    if creation is None:
        return [], [f"invariant 3: issuance {issuance_id} has no movement creating its units"]
    problems = []
    if (creation.from_state, creation.from_account_id, creation.first, creation.last, creation.to_state,
            creation.to_account_id) != (None, None, 1, quantity, State.AVAILABLE, account_id):
        problems.append(
            f"invariant 3: issuance {issuance_id}'s first movement {creation.id} does not create units "
            f"1-{quantity} available in account {account_id}"
        )
    holdings = Holdings(quantity, creation.to_account_id, creation.to_state)
    for movement in moves:
        problems.extend(holdings.move(movement))
    return holdings.runs, problems


def history_problems(issuance_id: int, recorded: Sequence[Run], replayed: Sequence[Run]) -> list[str]:
    """Invariant 3's history half: the blocks are exactly where the issuance's movements left its units."""
    for now, then in zip_longest(recorded, replayed):
        if now != then:
            return [f"invariant 3: issuance {issuance_id}'s blocks do not match its movements: the blocks "
                    f"have {now or 'nothing'} where the movements leave {then or 'nothing'}"]
    return []


# ---------------------------------------------------------------- the check from the database

class _Problems(list[str]):
    """The problems found, capped so a badly damaged registry does not flood the report."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0

    def add(self, found: Iterable[str]) -> None:
        for problem in found:
            if len(self) < self.limit:
                self.append(problem)
            else:
                self.dropped += 1


def check_invariants(conn: Connection, *, limit: int = 1000) -> list[str]:
    """Every broken invariant in the registry on ``conn``, naming its number and the rows; [] if all hold.

    With no transaction open on ``conn`` the check runs in one read transaction of its own (REPEATABLE READ
    on PostgreSQL, a WAL snapshot on SQLite), so it sees a single consistent state even while others write.
    Inside a caller's transaction it reads what that transaction sees.  At most ``limit`` problems are
    listed; a last line says how many more there were.
    """
    problems = _Problems(limit)
    if conn.in_transaction():
        _check(conn, problems)
    else:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            _check(conn, problems)
    if problems.dropped:
        problems.append(f"... and {problems.dropped} more problems")
    return list(problems)


def _stream(conn: Connection, query: Any) -> Iterator[Any]:
    return iter(conn.execution_options(yield_per=_BATCH).execute(query))


class _ByIssuance(Generic[T]):
    """A stream sorted by issuance id, handed out one issuance's items at a time."""

    def __init__(self, items: Iterable[T], issuance_of: Callable[[T], int]) -> None:
        self._groups = groupby(items, key=issuance_of)
        self._next = next(self._groups, None)

    def take(self, issuance_id: int | None) -> tuple[list[T], list[T]]:
        """The items of ``issuance_id`` (None: none, and drain the rest), and those skipped on the way there.

        Skipped items reference an issuance that does not exist: possible only where foreign keys were off.
        """
        skipped: list[T] = []
        while self._next is not None and (issuance_id is None or self._next[0] < issuance_id):
            skipped.extend(self._next[1])
            self._next = next(self._groups, None)
        if self._next is None or self._next[0] != issuance_id:
            return [], skipped
        items = list(self._next[1])
        self._next = next(self._groups, None)
        return items, skipped


def _check(conn: Connection, problems: _Problems) -> None:
    balances: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # account -> [available, pledged] by blocks
    liens: dict[int, list[Block]] = defaultdict(list)  # pledge -> its pledged blocks
    block_stream = _ByIssuance(_blocks(conn, problems, balances, liens), lambda b: b.issuance_id)
    movement_stream = _ByIssuance(_movements(conn), lambda m: m.issuance_id)
    issued = _stream(conn, select(issuances.c.id, issuances.c.quantity, issuances.c.account_id)
                     .order_by(issuances.c.id))
    for issuance in chain(issued, [None]):
        issuance_id = None if issuance is None else issuance.id
        issued_blocks, stray_blocks = block_stream.take(issuance_id)
        history, stray_movements = movement_stream.take(issuance_id)
        problems.add(f"invariant 3: block {b.id} belongs to issuance {b.issuance_id}, which does not exist"
                     for b in stray_blocks)
        problems.add(f"invariant 3: movement {m.id} moves units of issuance {m.issuance_id}, which does not "
                     "exist" for m in stray_movements)
        if issuance is None:
            break
        problems.add(tiling_problems(issuance.id, issuance.quantity, issued_blocks))
        replayed, found = replay(issuance.id, issuance.quantity, issuance.account_id, history)
        problems.add(found)
        if replayed:
            problems.add(history_problems(issuance.id, runs_of(issued_blocks), replayed))
    for account in _stream(conn, select(accounts.c.id, accounts.c.available, accounts.c.pledged)
                           .order_by(accounts.c.id)):
        available, pledged = balances.pop(account.id, (0, 0))
        if account.available < 0 or account.pledged < 0:
            problems.add([f"invariant 5: account {account.id} holds less than zero "
                          f"(available {account.available}, pledged {account.pledged})"])
        if (account.available, account.pledged) != (available, pledged):
            problems.add([f"invariant 5: account {account.id} records available {account.available}, "
                          f"pledged {account.pledged}, but its blocks hold available {available}, "
                          f"pledged {pledged}"])
    problems.add(f"invariant 5: blocks are held by account {account_id}, which does not exist"
                 for account_id in balances)
    for pledge in _stream(conn, select(pledges.c.id, pledges.c.account_id, pledges.c.quantity,
                                       pledges.c.status).order_by(pledges.c.id)):
        held = liens.pop(pledge.id, [])
        problems.add(_pledge_problems(pledge.id, pledge.account_id, pledge.quantity, pledge.status, held))
    problems.add(f"invariant 6: blocks {', '.join(str(b.id) for b in held)} are pledged under pledge "
                 f"{pledge_id}, which does not exist" for pledge_id, held in liens.items())
    moved = func.coalesce(func.sum(movements.c.last - movements.c.first + 1), 0)
    unmatched = conn.execute(
        select(acts.c.id, acts.c.quantity, moved)
        .select_from(acts.outerjoin(movements, movements.c.act_id == acts.c.id))
        .group_by(acts.c.id, acts.c.quantity).having(acts.c.quantity != moved).order_by(acts.c.id)
    )
    problems.add(f"invariant 3: act {act_id} records {quantity} units but its movements move {count}"
                 for act_id, quantity, count in unmatched)


def _blocks(conn: Connection, problems: _Problems, balances: dict[int, list[int]],
            liens: dict[int, list[Block]]) -> Iterator[Block]:
    """Every block in (issuance, first unit) order, checking invariant 1 and summing balances and pledges."""
    query = select(blocks.c.id, blocks.c.issuance_id, blocks.c.first, blocks.c.last, blocks.c.quantity,
                   blocks.c.account_id, blocks.c.state, blocks.c.pledge_id).order_by(blocks.c.issuance_id,
                                                                                     blocks.c.first)
    for row in _stream(conn, query):
        block = Block(row.id, row.issuance_id, row.first, row.last, row.account_id, row.state, row.pledge_id)
        if not row.quantity == block.quantity > 0:
            problems.add([f"invariant 1: block {block.id} (units {block.first}-{block.last} of issuance "
                          f"{block.issuance_id}) records quantity {row.quantity}, not {block.quantity} > 0"])
        if block.state == State.AVAILABLE:
            balances[block.account_id][0] += block.quantity
        elif block.state == State.PLEDGED:
            balances[block.account_id][1] += block.quantity
            if block.pledge_id is not None:
                liens[block.pledge_id].append(block)
        yield block


def _movements(conn: Connection) -> Iterator[Movement]:
    query = select(movements.c.id, movements.c.act_id, movements.c.issuance_id, movements.c.first,
                   movements.c.last, movements.c.from_account_id, movements.c.to_account_id,
                   movements.c.from_state, movements.c.to_state
                   ).order_by(movements.c.issuance_id, movements.c.id)
    for row in _stream(conn, query):
        yield Movement(*row)


def _pledge_problems(pledge_id: int, account_id: int, quantity: int, status: str,
                     held: Sequence[Block]) -> list[str]:
    """An active pledge holds its quantity in pledged blocks of its own account; a released one holds none."""
    problems = []
    amount = sum(block.quantity for block in held)
    if status == "active" and amount != quantity:
        problems.append(f"invariant 6: active pledge {pledge_id} is for {quantity} units but its blocks "
                        f"hold {amount}")
    if status != "active" and held:
        problems.append(f"invariant 6: pledge {pledge_id} is {status} but blocks "
                        f"{', '.join(str(b.id) for b in held)} are still pledged to it")
    elsewhere = [b.id for b in held if b.account_id != account_id]
    if elsewhere:
        problems.append(f"invariant 6: blocks {', '.join(map(str, elsewhere))} pledged under pledge "
                        f"{pledge_id} are not in its account {account_id}")
    return problems
