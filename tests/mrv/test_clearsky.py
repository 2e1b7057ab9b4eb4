"""Clear-sky irradiance per grid cell, projected per site: held to pvlib's own transposition."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest
from pvlib.irradiance import get_extra_radiation, get_total_irradiance
from pvlib.location import Location, lookup_altitude

from tanhui.mrv import clearsky
from tanhui.mrv.frames import INTERVAL

# pvlib 0.16 still calls a pandas accessor that pandas 3 deprecates; nothing for this code to act on.
pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear is deprecated:DeprecationWarning")

# Suzhou Industrial Park, local midnight of 2024-06-01 and of 2024-12-01 (UTC+8).
SUZHOU = (31.30, 120.72)
JUNE = datetime(2024, 5, 31, 16, tzinfo=UTC)
DECEMBER = datetime(2024, 11, 30, 16, tzinfo=UTC)


def _cell(latitude: float, longitude: float) -> int:
    return int(pl.select(clearsky.cell_of(pl.lit(latitude), pl.lit(longitude))).item())


def _pvlib_poa(cell: int, first: datetime, tilt: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """pvlib's clear-sky plane-of-array irradiance, one row per plane (tilt, azimuth) and one column per interval."""
    latitude, longitude = clearsky.cell_centre(cell)
    times = pd.date_range(first + INTERVAL / 2, periods=96, freq=INTERVAL)
    place = Location(latitude, longitude, altitude=lookup_altitude(latitude, longitude))
    sun = place.get_solarposition(times)
    sky = place.get_clearsky(times, solar_position=sun)
    planes = np.asarray(tilt, dtype=float).reshape(-1, 1), np.asarray(azimuth, dtype=float).reshape(-1, 1)
    poa = get_total_irradiance(*planes, *(sun[c].to_numpy()[None, :] for c in ("apparent_zenith", "azimuth")),
                               *(sky[c].to_numpy()[None, :] for c in ("dni", "ghi", "dhi")),
                               dni_extra=get_extra_radiation(times).to_numpy()[None, :], model="haydavies",
                               albedo=clearsky.ALBEDO)["poa_global"]
    return np.nan_to_num(np.asarray(poa))


def test_sites_share_the_cell_of_their_quarter_degree() -> None:
    cell = _cell(*SUZHOU)
    assert clearsky.cell_centre(cell) == (31.375, 120.625)
    assert _cell(31.26, 120.51) == cell  # ~13 km away: same cell, same sky
    assert _cell(31.24, 120.72) != cell  # across 31.25° N
    assert _cell(-33.87, 151.21) != cell
    latitude, longitude = clearsky.cell_centre(_cell(-33.87, 151.21))
    assert abs(latitude + 33.87) <= clearsky.CELL_DEGREES / 2 and abs(longitude - 151.21) <= clearsky.CELL_DEGREES / 2


def test_cell_sky_is_pvlib_ineichen_at_each_interval_midpoint() -> None:
    cells = [_cell(*SUZHOU), _cell(39.9, 116.4)]
    sky = clearsky.cell_sky(cells, JUNE, 96)
    assert sky.height == 2 * 96 and sky.columns == list(clearsky.SKY_COLUMNS)
    for position, cell in enumerate(cells):
        latitude, longitude = clearsky.cell_centre(cell)
        times = pd.date_range(JUNE + INTERVAL / 2, periods=96, freq=INTERVAL)
        place = Location(latitude, longitude, altitude=lookup_altitude(latitude, longitude))
        expected = place.get_clearsky(times)
        rows = sky[position * 96:(position + 1) * 96]
        np.testing.assert_allclose(rows["ghi"].to_numpy(), expected["ghi"].to_numpy(), atol=1e-9)
        np.testing.assert_allclose(rows["dni"].to_numpy(), expected["dni"].to_numpy(), atol=1e-9)
    suzhou = sky[:96]
    # Local midnight is dark, local noon (interval 48 starts at 12:00 UTC+8) is bright.
    assert not suzhou["sun_up"][0] and suzhou["ghi"][0] == 0 and suzhou["poa_max"][0] == 0
    assert suzhou["sun_up"][48] and suzhou["ghi"][48] > 800


