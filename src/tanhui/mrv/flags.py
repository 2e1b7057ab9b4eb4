"""Quality flags of 15-minute intervals, over a whole partition of meters in one compiled pass.

A partition is a frame of complete interval grids, one meter after another, each meter's intervals in time order
(`verify` builds it).  The checks run as numba-compiled loops over the partition's arrays (cached on disk after
the first run, and free of Python's lock, so partitions on threads run in parallel); a neighbour from another
meter is never used (each look to the side compares ``meter``).  The stale, interpolated and outlier checks follow
pvanalytics' ``quality.gaps.stale_values_diff``, ``quality.gaps.interpolation_diff`` and
``quality.outliers.hampel``, which work on one pandas series at a time; tests hold these versions to
pvanalytics and to the labels of the NREL data it ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

import numpy as np
import polars as pl
from numba import njit

from tanhui.mrv.clearsky import STC_IRRADIANCE
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
_INTERVAL_US = INTERVAL // timedelta(microseconds=1)
# The flags as plain integers: numba compiles module-level numbers into the code, not enum members.
_MISSING, _DUPLICATE, _NEGATIVE, _COUNTER_RESET = int(Flag.MISSING), int(Flag.DUPLICATE), int(Flag.NEGATIVE), \
    int(Flag.COUNTER_RESET)
_STALE, _OUTLIER, _INTERPOLATED, _NIGHT = int(Flag.STALE), int(Flag.OUTLIER), int(Flag.INTERPOLATED), int(Flag.NIGHT)
_ABOVE_CLEAR_SKY, _ABOVE_CAPACITY, _FUTURE = int(Flag.ABOVE_CLEAR_SKY), int(Flag.ABOVE_CAPACITY), int(Flag.FUTURE)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The methodology's thresholds the interval flags apply (see methodologies.toml)."""

    low_light_allowance_w_m2: float
    capacity_tolerance: float


@njit(cache=True, nogil=True)
def _median5(a: float, b: float, c: float, d: float, e: float) -> float:
    # Of a, b, c, d the smallest and the largest cannot be the median of the five; the median of the other two
    # and e is.  Ten min/max operations, no sort.
    low, high = max(min(a, b), min(c, d)), min(max(a, b), max(c, d))
    return max(min(low, high), min(max(low, high), e))


@njit(cache=True, nogil=True)
def _window_medians(values: np.ndarray, start: int, end: int, medians: np.ndarray) -> None:
    """Into ``medians[start:end]``, each value's median over the centred five-interval window of one meter's rows
    ``start:end``: two values before, two after (one that is missing or beyond the meter's grid counts as equal
    to the centre value), and the centre; NaN where the centre is (as numpy's minimum and maximum give it)."""
    for row in range(start, end):
        centre = values[row]
        if np.isnan(centre):
            medians[row] = np.nan
            continue
        a = values[row - 2] if row - 2 >= start else np.nan
        b = values[row - 1] if row - 1 >= start else np.nan
        c = values[row + 1] if row + 1 < end else np.nan
        d = values[row + 2] if row + 2 < end else np.nan
        medians[row] = _median5(centre if np.isnan(a) else a, centre if np.isnan(b) else b,
                                centre if np.isnan(c) else c, centre if np.isnan(d) else d, centre)


