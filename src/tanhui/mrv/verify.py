"""Digital verification: meter readings → flagged 15-minute intervals → accepted energy → reductions, per site.

The work is split into partitions, each the meters of a set of grid cells over the whole period, so that the
clear-sky sky of a cell is computed once and the peer check sees every site of a cell.  `verify_partition` is a
pure function of (sites, readings, period, parameters, now); an engine runs it over the partitions (`run_partitions`
here, one after another, Polars using every core within each; a cluster engine can run the same tasks elsewhere)
and `verify` streams the results to ``intervals.parquet``, keeping only the small daily frame in memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit

import tanhui
from tanhui.errors import InvalidRequest
from tanhui.methodologies import DistributedPV
from tanhui.methodologies import methodology as find_methodology
from tanhui.methodologies.distributed_pv import recorded_energy
from tanhui.mrv import clearsky, flags, peers
from tanhui.mrv.frames import INTERVAL, INTERVALS_PER_DAY, LOCAL_TIMEZONE, READING_SCHEMA, SITE_SCHEMA, Flag

SUMMARY_FORMAT = "tanhui.mrv.summary/1"
INTERVALS_FILE = "intervals.parquet"
DAILY_FILE = "daily.parquet"
SUMMARY_FILE = "summary.json"
FLAG_NAMES: tuple[str, ...] = tuple(flag.name.lower() for flag in Flag if flag.name)
# Expected intervals per partition (cells are never split, so one very dense cell can exceed it).  Two million
# intervals take a few hundred MB through the flag pipeline, so that two partitions in flight (one computing,
# one being written) stay well inside the 4 GB a verification run may use.
PARTITION_INTERVALS = 2_000_000
# Partitions the local engine verifies at a time: one per core (each a few hundred MB at most).
LOCAL_THREADS = max(1, os.cpu_count() or 1)
# Rows the Parquet writer encodes at a time (its default, 1,024, spends a quarter of its time per batch).
WRITE_BATCH_ROWS = 65_536
# How many meter ids a note lists before "and N more".
SHOWN_METERS = 5

_STEP_US = int(INTERVAL / timedelta(microseconds=1))
# meter_id is handed to the writer as the partition's dictionary and its indices, not as one string per
# interval: the writer stores a dictionary-encoded column either way, and is spared hashing every string.  The
# file itself records plain strings (no stored Arrow schema), so readers see the column as text.
_INTERVALS_SCHEMA = pa.schema([
    ("meter_id", pa.dictionary(pa.uint32(), pa.string())), ("ts", pa.timestamp("us", tz="UTC")), ("kwh", pa.float64()),
    ("flags", pa.list_(pa.string())), ("accepted_kwh", pa.float64()),
])
_FLAG_VALUES = pa.array(FLAG_NAMES, pa.string())
_FLAG_BITS = np.array([int(flag) for flag in Flag], dtype=np.uint16)


class InvalidPeriod(InvalidRequest):
    """A verification period that is not ``YYYY-MM-DD..YYYY-MM-DD`` with the start on or before the end."""

    code, title = "invalid-period", "The period is not valid"


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive local calendar days, from ``start`` to ``end``, in ``timezone``."""

    start: date
    end: date
    timezone: str = LOCAL_TIMEZONE

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidPeriod(f"the period {self} starts after it ends")

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2024-01-01..2024-01-31`` (inclusive local days)."""
        start, dots, end = text.strip().partition("..")
        try:
            if not dots:
                raise ValueError("write START..END")
            return cls(date.fromisoformat(start), date.fromisoformat(end))
        except ValueError as exc:
            raise InvalidPeriod(f"{text!r} is not a period like 2024-01-01..2024-01-31 (inclusive local days, "
                                f"YYYY-MM-DD): {exc}") from None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def midnight(self, day: date) -> datetime:
        """Local midnight starting ``day``, in UTC."""
        return datetime.combine(day, datetime.min.time(), ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def first(self) -> datetime:
        """The first interval's start (UTC)."""
        return self.midnight(self.start)

    @property
    def stop(self) -> datetime:
        """The end of the last interval (UTC): local midnight after the last day."""
        return self.midnight(self.end + timedelta(days=1))

    @property
    def intervals(self) -> int:
        return (self.stop - self.first) // INTERVAL

    def describe(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "timezone": self.timezone}


