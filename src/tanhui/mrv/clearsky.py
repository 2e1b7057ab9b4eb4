"""Clear-sky irradiance on the module plane: pvlib once per grid cell and interval, projected per site in Polars.

The sun's position and the clear-sky irradiance (Ineichen-Perez with pvlib's Linke turbidity climatology, which
ships inside pvlib and is read locally) are computed per grid cell at each interval's midpoint.  Only the cheap
geometric projection onto a site's own module plane (Hay-Davies transposition, the same equations as
`pvlib.irradiance.get_total_irradiance(model="haydavies")`) runs per site, as column arithmetic.  A site whose
tilt or azimuth is unknown is bounded by the most favourable plane: the one facing the sun.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
from numba import njit
from pvlib.albedo import SURFACE_ALBEDOS

from tanhui.mrv.frames import INTERVAL

# Grid cells are 0.25° of latitude by 0.25° of longitude (about 28 × 24 km at Suzhou).  Within a cell the sun's
# position differs by at most half a minute of time and clear-sky irradiance by well under 1 %, far inside the
# clear-sky margin, while the sites of a cell still share the weather of a day (the peer check relies on it).
# It is also the grid of ERA5 and most gridded weather data, should measured irradiance replace clear sky.
CELL_DEGREES = 0.25
_CELL_COLUMNS = round(360 / CELL_DEGREES) + 1  # longitude 180° exactly gets a column of its own
# Ground reflectance under rooftop arrays, from pvlib's table of surface albedos: concrete, the brightest common
# roof surface, so that the bound errs high.
ALBEDO = SURFACE_ALBEDOS["concrete"]
# A module's kWp rating is its output at this irradiance (standard test conditions, W/m²).
STC_IRRADIANCE = 1000.0
# Hay-Davies divides by cos(zenith); pvlib floors it at cos(89°) so that the sun at the horizon stays finite.
_COS_ZENITH_FLOOR = math.cos(math.radians(89.0))
_HOURS = INTERVAL.total_seconds() / 3600.0

_WARNINGS_SWAP = threading.Lock()

# Columns of a cell-sky frame, per cell and interval (irradiance in W/m², at the interval's midpoint).
SKY_COLUMNS = ("sun_up", "cos_zenith", "sun_north", "sun_east", "dni", "dhi", "ghi", "anisotropy", "poa_max")


def cell_of(latitude: pl.Expr, longitude: pl.Expr) -> pl.Expr:
    """The grid cell (an integer key) of a position in degrees."""
    row = ((latitude + 90.0) / CELL_DEGREES).floor().cast(pl.Int32)
    column = ((longitude + 180.0) / CELL_DEGREES).floor().cast(pl.Int32)
    return (row * _CELL_COLUMNS + column).alias("cell")


def cell_centre(cell: int) -> tuple[float, float]:
    """The latitude and longitude (degrees) of a cell's centre."""
    row, column = divmod(cell, _CELL_COLUMNS)
    return (row + 0.5) * CELL_DEGREES - 90.0, (column + 0.5) * CELL_DEGREES - 180.0


