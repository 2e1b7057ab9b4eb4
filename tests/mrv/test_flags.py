"""Interval flags over a partition frame: each check raises exactly where its rule says, never across meters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tanhui.mrv import clearsky, flags
from tanhui.mrv.frames import Flag, flag_names

T0 = datetime(2024, 6, 1, 4, tzinfo=UTC)  # 12:00 in Suzhou
THRESHOLDS = flags.Thresholds(low_light_allowance_w_m2=20.0, capacity_tolerance=1.1)


def _clear_day(capacity_kw: float, decimals: int) -> list[float]:
    """A clear June day of a south-facing roof in Suzhou, 15-minute energies from local midnight, as a meter
    reading to ``decimals`` would give them (performance ratio 0.8)."""
    cell = pl.select(clearsky.cell_of(pl.lit(31.3), pl.lit(120.7))).item()
    sky = clearsky.cell_sky([cell], datetime(2024, 5, 31, 16, tzinfo=UTC), 96)
    energy = sky.select(clearsky.interval_kwh(clearsky.plane_of_array(pl.lit(20.0), pl.lit(180.0)),
                                              pl.lit(capacity_kw)) * 0.8).to_series()
    return [round(value, decimals) for value in energy]


DAY = _clear_day(12.0, 3)


def _series(*meters: list[float | None], capacity: float = 12.0) -> pl.DataFrame:
    """Meters' energies (kWh), one meter after another."""
    return pl.DataFrame({
        "meter": [index for index, values in enumerate(meters) for _ in values],
        "kwh": [value for values in meters for value in values],
        "capacity_kw": capacity,
    }, schema_overrides={"meter": pl.UInt32, "kwh": pl.Float64})


