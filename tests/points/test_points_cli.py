"""`tanhui points …`: a source's events file recorded all or nothing, balance, expiry and the leaderboard."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tanhui.cli.main import app
from tanhui.points import ledger as points_ledger
from tests.factories import World, snapshot
from tests.points.conftest import Record
from tests.points.world import settle_in, travel_project
from tests.test_cli import ok, refused, runner, tanhui

HEADER = "resident_id,source,event_id,behaviour,started_at,ended_at,distance_km,saved_kwh\n"


def _file(tmp_path: Path, resident: int, *lines: str) -> str:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "".join(f"{resident},{line}\n" for line in lines), encoding="utf-8")
    return str(path)


def test_record_balance_expire_and_leaderboard(
    world: World, resident: int, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settle_in(world, resident, nickname="Li")
    events = _file(
        tmp_path,
        resident,
        "metro-app,m1,metro,2024-05-01T08:00:00+08:00,2024-05-01T08:30:00+08:00,5,",
        "metro-app,m2,metro,2024-05-01T08:10:00+08:00,2024-05-01T08:20:00+08:00,2,",
        "bus-app,b1,bus,2024-05-01T09:00:00+08:00,2024-05-01T09:30:00+08:00,4,",
        "grid,g1,electricity_saving,2024-04-01T00:00:00+08:00,2024-05-01T00:00:00+08:00,,12.5",
    )
    output = ok(tanhui(database_url, "points", "record", events))
    assert "accepted │        3" in output and "refused  │        1" in output, output
    assert "replayed │        4" in ok(tanhui(database_url, "points", "record", events))
    assert "7,192 gCO2e" in ok(tanhui(database_url, "points", "balance", str(resident)))  # 392 + 212 + 6,588
    board = json.loads(
        ok(
            tanhui(
                database_url,
                "points",
                "leaderboard",
                "--region",
                "WUHAN",
                "--from",
                "2024-05-01",
                "--to",
                "2024-05-31",
                "--json",
            )
        )
    )
    assert board == [
        {"rank": 1, "nickname": "Li", "points_g": 604}
    ]  # April's electricity saving is not May's
    assert "expired 0 lot(s)" in ok(tanhui(database_url, "points", "expire", "--as-of", "2025-01-01"))
    assert "in the future" in refused(tanhui(database_url, "points", "expire", "--as-of", "2099-01-01"))
    monkeypatch.setattr(points_ledger, "utcnow", lambda: datetime(2099, 1, 1, tzinfo=UTC))
    assert "expired 3 lot(s), 7,192 g" in ok(tanhui(database_url, "points", "expire"))
    assert "expired 0 lot(s)" in ok(tanhui(database_url, "points", "expire"))
    assert '"methodology": "TRAVEL-LOW@1-WUHAN"' in ok(tanhui(database_url, "points", "scheme"))


def test_a_bad_file_records_nothing_and_names_its_rows(
    world: World, resident: int, database_url: str, tmp_path: Path
) -> None:
    events = _file(
        tmp_path,
        resident,
        "metro-app,m1,metro,2024-05-01T08:00:00+08:00,2024-05-01T08:30:00+08:00,5,",
        "metro-app,m2,metro,2024-05-01T08:00:00,2024-05-01T08:30:00+08:00,5,",
        "metro-app,m3,taxi,2024-05-01T08:00:00+08:00,2024-05-01T08:30:00+08:00,5,",
    )
    before = snapshot(world.engine)
    error = refused(tanhui(database_url, "points", "record", events))
    assert "2 problem(s), nothing was recorded" in error and "row 3: started_at" in error, error
    assert "row 4: unknown behaviour 'taxi'" in error
    (tmp_path / "wrong.csv").write_text("resident,km\n1,2\n", encoding="utf-8")
    assert "missing resident_id" in refused(
        tanhui(database_url, "points", "record", str(tmp_path / "wrong.csv"))
    )
    assert "organisation 999 does not exist" in refused(tanhui(database_url, "points", "balance", "999"))
    assert snapshot(world.engine) == before


def test_catalogue_and_packaging_on_the_command_line(
    world: World, resident: int, record: Record, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(world.engine)
    assert "price" in refused(tanhui(database_url, "points", "catalogue", "add", "BUS-10", "--name-zh", "公交十次",
                                     "--name-en", "Ten bus rides", "--price", "0"), code=2)
    assert snapshot(world.engine) == before
    assert "BUS-10: 5,000 g, 3 in stock" in ok(tanhui(
        database_url, "points", "catalogue", "add", "BUS-10", "--name-zh", "公交十次", "--name-en", "Ten bus rides",
        "--price", "5000", "--stock", "3"))
    assert "BUS-10: 5 in stock" in ok(tanhui(database_url, "points", "catalogue", "restock", "BUS-10",
                                             "--added", "2"))
    assert "does not exist" in refused(tanhui(database_url, "points", "catalogue", "restock", "NONE", "--added", "1"))
    listed = ok(tanhui(database_url, "points", "catalogue", "list"))
    assert "Ten bus rides" in listed and "5,000" in listed

    _, project, verifier = travel_project(world, monkeypatch)
    settle_in(world, resident)
    record("metro", 0, 60, distance_km="50")
    package = ["points", "package", "--project", str(project), "--from", "2024-05-01", "--to", "2024-05-31",
               "--verifier", str(verifier)]
    env = {"TANHUI_DATA_DIR": str(tmp_path / "data")}
    done = runner.invoke(app, ["--database-url", database_url, *package], env=env)
    assert done.exit_code == 0, done.output
    assert "1 events of 1 resident(s), 3 kgCO2e" in done.stdout
    before = snapshot(world.engine)
    again = runner.invoke(app, ["--database-url", database_url, *package], env=env)
    assert again.exit_code == 1 and "already packaged" in again.stderr
    assert snapshot(world.engine) == before
