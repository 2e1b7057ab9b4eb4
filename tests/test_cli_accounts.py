"""`tanhui accounts`: import, show, evaluate and benchmarks on a real SQLite registry."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from tanhui.cli.main import app
from tests.factories import World, snapshot
from tests.test_accounts_services import ECONOMICS, HOLDERS, RECORDS
from tests.test_cli import ok, refused

runner = CliRunner()


def test_the_accounts_commands(world: World, tmp_path: Path) -> None:
    url = world.engine.url.render_as_string(hide_password=False)

    def tanhui(*args: str) -> Result:
        return runner.invoke(app, ["--database-url", url, *args])

    files = {}
    for kind, text in (("holders", HOLDERS), ("economics", ECONOMICS), ("records", RECORDS)):
        files[kind] = tmp_path / f"{kind}.csv"
        files[kind].write_text(text, encoding="utf-8")
        done = ok(tanhui("accounts", "import", kind, str(files[kind])))
        assert f"imported {text.count(chr(10)) - 1} {kind} rows" in done
    before = snapshot(world.engine)
    again = refused(tanhui("accounts", "import", "records", str(files["records"])))
    assert "nothing was imported: row 2, column source" in again and "already recorded" in again
    assert snapshot(world.engine) == before
    shown = ok(tanhui("accounts", "show", "QZ-001", "--period", "2023"))
    assert "total 83036 kgCO2e" in shown and "grid:zhejiang:2023" in shown
    lines = json.loads(ok(tanhui("accounts", "show", "QZ-001", "--period", "2023", "--json")))["lines"]
    assert [line["kg"] for line in lines] == [49740, 43244, 9948]
    assert "not evaluated" in ok(tanhui("accounts", "evaluate", "QZ-001", "--period", "2023"))
    assert "2 benchmarks for 2023" in ok(tanhui("accounts", "benchmarks", "compute", "--year", "2023"))
    evaluated = ok(tanhui("accounts", "evaluate", "QZ-001", "--period", "2023"))
    assert "quzhou-four-colours@1: light_green" in evaluated and "carbon-credit-rating@1: AA" in evaluated
    assert "zhejiang-carbon-efficiency@1: 2" in evaluated
    loaded = tmp_path / "benchmarks.csv"
    loaded.write_text("industry,region,year,holders,median,p10,p25,p75,p90,average,source\n"
                      "C30,QUZHOU,2023,412,0.5,0.1,0.3,0.8,1.2,0.6,Quzhou bureau 2023\n", encoding="utf-8")
    assert "loaded 1 benchmarks" in ok(tanhui("accounts", "benchmarks", "load", str(loaded)))
    listed = ok(tanhui("accounts", "benchmarks", "list", "--year", "2023"))
    assert "Quzhou bureau 2023" in listed and "412" in listed
    profile = json.loads(ok(tanhui("accounts", "evaluate", "QZ-001", "--period", "2023", "--json")))
    # against the loaded median 0.5: 0.2768 / 0.5 = 0.55 → 100; region 0.778 → 100; history 1.343 → 30:
    # 50 + 25 + 7.5 = 82.5 → light green still, the year's rise holding it back
    assert profile["benchmark_intensity"] == "1/2" and profile["label"]["score"] == "165/2"
    assert profile["benchmark_source"].startswith("Quzhou bureau 2023")
    assert "no carbon account holder" in refused(tanhui("accounts", "show", "QZ-404", "--period", "2023"))