def cell_sky(cells: Sequence[int], first: datetime, intervals: int) -> pl.DataFrame:
    """Clear-sky sun and irradiance for each cell and interval, rows cell-major in ``cells`` order.

    ``first`` is the first interval's start (aware); row ``i * intervals + k`` holds cell ``cells[i]`` at the
    midpoint of interval ``k``.  Columns (`SKY_COLUMNS`): ``sun_up`` (apparent elevation above 0°),
    ``cos_zenith``, ``sun_north``/``sun_east`` (sin zenith × cos/sin azimuth), ``dni``/``dhi``/``ghi``
    (W/m²), ``anisotropy`` (DNI over extraterrestrial DNI, Hay-Davies' circumsolar share) and ``poa_max``
    (W/m² on the plane facing the sun, the most any fixed plane receives: see `plane_of_array`).
    """
    import pandas as pd
    from pvlib.irradiance import get_extra_radiation
    from pvlib.location import Location, lookup_altitude

    midpoints = pd.date_range(first + INTERVAL / 2, periods=intervals, freq=INTERVAL)
    parts = []
    # catch_warnings swaps the process's warning filters: partitions verified on threads take turns here.
    with _WARNINGS_SWAP, warnings.catch_warnings():
        # pvlib 0.16 still uses DatetimeIndex.dayofyear, which pandas 3 deprecates: nothing a user can act on.
        warnings.filterwarnings("ignore", message=".*dayofyear is deprecated", category=DeprecationWarning)
        dni_extra = get_extra_radiation(midpoints).to_numpy()
        suns, skies = [], []
        for cell in cells:
            latitude, longitude = cell_centre(cell)
            place = Location(latitude, longitude, tz="UTC", altitude=lookup_altitude(latitude, longitude))
            suns.append(place.get_solarposition(midpoints))
            skies.append(place.get_clearsky(midpoints, model="ineichen", solar_position=suns[-1],
                                            dni_extra=dni_extra))
    for sun, sky in zip(suns, skies, strict=True):
        zenith = np.radians(sun["apparent_zenith"].to_numpy())
        azimuth = np.radians(sun["azimuth"].to_numpy())
        parts.append(pl.DataFrame({
            "sun_up": sun["apparent_elevation"].to_numpy() > 0.0,
            "cos_zenith": np.cos(zenith),
            "sun_north": np.sin(zenith) * np.cos(azimuth),
            "sun_east": np.sin(zenith) * np.sin(azimuth),
            "dni": sky["dni"].to_numpy(),
            "dhi": sky["dhi"].to_numpy(),
            "ghi": sky["ghi"].to_numpy(),
            "anisotropy": sky["dni"].to_numpy() / dni_extra,
        }))
    frame = pl.concat(parts) if parts else pl.DataFrame(schema={name: pl.Float64 for name in SKY_COLUMNS[:-1]})
    return frame.with_columns(sun_up=pl.col("sun_up").cast(pl.Boolean), poa_max=_sun_facing_poa())


def _transposed(projection: pl.Expr, cos_tilt: pl.Expr) -> pl.Expr:
    """Hay-Davies plane-of-array irradiance (W/m²) from the cosine of the angle of incidence (``projection``)."""
    facing = pl.max_horizontal(projection, 0.0)
    ratio = facing / pl.max_horizontal(pl.col("cos_zenith"), _COS_ZENITH_FLOOR)
    beam = pl.col("dni") * facing
    isotropic = pl.max_horizontal(pl.col("dhi") * (1.0 - pl.col("anisotropy")) * (1.0 + cos_tilt) / 2.0, 0.0)
    circumsolar = pl.max_horizontal(pl.col("dhi") * pl.col("anisotropy") * ratio, 0.0)
    ground = pl.col("ghi") * ALBEDO * (1.0 - cos_tilt) / 2.0
    return beam + isotropic + circumsolar + ground


def _sun_facing_poa() -> pl.Expr:
    # A plane tilted by the zenith angle toward the sun's azimuth: the angle of incidence is 0, so the beam and
    # circumsolar terms, which carry nearly all of a clear sky's energy, are at their maximum.  A flatter plane
    # sees a little more isotropic sky, a steeper one a little more ground, but the loss of beam outweighs either
    # gain (both are second order in the tilt change), so this is within 2 % of the best fixed plane at every
    # instant (tests/mrv/test_clearsky.py checks it against pvlib over a grid of planes); the margin covers that.
    return pl.when(pl.col("sun_up")).then(_transposed(pl.lit(1.0), pl.col("cos_zenith"))).otherwise(0.0)


def plane_of_array(tilt: pl.Expr, azimuth: pl.Expr) -> pl.Expr:
    """Clear-sky irradiance (W/m²) on a site's modules, from the cell-sky columns of the same row.

    ``tilt`` and ``azimuth`` are degrees (azimuth clockwise from north); where either is null the orientation is
    unknown and the site gets ``poa_max``, the irradiance on the plane facing the sun.
    """
    return plane_irradiance(**orientation(tilt, azimuth))


def orientation(tilt: pl.Expr, azimuth: pl.Expr) -> dict[str, pl.Expr]:
    """A module plane's terms in `plane_irradiance`: once per site, so that no trigonometry runs per interval.

    ``plane_north``/``plane_east`` are sin(tilt) × cos/sin(azimuth); all three are null where the orientation
    is unknown.
    """
    tilt_rad, azimuth_rad = tilt.radians(), azimuth.radians()
    known = tilt.is_not_null() & azimuth.is_not_null()
    return {"plane_cos_tilt": pl.when(known).then(tilt_rad.cos()),
            "plane_north": pl.when(known).then(tilt_rad.sin() * azimuth_rad.cos()),
            "plane_east": pl.when(known).then(tilt_rad.sin() * azimuth_rad.sin())}


