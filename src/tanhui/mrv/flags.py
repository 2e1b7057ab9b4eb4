"""Quality flags of 15-minute intervals, vectorised over a whole partition of meters at once.

A partition is a frame of complete interval grids, one meter after another, each meter's intervals in time order
(`verify` builds it).  Every check is column arithmetic over the whole frame; a neighbour from another meter is
never used (each shift is guarded by ``meter``).  The stale, interpolated and outlier checks follow
pvanalytics' ``quality.gaps.stale_values_diff``, ``quality.gaps.interpolation_diff`` and
``quality.outliers.hampel``, which work on one pandas series at a time; tests hold these versions to
pvanalytics and to the labels of the NREL data it ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist

import numpy as np
import polars as pl

from tanhui.mrv.clearsky import interval_kwh
from tanhui.mrv.frames import INTERVAL, Flag

# Stale: a run of identical non-zero energies, at least eight intervals (2 h) long.  pvanalytics' default is six,
# but a 3 kWp roof read to 10 Wh shows one value five times around a clear noon and inverter clipping repeats a
# value as often (the NREL inverter 7539 does); a stuck meter or a gateway resending its last value repeats for
# hours.  "Identical" is numpy.isclose with pvanalytics' default tolerances.  The first value of a run is not
# flagged: it is the real reading the meter stuck at.
STALE_WINDOW = 8
STALE_RTOL = 1e-5
STALE_ATOL = 1e-8
# Interpolated: a straight line of at least eight values (equal non-zero first differences).  Two slopes are
# equal within INTERPOLATION_SHARE of the site's nameplate interval energy (1.5 Wh for 12 kWp, 12.5 Wh for
# 100 kWp): a line rounded to the meter's step has slopes up to two steps apart, so this finds lines rounded to
# 1 Wh on sites from 16 kWp and exact lines on any site, while a clear day's curve bends by more (its slopes
# change by ~0.25 % of nameplate per interval around noon) except briefly where it turns from convex to concave.
# A line flatter than the tolerance is not flagged: it cannot be told from a clipped plateau.  A meter whose step
# (its smallest change) exceeds COARSE_STEP_SHARE of nameplate, such as a 2 kWp roof read to 10 Wh, climbs
# a clear morning in equal steps, a perfect line in the data, so it is not checked at all.  A tolerance fixed in
# Wh, or pvanalytics' six values, would refuse part of every clear day of small roofs (tests/mrv/test_flags.py).
INTERPOLATION_WINDOW = 8
INTERPOLATION_SHARE = 0.0005
COARSE_STEP_SHARE = 0.005
# Outlier: Hampel's identifier over a centred five-interval window (1.25 h: short enough that a clear day's
# curve is nearly straight in it, long enough to outvote a spike of two intervals).  A value further than
# HAMPEL_K scaled MADs from the window's median is an outlier (3 is pvanalytics' default), provided it is also
# further than OUTLIER_MIN_SHARE of the site's nameplate interval energy from it: on a clipped plateau or at
# night the MAD is ~0 and the ratio alone would flag every ripple.
HAMPEL_WINDOW = 5  # the median network in `outliers` is written for five values
HAMPEL_K = 3.0
OUTLIER_MIN_SHARE = 0.10
# MAD × this estimates a normal distribution's standard deviation (1 / Φ⁻¹(3/4) ≈ 1.4826).
MAD_TO_SIGMA = 1.0 / NormalDist().inv_cdf(0.75)

_HOURS = INTERVAL.total_seconds() / 3600.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The methodology's thresholds the interval flags apply (see methodologies.toml)."""

    low_light_allowance_w_m2: float
    capacity_tolerance: float