@dataclass(frozen=True, slots=True)
class Parameters:
    """Everything a verification run's result depends on besides its data: the methodology's thresholds."""

    clear_sky_margin: float
    thresholds: flags.Thresholds
    peer_z_threshold: float

    @classmethod
    def of(cls, version: DistributedPV) -> Parameters:
        return cls(
            clear_sky_margin=version.parameter("clear_sky_margin"),
            thresholds=flags.Thresholds(
                low_light_allowance_w_m2=version.parameter("low_light_allowance_w_m2"),
                capacity_tolerance=version.parameter("capacity_tolerance"),
            ),
            peer_z_threshold=version.parameter("peer_z_threshold"),
        )


@dataclass(frozen=True)
class PartitionResult:
    """What one partition yields: its intervals (`frames.INTERVAL_SCHEMA`), its daily rows, unplaced readings."""

    # Arrow in the schema of intervals.parquet, as the writer takes it: no conversion of a partition's strings.
    intervals: pa.Table
    daily: pl.DataFrame
    # Readings that belong to no expected interval: (meter_id, readings) of readings before commissioning.
    unplaced: pl.DataFrame


@dataclass(frozen=True)
class PartitionTask:
    """One partition's work, self-contained so that an engine can run it anywhere."""

    index: int
    sites: pl.DataFrame
    readings: pl.LazyFrame
    period: Period
    parameters: Parameters
    now: datetime


# An engine runs ``work`` on every task and yields the results in the tasks' order.
Engine = Callable[[Sequence[PartitionTask], Callable[[PartitionTask], PartitionResult]], Iterable[PartitionResult]]


def run_task(task: PartitionTask) -> PartitionResult:
    """Load a partition's readings and verify it."""
    return verify_partition(task.sites, task.readings.collect(), task.period, task.parameters, task.now)


def run_partitions(tasks: Sequence[PartitionTask],
                   work: Callable[[PartitionTask], PartitionResult]) -> Iterator[PartitionResult]:
    """The local engine: the partitions on `LOCAL_THREADS` threads of this process, yielded in the tasks' order.

    Polars parallelises within a partition, but its numpy steps run on one core each; numpy, Polars and
    pyarrow release Python's GIL on whole arrays, so partitions on threads keep every core busy while the
    caller writes the previous result.  At most `LOCAL_THREADS` partitions are computing at a time.
    """
    with ThreadPoolExecutor(LOCAL_THREADS, thread_name_prefix="verify") as pool:
        waiting = iter(tasks)
        running: deque[Future[PartitionResult]] = deque(
            pool.submit(work, task) for task in itertools.islice(waiting, LOCAL_THREADS))
        try:
            while running:
                result = running.popleft().result()
                following = next(waiting, None)
                if following is not None:
                    running.append(pool.submit(work, following))
                yield result
        finally:
            for future in running:
                future.cancel()


# ---------------------------------------------------------------- one partition (pure)

