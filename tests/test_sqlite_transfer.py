"""The quick SQLite transfer writes exactly what the general path writes: rows, ids, journal bytes, results, errors."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tanhui.errors import TanhuiError
from tanhui.journal import audit
from tanhui.registry import ledger, sqlite_transfer
from tanhui.registry.sqlite_transfer import Transferred
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot

_START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """A clock that ticks one microsecond per reading, in every module that stamps the ledger; call it to rewind."""
    ticks: Iterator[int] = itertools.count()

    def now() -> datetime:
        return _START + timedelta(microseconds=next(ticks))

    for module in ("tanhui.registry.ledger", "tanhui.registry.sqlite_transfer", "tanhui.unit_of_work"):
        monkeypatch.setattr(f"{module}.utcnow", now)

    def rewind() -> None:
        nonlocal ticks
        ticks = itertools.count()

    return rewind


def _script(world: World, steps: int) -> list[dict[str, Any]]:
    """Transfers among three accounts of two organisations, from a few units to several hundred (several blocks)."""
    rng = random.Random(7)
    holders = [(world.owner, world.owner_account), (world.owner, world.owner_second),
               (world.buyer, world.buyer_account)]
    script = []
    for _ in range(steps):
        (principal, source), (_, destination) = rng.sample(holders, 2)
        quantity = rng.choice([1, 2, 5, rng.randint(1, 60), rng.randint(50, 400), 5000])
        script.append({"principal": principal, "from_account_id": source, "to_account_id": destination,
                       "quantity": quantity})
    # Refusals: another organisation's account, too many units, no such account.
    script += [
        {"principal": world.buyer, "from_account_id": world.owner_account, "to_account_id": world.buyer_account,
         "quantity": 1},
        {"principal": world.owner, "from_account_id": world.owner_account, "to_account_id": world.buyer_account,
         "quantity": 10**9},
        {"principal": world.owner, "from_account_id": world.owner_account, "to_account_id": 999, "quantity": 1},
        {"principal": world.owner, "from_account_id": 999, "to_account_id": world.buyer_account, "quantity": 1},
    ]
    return script


def _run(world: World, script: list[dict[str, Any]]) -> list[Any]:
    outcomes: list[Any] = []
    for number in (300, 200, 100):
        world.issue(number)
    for step in script:
        arguments = {key: value for key, value in step.items() if key != "principal"}
        try:
            with UnitOfWork(world.engine, step["principal"].actor) as tx:
                result = ledger.transfer(tx, step["principal"], **arguments)
                tx.commit()
        except TanhuiError as error:
            outcomes.append((type(error).__name__, str(error)))
        else:
            outcomes.append((dict(result.act), result.serials, [dict(row) for row in result.movements]))
    return outcomes


def test_both_paths_write_the_same_rows_ids_journal_and_results(world_factory: Callable[..., World],
                                                               clock: Callable[[], None],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    quick, general = world_factory("sqlite"), world_factory("sqlite")
    script = _script(quick, 150)
    taken: list[Transferred | None] = []
    real = sqlite_transfer.transfer

    def counted(*args: Any, **kwargs: Any) -> Transferred | None:
        taken.append(result := real(*args, **kwargs))
        return result

    monkeypatch.setattr(sqlite_transfer, "transfer", counted)
    clock()  # both runs read the same times
    quick_outcomes = _run(quick, script)
    clock()
    monkeypatch.setattr(sqlite_transfer, "ENABLED", False)
    general_outcomes = _run(general, script)

    assert quick_outcomes == general_outcomes
    assert snapshot(quick.engine) == snapshot(general.engine)  # every ledger row and journal entry, byte for byte
    # The quick path did the work: it declined only the refusals (and transfers of more than the sender held).
    refused = sum(1 for outcome in quick_outcomes if isinstance(outcome[0], str))
    assert len(taken) == len(script) and sum(result is not None for result in taken) == len(script) - refused
    assert refused >= 4 and len(script) - refused > 100
    assert max(len(outcome[2]) for outcome in quick_outcomes if not isinstance(outcome[0], str)) > 4
    assert audit.verify(quick.engine).ok


def test_a_refusal_writes_nothing(world_factory: Callable[..., World]) -> None:
    world = world_factory("sqlite")
    world.issue(100)
    before = snapshot(world.engine)
    with pytest.raises(TanhuiError, match="holds 100 available units; 101 were asked for"), \
            UnitOfWork(world.engine, world.owner.actor) as tx:
        ledger.transfer(tx, world.owner, from_account_id=world.owner_account, to_account_id=world.buyer_account,
                        quantity=101)
        tx.commit()
    assert snapshot(world.engine) == before
