"""Verification end to end: readings in, intervals.parquet, daily.parquet and summary.json out, per the contract."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tanhui.errors import InvalidRequest
from tanhui.mrv import clearsky, verify
from tanhui.mrv.frames import INTERVAL, INTERVAL_SCHEMA, READING_SCHEMA, SITE_SCHEMA
from tanhui.mrv.verify import FLAG_NAMES, Period

JUNE = Period(date(2024, 6, 1), date(2024, 6, 2))
FIRST = datetime(2024, 5, 31, 16, tzinfo=UTC)  # 2024-06-01 00:00 in Suzhou
LATER = datetime(2025, 1, 1, tzinfo=UTC)
# Six roofs in one grid cell (31.25-31.5° N, 120.5-120.75° E) and one in the next cell east.
PLACES = [(31.30, 120.60), (31.31, 120.62), (31.33, 120.58), (31.36, 120.70), (31.40, 120.55), (31.45, 120.66),
          (31.30, 120.80)]


def make_sites(**changes: dict[str, Any]) -> pl.DataFrame:
    rows = []
    for index, (latitude, longitude) in enumerate(PLACES):
        row = {"meter_id": f"M{index}", "site_id": f"S{index}", "owner": f"Owner {index % 2}", "capacity_kw": 20.0,
               "latitude": latitude, "longitude": longitude, "region": "SIP", "commissioned": date(2023, 1, 1),
               "tilt": 20.0 if index % 2 else None, "azimuth": 180.0 if index % 2 else None, "grid_point": None}
        rows.append({**row, **changes.get(row["meter_id"], {})})
    return pl.DataFrame(rows, schema=SITE_SCHEMA)


def clear_sky_readings(sites: pl.DataFrame, period: Period = JUNE) -> pl.DataFrame:
    """Clear-sky output of each site (performance ratio 0.78-0.83), read to 1 Wh: one row per meter and interval."""
    frames = []
    for index, site in enumerate(sites.iter_rows(named=True)):
        cell = pl.select(clearsky.cell_of(pl.lit(site["latitude"]), pl.lit(site["longitude"]))).item()
        sky = clearsky.cell_sky([cell], period.first, period.intervals)
        tilt, azimuth = pl.lit(site["tilt"], pl.Float64), pl.lit(site["azimuth"], pl.Float64)
        ratio = 0.78 + 0.01 * index
        kwh = sky.select((clearsky.interval_kwh(clearsky.plane_of_array(tilt, azimuth), pl.lit(site["capacity_kw"]))
                          * ratio).round(3)).to_series()
        frames.append(pl.DataFrame({
            "meter_id": site["meter_id"],
            "ts": pl.datetime_range(period.first, period.stop, INTERVAL, closed="left", time_zone="UTC",
                                    eager=True),
            "kwh": kwh, "register_kwh": None,
        }, schema=READING_SCHEMA))
    return pl.concat(frames)


def _at(local_day: int, hour: float) -> datetime:
    return FIRST + timedelta(days=local_day, hours=hour)


def _set(readings: pl.DataFrame, meter: str, ts: datetime, kwh: float | None) -> pl.DataFrame:
    hit = (pl.col("meter_id") == meter) & (pl.col("ts") == ts)
    return readings.with_columns(kwh=pl.when(hit).then(pl.lit(kwh, pl.Float64)).otherwise(pl.col("kwh")))


def _drop(readings: pl.DataFrame, meter: str, moments: Iterable[datetime]) -> pl.DataFrame:
    return readings.filter(~((pl.col("meter_id") == meter) & pl.col("ts").is_in(list(moments))))


def _run(tmp_path: Path, sites: pl.DataFrame, readings: pl.DataFrame, period: Period = JUNE,
         **options: Any) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    options.setdefault("now", LATER)
    summary = verify.verify(sites, readings.lazy(), period, tmp_path, **options)
    return summary, pl.read_parquet(tmp_path / "intervals.parquet"), pl.read_parquet(tmp_path / "daily.parquet")


def _flags_of(intervals: pl.DataFrame, meter: str, ts: datetime) -> list[str]:
    return intervals.filter((pl.col("meter_id") == meter) & (pl.col("ts") == ts))["flags"].to_list()[0]


def _site(summary: dict[str, Any], meter: str) -> dict[str, Any]:
    return next(entry for entry in summary["sites"] if entry["meter_id"] == meter)


def test_clean_data_is_accepted_whole_and_the_files_follow_the_contract(tmp_path: Path) -> None:
    sites = make_sites()
    summary, intervals, daily = _run(tmp_path, sites, clear_sky_readings(sites))
    # intervals.parquet: one row per meter and interval of the two local days, in frames.INTERVAL_SCHEMA.
    assert dict(intervals.schema) == INTERVAL_SCHEMA
    assert intervals.height == 7 * 192
    assert intervals["ts"].min() == FIRST and intervals["ts"].max() == FIRST + timedelta(days=2) - INTERVAL
    assert intervals["flags"].list.len().sum() == 0
    assert intervals["accepted_kwh"].to_list() == intervals["kwh"].to_list()
    # daily.parquet: one row per meter and local day.
    assert daily.columns == ["meter_id", "date", "reported_kwh", "accepted_kwh", "clear_sky_kwh", "intervals",
                             "flagged_intervals", *FLAG_NAMES]
    assert daily.height == 14 and daily["intervals"].to_list() == [96] * 14
    assert daily["date"].unique().sort().to_list() == [date(2024, 6, 1), date(2024, 6, 2)]
    assert (daily["clear_sky_kwh"] > daily["accepted_kwh"]).all()
    # summary.json
    written = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert written == summary
    assert summary["format"] == "tanhui.mrv.summary/1"
    assert summary["period"] == {"start": "2024-06-01", "end": "2024-06-02", "timezone": "Asia/Shanghai"}
    assert summary["methodology"]["code"] == "PV-DIST" and summary["methodology"]["version"] == "1-EC2023"
    factor = summary["methodology"]["grid_factor"]
    assert (factor["series"], factor["data_year"], factor["region"], factor["tco2_per_mwh"], factor["tag"]) == (
        "mee-nbs-average", 2023, "east", 0.55, "V")
    assert summary["parameters"]["clear_sky_margin"]["tag"] == "R"
    assert [entry["meter_id"] for entry in summary["sites"]] == [f"M{i}" for i in range(7)]
    for entry in summary["sites"]:
        own = intervals.filter(pl.col("meter_id") == entry["meter_id"])
        assert entry["intervals_expected"] == 192
        assert entry["accepted_kwh"] == pytest.approx(own["accepted_kwh"].sum(), abs=1e-6)
        assert entry["reported_kwh"] == entry["accepted_kwh"] > 100
        assert entry["reduction_kg"] == math.floor(Decimal(str(entry["accepted_kwh"])) * Decimal("0.5500"))
        assert entry["flag_counts"] == dict.fromkeys(FLAG_NAMES, 0)
        assert set(entry) >= {"site_id", "owner", "region", "capacity_kw"}
    totals = summary["totals"]
    assert totals["sites"] == 7
    assert totals["reduction_kg"] == sum(entry["reduction_kg"] for entry in summary["sites"])
    assert totals["accepted_kwh"] == pytest.approx(intervals["accepted_kwh"].sum(), abs=1e-6)
    for name in ("intervals.parquet", "daily.parquet"):
        assert summary["files"][name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert any("Asia/Shanghai" in note for note in summary["notes"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["daily.parquet", "intervals.parquet",
                                                                  "summary.json"]


def test_only_unflagged_intervals_are_credited_and_nothing_is_imputed(tmp_path: Path) -> None:
    sites = make_sites()
    readings = clear_sky_readings(sites)
    noon = _at(0, 12)
    readings = _drop(readings, "M1", [noon])  # missing
    readings = _set(readings, "M2", _at(0, 2), 0.3)  # energy at 02:00: night
    readings = _set(readings, "M3", noon, 30.0)  # 20 kWp cannot make 30 kWh in 15 minutes
    readings = _set(readings, "M4", _at(1, 1), -0.05)  # negative (a meter's own consumption at night)
    summary, intervals, daily = _run(tmp_path, sites, readings)
    assert intervals.height == 7 * 192  # the missing interval is there, with no energy
    missing = intervals.filter((pl.col("meter_id") == "M1") & (pl.col("ts") == noon)).row(0, named=True)
    assert missing["kwh"] is None and missing["accepted_kwh"] == 0.0 and missing["flags"] == ["missing"]
    assert _flags_of(intervals, "M2", _at(0, 2)) == ["night"]
    assert "above_capacity" in _flags_of(intervals, "M3", noon)
    assert _flags_of(intervals, "M4", _at(1, 1)) == ["negative"]
    for meter in ("M1", "M2", "M3", "M4"):
        own = intervals.filter(pl.col("meter_id") == meter)
        unflagged = own.filter(pl.col("flags").list.len() == 0)
        assert _site(summary, meter)["accepted_kwh"] == pytest.approx(unflagged["kwh"].sum(), abs=1e-6)
        assert _site(summary, meter)["reported_kwh"] == pytest.approx(own["kwh"].sum(), abs=1e-6)
        assert sum(_site(summary, meter)["flag_counts"].values()) >= 1
    assert _site(summary, "M1")["flag_counts"]["missing"] == 1
    day = daily.filter((pl.col("meter_id") == "M3") & (pl.col("date") == date(2024, 6, 1))).row(0, named=True)
    assert day["flagged_intervals"] == 1 and day["above_capacity"] == 1
    assert day["accepted_kwh"] == pytest.approx(day["reported_kwh"] - 30.0, abs=1e-6)


def test_energy_above_the_modules_clear_sky_is_flagged(tmp_path: Path) -> None:
    # M5's roof faces south, but the registry says north at 60°: in June such a plane gets little direct sun
    # before noon, so the morning's output is more than it could make under a clear sky.
    readings = clear_sky_readings(make_sites(M5={"tilt": 20.0, "azimuth": 180.0}))
    summary, intervals, _ = _run(tmp_path, make_sites(M5={"tilt": 60.0, "azimuth": 0.0}), readings)
    assert _flags_of(intervals, "M5", _at(0, 9)) == ["above_clear_sky"]
    flagged = intervals.filter((pl.col("meter_id") == "M5") & (pl.col("flags").list.len() > 0))
    assert flagged["flags"].explode().unique().to_list() == ["above_clear_sky"]
    assert 20 <= flagged.height < 96
    assert all(sum(_site(summary, f"M{i}")["flag_counts"].values()) == 0 for i in (0, 1, 2, 3, 4, 6))


def test_a_site_reporting_twice_its_neighbours_yield_is_an_outlier_all_day(tmp_path: Path) -> None:
    sites = make_sites()
    readings = clear_sky_readings(sites)
    # M4 declares 20 kWp but reports a 40 kWp plant's output on the second day.
    doubled = (pl.col("meter_id") == "M4") & (pl.col("ts") >= _at(1, 0))
    readings = readings.with_columns(kwh=pl.when(doubled).then(pl.col("kwh") * 2).otherwise(pl.col("kwh")))
    _, _, daily = _run(tmp_path, sites, readings)
    second = daily.filter((pl.col("meter_id") == "M4") & (pl.col("date") == date(2024, 6, 2))).row(0, named=True)
    assert second["outlier"] == 96 and second["accepted_kwh"] == 0
    first = daily.filter((pl.col("meter_id") == "M4") & (pl.col("date") == date(2024, 6, 1))).row(0, named=True)
    assert first["flagged_intervals"] == 0
    # M6 is alone in its cell: never judged.  The other five are ordinary.
    assert daily.filter(pl.col("meter_id") != "M4")["outlier"].sum() == 0


def _registers(readings: pl.DataFrame, meter: str, start_kwh: float) -> pl.DataFrame:
    """A meter's interval energies as cumulative register reads at each interval's start, plus the closing read."""
    own = readings.filter(pl.col("meter_id") == meter).sort("ts")
    closing = own["ts"].max() + INTERVAL
    totals = np.concatenate(([0.0], np.cumsum(own["kwh"].to_numpy()))) + start_kwh
    registers = pl.DataFrame({"meter_id": meter, "ts": [*own["ts"], closing], "kwh": None,
                              "register_kwh": np.round(totals, 3)}, schema=READING_SCHEMA)
    return pl.concat([readings.filter(pl.col("meter_id") != meter), registers])


def test_register_reads_become_interval_energy_and_a_drop_is_a_counter_reset(tmp_path: Path) -> None:
    sites = make_sites()
    energy = clear_sky_readings(sites)
    readings = _registers(energy, "M2", 81_234.5)
    summary, intervals, _ = _run(tmp_path, sites, readings)
    own = intervals.filter(pl.col("meter_id") == "M2").sort("ts")
    expected = energy.filter(pl.col("meter_id") == "M2").sort("ts")["kwh"]
    np.testing.assert_allclose(own["kwh"].to_numpy(), expected.to_numpy(), atol=2e-6)
    assert own["flags"].list.len().sum() == 0  # the read at the period's end closes the last interval
    # The meter is replaced at 13:00 on the first day: its register starts again from 0.
    reset = _at(0, 13)
    replaced = readings.with_columns(register_kwh=pl.when((pl.col("meter_id") == "M2") & (pl.col("ts") >= reset))
                                     .then(pl.col("register_kwh") - 81_234.5 - 300.0)
                                     .otherwise(pl.col("register_kwh")))
    summary, intervals, _ = _run(tmp_path, sites, replaced)
    assert _flags_of(intervals, "M2", reset - INTERVAL) == ["counter_reset"]
    assert _flags_of(intervals, "M2", reset) == []
    assert _site(summary, "M2")["flag_counts"]["counter_reset"] == 1
    # Without the closing read the last interval has no energy.
    unclosed = replaced.filter(pl.col("ts") < JUNE.stop)
    _, intervals, _ = _run(tmp_path, sites, unclosed)
    assert _flags_of(intervals, "M2", JUNE.stop - INTERVAL) == ["missing"]


def test_a_reading_sent_twice_with_different_values_is_a_duplicate(tmp_path: Path) -> None:
    sites = make_sites()
    readings = clear_sky_readings(sites)
    ten = _at(0, 10)
    original = readings.filter((pl.col("meter_id") == "M0") & (pl.col("ts") == ten))
    again = pl.concat([readings, original.with_columns(kwh=pl.col("kwh") / 2),
                       readings.filter((pl.col("meter_id") == "M1") & (pl.col("ts") == ten))])
    _, intervals, _ = _run(tmp_path, sites, again)
    duplicate = intervals.filter((pl.col("meter_id") == "M0") & (pl.col("ts") == ten)).row(0, named=True)
    assert duplicate["flags"] == ["duplicate"] and duplicate["kwh"] == original["kwh"][0]
    assert duplicate["accepted_kwh"] == 0
    assert _flags_of(intervals, "M1", ten) == []  # the same reading twice is one reading
    assert intervals.height == 7 * 192


def test_a_register_read_twice_with_different_values_marks_both_intervals_it_bounds(tmp_path: Path) -> None:
    sites = make_sites()
    readings = _registers(clear_sky_readings(sites), "M2", 81_234.5)
    ten = _at(0, 10)
    read = readings.filter((pl.col("meter_id") == "M2") & (pl.col("ts") == ten))
    again = pl.concat([readings, read.with_columns(register_kwh=pl.col("register_kwh") + 0.5), read])
    _, intervals, _ = _run(tmp_path, sites, again)
    # The larger read counts: the interval before gains 0.5 kWh, the one after loses it.
    assert "duplicate" in _flags_of(intervals, "M2", ten - INTERVAL)
    assert "duplicate" in _flags_of(intervals, "M2", ten)
    assert _flags_of(intervals, "M2", ten - 2 * INTERVAL) == []
    assert intervals.filter(pl.col("meter_id") == "M2")["accepted_kwh"].sum() > 0


def test_intervals_are_owed_from_the_commissioning_day(tmp_path: Path) -> None:
    sites = make_sites(M3={"commissioned": date(2024, 6, 2)}, M6={"commissioned": date(2024, 7, 1)})
    summary, intervals, daily = _run(tmp_path, sites, clear_sky_readings(sites))
    assert _site(summary, "M3")["intervals_expected"] == 96
    assert intervals.filter(pl.col("meter_id") == "M3")["ts"].min() == _at(1, 0)
    assert daily.filter(pl.col("meter_id") == "M3")["date"].to_list() == [date(2024, 6, 2)]
    assert "M6" not in {entry["meter_id"] for entry in summary["sites"]}
    notes = " ".join(summary["notes"])
    assert "1 meter(s) commissioned after the period were not verified: M6" in notes
    assert "readings of 1 meter(s) not in the sites" not in notes
    assert "288 reading(s) dated before their meter's commissioning day were not credited: meters M3, M6" in notes


def test_readings_of_unknown_meters_and_outside_the_period_are_left_out_and_said(tmp_path: Path) -> None:
    sites = make_sites()
    readings = clear_sky_readings(sites)
    stranger = readings.filter(pl.col("meter_id") == "M0").with_columns(meter_id=pl.lit("X9"))
    later = readings.filter(pl.col("meter_id") == "M0").with_columns(pl.col("ts") + timedelta(days=2))
    summary, intervals, _ = _run(tmp_path, sites, pl.concat([readings, stranger, later]))
    assert intervals.height == 7 * 192
    assert "192 reading(s) of 1 meter(s) not in the sites were not verified: X9." in summary["notes"]


def test_intervals_not_over_yet_are_future_and_not_credited(tmp_path: Path) -> None:
    sites = make_sites()
    readings = clear_sky_readings(sites).filter(pl.col("ts") < _at(1, 9))
    summary, intervals, _ = _run(tmp_path, sites, readings, now=_at(1, 9) + timedelta(minutes=5))
    assert _flags_of(intervals, "M0", _at(1, 8.75)) == []
    assert _flags_of(intervals, "M0", _at(1, 9)) == ["missing", "future"]
    assert _site(summary, "M0")["flag_counts"]["future"] == 60  # 09:00 to midnight


def test_many_partitions_give_the_same_result_as_one(tmp_path: Path) -> None:
    sites = make_sites()
    readings = _registers(_set(clear_sky_readings(sites), "M3", _at(0, 12), 30.0), "M2", 500.0)
    readings = _registers(readings, "M6", 10.0)
    one, intervals_one, daily_one = _run(tmp_path / "one", sites, readings)
    # The first cell (six sites, 576 intervals a day) is too big for 500: one partition per day; the second cell
    # fits whole.  Registers read at the midnight between the days close the first day's partition.
    partitions = verify.plan_partitions(sites, JUNE, limit=500)
    assert [(len(part.sites), str(part.period)) for part in partitions] == [
        (6, "2024-06-01..2024-06-01"), (6, "2024-06-02..2024-06-02"), (1, "2024-06-01..2024-06-02")]
    many, intervals_many, daily_many = _run(tmp_path / "many", sites, readings, partition_intervals=500)
    key = ["meter_id", "ts"]
    assert intervals_many.sort(key).equals(intervals_one.sort(key))
    assert (intervals_many["flags"].list.len() > 0).sum() == 1  # M3's 30 kWh, and nothing else
    assert daily_many.equals(daily_one)
    assert many["sites"] == one["sites"] and many["totals"] == one["totals"]


def test_progress_counts_site_days(tmp_path: Path) -> None:
    sites = make_sites(M6={"commissioned": date(2024, 7, 1)})  # alone in its cell, and owes nothing
    seen: list[tuple[int, int]] = []
    summary, _, _ = _run(tmp_path, sites, clear_sky_readings(sites),
                         progress=lambda done, total: seen.append((done, total)), partition_intervals=500)
    assert seen == [(6, 14), (12, 14), (14, 14)]
    assert summary["totals"]["sites"] == 6


def test_a_bad_reading_fails_the_run_and_leaves_earlier_output_as_it_was(tmp_path: Path) -> None:
    sites = make_sites()
    readings = clear_sky_readings(sites)
    _run(tmp_path, sites, readings)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    odd = readings.head(1).with_columns(pl.col("ts") + timedelta(minutes=7))
    with pytest.raises(InvalidRequest, match=r"not at the start of a 15-minute interval, e\.g\. meter M0 at "
                                             r"2024-05-31 16:07:00\+00:00"):
        _run(tmp_path, sites, pl.concat([readings, odd]))
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda sites: sites.drop("capacity_kw"), "the sites lack column"),
    (lambda sites: pl.concat([sites, sites.head(1)]), "the sites list meter"),
    (lambda sites: sites.clear(), "there are no sites to verify"),
    (lambda sites: sites.with_columns(capacity_kw=pl.when(pl.col("meter_id") == "M2").then(0.0)
                                      .otherwise(pl.col("capacity_kw"))), r"site\(s\) M2 lack"),
    (lambda sites: sites.with_columns(commissioned=date(2024, 7, 1)), "every site was commissioned after"),
])
def test_bad_sites_are_refused(tmp_path: Path, spoil: Callable[[pl.DataFrame], pl.DataFrame], message: str) -> None:
    sites = spoil(make_sites())
    with pytest.raises(InvalidRequest, match=message):
        verify.verify(sites, pl.LazyFrame(schema=READING_SCHEMA), JUNE, tmp_path / "out", now=LATER)
    assert not (tmp_path / "out" / "summary.json").exists()


def test_methodology_version_decides_the_factor(tmp_path: Path) -> None:
    sites = make_sites()
    summary = verify.verify(sites, clear_sky_readings(sites).lazy(), JUNE, tmp_path, methodology="PV-DIST@1-CN2023",
                            now=LATER)
    assert summary["methodology"]["grid_factor"]["tco2_per_mwh"] == 0.5306
    for entry in summary["sites"]:
        assert entry["reduction_kg"] == math.floor(Decimal(str(entry["accepted_kwh"])) * Decimal("0.5306"))


@pytest.mark.parametrize(("text", "days"), [("2024-01-01..2024-01-31", 31), ("2024-02-28..2024-03-01", 3),
                                             (" 2024-06-01..2024-06-01 ", 1)])
def test_periods_are_inclusive_local_days(text: str, days: int) -> None:
    period = Period.parse(text)
    assert period.days == days and period.intervals == 96 * days
    assert period.first.hour == 16 and period.first.tzinfo == UTC  # local midnight, UTC+8


@pytest.mark.parametrize("text", ["2024-01-31..2024-01-01", "2024-01-01", "2024-01-01...2024-01-02",
                                  "2024-13-01..2024-12-31", ""])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="period"):
        Period.parse(text)