@njit(cache=True, nogil=True)
def _window_flags(kwh: np.ndarray, meter: np.ndarray, nameplate: np.ndarray) -> np.ndarray:
    """`Flag.STALE`, `Flag.INTERPOLATED` and `Flag.OUTLIER` of each row, one meter's grid (a run of rows of one
    ``meter``) at a time; ``nameplate`` is each row's energy at nameplate power over one interval."""
    rows = len(kwh)
    found = np.zeros(rows, dtype=np.uint16)
    slope = np.full(rows, np.nan)
    medians = np.empty(rows)
    residual = np.empty(rows)
    start = 0
    while start < rows:
        end = start + 1
        while end < rows and meter[end] == meter[start]:
            end += 1
        # Stale: rows repeating the previous value, numpy.isclose(value, previous) without its checks
        # (|a − b| ≤ atol + rtol × |b|, False where either is NaN), in runs of STALE_WINDOW − 1 repeats or more.
        run = 0
        for row in range(start + 1, end + 1):
            repeats = False
            if row < end:
                value, previous = kwh[row], kwh[row - 1]
                repeats = abs(value - previous) <= STALE_ATOL + STALE_RTOL * abs(previous) and abs(value) > STALE_ATOL
            if repeats:
                run += 1
            else:
                if run >= STALE_WINDOW - 1:
                    for repeat in range(row - run, row):
                        found[repeat] |= _STALE
                run = 0
        # Interpolated: runs of slopes equal to the one before (the meter's step, its smallest change, small
        # enough); a line of n values has n − 1 equal slopes, n − 2 of them equal to the one before, and its
        # values from the second on are flagged, i.e. each such slope's value and the value before it.
        step = np.inf
        for row in range(start + 1, end):
            slope[row] = kwh[row] - kwh[row - 1]
            if slope[row] != 0 and abs(slope[row]) < step:
                step = abs(slope[row])
        run = 0
        for row in range(start + 1, end + 1):
            same = False
            if row < end:
                tolerance = INTERPOLATION_SHARE * nameplate[row]
                here, before = slope[row], slope[row - 1]
                same = (abs(here - before) <= tolerance + 0.0 * abs(before) and abs(here) > tolerance
                        and abs(before) > tolerance and step <= COARSE_STEP_SHARE * nameplate[row])
            if same:
                run += 1
            else:
                if run >= INTERPOLATION_WINDOW - 2:
                    for on_line in range(row - run - 1, row):
                        found[on_line] |= _INTERPOLATED
                run = 0
        # Outlier: Hampel's identifier, the residual from the running median against the running median of
        # the residuals.
        _window_medians(kwh, start, end, medians)
        for row in range(start, end):
            residual[row] = abs(kwh[row] - medians[row])
        _window_medians(residual, start, end, medians)
        for row in range(start, end):
            spread = medians[row] * MAD_TO_SIGMA
            if residual[row] > HAMPEL_K * spread and residual[row] > OUTLIER_MIN_SHARE * nameplate[row]:
                found[row] |= _OUTLIER
        start = end
    return found


def _floats(frame: pl.DataFrame, name: str) -> np.ndarray:
    """A column as a writable float64 array, nulls as NaN: numba compiles a kernel once per argument type."""
    return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy(writable=True)


