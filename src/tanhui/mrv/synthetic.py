"""A synthetic PV park: sites and 15-minute readings with known, labelled faults, for the demo, tests and benchmarks.

The energy follows pvlib's clear-sky irradiance on each site's own module plane (`clearsky.plane_of_array`, the
same bound verification uses), dimmed by a cloud factor per grid cell and day and scaled by each site's capacity
and performance ratio; faults are injected at stated rates and returned as
labels, so a test can check that verification finds each of them.  Nothing here is a published figure: the
shapes and rates are the generator's own choices, made to look like a real park's data and its typical defects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa

from tanhui.mrv import clearsky
from tanhui.mrv.frames import INTERVAL, INTERVALS_PER_DAY, LOCAL_TIMEZONE

# Suzhou Industrial Park, roughly its centre; sites scatter within SPREAD_DEG of it.
PARK_CENTRE = (31.30, 120.72)
SPREAD_DEG = 0.08
# Meter resolution of the generated data: 1 Wh (many meters give 10 Wh; finer steps make fewer chance repeats).
KWH_DECIMALS = 3

# Fault kinds and the share of sites that get each (one fault per site at most, so labels stay unambiguous).
FAULT_RATES: dict[str, float] = {
    "outage": 0.010,  # a whole local day missing
    "gaps": 0.010,  # a few random intervals missing
    "stale": 0.010,  # the meter repeats one mid-day value for STALE_RUN intervals
    "interpolated": 0.010,  # a gap filled by a straight line over INTERPOLATED_RUN intervals
    "spike": 0.010,  # one interval SPIKE_FACTOR times too high
    "clock": 0.003,  # timestamps 8 h late (local time written as UTC): energy at night
    "undersized": 0.005,  # declared capacity half the real one
    "negative": 0.005,  # one night interval below zero
    "duplicate": 0.005,  # one interval sent twice with different values
}
STALE_RUN = 8
INTERPOLATED_RUN = 8
SPIKE_FACTOR = 8.0
GAP_COUNT = 6
CLOCK_SHIFT_INTERVALS = 32  # 8 hours
# Share of sites whose meters report a cumulative register instead of interval energy; one of them resets.
REGISTER_SHARE = 0.03
# Sites generated at a time: ~3 M readings for a month, a few hundred MB at most.
_CHUNK_SITES = 1000


@dataclass(frozen=True)
class ParkSpec:
    """What to generate: how many sites, which local days, from which seed."""

    sites: int = 1000
    start: date = date(2024, 6, 1)
    days: int = 30
    seed: int = 2024
    owners: int = 12
    region: str = "SIP"
    faults: bool = True

    @property
    def intervals(self) -> int:
        return self.days * INTERVALS_PER_DAY

    @property
    def first_ts(self) -> datetime:
        """The first interval's start in UTC (local midnight of the first day)."""
        local_midnight = datetime.combine(self.start, datetime.min.time())
        return local_midnight.replace(tzinfo=_local()).astimezone(UTC)


def _local() -> ZoneInfo:
    return ZoneInfo(LOCAL_TIMEZONE)


def owner_name(index: int) -> str:
    """The demo park's owners are invented, and say so."""
    return f"屋顶业主{index:02d}（演示） Rooftop owner {index:02d} (demo)"


def meter_id(index: int) -> str:
    """Twelve digits, as a DL/T 645 meter address."""
    return f"3205{index:08d}"


@dataclass(frozen=True)
class Park:
    """The generated park: sites as the registry knows them, and what each site truly is."""

    spec: ParkSpec
    sites: pl.DataFrame  # frames.SITE_SCHEMA
    true_capacity_kw: np.ndarray
    performance_ratio: np.ndarray
    fault: np.ndarray  # fault kind per site, "" for none
    register: np.ndarray  # bool per site: reports a cumulative register
    true_tilt: np.ndarray  # degrees; also for sites whose recorded orientation is unknown
    true_azimuth: np.ndarray