def plane_irradiance(plane_cos_tilt: pl.Expr, plane_north: pl.Expr, plane_east: pl.Expr) -> pl.Expr:
    """`plane_of_array` from the plane's `orientation` terms (null: unknown, the plane facing the sun)."""
    projection = (plane_cos_tilt * pl.col("cos_zenith") + plane_north * pl.col("sun_north")
                  + plane_east * pl.col("sun_east")).clip(-1.0, 1.0)
    known = _transposed(projection, plane_cos_tilt)
    return pl.when(plane_cos_tilt.is_null()).then(pl.col("poa_max")).otherwise(known)


def interval_kwh(irradiance: pl.Expr, capacity_kw: pl.Expr) -> pl.Expr:
    """Energy (kWh) of ``capacity_kw`` kWp under an irradiance (W/m²) for one interval, at STC efficiency.

    kWp is the output at 1,000 W/m², so this is irradiance / 1,000 × kWp × 0.25 h: what the modules would give
    with no losses at all, already an upper bound before any margin.
    """
    return irradiance / STC_IRRADIANCE * capacity_kw * _HOURS


def site_bounds(sky: pl.DataFrame, sky_row: np.ndarray, sites: pl.DataFrame, site: np.ndarray,
                margin: float) -> np.ndarray:
    """Each interval's clear-sky energy bound (kWh, margin included): `interval_kwh` of `plane_of_array` × margin.

    ``sky`` is a `cell_sky` frame and ``sky_row`` each interval's row in it; ``sites`` has ``capacity_kw``,
    ``tilt`` and ``azimuth`` and ``site`` is each interval's row in it.  The same floating-point operations in the
    same order as the Polars expressions, in one compiled pass that reads each sky and site value where it lies
    instead of gathering nine sky and four site columns per interval.
    """
    terms = sites.select(pl.col("capacity_kw"), **orientation(pl.col("tilt"), pl.col("azimuth"))).fill_null(np.nan)

    def floats(frame: pl.DataFrame, name: str) -> np.ndarray:
        return frame[name].cast(pl.Float64).to_numpy(writable=True)

    return _site_bounds(
        floats(sky, "cos_zenith"), floats(sky, "sun_north"), floats(sky, "sun_east"), floats(sky, "dni"),
        floats(sky, "dhi"), floats(sky, "ghi"), floats(sky, "anisotropy"), floats(sky, "poa_max"),
        np.ascontiguousarray(sky_row, dtype=np.int64), floats(terms, "capacity_kw"), floats(terms, "plane_cos_tilt"),
        floats(terms, "plane_north"), floats(terms, "plane_east"), np.ascontiguousarray(site, dtype=np.int64), margin,
    )


@njit(cache=True, nogil=True)
def _site_bounds(cos_zenith: np.ndarray, sun_north: np.ndarray, sun_east: np.ndarray, dni: np.ndarray,
                 dhi: np.ndarray, ghi: np.ndarray, anisotropy: np.ndarray, poa_max: np.ndarray, sky_row: np.ndarray,
                 capacity_kw: np.ndarray, plane_cos_tilt: np.ndarray, plane_north: np.ndarray,
                 plane_east: np.ndarray, site: np.ndarray, margin: float) -> np.ndarray:
    bounds = np.empty(len(site))
    for row in range(len(site)):
        k, m = sky_row[row], site[row]
        cos_tilt = plane_cos_tilt[m]
        if np.isnan(cos_tilt):  # unknown orientation: the plane facing the sun
            irradiance = poa_max[k]
        else:
            projection = min(max(cos_tilt * cos_zenith[k] + plane_north[m] * sun_north[k]
                                 + plane_east[m] * sun_east[k], -1.0), 1.0)
            # `_transposed`, term by term.
            facing = max(projection, 0.0)
            ratio = facing / max(cos_zenith[k], _COS_ZENITH_FLOOR)
            beam = dni[k] * facing
            isotropic = max(dhi[k] * (1.0 - anisotropy[k]) * (1.0 + cos_tilt) / 2.0, 0.0)
            circumsolar = max(dhi[k] * anisotropy[k] * ratio, 0.0)
            ground = ghi[k] * ALBEDO * (1.0 - cos_tilt) / 2.0
            irradiance = beam + isotropic + circumsolar + ground
        # Polars divides a column by a number as a multiplication by its reciprocal.
        bounds[row] = irradiance * (1.0 / STC_IRRADIANCE) * capacity_kw[m] * _HOURS * margin
    return bounds
