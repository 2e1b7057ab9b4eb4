"""`tanhui mrv ingest` on real files and a real lake directory: what the operator sees and what is stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from tanhui.cli.main import app
from tanhui.mrv import dlt645
from tanhui.mrv.lake import Lake

runner = CliRunner()
SITES = ("meter_id,site_id,owner,capacity_kw,latitude,longitude,region,commissioned\n"
         "m1,s1,Owner,50,31.3,120.6,Jiangsu,2023-01-01\n")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def tanhui(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """`tanhui mrv ingest ARGS`; without --sites, against a site file holding every meter these tests use."""
    if "--sites" not in args and env is None:
        every = data_dir.parent / "every-site.csv"
        every.write_text(SITES + "000000000042,s2,Owner,5,31.3,120.6,Jiangsu,2023-01-01\n")
        args = ("--sites", str(every), *args)
    return runner.invoke(app, ["mrv", "ingest", *args], env={"TANHUI_DATA_DIR": str(data_dir), **(env or {})})


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_ingesting_csv_and_parquet_reports_each_file_and_the_naive_time_note(tmp_path: Path, data_dir: Path) -> None:
    csv = tmp_path / "day.csv"
    csv.write_text("meter_id,ts,kwh\nm1,2024-01-01 08:00,1.5\nm1,2024-01-01 08:15,2\n")
    parquet = tmp_path / "night.parquet"
    pl.DataFrame({"meter_id": ["m1"], "ts": [datetime(2024, 1, 1, 16, 0, tzinfo=UTC)], "register_kwh": [99.5]}
                 ).write_parquet(parquet)

    result = tanhui(data_dir, str(csv), str(parquet))

    assert result.exit_code == 0, result.output
    out = one_line(result.stdout)
    assert f"{csv}: 2 readings stored, 0 already stored, local dates 2024-01-01 (batch 00000001)" in out
    assert "note: timestamps without a UTC offset were read as Asia/Shanghai local time" in out
    assert f"{parquet}: 1 reading stored, 0 already stored, local dates 2024-01-02 (batch 00000002)" in out
    assert out.count("note:") == 1  # the Parquet file's timestamps were UTC
    lake = Lake(data_dir / "lake")
    assert lake.scan().collect().sort("ts")["ts"].to_list() == [
        datetime(2024, 1, 1, 0, 0, tzinfo=UTC), datetime(2024, 1, 1, 0, 15, tzinfo=UTC),
        datetime(2024, 1, 1, 16, 0, tzinfo=UTC)]
    first = lake.manifest()["batches"][0]
    assert first["source"] == str(csv.resolve())
    assert first["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()


def test_ingesting_a_file_again_stores_nothing_and_says_so(tmp_path: Path, data_dir: Path) -> None:
    csv = tmp_path / "day.csv"
    csv.write_text("meter_id,ts,kwh\nm1,2024-01-01T08:00:00+08:00,1.5\n")
    assert tanhui(data_dir, str(csv)).exit_code == 0
    before = snapshot(data_dir / "lake")

    again = tanhui(data_dir, str(csv))

    assert again.exit_code == 0, again.output
    assert f"{csv}: 0 readings stored, 1 already stored, local dates 2024-01-01" in one_line(again.stdout)
    assert "note:" not in again.stdout
    assert snapshot(data_dir / "lake") == before


def test_a_bad_file_is_refused_naming_rows_while_the_others_are_ingested(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("meter_id,ts,kwh\nm1,2024-01-01 08:00,1\nm1,2024-01-01 08:15,lots\n")
    good = tmp_path / "good.csv"
    good.write_text("meter_id,ts,kwh\nm1,2024-01-01 09:00,1\n")

    result = tanhui(data_dir, str(bad), str(good))

    assert result.exit_code == 1
    err = one_line(result.stderr)
    assert f"refused, nothing stored: {bad}: line 3: column kwh is not a number" in err
    assert f"1 of 2 files refused (the others were ingested): {bad}" in err
    assert f"{good}: 1 reading stored" in one_line(result.stdout)
    assert Lake(data_dir / "lake").scan().collect()["kwh"].to_list() == [1.0]
    assert [b["source"] for b in Lake(data_dir / "lake").manifest()["batches"]] == [str(good.resolve())]


def test_with_sites_readings_of_unregistered_meters_are_refused_and_nothing_changes(
    tmp_path: Path, data_dir: Path,
) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text(SITES)
    first = tmp_path / "first.csv"
    first.write_text("meter_id,ts,kwh\nm1,2024-01-01 08:00,1\n")
    assert tanhui(data_dir, "--sites", str(sites), str(first)).exit_code == 0
    before = snapshot(data_dir / "lake")
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("meter_id,ts,kwh\nm1,2024-01-01 08:15,1\nm7,2024-01-01 08:15,1\n")

    result = tanhui(data_dir, "--sites", str(sites), str(stranger))

    assert result.exit_code == 1
    assert f"{stranger}: line 3: unknown meter m7 (not in the site registry)" in one_line(result.stderr)
    assert snapshot(data_dir / "lake") == before


def test_a_bad_sites_file_stops_before_any_ingest(tmp_path: Path, data_dir: Path) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text(SITES.replace(",50,", ",-50,"))
    readings = tmp_path / "r.csv"
    readings.write_text("meter_id,ts,kwh\nm1,2024-01-01 08:00,1\n")

    result = tanhui(data_dir, "--sites", str(sites), str(readings))

    assert result.exit_code == 1
    assert "line 2: column capacity_kw must be above 0" in one_line(result.stderr)
    assert not (data_dir / "lake").exists()


def test_dlt645_frames_are_ingested_as_register_reads(tmp_path: Path, data_dir: Path) -> None:
    frames = tmp_path / "frames.log"
    reply = dlt645.energy_reply("000000000042", Decimal("321.09")).hex(" ")
    frames.write_text(f"ts,frame\n2024-01-01T00:00:00Z,{reply}\n")

    result = tanhui(data_dir, "--format", "dlt645", str(frames))

    assert result.exit_code == 0, result.output
    assert Lake(data_dir / "lake").scan().collect().rows() == [
        ("000000000042", datetime(2024, 1, 1, tzinfo=UTC), None, 321.09)]


def test_an_unknown_format_is_a_usage_error(tmp_path: Path, data_dir: Path) -> None:
    result = tanhui(data_dir, "--format", "xlsx", str(tmp_path / "x.xlsx"))

    assert result.exit_code == 2
    assert "xlsx" in result.stderr


def test_without_sites_the_registered_meters_are_the_known_ones(tmp_path: Path, data_dir: Path) -> None:
    database = {"TANHUI_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}"}
    assert runner.invoke(app, ["demo"], env=database).exit_code == 0
    readings = tmp_path / "r.csv"
    readings.write_text("meter_id,ts,kwh\nm1,2024-01-01 08:00,1\n")

    nothing_registered = tanhui(data_dir, str(readings), env=database)

    assert nothing_registered.exit_code == 1
    assert "no meters are registered" in one_line(nothing_registered.stderr)
    assert not (data_dir / "lake").exists()

    sites = tmp_path / "sites.csv"
    owner = "晴川光伏投资（演示） Qingchuan PV Investment (demo)"
    sites.write_text(SITES.replace("Owner", owner))
    registered = runner.invoke(app, ["mrv", "sites", "import", str(sites)], env=database)
    assert registered.exit_code == 0, registered.output
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("meter_id,ts,kwh\nm7,2024-01-01 08:00,1\n")

    assert tanhui(data_dir, str(readings), env=database).exit_code == 0
    refused = tanhui(data_dir, str(stranger), env=database)

    assert refused.exit_code == 1
    assert "line 2: unknown meter m7" in one_line(refused.stderr)
    assert Lake(data_dir / "lake").scan().collect()["meter_id"].to_list() == ["m1"]