def _run_lengths(condition: np.ndarray) -> np.ndarray:
    """For each True element, the length of the run of consecutive Trues it belongs to; 0 for False."""
    edges = np.diff(np.concatenate(([0], condition.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = np.zeros(len(condition), dtype=np.int64)
    lengths[condition] = np.repeat(ends - starts, ends - starts)
    return lengths


def _flagged(series: pl.Series) -> list[int]:
    return np.flatnonzero(series.to_numpy()).tolist()


def test_run_lengths() -> None:
    runs = _run_lengths(np.array([True, True, False, True, False, False, True, True, True]))
    assert runs.tolist() == [2, 2, 0, 1, 0, 0, 3, 3, 3]
    assert _run_lengths(np.array([], dtype=bool)).tolist() == []


def test_stale_flags_the_repeats_of_a_run_of_eight_identical_values() -> None:
    values = [0.0, 0.0, 0.9, *[1.3] * 8, 1.8, *[2.2] * 7, 1.9, 0.0, 0.0, 0.0, 0.0]
    frame = _series(values)
    # 1.3 eight times (positions 3-10): its seven repeats; 2.2 seven times: too short; night's zeros: not stale.
    assert _flagged(flags.stale(frame)) == list(range(4, 11))


def test_stale_uses_pvanalytics_tolerance_and_a_missing_value_breaks_a_run() -> None:
    assert _flagged(flags.stale(_series([1.3, 1.3 + 1e-6, *[1.3] * 6]))) == list(range(1, 8))
    assert _flagged(flags.stale(_series([1.3, 1.301, *[1.3] * 6]))) == []
    assert _flagged(flags.stale(_series([*[1.3] * 4, None, *[1.3] * 4]))) == []


def test_a_small_roof_read_to_10_wh_is_not_a_line_on_a_clear_day() -> None:
    # A 2 kWp roof whose meter counts 10 Wh steps: its clear morning climbs by the same number of steps for ten
    # intervals, a perfect line in the data.  A step that coarse (2 % of nameplate) cannot tell a line from a
    # smooth day, so the check leaves such meters alone rather than refuse their mornings.
    quantised = _clear_day(2.0, 2)
    slopes = np.round(np.diff(quantised), 6)
    assert max(_run_lengths((np.diff(slopes) == 0) & (slopes[1:] != 0))) == 9
    frame = _series(quantised, capacity=2.0)
    assert _flagged(flags.interpolated(frame)) == []
    assert _flagged(flags.stale(frame)) == []


def test_no_check_joins_the_end_of_one_meter_to_the_start_of_the_next() -> None:
    frame = _series([0.4, *[1.3] * 5], [*[1.3] * 5, 0.2])
    assert _flagged(flags.stale(frame)) == []
    frame = _series([0.1, 0.2, 0.3, 0.4, 0.5], [0.6, 0.7, 0.8, 0.9, 1.0])
    assert _flagged(flags.interpolated(frame)) == []
    frame = _series([0.1, 0.1, 0.1, 0.1], [3.0, 0.1, 0.1, 0.1])  # among its own meter's values only: the grid's
    assert _flagged(flags.outliers(frame)) == []  # edge has no neighbours (between the meters, 3.0 is a spike)


def test_interpolated_flags_a_straight_line_of_eight_values_but_its_first() -> None:
    day = _clear_day(60.0, 3)
    filled = list(day)
    filled[40:49] = [round(value, 3) for value in np.linspace(day[40], day[48], 9)]  # a gap filled by a line
    assert _flagged(flags.interpolated(_series(filled, capacity=60.0))) == list(range(41, 49))
    filled = list(day)
    filled[40:47] = [round(value, 3) for value in np.linspace(day[40], day[46], 7)]
    assert _flagged(flags.interpolated(_series(filled, capacity=60.0))) == []  # seven values: too short
    assert _flagged(flags.interpolated(_series(day, capacity=60.0))) == []
    assert _flagged(flags.interpolated(_series(DAY))) == []  # a real day's curve bends
    assert _flagged(flags.interpolated(_series([1.3] * 10))) == []  # flat is stale's business, not a line
    # A line flatter than 0.05 % of nameplate per interval cannot be told from a clipped plateau.
    assert _flagged(flags.interpolated(_series([14.0 + 0.005 * k for k in range(10)], capacity=60.0))) == []


def test_outliers_are_spikes_and_dips_against_the_running_median() -> None:
    spiked = list(DAY)
    spiked[30] = DAY[30] * 2.5  # a spike on the morning ramp (07:30)
    spiked[57] = DAY[57] * 0.5  # a dip early in the afternoon (14:15)
    assert _flagged(flags.outliers(_series(spiked))) == [30, 57]
    assert _flagged(flags.outliers(_series(DAY))) == []


def test_outliers_ignore_ripples_below_a_tenth_of_nameplate() -> None:
    # A clipped plateau (MAD 0) with a dip of 0.2 kWh: 7 % of the 3 kWh a 12 kWp site makes in 15 minutes.
    plateau = [2.9, 2.9, 2.9, 2.7, 2.9, 2.9, 2.9]
    assert _flagged(flags.outliers(_series(plateau))) == []
    plateau[3] = 2.5  # 0.4 kWh: 13 %
    assert _flagged(flags.outliers(_series(plateau))) == [3]


def test_a_spike_beside_a_gap_is_still_found() -> None:
    values: list[float | None] = list(DAY)
    values[40] = None
    values[41] = 7.0
    assert _flagged(flags.outliers(_series(values))) == [41]


def _partition(rows: list[dict[str, object]]) -> pl.DataFrame:
    defaults = {"meter": 0, "duplicate": False, "counter_reset": False, "capacity_kw": 10.0, "sun_up": True,
                "clear_sky_kwh": 2.5}
    frame = pl.DataFrame([{**defaults, **row} for row in rows], schema_overrides={"kwh": pl.Float64})
    return frame.with_columns(
        meter=pl.col("meter").cast(pl.UInt32),
        ts=pl.datetime_range(T0, T0 + timedelta(minutes=15 * (len(rows) - 1)), "15m", time_zone="UTC",
                             eager=True),
    )


def _names(mask: pl.Series) -> list[list[str]]:
    return [flag_names(int(value)) for value in mask]


def test_each_interval_check_raises_exactly_its_flag() -> None:
    # 10 kWp: nameplate 2.5 kWh per interval, above capacity beyond 2.75; low light 0.05 kWh.
    frame = _partition([
        {"kwh": 1.0},
        {"kwh": None},
        {"kwh": -0.01},
        {"kwh": 1.0, "duplicate": True},
        {"kwh": None, "counter_reset": True},
        {"kwh": 0.05, "sun_up": False},
        {"kwh": 0.051, "sun_up": False},
        {"kwh": 1.049, "clear_sky_kwh": 1.0},
        {"kwh": 1.051, "clear_sky_kwh": 1.0},
        {"kwh": 2.75, "clear_sky_kwh": 3.0},
        {"kwh": 2.76, "clear_sky_kwh": 3.0},
    ])
    mask = flags.flag_intervals(frame, THRESHOLDS, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert mask.dtype == pl.UInt16
    assert _names(mask) == [
        [], ["missing"], ["negative"], ["duplicate"], ["counter_reset"], [], ["night"], [], ["above_clear_sky"],
        [], ["above_capacity"],
    ]


def test_intervals_not_over_yet_are_future() -> None:
    frame = _partition([{"kwh": 1.0}, {"kwh": 1.1}, {"kwh": 1.2}, {"kwh": None}])
    now = T0 + timedelta(minutes=20)  # inside the second interval
    assert _names(flags.flag_intervals(frame, THRESHOLDS, now)) == [[], ["future"], ["future"],
                                                                     ["missing", "future"]]


@pytest.mark.parametrize("allowance", [20.0, 100.0])
def test_the_low_light_allowance_scales_with_capacity(allowance: float) -> None:
    thresholds = flags.Thresholds(low_light_allowance_w_m2=allowance, capacity_tolerance=1.1)
    limit = allowance / 1000 * 40.0 * 0.25  # a 40 kWp site
    frame = _partition([{"kwh": limit * 0.99, "sun_up": False, "capacity_kw": 40.0},
                        {"kwh": limit * 1.01, "sun_up": False, "capacity_kw": 40.0}])
    assert _names(flags.flag_intervals(frame, thresholds, datetime(2030, 1, 1, tzinfo=UTC))) == [[], ["night"]]


def test_flags_combine_in_one_mask() -> None:
    frame = _partition([{"kwh": 9.0, "sun_up": False, "duplicate": True}])
    mask = int(flags.flag_intervals(frame, THRESHOLDS, datetime(2030, 1, 1, tzinfo=UTC))[0])
    assert mask == Flag.DUPLICATE | Flag.NIGHT | Flag.ABOVE_CAPACITY