def run_lengths(condition: np.ndarray) -> np.ndarray:
    """For each True element, the length of the run of consecutive Trues it belongs to; 0 for False."""
    edges = np.diff(np.concatenate(([0], condition.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = np.zeros(len(condition), dtype=np.int64)
    lengths[condition] = np.repeat(ends - starts, ends - starts)
    return lengths


class _Series:
    """A partition's energies as arrays (NaN where unknown) with each row's neighbours in the same meter."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.kwh = frame["kwh"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        self.meter = frame["meter"].to_numpy()
        # Per offset: whether the row that far away is of the same meter (the checks shift by a few offsets).
        self._same: dict[int, np.ndarray] = {}

    def same_meter(self, offset: int) -> np.ndarray:
        """For rows ``offset`` (> 0) apart, ``[i]``: rows ``i`` and ``i + offset`` are of one meter."""
        if offset not in self._same:
            self._same[offset] = self.meter[offset:] == self.meter[:-offset]
        return self._same[offset]

    def nameplate(self) -> np.ndarray:
        """Each row's site's energy at nameplate power over one interval (kWh)."""
        return self.frame["capacity_kw"].to_numpy() * _HOURS

    def shifted(self, values: np.ndarray, offset: int) -> np.ndarray:
        """``values`` ``offset`` rows later (earlier if negative) in the same meter, NaN beyond its grid."""
        result = np.full(len(values), np.nan)
        if abs(offset) >= len(values):
            return result
        if offset > 0:
            result[:-offset] = np.where(self.same_meter(offset), values[offset:], np.nan)
        else:
            result[-offset:] = np.where(self.same_meter(-offset), values[:offset], np.nan)
        return result

    def window(self, values: np.ndarray) -> list[np.ndarray]:
        """The centred five-interval window: two values before, two after (one that is missing or beyond the
        meter's grid counts as equal to the centre value), and the centre."""
        around = [self.shifted(values, offset) for offset in (-2, -1, 1, 2)]
        return [*(np.where(np.isnan(value), values, value) for value in around), values]


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float | np.ndarray) -> np.ndarray:
    """numpy.isclose(a, b) without its checks: |a − b| ≤ atol + rtol × |b| (False where either is NaN)."""
    return np.abs(a - b) <= atol + rtol * np.abs(b)


def _per_meter_min(series: _Series, values: np.ndarray) -> np.ndarray:
    """Each row's meter's smallest value (NaN-ignoring; +inf for a meter with none)."""
    starts = np.flatnonzero(np.concatenate(([True], series.meter[1:] != series.meter[:-1])))
    minima = np.minimum.reduceat(np.where(np.isnan(values), np.inf, values), starts) if len(values) else values
    return np.repeat(minima, np.diff(np.append(starts, len(values))))


def stale(frame: pl.DataFrame, series: _Series | None = None) -> pl.Series:
    """Intervals repeating the previous non-zero energy as part of a run of at least `STALE_WINDOW` values.

    ``frame`` has ``meter`` and ``kwh`` (null where unknown), grids in time order.
    """
    series = series or _Series(frame)
    kwh = series.kwh
    repeats = _close(kwh, series.shifted(kwh, -1), STALE_RTOL, STALE_ATOL) & (np.abs(kwh) > STALE_ATOL)
    return pl.Series("stale", run_lengths(repeats) >= STALE_WINDOW - 1)


def interpolated(frame: pl.DataFrame, series: _Series | None = None) -> pl.Series:
    """Intervals on a straight line of at least `INTERPOLATION_WINDOW` values with a non-zero slope.

    ``frame`` has ``meter``, ``kwh`` and ``capacity_kw``.  As pvanalytics' ``mark="tail"``: every value of the
    line except its first.
    """
    series = series or _Series(frame)
    nameplate = series.nameplate()
    slope = series.kwh - series.shifted(series.kwh, -1)
    previous = series.shifted(slope, -1)
    tolerance = INTERPOLATION_SHARE * nameplate
    # The meter's step: the smallest change between two of its readings.
    step = _per_meter_min(series, np.where(slope != 0, np.abs(slope), np.nan))
    fine = step <= COARSE_STEP_SHARE * nameplate
    same_slope = (_close(slope, previous, 0.0, tolerance) & (np.abs(slope) > tolerance)
                  & (np.abs(previous) > tolerance) & fine)
    # A line of n values has n − 1 equal slopes, n − 2 of them equal to the one before; its values from the
    # second on are flagged, i.e. each such slope's value and the value before it.
    on_line = run_lengths(same_slope) >= INTERPOLATION_WINDOW - 2
    return pl.Series("interpolated", on_line | np.concatenate((on_line[1:], [False])))


def _median5(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray) -> np.ndarray:
    # Of a, b, c, d the smallest and the largest cannot be the median of the five; the median of the other two
    # and e is.  Ten elementwise min/max operations, no sort: this runs over every interval of the partition.
    low, high = np.maximum(np.minimum(a, b), np.minimum(c, d)), np.minimum(np.maximum(a, b), np.maximum(c, d))
    return np.maximum(np.minimum(low, high), np.minimum(np.maximum(low, high), e))


def outliers(frame: pl.DataFrame, series: _Series | None = None) -> pl.Series:
    """Spikes and dips: a Hampel identifier over a centred five-interval window of the meter's energy.

    ``frame`` has ``meter``, ``kwh`` and ``capacity_kw``.  The scale is the median, over the window, of each
    value's absolute residual from its own running median: on a steep morning ramp the values spread widely
    around any single median (which would hide a spike on the ramp, as pvanalytics' MAD does), but each stays
    close to its own running median.
    """
    series = series or _Series(frame)
    residual = np.abs(series.kwh - _median5(*series.window(series.kwh)))
    spread = _median5(*series.window(residual)) * MAD_TO_SIGMA
    return pl.Series("outlier", (residual > HAMPEL_K * spread) & (residual > OUTLIER_MIN_SHARE * series.nameplate()))


def flag_intervals(frame: pl.DataFrame, thresholds: Thresholds, now: datetime) -> pl.Series:
    """Each interval's flags as a `Flag` bit mask (UInt16), except the peer check's outliers (see `peers`).

    ``frame`` columns: ``meter`` (grids one after another, each in time order), ``ts`` (UTC interval start),
    ``kwh`` (energy, null where unknown), ``duplicate`` and ``counter_reset`` (from the readings), ``capacity_kw``,
    ``sun_up`` (at the interval's midpoint, in the site's grid cell) and ``clear_sky_kwh`` (the clear-sky energy
    bound, margin included).
    """
    kwh = pl.col("kwh")
    low_light = interval_kwh(pl.lit(thresholds.low_light_allowance_w_m2), pl.col("capacity_kw"))
    bit = {flag: pl.lit(int(flag), pl.UInt16) for flag in Flag}
    zero = pl.lit(0, pl.UInt16)
    checks = {
        Flag.MISSING: kwh.is_null() & ~pl.col("counter_reset"),
        Flag.DUPLICATE: pl.col("duplicate"),
        Flag.NEGATIVE: kwh < 0,
        Flag.COUNTER_RESET: pl.col("counter_reset"),
        Flag.NIGHT: ~pl.col("sun_up") & (kwh > low_light),
        Flag.ABOVE_CLEAR_SKY: pl.col("sun_up") & (kwh > pl.col("clear_sky_kwh") + low_light),
        Flag.ABOVE_CAPACITY: kwh > pl.col("capacity_kw") * _HOURS * thresholds.capacity_tolerance,
        Flag.FUTURE: pl.col("ts") + INTERVAL > now,  # an interval not over yet cannot have its final energy
    }
    shared = _Series(frame)
    series = {
        Flag.STALE: stale(frame, shared), Flag.INTERPOLATED: interpolated(frame, shared),
        Flag.OUTLIER: outliers(frame, shared),
    }
    masks = [pl.when(check.fill_null(False)).then(bit[flag]).otherwise(zero) for flag, check in checks.items()]
    masks += [pl.when(pl.lit(values)).then(bit[flag]).otherwise(zero) for flag, values in series.items()]
    return frame.select(pl.reduce(lambda a, b: a | b, masks).alias("mask")).to_series()
