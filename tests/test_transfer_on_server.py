"""PostgreSQL's one-round-trip transfer (tanhui_transfer) against the Python path: same outcomes, rows, journal."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from tanhui.db import create_engine
from tanhui.errors import TanhuiError
from tanhui.identity.principal import Principal
from tanhui.journal.audit import verify
from tanhui.journal.chain import journal_json
from tanhui.journal.tables import journal_entries
from tanhui.registry import ledger, on_server
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, serial_range, snapshot

pytestmark = pytest.mark.postgres

# Names and actors that need every escape JSON has, and text that needs none.
ODD_TEXT = ['quote " and back\\slash', "tab\tnew\nline\r\x01\x1f\x7f", "碳惠 ü é — \u2028\u2029 😀", "/<>&'"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One instant for every row the ledger stamps, in both runs (the microseconds show their padding)."""
    for module in (ledger, on_server):
        monkeypatch.setattr(module, "utcnow", lambda: datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=UTC))


def _scenario(world: World, seed: int) -> list[Any]:
    """A seeded run of issues, transfers by quantity (most of them), by serial range, retirements and refusals;
    what each returned or raised."""
    rng = random.Random(seed)
    outcomes: list[Any] = []

    def attempt(principal: Principal, name: str, **arguments: Any) -> ledger.ActResult | None:
        try:
            result = world.act(principal, name, **arguments)
        except TanhuiError as error:
            outcomes.append((type(error).__name__, error.detail, error.extra))
            return None
        outcomes.append((dict(result.act), result.serials, [dict(m) for m in result.movements]))
        return result

    with UnitOfWork(world.engine, world.operator.actor) as tx:
        odd = [ledger.open_account(tx, world.operator, organization_id=world.owner_org, kind="holding",
                                   name=name)["id"] for name in ODD_TEXT]
        retirement = ledger.open_account(tx, world.operator, organization_id=world.owner_org, kind="retirement",
                                         name="retired")["id"]
        tx.commit()
    owned = [world.owner_account, world.owner_second, *odd]
    holders = {account: world.owner for account in owned} | {world.buyer_account: world.buyer}
    issued = [world.issue(rng.randint(50, 400), account=rng.choice(owned), vintage=rng.choice((2022, 2023, 2024)))
              for _ in range(4)]
    strange = Principal(f"user:{ODD_TEXT[0]}{ODD_TEXT[2]}", world.owner_org, "project_owner", "admin")
    # Each refusal once first (the sender's organisation is checked before its holdings), then at random.
    refusals = iter([(world.buyer, world.owner_account, world.buyer_account, 10**9),
                     (world.owner, retirement, world.owner_account, 10**9),
                     (world.owner, world.owner_account, 999_999, 10**9)])
    for step in range(160):
        source, to = rng.sample(sorted(holders), 2)
        roll = rng.random()
        if roll < 0.06:  # refused: not the sender's organisation, unknown accounts, not a sending kind, too much
            principal, source, to, quantity = next(refusals, None) or rng.choice([
                (world.buyer, world.owner_account, world.buyer_account, 1),
                (world.owner, 999_999, to, 5),
                (world.owner, source, 999_999, 5),
                (world.owner, 999_999, 999_998, 5),
                (world.owner, retirement, world.owner_account, 1),
                (world.owner, source, to, 10**9),
            ])
            attempt(principal, "transfer", from_account_id=source, to_account_id=to, quantity=quantity)
        elif roll < 0.12:  # holes and islands the quantity transfers then take around
            issuance = rng.choice(issued)
            assert issuance.detail is not None
            first = rng.randint(1, issuance.detail["quantity"])
            last = min(issuance.detail["quantity"], first + rng.randint(0, 30))
            chunk = serial_range(issuance, first, last)
            holder = next((a for a in holders if a != to and _holds(world, a, chunk)), None)
            if holder is not None:
                name = "retire" if rng.random() < 0.3 else "transfer"
                arguments = ({"account_id": holder, "beneficiary": "Tester", "purpose": "neutrality"}
                             if name == "retire" else {"from_account_id": holder, "to_account_id": to})
                attempt(holders[holder], name, serial_range=chunk, **arguments)
        elif roll < 0.15:
            attempt(world.operator, "issue", registry="TH", project_id=world.project, vintage=2024,
                    period_start=date(2024, 1, 1), period_end=date(2024, 12, 31), quantity=rng.randint(1, 50),
                    account_id=rng.choice(owned), credit_type="PHCER")
        else:
            held = _available(world, source)
            quantity = held if held and rng.random() < 0.1 else rng.randint(1, max(1, held // 2 + 5))
            principal = strange if holders[source] is world.owner and step % 7 == 0 else holders[source]
            attempt(principal, "transfer", from_account_id=source, to_account_id=to, quantity=quantity)
    return outcomes


def _available(world: World, account: int) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT available FROM accounts WHERE id = :a"), {"a": account}).scalar_one())


def _holds(world: World, account: int, serial: str) -> bool:
    with world.engine.connect() as conn:
        _issuance, first, last = ledger.resolve_serial_range(conn, serial)
        covered = conn.execute(sa.text(
            "SELECT coalesce(sum(least(last, :l) - greatest(first, :f) + 1), 0) FROM blocks WHERE issuance_id = :i "
            "AND account_id = :a AND state = 'available' AND last >= :f AND first <= :l"),
            {"i": _issuance["id"], "a": account, "f": first, "l": last}).scalar_one()
    return int(covered) == last - first + 1


def _journal(world: World) -> list[tuple[Any, ...]]:
    with world.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(
            journal_entries.c.seq, journal_entries.c.kind, journal_entries.c.actor, journal_entries.c.payload,
        ).order_by(journal_entries.c.seq))]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_server_path_does_what_the_python_path_does_row_for_row_and_byte_for_byte(
    world_factory: Callable[..., World], clock: None, monkeypatch: pytest.MonkeyPatch, seed: int,
) -> None:
    in_python, on_postgres = world_factory("postgres"), world_factory("postgres")
    monkeypatch.setattr(on_server, "ENABLED", False)
    expected = _scenario(in_python, seed)
    monkeypatch.setattr(on_server, "ENABLED", True)
    calls = []
    transfer = on_server.transfer
    monkeypatch.setattr(on_server, "transfer", lambda *a, **k: calls.append(1) or transfer(*a, **k))
    outcomes = _scenario(on_postgres, seed)

    assert len(calls) > 100  # the server did the transfers by quantity
    for index, (outcome, wanted) in enumerate(zip(outcomes, expected, strict=True)):
        assert outcome == wanted, f"outcome {index}"
    assert sum(1 for o in outcomes if isinstance(o[0], dict) and o[0]["kind"] == "transfer") > 100
    assert {o[0] for o in outcomes if isinstance(o[0], str)} >= {"PermissionDenied", "NotFound", "InvalidRequest",
                                                                "InsufficientHoldings"}
    journal = _journal(on_postgres)
    assert journal == _journal(in_python)  # every payload, byte for byte
    # It saw transfers that took several blocks, and merges that deleted a block.
    assert any(len(o[2]) > 1 for o in outcomes if isinstance(o[0], dict) and o[0]["kind"] == "transfer")
    assert any(kind == "transfer" and '":null' in payload for _seq, kind, _actor, payload in journal)
    rows, python_rows = snapshot(on_postgres.engine), snapshot(in_python.engine)
    rows.pop("journal_entries"), python_rows.pop("journal_entries")  # times and hashes of the appends differ
    assert rows == python_rows
    for world in (in_python, on_postgres):
        report = verify(world.engine)
        assert report.ok, report.problems


def test_to_json_escapes_text_as_the_journal_does(postgres_url: str) -> None:
    """The server spells text with PostgreSQL's to_json; orjson (journal_json) must write the same bytes."""
    engine = create_engine(postgres_url)
    texts = [chr(code) for code in range(1, 0x800)] + ODD_TEXT + ["\U0001f600", "\ufeff", "\ud7ff"]
    with engine.connect() as conn:
        spelled = conn.execute(sa.text("SELECT to_json(t)::text FROM unnest(CAST(:texts AS text[])) t"),
                               {"texts": texts}).scalars().all()
    engine.dispose()
    assert spelled == [journal_json(text).decode("utf-8") for text in texts]