@dataclass(frozen=True)
class _Grid:
    """The expected intervals of a partition's meters: meter ``m`` owns rows ``offsets[m]`` to
    ``offsets[m] + lengths[m]``, its intervals ``first[m]`` … ``intervals − 1`` of the period, in time order."""

    sites: pl.DataFrame  # sorted by meter_id; row m is meter m
    first: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray
    meter: np.ndarray  # per row
    interval: np.ndarray  # per row: the interval's index in the period

    @classmethod
    def of(cls, sites: pl.DataFrame, period: Period) -> _Grid:
        commissioned = sites.select(
            pl.col("commissioned").cast(pl.Datetime("us")).dt.replace_time_zone(period.timezone)
            .dt.convert_time_zone("UTC").dt.epoch("us")
        ).to_series().to_numpy()
        first_us = _epoch_us(period.first)
        first = np.clip((commissioned - first_us) // _STEP_US, 0, period.intervals).astype(np.int64)
        lengths = period.intervals - first
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        meter = np.repeat(np.arange(len(sites), dtype=np.uint32), lengths)
        interval = np.arange(int(lengths.sum()), dtype=np.int64) - offsets[meter] + first[meter]
        return cls(sites, first, lengths, offsets, meter, interval)

    @property
    def size(self) -> int:
        return len(self.meter)


def _epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _place_readings(grid: _Grid, readings: pl.DataFrame, period: Period) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The grid's energy, duplicate and counter-reset columns from the readings, and the readings it has no
    interval for (before the meter's commissioning day).

    An interval's energy is its ``kwh`` reading, else the register read at its end minus the one at its start
    (the read at the period's end closes the last interval); a drop of the register is a counter reset (energy
    unknown).  A (meter, interval) read twice with different values is a duplicate and carries the larger value.
    """
    ids = grid.sites["meter_id"]
    located = readings.select(
        pl.col("meter_id").cast(pl.Enum(ids.to_list()), strict=False).to_physical().alias("meter"),
        (pl.col("ts").dt.convert_time_zone("UTC").dt.epoch("us") - _epoch_us(period.first)).alias("offset_us"),
    )
    if located["meter"].null_count():
        stray = readings.filter(located["meter"].is_null())["meter_id"].unique().sort().to_list()
        raise InvalidRequest(f"readings of meters outside this partition reached it: {_listed(stray)}")
    offset_us = located["offset_us"].to_numpy()
    off_grid = np.flatnonzero(offset_us % _STEP_US)
    if len(off_grid):
        example = readings.row(int(off_grid[0]), named=True)
        raise InvalidRequest(f"{len(off_grid)} readings are not at the start of a 15-minute interval, e.g. meter "
                             f"{example['meter_id']} at {example['ts']}")
    meter = located["meter"].to_numpy().astype(np.int64)
    registers = readings["register_kwh"].null_count() < len(readings)
    energy, repeated, counter_reset, before = _placed(
        meter, offset_us // _STEP_US, _as_floats(readings["kwh"]),
        _as_floats(readings["register_kwh"]) if registers else np.empty(0), grid.first, grid.offsets,
        grid.meter, period.intervals, registers)
    # Readings before the partition's period are not its business; those before commissioning are noted.
    early = readings.filter(pl.Series(before)) if before.any() else readings.clear()
    unplaced = early.group_by("meter_id").agg(pl.len().alias("readings")).sort("meter_id")
    frame = pl.DataFrame({"kwh": energy, "duplicate": repeated, "counter_reset": counter_reset}, nan_to_null=True)
    return frame, unplaced


def _as_floats(column: pl.Series) -> np.ndarray:
    """A float column as a contiguous float64 array, nulls as NaN (the one argument type `_placed` is compiled
    for)."""
    return np.require(column.to_numpy(), np.float64, "C")


@njit(cache=True, nogil=True)
def _placed(meter: np.ndarray, interval: np.ndarray, kwh: np.ndarray, register: np.ndarray, first: np.ndarray,
            offsets: np.ndarray, grid_meter: np.ndarray, intervals: int,
            registers: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each grid row's energy (NaN where unknown), duplicate and counter-reset marks, and which readings fall
    before their meter's first interval, in one pass over the readings (and one over the grid for registers).

    A row read more than once with different values is a duplicate and keeps the largest (`_keep`); the same
    value twice is one reading.  Meter ``m``'s register slots are its grid rows plus one closing slot (the read at the
    period's end), at ``row + m``.
    """
    size = len(grid_meter)
    energy = np.full(size, np.nan)
    repeated = np.zeros(size, dtype=np.bool_)
    before = np.zeros(len(meter), dtype=np.bool_)
    at = np.full(size + len(first) if registers else 0, np.nan)
    twice = np.zeros(len(at), dtype=np.bool_)
    for reading in range(len(meter)):
        m, i = meter[reading], interval[reading]
        start = first[m]
        if 0 <= i < start and i < intervals:
            before[reading] = True
        if i < start or i > intervals:
            continue
        row = offsets[m] + i - start
        value = kwh[reading]
        if i < intervals and not np.isnan(value):
            _keep(energy, repeated, row, value)
        if registers and not np.isnan(register[reading]):
            _keep(at, twice, row + m, register[reading])
    counter_reset = np.zeros(size, dtype=np.bool_)
    if registers:
        for row in range(size):
            if np.isnan(energy[row]):
                own = row + grid_meter[row]
                step = at[own + 1] - at[own]
                counter_reset[row] = step < 0
                if step >= 0:
                    energy[row] = step
                repeated[row] |= twice[own] or twice[own + 1]
    return energy, repeated, counter_reset, before


@njit(cache=True, nogil=True)
def _keep(placed: np.ndarray, repeated: np.ndarray, slot: int, value: float) -> None:
    """Place a reading's value in its slot: the first one read, or the largest, marking a slot read twice with
    different values."""
    if np.isnan(placed[slot]):
        placed[slot] = value
    elif value != placed[slot]:
        repeated[slot] = True
        placed[slot] = max(placed[slot], value)


def _local_days(period: Period) -> np.ndarray:
    """Each period interval's local day, as days since the period's first."""
    starts = pl.datetime_range(period.first, period.stop, INTERVAL, closed="left", time_zone="UTC", eager=True)
    local = starts.dt.convert_time_zone(period.timezone).dt.date()
    return ((local - period.start).dt.total_days()).to_numpy().astype(np.int64)


def _flag_lists(mask: np.ndarray) -> pa.Array:
    """The flag names of each mask, as an Arrow list array (built from the few flagged rows only)."""
    flagged = np.flatnonzero(mask)
    bits = (mask[flagged, None] & _FLAG_BITS[None, :]) != 0
    counts = np.zeros(len(mask), dtype=np.int32)
    counts[flagged] = bits.sum(axis=1)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    names = pa.DictionaryArray.from_arrays(pa.array(np.nonzero(bits)[1].astype(np.int8)), _FLAG_VALUES)
    return pa.ListArray.from_arrays(pa.array(offsets), names.cast(pa.string()))


def verify_partition(sites: pl.DataFrame, readings: pl.DataFrame, period: Period, parameters: Parameters,
                     now: datetime) -> PartitionResult:
    """Flag every expected interval of the sites' meters over the period and sum each meter's days.

    ``sites`` are whole grid cells (`frames.SITE_SCHEMA`), ``readings`` theirs (`frames.READING_SCHEMA`, ts
    from the period's first interval up to and including its end, for the closing register read).  Pure: the
    same arguments give the same result wherever it runs.
    """
    sites = sites.sort("meter_id").with_columns(clearsky.cell_of(pl.col("latitude"), pl.col("longitude")))
    grid = _Grid.of(sites, period)
    energy, unplaced = _place_readings(grid, readings, period)
    cells = sites["cell"].unique().sort()
    cell_position = sites.select(pl.col("cell").replace_strict(cells, pl.int_range(len(cells), eager=True)))
    sky_row = cell_position.to_series().to_numpy()[grid.meter] * period.intervals + grid.interval
    sky = clearsky.cell_sky(cells.to_list(), period.first, period.intervals)
    clear_sky = clearsky.site_bounds(sky, sky_row, sites, grid.meter, parameters.clear_sky_margin)
    ts_us = grid.interval * _STEP_US + _epoch_us(period.first)
    kwh = energy["kwh"].to_numpy()  # NaN where missing
    mask = flags.interval_masks(kwh, grid.meter, sites["capacity_kw"].to_numpy()[grid.meter],
                                energy["duplicate"].to_numpy(), energy["counter_reset"].to_numpy(),
                                sky["sun_up"].to_numpy()[sky_row], clear_sky, ts_us, parameters.thresholds, now)
    site_days = _SiteDays.of(grid.meter, _local_days(period)[grid.interval])
    mask = _with_peer_outliers(mask, site_days, np.nan_to_num(kwh), sites, parameters)
    accepted = np.where(mask == 0, np.nan_to_num(kwh), 0.0)
    intervals = pa.table({
        "meter_id": pa.DictionaryArray.from_arrays(pa.array(grid.meter), _meter_ids(sites)),
        "ts": pa.array(ts_us, pa.timestamp("us", tz="UTC")),
        "kwh": energy["kwh"].to_arrow(),
        "flags": _flag_lists(mask),
        "accepted_kwh": pa.array(accepted),
    }, schema=_INTERVALS_SCHEMA)
    daily = _daily(site_days, kwh, accepted, clear_sky, mask, sites, period)
    return PartitionResult(intervals, daily, unplaced)


def _meter_ids(sites: pl.DataFrame) -> pa.Array:
    return pa.array(sites["meter_id"].to_list(), pa.string())


@dataclass(frozen=True)
class _SiteDays:
    """The partition's rows cut into site-days: each meter's rows are in time order, so a site-day is a run."""

    starts: np.ndarray  # first row of each site-day
    meter: np.ndarray
    day: np.ndarray

    @classmethod
    def of(cls, meter: np.ndarray, day: np.ndarray) -> _SiteDays:
        change = np.ones(len(meter), dtype=bool)
        change[1:] = (meter[1:] != meter[:-1]) | (day[1:] != day[:-1])
        starts = np.flatnonzero(change)
        return cls(starts, meter[starts].astype(np.int64), day[starts])

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Each site-day's sum.  The same rows summed in the same order wherever and however the partition is
        cut, so a run's files are the same to the last bit whatever the engine or partition size."""
        if not len(self.starts):
            return np.zeros(0, dtype=values.dtype if values.dtype.kind == "f" else np.int64)
        return np.add.reduceat(values, self.starts)


def _with_peer_outliers(mask: np.ndarray, site_days: _SiteDays, kwh: np.ndarray, sites: pl.DataFrame,
                        parameters: Parameters) -> np.ndarray:
    """The mask with `Flag.OUTLIER` on every interval of the site-days the peer check flags.

    A site-day's yield is the energy its meter reported, flagged or not: the check stands on its own, so a site
    reporting twice its capacity's worth is caught even on the days its largest intervals are flagged already.
    """
    reported = site_days.sum(kwh)
    readings = site_days.sum((mask & np.uint16(Flag.MISSING)) == 0)
    yields = pl.DataFrame({
        "cell": sites["cell"].to_numpy()[site_days.meter],
        "meter": site_days.meter,
        "day": site_days.day,
        "specific_yield": reported / sites["capacity_kw"].to_numpy()[site_days.meter],
        "index": np.arange(len(site_days.starts)),
    }).filter(pl.Series(readings > 0))
    odd = peers.peer_outliers(yields, parameters.peer_z_threshold).join(yields, on=["meter", "day"])
    if odd.is_empty():
        return mask
    odd_day = np.zeros(len(site_days.starts), dtype=bool)
    odd_day[odd["index"].to_numpy()] = True
    lengths = np.diff(np.append(site_days.starts, len(mask)))
    return np.where(np.repeat(odd_day, lengths), mask | np.uint16(Flag.OUTLIER), mask)


def _daily(site_days: _SiteDays, kwh: np.ndarray, accepted: np.ndarray, clear_sky: np.ndarray, mask: np.ndarray,
           sites: pl.DataFrame, period: Period) -> pl.DataFrame:
    """One row per meter and local day: energies, interval counts and one count per flag."""
    lengths = np.diff(np.append(site_days.starts, len(mask)))
    counts = flags.run_counts(mask, site_days.starts, len(FLAG_NAMES))
    return pl.DataFrame({
        "meter_id": sites["meter_id"].to_numpy()[site_days.meter],
        "date": np.datetime64(period.start, "D") + site_days.day,
        "reported_kwh": site_days.sum(np.nan_to_num(kwh)),
        "accepted_kwh": site_days.sum(accepted),
        "clear_sky_kwh": site_days.sum(clear_sky),
        "intervals": lengths,
        "flagged_intervals": counts[:, 0],
        **{name: counts[:, 1 + bit] for bit, name in enumerate(FLAG_NAMES)},
    }).with_columns(
        pl.col("meter_id").cast(pl.String), pl.col("date").cast(pl.Date),
        pl.col("intervals", "flagged_intervals", *FLAG_NAMES).cast(pl.UInt32),
    )


# ---------------------------------------------------------------- the whole run

@dataclass(frozen=True)
class Partition:
    """Whole grid cells over a run of whole local days: the unit of work of a verification."""

    cells: tuple[int, ...]
    sites: pl.DataFrame
    period: Period


def plan_partitions(sites: pl.DataFrame, period: Period, limit: int = PARTITION_INTERVALS) -> list[Partition]:
    """The sites' cells and the period cut into partitions of about ``limit`` owed intervals or fewer.

    Cells are never split: the peer check compares all sites of a cell on a day.  Neighbouring cells share a
    partition while they fit; a cell too big for one is cut into runs of whole days instead.  A day boundary is
    local midnight, when PV meters read zero, so no stale run, line or spike is cut in two that matters (a
    register read at midnight closes one partition's last interval and opens the next's first).
    """
    per_cell = (sites.with_columns(clearsky.cell_of(pl.col("latitude"), pl.col("longitude")))
                .group_by("cell").len().sort("cell"))
    day = INTERVALS_PER_DAY
    groups: list[list[int]] = []
    size = 0
    for cell, count in per_cell.iter_rows():
        if not groups or size + count * day * period.days > limit:
            groups.append([])
            size = 0
        groups[-1].append(cell)
        size += count * day * period.days
    cell = clearsky.cell_of(pl.col("latitude"), pl.col("longitude"))
    partitions = []
    for group in groups:
        members = sites.filter(cell.is_in(group))
        days = max(1, limit // (len(members) * day))
        for first in range(0, period.days, days):
            start = period.start + timedelta(days=first)
            end = min(start + timedelta(days=days - 1), period.end)
            partitions.append(Partition(tuple(group), members, Period(start, end, period.timezone)))
    return partitions


def _check_sites(sites: pl.DataFrame) -> pl.DataFrame:
    missing = [name for name in SITE_SCHEMA if name not in sites.columns]
    if missing:
        raise InvalidRequest(f"the sites lack column(s) {', '.join(missing)}")
    if sites.is_empty():
        raise InvalidRequest("there are no sites to verify")
    repeated = sites.filter(pl.col("meter_id").is_duplicated())["meter_id"].unique().sort().to_list()
    if repeated:
        raise InvalidRequest(f"the sites list meter(s) {_listed(repeated)} more than once")
    needed = ("meter_id", "capacity_kw", "latitude", "longitude", "commissioned")
    bad = sites.filter(pl.any_horizontal(pl.col(needed).is_null()) | (pl.col("capacity_kw") <= 0)
                       | ~pl.col("latitude").is_between(-90, 90) | ~pl.col("longitude").is_between(-180, 180))
    if len(bad):
        raise InvalidRequest(f"site(s) {_listed(bad['meter_id'].fill_null('(no meter id)').to_list())} lack a "
                             "meter id, a capacity above 0, a latitude/longitude in range or a commissioning date")
    return sites.select(pl.col(name).cast(dtype) for name, dtype in SITE_SCHEMA.items())


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN_METERS])
    return shown + (f" and {len(items) - SHOWN_METERS} more" if len(items) > SHOWN_METERS else "")


def _spill(readings: pl.LazyFrame, partitions: list[Partition], period: Period,
           directory: Path) -> tuple[list[pl.LazyFrame], dict[str, int]]:
    """Route the readings to Arrow files per partition in one streaming pass (a shuffle through local disk, in
    Polars' own threads), so that each partition reads only its own readings; readings of unknown meters are
    counted by meter.

    A partition is its sites' meters over its days; a register read at local midnight also goes to the partition
    whose last interval it closes (a second, small set of files: such reads are few).
    """
    # Each group of cells has consecutive partitions of equally many days (the last may be shorter).
    routes = []
    for index, part in enumerate(partitions):
        if index == 0 or partitions[index - 1].cells != part.cells:
            last = max(i for i, other in enumerate(partitions) if other.cells == part.cells)
            routes.append(part.sites.select("meter_id", first=pl.lit(index, pl.Int64),
                                            days=pl.lit(part.period.days, pl.Int64), last=pl.lit(last, pl.Int64)))
    day, midnight = _local_day(period)
    own = pl.col("first") + day // pl.col("days")
    previous = pl.col("first") + (day - 1) // pl.col("days")
    route = pl.concat(routes).lazy()
    # Readings of unknown meters go to partition -1, to be counted.
    (readings.join(route, on="meter_id", how="left", maintain_order="left")
     .select(*READING_SCHEMA, partition=pl.when(own <= pl.col("last")).then(own).fill_null(-1))
     .sink_ipc(pl.PartitionBy(directory / "own", key="partition", include_key=False), compression=None))
    # Read back from the spilled files, not the input: Arrow is read without decoding, one column at a time.
    spilled = pl.scan_ipc(directory / "own" / "*" / "*.ipc")
    midnight_reads = spilled.filter(pl.col("register_kwh").is_not_null() & midnight & (day > 0))
    (midnight_reads.join(route, on="meter_id", how="inner", maintain_order="left").filter(previous != own)
     .select(*READING_SCHEMA, partition=previous)
     .sink_ipc(pl.PartitionBy(directory / "closes", key="partition", include_key=False), compression=None))
    unknown: dict[str, int] = {}
    if (directory / "own" / "partition=-1").is_dir():
        stray = pl.scan_ipc(directory / "own" / "partition=-1" / "*.ipc").group_by("meter_id").len().collect()
        unknown = dict(stray.iter_rows())

    def scan(index: int) -> pl.LazyFrame:
        files = [directory / kind / f"partition={index}" for kind in ("own", "closes")]
        scans = [pl.scan_ipc(path / "*.ipc") for path in files if path.is_dir()]
        return pl.concat(scans) if scans else pl.LazyFrame(schema=READING_SCHEMA)

    return [scan(index) for index in range(len(partitions))], unknown


def _local_day(period: Period) -> tuple[pl.Expr, pl.Expr]:
    """A reading's local day (days since the period's first) and whether it is stamped at local midnight.

    Integer arithmetic on the UTC time where every day of the period is 24 hours long (Asia/Shanghai has kept
    UTC+8 since 1991), the time zone's rules only where a day is not.
    """
    day_us = _epoch_us(datetime(1970, 1, 2, tzinfo=UTC))
    midnights = [_epoch_us(period.midnight(period.start + timedelta(days=n))) for n in range(period.days + 1)]
    if all(later - earlier == day_us for earlier, later in itertools.pairwise(midnights)):
        since = pl.col("ts").dt.epoch("us") - midnights[0]
        return since // day_us, since % day_us == 0
    local = pl.col("ts").dt.convert_time_zone(period.timezone)
    return (local.dt.date() - pl.lit(period.start)).dt.total_days(), local.dt.time() == pl.time(0)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(
    sites: pl.DataFrame,
    readings: pl.LazyFrame,
    period: Period,
    out_dir: Path,
    *,
    methodology: str | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    inputs: Sequence[Any] = (),
    notes: Sequence[str] = (),
    engine: Engine = run_partitions,
    partition_intervals: int = PARTITION_INTERVALS,
) -> dict[str, Any]:
    """Verify the sites' readings over the period and write intervals.parquet, daily.parquet and summary.json.

    ``readings`` are in `frames.READING_SCHEMA` (any extra meters and times are ignored and reported in the
    notes); ``methodology`` is ``CODE@VERSION`` (default: the default version); ``now`` decides which intervals
    are `future` (default: the clock); ``progress(done, total)`` counts site-days; ``inputs`` and ``notes`` are
    recorded in the summary; ``engine`` runs the partitions (of about ``partition_intervals`` intervals each).
    The three files appear together at the end (written under temporary names, then renamed), so a failed run
    leaves no half-written output.  Returns the summary.
    """
    version = find_methodology(methodology)
    parameters = Parameters.of(version)
    now = now or datetime.now(UTC)
    sites = _check_sites(sites)
    if (sites["commissioned"] > period.end).all():
        raise InvalidRequest(f"every site was commissioned after the period {period}: no interval to verify")
    partitions = plan_partitions(sites, period, partition_intervals)
    total = len(sites) * period.days
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".verify-", dir=out_dir))
    try:
        window = readings.select(
            pl.col("meter_id").cast(pl.String), pl.col("ts").dt.convert_time_zone("UTC"),
            pl.col("kwh").cast(pl.Float64), pl.col("register_kwh").cast(pl.Float64),
        ).filter(pl.col("ts").is_between(period.first, period.stop, closed="both"))
        if len(partitions) == 1:
            known = pl.Series(sites["meter_id"]).implode()
            lazies = [window.filter(pl.col("meter_id").is_in(known))]
            outside = window.filter(~pl.col("meter_id").is_in(known)).group_by("meter_id").len().collect()
            unknown = dict(outside.iter_rows())
        else:
            lazies, unknown = _spill(window, partitions, period, scratch)
        tasks = [PartitionTask(index, part.sites, lazy, part.period, parameters, now)
                 for index, (part, lazy) in enumerate(zip(partitions, lazies, strict=True))]
        daily_parts: list[pl.DataFrame] = []
        unplaced_parts: list[pl.DataFrame] = []
        done = 0
        with pq.ParquetWriter(scratch / INTERVALS_FILE, _INTERVALS_SCHEMA, compression="zstd", store_schema=False,
                              write_batch_size=WRITE_BATCH_ROWS) as writer:
            for task, result in zip(tasks, engine(tasks, run_task), strict=True):
                writer.write_table(result.intervals)
                daily_parts.append(result.daily)
                unplaced_parts.append(result.unplaced)
                done += len(task.sites) * task.period.days
                if progress is not None:
                    progress(done, total)
        daily = pl.concat(daily_parts).sort("meter_id", "date")
        daily.write_parquet(scratch / DAILY_FILE)
        summary = _summary(sites, daily, period, version, now, inputs,
                           [*notes, *_run_notes(sites, daily, period, unknown, pl.concat(unplaced_parts))],
                           {name: _sha256(scratch / name) for name in (INTERVALS_FILE, DAILY_FILE)})
        (scratch / SUMMARY_FILE).write_text(_summary_text(summary), encoding="utf-8")
        for name in (INTERVALS_FILE, DAILY_FILE, SUMMARY_FILE):
            os.replace(scratch / name, out_dir / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return summary


def _summary_text(summary: Mapping[str, Any]) -> str:
    """summary.json's text: indented, but one line per site, so that 100,000 sites stay quick to write (Python's
    JSON encoder is fast only without indentation) and a diff shows one changed line per changed site."""
    placeholder = {key: ["<sites>"] if key == "sites" else value for key, value in summary.items()}
    sites = ",\n  ".join(json.dumps(site, ensure_ascii=False) for site in summary["sites"])
    text = json.dumps(placeholder, ensure_ascii=False, indent=1)
    return text.replace('"sites": [\n  "<sites>"\n ]', f'"sites": [\n  {sites}\n ]') + "\n"


def _run_notes(sites: pl.DataFrame, daily: pl.DataFrame, period: Period, unknown: Mapping[str, int],
               unplaced: pl.DataFrame) -> list[str]:
    notes = [f"Days and the period are local dates in {period.timezone}; interval timestamps (ts) are UTC starts "
             f"of 15-minute intervals."]
    idle = sorted(set(sites["meter_id"]) - set(daily["meter_id"]))
    if idle:
        notes.append(f"{len(idle)} meter(s) commissioned after the period were not verified: {_listed(idle)}.")
    if unknown:
        meters = sorted(unknown)
        notes.append(f"{sum(unknown.values())} reading(s) of {len(meters)} meter(s) not in the sites were not "
                     f"verified: {_listed(meters)}.")
    if len(unplaced):
        notes.append(f"{unplaced['readings'].sum()} reading(s) dated before their meter's commissioning day were "
                     f"not credited: meters {_listed(unplaced['meter_id'].to_list())}.")
    return notes


def _summary(sites: pl.DataFrame, daily: pl.DataFrame, period: Period, version: DistributedPV, now: datetime,
             inputs: Sequence[Any], notes: Sequence[str], files: Mapping[str, str]) -> dict[str, Any]:
    per_meter = daily.group_by("meter_id").agg(
        pl.col("intervals").sum().alias("intervals_expected"),
        pl.col("reported_kwh").sum(), pl.col("accepted_kwh").sum(),
        *(pl.col(name).sum() for name in FLAG_NAMES),
    ).join(sites, on="meter_id").sort("meter_id")
    site_entries = []
    for row in per_meter.iter_rows(named=True):
        accepted = recorded_energy(row["accepted_kwh"])
        site_entries.append({
            "meter_id": row["meter_id"], "site_id": row["site_id"], "owner": row["owner"],
            "region": row["region"], "capacity_kw": row["capacity_kw"],
            "intervals_expected": row["intervals_expected"], "reported_kwh": recorded_energy(row["reported_kwh"]),
            "accepted_kwh": accepted, "flag_counts": {name: row[name] for name in FLAG_NAMES},
            "reduction_kg": version.reduction_kg(accepted),
        })
    return {
        "format": SUMMARY_FORMAT,
        "period": period.describe(),
        "methodology": version.describe(),
        "parameters": _parameters(version),
        "sites": site_entries,
        "totals": {
            "sites": len(site_entries),
            "intervals_expected": sum(entry["intervals_expected"] for entry in site_entries),
            "reported_kwh": recorded_energy(sum(entry["reported_kwh"] for entry in site_entries)),
            "accepted_kwh": recorded_energy(sum(entry["accepted_kwh"] for entry in site_entries)),
            "reduction_kg": sum(entry["reduction_kg"] for entry in site_entries),
            "flag_counts": {name: sum(entry["flag_counts"][name] for entry in site_entries) for name in FLAG_NAMES},
        },
        "files": dict(files),
        "inputs": list(inputs),
        "notes": list(notes),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "verified_as_of": now.astimezone(UTC).isoformat(timespec="seconds"),
        "tanhui_version": tanhui.__version__,
    }


def _parameters(version: DistributedPV) -> dict[str, Any]:
    """The thresholds of the run: the methodology's (with tag and reason) and the checks' engineering constants."""
    described: dict[str, Any] = {
        parameter.name: {"value": float(parameter.value), "unit": parameter.unit, "tag": parameter.tag,
                         "note": parameter.note}
        for parameter in version.parameters
    }
    described.update({
        "grid_cell_degrees": clearsky.CELL_DEGREES,
        "clear_sky_model": "pvlib Ineichen-Perez clear sky, Linke turbidity climatology, at each interval's "
                           "midpoint per grid cell; Hay-Davies transposition; unknown orientation: plane facing "
                           f"the sun; albedo {clearsky.ALBEDO}",
        "stale_window_intervals": flags.STALE_WINDOW,
        "interpolation_window_intervals": flags.INTERPOLATION_WINDOW,
        "interpolation_tolerance_share_of_nameplate": flags.INTERPOLATION_SHARE,
        "outlier_window_intervals": flags.HAMPEL_WINDOW,
        "outlier_mad_multiple": flags.HAMPEL_K,
        "outlier_min_share_of_nameplate": flags.OUTLIER_MIN_SHARE,
        "peer_min_sites": peers.MIN_PEERS,
        "peer_scale_floor_share_of_median": peers.SCALE_FLOOR_SHARE,
    })
    return described
