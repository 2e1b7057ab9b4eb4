"""The stale, interpolated and outlier flags on the real NREL 15-minute inverter data that pvanalytics ships.

pvanalytics' data folder holds min-max normalised AC power of two PV Fleets inverters at 15 minutes, with
labels: ``ac_power_inv_2173_stale_data.csv`` (stale_data_mask), ``ac_power_inv_2173_interpolated_data.csv``
(interpolated_data_mask), ``ac_power_inv_7539_outliers.csv`` (outlier), and ``ac_power_inv_7539.csv`` whose
``label`` marks clipping (a plateau at full power that must not be mistaken for any of these faults).  pvanalytics'
examples run ``gaps.stale_values_diff``, ``gaps.interpolation_diff`` and ``outliers.hampel`` on them.  Here the
power is taken as a 100 kWp site's (normalised 1.0 = 100 kW) and converted to 15-minute energy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pvanalytics
import pytest
from pvanalytics.quality import gaps
from scipy.stats import median_abs_deviation

from tanhui.mrv import flags
from tanhui.mrv.frames import flag_names

# pvanalytics 0.2.2 fills a float series with False, which pandas 3 deprecates: its concern, not these tests'.
pytestmark = pytest.mark.filterwarnings("ignore:'bool' is not supported as a fill value:DeprecationWarning")
DATA = Path(pvanalytics.__file__).parent / "data"
CAPACITY_KW = 100.0
NAMEPLATE_KWH = CAPACITY_KW * 0.25


def _site(name: str, label: str) -> pl.DataFrame:
    """One inverter's series as a site's interval energies, on a complete 15-minute grid (gaps are missing)."""
    table = pl.read_csv(DATA / name, try_parse_dates=True)
    table = table.with_columns(pl.col(label).cast(pl.String).str.to_lowercase() == "true")
    grid = pl.datetime_range(table["timestamp"].min(), table["timestamp"].max(), "15m", time_zone="UTC",
                             eager=True).alias("timestamp").to_frame()
    return grid.join(table, on="timestamp", how="left").with_columns(
        pl.col(label).fill_null(False),
        meter=pl.lit(0, pl.UInt32),
        kwh=pl.col("value_normalized") * NAMEPLATE_KWH,  # kW × 0.25 h
        capacity_kw=pl.lit(CAPACITY_KW),
    )


def _recall_precision(found: np.ndarray, labelled: np.ndarray) -> tuple[float, float]:
    hits = int((found & labelled).sum())
    return hits / int(labelled.sum()), hits / max(int(found.sum()), 1)


def test_stale_finds_the_labelled_stale_runs_exactly_as_pvanalytics() -> None:
    site = _site("ac_power_inv_2173_stale_data.csv", "stale_data_mask")
    assert site.height == 3000  # complete 15-minute series: no gaps
    found = flags.stale(site).to_numpy()
    labelled = site["stale_data_mask"].to_numpy()
    recall, precision = _recall_precision(found, labelled)
    # 245 labelled values in three runs; each run's first value is the real reading the data stuck at and is
    # not flagged (pvanalytics' mark="tail" does the same): 242 found, nothing else.
    assert labelled.sum() == 245 and found.sum() == 242
    assert recall >= 0.98 and precision == 1.0
    reference = gaps.stale_values_diff(site["value_normalized"].to_pandas(), window=flags.STALE_WINDOW)
    # pvanalytics also calls night's zeros stale; zero energy is never stale here.
    assert np.array_equal(found, reference.to_numpy() & (site["kwh"].to_numpy() != 0))


def test_interpolated_finds_the_labelled_lines_that_carry_energy() -> None:
    site = _site("ac_power_inv_2173_interpolated_data.csv", "interpolated_data_mask")
    found = flags.interpolated(site).to_numpy()
    labelled = site["interpolated_data_mask"].to_numpy()
    energy = site["kwh"].to_numpy()
    # The labels include night's zeros and lines of a few watt-hours: flagged or not, they credit nothing.
    carrying = labelled & (energy > 0.01 * NAMEPLATE_KWH)
    recall, _ = _recall_precision(found, carrying)
    _, precision = _recall_precision(found, labelled)
    assert precision >= 0.99  # 551 of 556 flagged values are labelled
    assert recall >= 0.80  # 513 of 639 labelled values above 1 % of nameplate; the rest lie on two lines flatter
    # than a clipped plateau's ripple
    # Every value flagged is one pvanalytics' interpolation_diff flags too.
    reference = gaps.interpolation_diff(site["value_normalized"].to_pandas(), window=flags.INTERPOLATION_WINDOW)
    assert not (found & ~reference.to_numpy()).any()
    # Each labelled line steeper than the tolerance is found whole, but for its first value.
    runs = site.with_columns(run=(pl.col("interpolated_data_mask") != pl.col("interpolated_data_mask").shift())
                             .cum_sum(), found=pl.Series(found))
    lines = (runs.filter(pl.col("interpolated_data_mask")).group_by("run")
             .agg(pl.len(), pl.col("found").sum(), pl.col("kwh").diff().abs().median().alias("slope")))
    steep = lines.filter(pl.col("slope") > flags.INTERPOLATION_SHARE * NAMEPLATE_KWH)
    assert len(steep) == 5 and (steep["found"] >= steep["len"] - 1).all()


def _hampel(series: pd.Series, window: int) -> np.ndarray:
    """pvanalytics.quality.outliers.hampel's definition (its module needs statsmodels; its MAD is scipy's with
    scale="normal")."""
    rolling = series.rolling(window=window, center=True)
    deviation = (series - rolling.median()).abs()
    mad = rolling.apply(lambda values: median_abs_deviation(values, scale="normal"), raw=True)
    return (deviation > 3.0 * mad).to_numpy()


def test_outlier_finds_every_labelled_outlier_with_better_precision_than_hampel() -> None:
    site = _site("ac_power_inv_7539_outliers.csv", "outlier")
    labelled = site["outlier"].to_numpy()
    found = flags.outliers(site).to_numpy()
    recall, precision = _recall_precision(found, labelled)
    assert labelled.sum() == 6
    assert recall == 1.0 and precision >= 0.6  # 6 of 6, with 4 other intervals flagged
    # pvanalytics' example runs hampel(window=10) on the series as recorded (nights left out).
    recorded = site.filter(pl.col("value_normalized").is_not_null())
    reference = _hampel(recorded["value_normalized"].to_pandas(), window=10)
    reference_recall, reference_precision = _recall_precision(reference, recorded["outlier"].to_numpy())
    assert reference_recall < recall and reference_precision < precision


def test_every_labelled_fault_is_refused_by_the_interval_flags() -> None:
    site = _site("ac_power_inv_7539_outliers.csv", "outlier").with_columns(
        ts=pl.col("timestamp"), duplicate=False, counter_reset=False, sun_up=True,
        clear_sky_kwh=pl.lit(2 * NAMEPLATE_KWH),  # the location is not published: a loose bound
    )
    mask = flags.flag_intervals(site, flags.Thresholds(low_light_allowance_w_m2=20.0, capacity_tolerance=1.1),
                                now=site["ts"].max() + pd.Timedelta(days=1))
    refused = [flag_names(int(m)) for m, labelled in zip(mask, site["outlier"], strict=True) if labelled]
    # Values above full power and below zero are refused by the physical checks as well.
    assert refused == [["outlier", "above_capacity"], ["negative", "outlier"], ["negative", "outlier"],
                       ["outlier", "above_capacity"], ["outlier"], ["outlier", "above_capacity"]]


def test_clipping_is_not_a_fault() -> None:
    site = _site("ac_power_inv_7539.csv", "label")
    clipped = site["label"].to_numpy()
    assert clipped.sum() == 39
    for check in (flags.stale, flags.interpolated, flags.outliers):
        assert not (check(site).to_numpy() & clipped).any()