def _array(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a contiguous, writable array of ``dtype`` (copied only if need be): the one argument type
    each kernel is compiled (and cached) for."""
    return np.require(values, dtype, ("C", "W"))


def _meters(frame: pl.DataFrame) -> np.ndarray:
    return frame["meter"].cast(pl.Int64).to_numpy(writable=True)


def _window_checks(frame: pl.DataFrame) -> np.ndarray:
    return _window_flags(_floats(frame, "kwh"), _meters(frame),
                         _floats(frame, "capacity_kw") * _HOURS)


def stale(frame: pl.DataFrame) -> pl.Series:
    """Intervals repeating the previous non-zero energy as part of a run of at least `STALE_WINDOW` values.

    ``frame`` has ``meter``, ``kwh`` (null where unknown) and ``capacity_kw``, grids in time order.
    """
    return pl.Series("stale", _window_checks(frame) & _STALE != 0)


def interpolated(frame: pl.DataFrame) -> pl.Series:
    """Intervals on a straight line of at least `INTERPOLATION_WINDOW` values with a non-zero slope.

    ``frame`` has ``meter``, ``kwh`` and ``capacity_kw``.  As pvanalytics' ``mark="tail"``: every value of the
    line except its first.
    """
    return pl.Series("interpolated", _window_checks(frame) & _INTERPOLATED != 0)


def outliers(frame: pl.DataFrame) -> pl.Series:
    """Spikes and dips: a Hampel identifier over a centred five-interval window of the meter's energy.

    ``frame`` has ``meter``, ``kwh`` and ``capacity_kw``.  The scale is the median, over the window, of each
    value's absolute residual from its own running median: on a steep morning ramp the values spread widely
    around any single median (which would hide a spike on the ramp, as pvanalytics' MAD does), but each stays
    close to its own running median.
    """
    return pl.Series("outlier", _window_checks(frame) & _OUTLIER != 0)


@njit(cache=True, nogil=True)
def _interval_checks(mask: np.ndarray, kwh: np.ndarray, capacity_kw: np.ndarray, duplicate: np.ndarray,
                     counter_reset: np.ndarray, sun_up: np.ndarray, clear_sky_kwh: np.ndarray, ts_us: np.ndarray,
                     now_us: int, low_light_w_m2: float, capacity_tolerance: float) -> None:
    """Adds to ``mask`` the checks of each interval on its own (NaN, unknown energy, compares False: a check on
    the energy is not raised where it is missing)."""
    for row in range(len(mask)):
        energy, capacity = kwh[row], capacity_kw[row]
        low_light = low_light_w_m2 / STC_IRRADIANCE * capacity * _HOURS
        bits = int(mask[row])
        bits |= _MISSING if np.isnan(energy) and not counter_reset[row] else 0
        bits |= _DUPLICATE if duplicate[row] else 0
        bits |= _NEGATIVE if energy < 0 else 0
        bits |= _COUNTER_RESET if counter_reset[row] else 0
        bits |= _NIGHT if not sun_up[row] and energy > low_light else 0
        bits |= _ABOVE_CLEAR_SKY if sun_up[row] and energy > clear_sky_kwh[row] + low_light else 0
        bits |= _ABOVE_CAPACITY if energy > capacity * _HOURS * capacity_tolerance else 0
        # An interval not over yet cannot have its final energy.
        bits |= _FUTURE if ts_us[row] + _INTERVAL_US > now_us else 0
        mask[row] = bits


def flag_intervals(frame: pl.DataFrame, thresholds: Thresholds, now: datetime) -> pl.Series:
    """Each interval's flags as a `Flag` bit mask (UInt16), except the peer check's outliers (see `peers`).

    ``frame`` columns: ``meter`` (grids one after another, each in time order), ``ts`` (UTC interval start),
    ``kwh`` (energy, null where unknown), ``duplicate`` and ``counter_reset`` (from the readings), ``capacity_kw``,
    ``sun_up`` (at the interval's midpoint, in the site's grid cell) and ``clear_sky_kwh`` (the clear-sky energy
    bound, margin included).
    """
    return pl.Series("mask", interval_masks(
        _floats(frame, "kwh"), _meters(frame), _floats(frame, "capacity_kw"), frame["duplicate"].to_numpy(),
        frame["counter_reset"].to_numpy(), frame["sun_up"].to_numpy(), _floats(frame, "clear_sky_kwh"),
        frame["ts"].dt.epoch("us").to_numpy(), thresholds, now), dtype=pl.UInt16)


def interval_masks(kwh: np.ndarray, meter: np.ndarray, capacity_kw: np.ndarray, duplicate: np.ndarray,
                   counter_reset: np.ndarray, sun_up: np.ndarray, clear_sky_kwh: np.ndarray, ts_us: np.ndarray,
                   thresholds: Thresholds, now: datetime) -> np.ndarray:
    """`flag_intervals` on the frame's columns as numpy arrays (``kwh`` NaN where unknown, ``ts_us`` the
    interval starts in microseconds since the epoch): a UInt16 mask per interval."""
    energy, capacity = _array(kwh, np.float64), _array(capacity_kw, np.float64)
    mask = _window_flags(energy, _array(meter, np.int64), capacity * _HOURS)
    _interval_checks(mask, energy, capacity, _array(duplicate, np.bool_),
                     _array(counter_reset, np.bool_), _array(sun_up, np.bool_),
                     _array(clear_sky_kwh, np.float64), _array(ts_us, np.int64),
                     (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
                     thresholds.low_light_allowance_w_m2, thresholds.capacity_tolerance)
    return mask


@njit(cache=True, nogil=True)
def run_counts(mask: np.ndarray, starts: np.ndarray, flags: int) -> np.ndarray:
    """Per run of rows (run ``r`` from ``starts[r]`` to the next start): column 0 counts its flagged rows, column
    ``1 + b`` its rows with bit ``b`` set, for the ``flags`` lowest bits.  One pass over the mask instead of one
    numpy pass per flag."""
    runs, rows = len(starts), len(mask)
    counts = np.zeros((runs, 1 + flags), dtype=np.uint32)
    for run in range(runs):
        end = starts[run + 1] if run + 1 < runs else rows
        for row in range(starts[run], end):
            bits = int(mask[row])
            if bits:
                counts[run, 0] += 1
                for bit in range(flags):
                    if bits >> bit & 1:
                        counts[run, 1 + bit] += 1
    return counts
