"""The column contracts every MRV stage shares: sites, readings, flagged intervals, and the flag names."""

from __future__ import annotations

from datetime import timedelta
from enum import IntFlag

import polars as pl

# Readings are energy per 15-minute interval, labelled by the interval's start.
INTERVAL = timedelta(minutes=15)
INTERVALS_PER_DAY = 96
# Naive timestamps in input files are local time of the platform's region.
LOCAL_TIMEZONE = "Asia/Shanghai"

SITE_COLUMNS = ("meter_id", "site_id", "owner", "capacity_kw", "latitude", "longitude", "region", "commissioned")
SITE_OPTIONAL_COLUMNS = ("tilt", "azimuth", "grid_point")
SITE_SCHEMA = pl.Schema({
    "meter_id": pl.String(),
    "site_id": pl.String(),
    "owner": pl.String(),
    "capacity_kw": pl.Float64(),
    "latitude": pl.Float64(),
    "longitude": pl.Float64(),
    "region": pl.String(),
    "commissioned": pl.Date(),
    "tilt": pl.Float64(),  # degrees from horizontal; null where unknown
    "azimuth": pl.Float64(),  # degrees clockwise from north; null where unknown
    "grid_point": pl.String(),
})

# Readings as the lake stores them: one row per meter and interval start (UTC).  Exactly one of kwh (energy in
# the interval) and register_kwh (the cumulative register read at ts) is set, as the source gave it.
READING_SCHEMA = pl.Schema({
    "meter_id": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "kwh": pl.Float64(),
    "register_kwh": pl.Float64(),
})

# A verified interval, as `intervals.parquet` holds it.
INTERVAL_SCHEMA = pl.Schema({
    "meter_id": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "kwh": pl.Float64(),  # reported energy; null where the interval is missing
    "flags": pl.List(pl.String),
    "accepted_kwh": pl.Float64(),  # kwh where no flag is raised, else 0
})


class Flag(IntFlag):
    """Why an interval's energy is not credited; an interval can carry several."""

    MISSING = 1 << 0
    DUPLICATE = 1 << 1
    NEGATIVE = 1 << 2
    COUNTER_RESET = 1 << 3
    STALE = 1 << 4
    OUTLIER = 1 << 5
    INTERPOLATED = 1 << 6
    NIGHT = 1 << 7
    ABOVE_CLEAR_SKY = 1 << 8
    ABOVE_CAPACITY = 1 << 9
    FUTURE = 1 << 10


def flag_names(mask: int) -> list[str]:
    """The names of the flags in a mask, lower case, in the order declared."""
    return [flag.name.lower() for flag in Flag if flag.name and mask & flag]
