"""The demo park verifies as it was made: its clean sites raise no flag, and its labelled faults are found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tanhui.mrv import verify
from tanhui.mrv.frames import READING_SCHEMA
from tanhui.mrv.synthetic import Park, ParkSpec, make_park, write_park

pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear is deprecated:DeprecationWarning")
# The demo park as `tanhui mrv demo-park` makes it: 1,000 sites over June 2024.
SPEC = ParkSpec()
# A clock 8 h late moves morning energy into the night; in the first and last twilight intervals it is below
# the low-light allowance that `night` tolerates, so a few labelled intervals are rightly not flagged.
CLOCK_FOUND_SHARE = 0.85


def test_clean_sites_raise_no_flag_and_every_labelled_fault_is_found(tmp_path: Path) -> None:
    files = write_park(SPEC, tmp_path)
    readings = pl.concat([pl.scan_parquet(files.readings), pl.scan_parquet(files.registers)], how="diagonal_relaxed")
    park = make_park(SPEC)
    verify.verify(park.sites, readings.select(pl.col(name).cast(dtype) for name, dtype in READING_SCHEMA.items()),
                  verify.Period(SPEC.start, SPEC.start + timedelta(days=SPEC.days - 1)), tmp_path / "out",
                  now=datetime(2025, 1, 1, tzinfo=UTC))
    intervals = pl.read_parquet(tmp_path / "out" / "intervals.parquet")
    labels = pl.read_csv(files.faults, schema_overrides={"meter_id": pl.String}).with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC", time_unit="us"))
    clean = [meter for meter, fault in zip(park.sites["meter_id"], park.fault, strict=True)
             if not fault and meter not in set(labels["meter_id"])]
    assert len(clean) > 900
    own = intervals.filter(pl.col("meter_id").is_in(clean))
    # Every interval of a clean site is there (register meters included: their last one is closed) and unflagged.
    assert own.height == len(clean) * SPEC.intervals - _before_commissioning(park, clean)
    assert own.filter(pl.col("flags").list.len() > 0).height == 0
    assert own["kwh"].null_count() == 0

    found = labels.join(intervals, on=["meter_id", "ts"], how="left").with_columns(
        flagged=pl.col("flags").list.len() > 0).group_by("fault").agg(
        pl.len().alias("labelled"), pl.col("flagged").sum().alias("found"))
    shares = {fault: found / labelled for fault, labelled, found in found.iter_rows()}
    assert set(shares) == {"outage", "gaps", "stale", "interpolated", "spike", "clock", "undersized", "negative",
                           "duplicate", "counter_reset"}
    assert shares.pop("clock") >= CLOCK_FOUND_SHARE
    assert shares == dict.fromkeys(shares, 1.0)


def _before_commissioning(park: Park, meters: list[str]) -> int:
    """Intervals the period has before the meters' commissioning days (a few sites start during the month)."""
    sites = park.sites.filter(pl.col("meter_id").is_in(meters))
    late = sites.filter(pl.col("commissioned") > SPEC.start)
    return int(((late["commissioned"] - SPEC.start).dt.total_days() * 96).sum())