@pytest.mark.parametrize(("tilt", "azimuth"), [(0.0, 180.0), (22.0, 180.0), (30.0, 95.0), (45.0, 265.0),
                                               (90.0, 0.0), (12.0, 350.0)])
def test_plane_of_array_equals_pvlib_haydavies(tilt: float, azimuth: float) -> None:
    cell = _cell(*SUZHOU)
    for first in (JUNE, DECEMBER):
        sky = clearsky.cell_sky([cell], first, 96).with_columns(tilt=pl.lit(tilt), azimuth=pl.lit(azimuth))
        mine = sky.select(clearsky.plane_of_array(pl.col("tilt"), pl.col("azimuth"))).to_series().to_numpy()
        np.testing.assert_allclose(mine, _pvlib_poa(cell, first, np.array(tilt), np.array(azimuth))[0], atol=1e-6)


def test_an_unknown_orientation_is_bounded_by_the_best_fixed_plane() -> None:
    cell = _cell(*SUZHOU)
    for first in (JUNE, DECEMBER):
        sky = clearsky.cell_sky([cell], first, 96)
        unknown = sky.with_columns(tilt=pl.lit(None, pl.Float64), azimuth=pl.lit(None, pl.Float64)).select(
            clearsky.plane_of_array(pl.col("tilt"), pl.col("azimuth"))).to_series().to_numpy()
        tilts, azimuths = np.meshgrid(np.arange(0, 91, 5), np.arange(0, 360, 10))
        planes = _pvlib_poa(cell, first, tilts.ravel(), azimuths.ravel())
        best = planes.max(axis=0)
        # The sun-facing plane is within 2 % of the best of 684 fixed planes at every interval, never at 0 when
        # some plane gets light, and at least as good as a horizontal or south-facing roof.
        daylight = best > 0
        assert np.all(unknown[daylight] >= 0.98 * best[daylight])
        assert np.all(unknown[~daylight] == 0)
        roofs = _pvlib_poa(cell, first, np.array([25.0, 0.0]), np.array([180.0, 180.0]))
        assert np.all(unknown >= roofs - 1e-6)


def test_interval_energy_is_irradiance_times_capacity_over_a_quarter_hour() -> None:
    energy = pl.select(clearsky.interval_kwh(pl.lit(800.0), pl.lit(50.0))).item()
    assert energy == pytest.approx(800 / 1000 * 50 * 0.25)


def test_site_bounds_are_the_polars_expressions_to_the_bit() -> None:
    # Known and unknown orientations, steep and flat, over a day of two cells: verify's compiled pass must give
    # exactly what interval_kwh(plane_of_array(...)) × margin gives, so that daily.parquet does not change.
    sites = pl.DataFrame({
        "capacity_kw": [12.0, 3.3, 250.0, 47.5],
        "tilt": [20.0, None, 89.0, 0.0],
        "azimuth": [180.0, 90.0, 10.0, None],
    }, schema_overrides={"tilt": pl.Float64, "azimuth": pl.Float64})
    sky = clearsky.cell_sky([_cell(*SUZHOU), _cell(39.9, 116.4)], JUNE, 96)
    site = np.repeat(np.arange(4), 2 * 96)
    sky_row = np.tile(np.arange(2 * 96), 4)
    frame = pl.concat([sky[sky_row], sites[site]], how="horizontal")
    expected = frame.select(clearsky.interval_kwh(clearsky.plane_of_array(pl.col("tilt"), pl.col("azimuth")),
                                                  pl.col("capacity_kw")) * 1.15).to_series().to_numpy()
    found = clearsky.site_bounds(sky, sky_row, sites, site, 1.15)
    assert found.tobytes() == expected.tobytes()