def make_park(spec: ParkSpec) -> Park:
    """Sites with capacities, places, orientations and owners; the faults each will show."""
    rng = np.random.default_rng(spec.seed)
    n = spec.sites
    # Rooftop PV sizes are skewed: many small roofs, a few large factory roofs (median ~ 60 kWp).
    capacity = np.round(np.clip(rng.lognormal(np.log(60.0), 1.0, n), 3.0, 2000.0), 1)
    latitude = np.round(PARK_CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG, n), 5)
    longitude = np.round(PARK_CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG, n), 5)
    known = rng.random(n) < 0.7  # orientation recorded for most sites, unknown for the rest
    true_tilt = np.round(rng.uniform(5, 30, n))
    true_azimuth = np.round(rng.uniform(150, 210, n))
    tilt = np.where(known, true_tilt, np.nan)
    azimuth = np.where(known, true_azimuth, np.nan)
    commissioned = [spec.start - timedelta(days=int(d)) for d in rng.integers(30, 2000, n)]
    # A few sites start during the period: they owe intervals only from their commissioning day.
    for index in rng.choice(n, size=max(1, n // 200), replace=False):
        commissioned[index] = spec.start + timedelta(days=int(rng.integers(1, max(2, spec.days))))
    fault = np.full(n, "", dtype=object)
    if spec.faults:
        order = rng.permutation(n)
        at = 0
        for kind, rate in FAULT_RATES.items():
            count = max(1, round(rate * n)) if n >= 2 * len(FAULT_RATES) else 0
            fault[order[at:at + count]] = kind
            at += count
    register = rng.random(n) < REGISTER_SHARE
    register &= fault == ""  # keep register meters free of interval faults; one of them gets a reset
    declared = np.where(fault == "undersized", np.round(capacity / 2, 1), capacity)
    owners = [owner_name(1 + i % spec.owners) for i in rng.integers(0, spec.owners, n)]
    sites = pl.DataFrame({
        "meter_id": [meter_id(i + 1) for i in range(n)],
        "site_id": [f"S{i + 1:06d}" for i in range(n)],
        "owner": owners,
        "capacity_kw": declared,
        "latitude": latitude,
        "longitude": longitude,
        "region": [spec.region] * n,
        "commissioned": commissioned,
        "tilt": tilt,
        "azimuth": azimuth,
        "grid_point": [f"GP-{1 + i // 50:03d}" for i in range(n)],
    }, schema_overrides={"commissioned": pl.Date}).with_columns(
        pl.col("tilt").fill_nan(None), pl.col("azimuth").fill_nan(None)
    )
    return Park(spec, sites, capacity, rng.uniform(0.72, 0.86, n), fault, register, true_tilt, true_azimuth)


def _clear_sky_kwh_per_kwp(sky: pl.DataFrame, cell: np.ndarray, tilt: np.ndarray, azimuth: np.ndarray,
                           intervals: int) -> np.ndarray:
    """Clear-sky energy per kWp (kWh/kWp) of sites × intervals on each site's module plane, from its cell's
    rows of ``sky`` (`clearsky.cell_sky`, cell-major) at the position ``cell``."""
    rows = (cell[:, None] * intervals + np.arange(intervals)[None, :]).ravel()
    frame = sky[rows].with_columns(tilt=pl.Series(np.repeat(tilt, intervals)),
                                   azimuth=pl.Series(np.repeat(azimuth, intervals)))
    energy = frame.select(clearsky.interval_kwh(clearsky.plane_of_array(pl.col("tilt"), pl.col("azimuth")),
                                                pl.lit(1.0)))
    return energy.to_series().to_numpy().reshape(len(cell), intervals)


def _local_midnights(spec: ParkSpec) -> np.ndarray:
    return np.arange(spec.days) * INTERVALS_PER_DAY


@dataclass(frozen=True)
class Chunk:
    """Readings of a run of sites: interval energy, cumulative registers, and the labels of injected faults."""

    energy: pa.Table  # meter_id, ts, kwh
    registers: pa.Table  # meter_id, ts, register_kwh
    labels: list[tuple[str, datetime, str]]  # (meter_id, ts, fault)


def readings(park: Park, *, chunk_sites: int = _CHUNK_SITES) -> Iterator[Chunk]:
    """The park's readings, a chunk of sites at a time (bounded memory for any park size)."""
    spec = park.spec
    # One cloud factor per day for each of verification's grid cells, whose sites the peer check expects to share
    # the sky.
    cells = park.sites.select(clearsky.cell_of(pl.col("latitude"), pl.col("longitude"))).to_series().to_numpy()
    cell_ids, cell_index = np.unique(cells, return_inverse=True)
    sky = clearsky.cell_sky(cell_ids.tolist(), spec.first_ts, spec.intervals)
    weather = np.random.default_rng(spec.seed + 1)
    # Mostly sunny-to-hazy days with some overcast ones, shared by the sites of a cell.
    cloud = np.clip(weather.beta(5.0, 1.6, size=(len(cell_ids), spec.days)), 0.05, 1.0)
    step = np.timedelta64(int(INTERVAL.total_seconds() * 1e6), "us")
    ts = np.datetime64(spec.first_ts.replace(tzinfo=None), "us") + np.arange(spec.intervals) * step
    # Local midnight of each commissioning day, in UTC (China has kept one offset all year since 1991).
    local_midnight = datetime.combine(spec.start, datetime.min.time())
    offset = local_midnight - spec.first_ts.replace(tzinfo=None)
    commissioned = park.sites["commissioned"].to_numpy().astype("datetime64[us]") - np.timedelta64(offset)
    ids = park.sites["meter_id"].to_list()
    for begin in range(0, spec.sites, chunk_sites):
        end = min(begin + chunk_sites, spec.sites)
        rng = np.random.default_rng([spec.seed, begin])
        daily_cloud = np.repeat(cloud[cell_index[begin:end]], INTERVALS_PER_DAY, axis=1)
        noise = 1.0 + rng.normal(0.0, 0.03, size=(end - begin, spec.intervals))
        profile = _clear_sky_kwh_per_kwp(sky, cell_index[begin:end], park.true_tilt[begin:end],
                                         park.true_azimuth[begin:end], spec.intervals)
        kwh = (profile * (park.true_capacity_kw[begin:end] * park.performance_ratio[begin:end])[:, None]
               * daily_cloud * np.clip(noise, 0.8, 1.2))
        kwh = np.round(kwh, KWH_DECIMALS)
        present = np.ones_like(kwh, dtype=bool)
        first_owed = np.searchsorted(ts, commissioned[begin:end])
        present &= np.arange(spec.intervals)[None, :] >= first_owed[:, None]
        labels: list[tuple[str, datetime, str]] = []
        extra: list[tuple[int, int, float]] = []  # duplicates: (row, interval, value)
        for row in range(end - begin):
            kind = park.fault[begin + row]
            if kind:
                _inject(kind, row, kwh, present, profile[row], rng, spec, labels, extra, ids[begin + row], ts)
        rows, cols = np.nonzero(present)
        register_rows = park.register[begin:end]
        energy_mask = ~register_rows[rows]
        extra_rows = np.array([r for r, _, _ in extra], dtype=np.int64)
        extra_cols = np.array([c for _, c, _ in extra], dtype=np.int64)
        meter_index = np.concatenate([begin + rows[energy_mask], begin + extra_rows]).astype(np.int32)
        energy_ts = np.concatenate([ts[cols[energy_mask]], ts[extra_cols]])
        energy_kwh = np.concatenate([kwh[rows[energy_mask], cols[energy_mask]],
                                     np.array([v for _, _, v in extra], dtype=np.float64)])
        yield Chunk(
            energy=_table(ids, meter_index, energy_ts, "kwh", energy_kwh),
            registers=_registers(ids, begin, rows[~energy_mask], cols[~energy_mask], kwh, ts, rng, labels),
            labels=labels,
        )


def _inject(kind: str, row: int, kwh: np.ndarray, present: np.ndarray, profile: np.ndarray,
            rng: np.random.Generator, spec: ParkSpec, labels: list[tuple[str, datetime, str]],
            extra: list[tuple[int, int, float]], meter: str, ts: np.ndarray) -> None:
    """Spoil one site's series the way the fault kind does, recording each spoiled interval."""
    owed = np.nonzero(present[row])[0]
    if len(owed) < INTERVALS_PER_DAY:
        return
    day_starts = owed[owed % INTERVALS_PER_DAY == 0]
    day = int(rng.choice(day_starts)) if len(day_starts) else int(owed[0])
    noon = day + INTERVALS_PER_DAY // 2 - 16  # local 08:00 + a bit: well inside daylight
    spoiled: list[int] = []
    if kind == "outage":
        spoiled = list(range(day, day + INTERVALS_PER_DAY))
        present[row, spoiled] = False
    elif kind == "gaps":
        spoiled = sorted(int(i) for i in rng.choice(owed, size=GAP_COUNT, replace=False))
        present[row, spoiled] = False
    elif kind == "stale":
        spoiled = list(range(noon + 1, noon + STALE_RUN))
        kwh[row, spoiled] = kwh[row, noon]
    elif kind == "interpolated":
        a, b = noon, noon + INTERPOLATED_RUN
        spoiled = list(range(a + 1, b))
        kwh[row, spoiled] = np.round(np.linspace(kwh[row, a], kwh[row, b], b - a + 1)[1:-1], KWH_DECIMALS)
    elif kind == "spike":
        spoiled = [noon + 8]
        kwh[row, spoiled] = np.round(kwh[row, spoiled] * SPIKE_FACTOR, KWH_DECIMALS)
    elif kind == "clock":
        shifted = np.zeros_like(kwh[row])
        shifted[CLOCK_SHIFT_INTERVALS:] = kwh[row, :-CLOCK_SHIFT_INTERVALS]
        kwh[row] = shifted
        spoiled = [int(i) for i in np.nonzero((shifted > 0) & (profile <= 0))[0] if present[row, i]]
    elif kind == "undersized":
        spoiled = [int(i) for i in np.nonzero(kwh[row] > 0)[0] if present[row, i]]
    elif kind == "negative":
        spoiled = [day + 4]  # local 01:00
        kwh[row, spoiled] = -0.05
    elif kind == "duplicate":
        spoiled = [noon + 4]
        extra.append((row, noon + 4, float(np.round(kwh[row, noon + 4] * 0.5, KWH_DECIMALS))))
    for index in spoiled:
        labels.append((meter, _as_datetime(ts[index]), kind))


def _as_datetime(value: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(value.astype("datetime64[us]").astype(np.int64)) / 1e6, UTC)


def _registers(ids: list[str], begin: int, rows: np.ndarray, cols: np.ndarray, kwh: np.ndarray, ts: np.ndarray,
               rng: np.random.Generator, labels: list[tuple[str, datetime, str]]) -> pa.Table:
    """Cumulative registers for register meters: a read at each interval's start and one closing the last
    interval; one meter resets to zero."""
    if len(rows) == 0:
        return _table(ids, np.array([], np.int32), np.array([], "datetime64[us]"), "register_kwh", np.array([]))
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    energy = np.clip(kwh[rows, cols], 0.0, None)
    starts = np.r_[0, np.nonzero(np.diff(rows))[0] + 1]
    offsets = rng.uniform(1_000.0, 90_000.0, size=len(starts))
    cumulative = np.cumsum(energy)
    base = np.repeat(cumulative[starts] - energy[starts] - offsets, np.diff(np.r_[starts, len(rows)]))
    register = np.round(cumulative - energy - base, KWH_DECIMALS)
    if len(starts) and begin == 0:  # the first chunk's first register meter rolls over mid-series
        first, last = starts[0], (starts[1] if len(starts) > 1 else len(rows))
        middle = first + (last - first) // 2
        register[middle:last] -= register[middle]
        labels.append((ids[begin + rows[middle]], _as_datetime(ts[cols[middle - 1]]), "counter_reset"))
    # Each meter's closing read at the end of its last interval, without which that interval would be missing.
    ends = np.r_[starts[1:], len(rows)] - 1
    step = np.timedelta64(int(INTERVAL.total_seconds() * 1e6), "us")
    meters = np.concatenate([begin + rows, begin + rows[ends]]).astype(np.int32)
    stamps = np.concatenate([ts[cols], ts[cols[ends]] + step])
    values = np.concatenate([register, np.round(register[ends] + energy[ends], KWH_DECIMALS)])
    return _table(ids, meters, stamps, "register_kwh", values)


def _table(ids: list[str], meter_index: np.ndarray, ts: np.ndarray, column: str, values: np.ndarray) -> pa.Table:
    # Dictionary-encoded meter ids: 1e8 rows never become 1e8 Python strings.
    meters = pa.DictionaryArray.from_arrays(pa.array(meter_index, pa.int32()), pa.array(ids, pa.string()))
    return pa.table({
        "meter_id": meters,
        "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
        column: pa.array(values, pa.float64()),
    })


@dataclass(frozen=True)
class ParkFiles:
    """Where a generated park was written, and how much of it."""

    sites: Path
    readings: Path
    registers: Path
    faults: Path
    readings_rows: int
    register_rows: int


def write_park(spec: ParkSpec, out_dir: Path, *, progress: Callable[[int, int], None] | None = None) -> ParkFiles:
    """Write sites.csv, readings.parquet (interval energy), registers.parquet and faults.csv into ``out_dir``."""
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    park = make_park(spec)
    files = ParkFiles(out_dir / "sites.csv", out_dir / "readings.parquet", out_dir / "registers.parquet",
                      out_dir / "faults.csv", 0, 0)
    park.sites.write_csv(files.sites)
    labels: list[tuple[str, datetime, str]] = []
    counts = [0, 0]
    writers: list[Any] = [None, None]
    try:
        done = 0
        for chunk in readings(park):
            for slot, (table, path) in enumerate(((chunk.energy, files.readings), (chunk.registers, files.registers))):
                # Plain strings in the file (Parquet dictionary-encodes them itself); readers need no Arrow types.
                table = table.set_column(0, "meter_id", table.column("meter_id").cast(pa.string()))
                if writers[slot] is None:
                    writers[slot] = pq.ParquetWriter(path, table.schema, compression="zstd")
                writers[slot].write_table(table)
                counts[slot] += table.num_rows
            labels.extend(chunk.labels)
            done = min(spec.sites, done + _CHUNK_SITES)
            if progress is not None:
                progress(done, spec.sites)
    finally:
        for writer in writers:
            if writer is not None:
                writer.close()
    pl.DataFrame(labels, schema={"meter_id": pl.String, "ts": pl.Datetime("us", "UTC"), "fault": pl.String},
                 orient="row").write_csv(files.faults)
    return ParkFiles(files.sites, files.readings, files.registers, files.faults, counts[0], counts[1])
