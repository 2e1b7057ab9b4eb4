"""`tanhui mrv verify` on real files and a real lake: what the operator sees and what is written, no database."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from tanhui.cli.main import app
from tanhui.mrv.frames import INTERVAL, LOCAL_TIMEZONE
from tanhui.mrv.lake import Lake
from tanhui.mrv.readings import read_readings
from tests.mrv.test_verify import JUNE, clear_sky_readings, make_sites

runner = CliRunner()
OUTPUTS = ["daily.parquet", "intervals.parquet", "report.html", "summary.json"]


def tanhui(tmp_path: Path, *args: str) -> Result:
    # No database: the settings point at one that does not exist, and verify must not need it.
    return runner.invoke(app, ["--database-url", f"sqlite:///{tmp_path / 'absent.db'}", "mrv", "verify", *args],
                         env={"TANHUI_DATA_DIR": str(tmp_path / "data")})


def one_line(text: str) -> str:
    return " ".join(text.split())


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """sites.csv, a CSV of naive local readings for M0-M4 and a Parquet of M5/M6 register reads (UTC)."""
    sites = make_sites()
    sites_csv = tmp_path / "sites.csv"
    sites.write_csv(sites_csv)
    energy = clear_sky_readings(sites)
    naive = (energy.filter(pl.col("meter_id") < "M5")
             .with_columns(ts=pl.col("ts").dt.convert_time_zone(LOCAL_TIMEZONE).dt.replace_time_zone(None)))
    readings_csv = tmp_path / "readings.csv"
    naive.select("meter_id", pl.col("ts").dt.strftime("%Y-%m-%d %H:%M"), "kwh").write_csv(readings_csv)
    registers = []
    for meter in ("M5", "M6"):
        own = energy.filter(pl.col("meter_id") == meter).sort("ts")
        totals = own["kwh"].cum_sum().round(3)
        registers.append(pl.DataFrame({
            "meter_id": meter,
            "ts": [*own["ts"], own["ts"].max() + INTERVAL],  # the closing read stamped at local midnight
            "register_kwh": [1000.0, *(1000.0 + totals)],
        }))
    registers_parquet = tmp_path / "registers.parquet"
    pl.concat(registers).write_parquet(registers_parquet)
    return sites_csv, readings_csv, registers_parquet


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_files_in_verified_files_out(tmp_path: Path) -> None:
    sites, readings, registers = _files(tmp_path)
    out = tmp_path / "out"
    result = tanhui(tmp_path, "--sites", str(sites), "--readings", str(readings), str(registers), "--out", str(out))
    assert result.exit_code == 0, result.output
    said = one_line(result.stdout)
    assert "verified 7 sites, 2024-06-01..2024-06-02 (Asia/Shanghai), methodology PV-DIST@1-EC2023" in said
    assert "Timestamps without a UTC offset were read as Asia/Shanghai local time (UTC+08:00)" in said
    assert "at 0.5500 tCO2/MWh (mee-nbs-average 2023 east, [V] MEE & NBS" in said
    assert "flags: none" in said
    assert sorted(path.name for path in out.iterdir()) == OUTPUTS
    summary = _summary(out)
    # Without --period: the whole local days the readings cover; the registers' midnight read closes 06-02.
    assert summary["period"] == {"start": "2024-06-01", "end": "2024-06-02", "timezone": "Asia/Shanghai"}
    assert summary["totals"]["sites"] == 7 and summary["totals"]["accepted_kwh"] > 0
    assert summary["totals"]["accepted_kwh"] == summary["totals"]["reported_kwh"]
    assert summary["totals"]["reduction_kg"] == sum(site["reduction_kg"] for site in summary["sites"])
    assert summary["inputs"] == [
        {"file": str(readings.resolve()), "sha256": hashlib.sha256(readings.read_bytes()).hexdigest(),
         "readings": 5 * 192},
        {"file": str(registers.resolve()), "sha256": hashlib.sha256(registers.read_bytes()).hexdigest(),
         "readings": 2 * 193},
    ]
    intervals = pl.read_parquet(out / "intervals.parquet")
    assert intervals.height == 7 * 192 and intervals["flags"].list.len().sum() == 0
    assert "PV-DIST" in (out / "report.html").read_text(encoding="utf-8")


def test_a_period_and_a_methodology_can_be_chosen(tmp_path: Path) -> None:
    sites, readings, registers = _files(tmp_path)
    out = tmp_path / "out"
    result = tanhui(tmp_path, "--sites", str(sites), "--readings", str(readings), "--readings", str(registers),
                    "--period", "2024-06-02..2024-06-03", "--methodology", "PV-DIST@1-CN2023", "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = _summary(out)
    assert summary["methodology"]["grid_factor"]["tco2_per_mwh"] == 0.5306
    assert summary["period"]["start"] == "2024-06-02" and summary["period"]["end"] == "2024-06-03"
    # 2024-06-03 has no readings: every interval of that day is missing and credits nothing.
    daily = pl.read_parquet(out / "daily.parquet").filter(pl.col("date") == date(2024, 6, 3))
    assert daily["missing"].to_list() == [96] * 7 and daily["accepted_kwh"].sum() == 0


def test_a_lake_directory_verifies_like_the_files_it_holds(tmp_path: Path) -> None:
    sites, readings, registers = _files(tmp_path)
    lake = Lake(tmp_path / "lake")
    for path in (readings, registers):
        lake.ingest(read_readings(path).frame, source=str(path))
    from_files = tanhui(tmp_path, "--sites", str(sites), "--readings", str(readings), str(registers),
                        "--period", str(JUNE), "--out", str(tmp_path / "files"))
    from_lake = tanhui(tmp_path, "--sites", str(sites), "--readings", str(tmp_path / "lake"),
                       "--period", str(JUNE), "--out", str(tmp_path / "lake-out"))
    assert from_files.exit_code == 0 and from_lake.exit_code == 0, from_lake.output
    assert _summary(tmp_path / "files")["sites"] == _summary(tmp_path / "lake-out")["sites"]
    assert _summary(tmp_path / "lake-out")["inputs"][0]["lake"] == str((tmp_path / "lake").resolve())
    # Without --period the lake's own days are used.
    again = tanhui(tmp_path, "--sites", str(sites), "--readings", str(tmp_path / "lake"), "--out",
                   str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    assert _summary(tmp_path / "again")["period"]["end"] == "2024-06-02"


def test_readings_of_a_meter_not_in_the_sites_are_refused_by_line(tmp_path: Path) -> None:
    sites, readings, _ = _files(tmp_path)
    with readings.open("a", encoding="utf-8") as file:
        file.write("X1,2024-06-01 12:00,3.0\n")
    out = tmp_path / "out"
    result = tanhui(tmp_path, "--sites", str(sites), "--readings", str(readings), "--out", str(out))
    assert result.exit_code == 1
    assert f"{readings}: line 962: unknown meter X1 (not in the site registry)" in one_line(result.stderr)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["--period", "2024-06-02..2024-06-01"], "the period 2024-06-02..2024-06-01 starts after it ends"),
    (["--period", "June"], "'June' is not a period like 2024-01-01..2024-01-31"),
    (["--methodology", "PV-DIST@7"], "unknown methodology version 'PV-DIST@7'"),
])
def test_bad_options_are_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    sites, readings, _ = _files(tmp_path)
    out = tmp_path / "out"
    result = tanhui(tmp_path, "--sites", str(sites), "--readings", str(readings), *args, "--out", str(out))
    assert result.exit_code == 1
    assert message in one_line(result.stderr)
    assert not (out / "summary.json").exists()


def test_a_directory_that_is_not_a_lake_is_refused(tmp_path: Path) -> None:
    sites, _, _ = _files(tmp_path)
    (tmp_path / "folder").mkdir()
    result = tanhui(tmp_path, "--sites", str(sites), "--readings", str(tmp_path / "folder"), "--out",
                    str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "is a directory but not a lake (it has no manifest.json)" in one_line(result.stderr)


def test_no_readings_of_the_sites_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "lake"
    Lake(empty).ingest(pl.DataFrame({"meter_id": ["M0"], "ts": [JUNE.first], "kwh": [0.0],
                                     "register_kwh": [None]}, schema_overrides={"register_kwh": pl.Float64}),
                       source="one")
    other_sites = tmp_path / "other.csv"
    make_sites().with_columns(pl.col("meter_id") + "-other").write_csv(other_sites)
    result = tanhui(tmp_path, "--sites", str(other_sites), "--readings", str(empty), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "the readings hold no reading of the sites' meters: nothing to verify" in one_line(result.stderr)


def _outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("intervals.parquet", "daily.parquet")}


def test_the_dask_engine_on_the_command_line_writes_what_the_local_engine_writes(tmp_path: Path) -> None:
    from distributed import LocalCluster

    sites, readings, registers = _files(tmp_path)
    common = ["--sites", str(sites), "--readings", str(readings), str(registers)]
    local = tanhui(tmp_path, *common, "--out", str(tmp_path / "local"))
    assert local.exit_code == 0, local.output
    on_this_machine = tanhui(tmp_path, *common, "--out", str(tmp_path / "dask"), "--engine", "dask", "--workers", "2")
    assert on_this_machine.exit_code == 0, on_this_machine.output
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "local")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        remote = tanhui(tmp_path, *common, "--out", str(tmp_path / "remote"), "--scheduler",
                        cluster.scheduler_address)
        assert remote.exit_code == 0, remote.output
    assert _outputs(tmp_path / "remote") == _outputs(tmp_path / "local")
    local_summary, remote_summary = _summary(tmp_path / "local"), _summary(tmp_path / "remote")
    assert local_summary["totals"] == remote_summary["totals"]


@pytest.mark.parametrize(("options", "message"), [
    (["--engine", "spark"], "'spark' is not an engine: local or dask"),
    (["--engine", "local", "--scheduler", "tcp://127.0.0.1:8786"], "a scheduler address needs --engine dask"),
    (["--workers", "2"], "--workers sizes the local Dask cluster"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"], "--workers sizes the local Dask cluster"),
])
def test_contradictory_engine_options_are_usage_errors(tmp_path: Path, options: list[str], message: str) -> None:
    sites, readings, _ = _files(tmp_path)
    result = tanhui(tmp_path, "--sites", str(sites), "--readings", str(readings), "--out", str(tmp_path / "out"),
                    *options)
    assert result.exit_code == 2 and message in one_line(result.output)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    sites, readings, _ = _files(tmp_path)
    result = tanhui(tmp_path, "--sites", str(sites), "--readings", str(readings), "--out", str(tmp_path / "out"),
                    "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in one_line(result.output)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
