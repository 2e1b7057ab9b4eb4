"""The peer check: a site-day whose specific yield stands far above its grid cell's other sites that day.

Sites in one grid cell see the same weather, so on any day their specific yields (kWh per kWp) are close; a
yield far above the cell's median, in robust standard deviations (1.4826 × MAD), is energy the weather cannot
explain: a declared capacity smaller than the plant, another meter's energy, a mis-scaled register.  Only the
high side is flagged.  A low yield credits less by itself, and its causes (outage, shading, soiling, missing
intervals, already flagged) are no reason to refuse the energy that was measured.  The yield is the energy
reported, flagged or not, so that the check does not depend on the others.
"""

from __future__ import annotations

import polars as pl

from tanhui.mrv.flags import MAD_TO_SIGMA

# A cell-day is judged only with at least this many sites reporting: with fewer, the median and the MAD are each
# set by one or two sites, so one faulty site can hide itself or push an honest neighbour over the threshold.
MIN_PEERS = 5
# Floor of the robust standard deviation, as a share of the cell-day's median yield.  When half the sites report
# the same yield (identical demo data, or a cell of identical plants) the MAD is 0 and every difference would
# be infinitely many MADs; real sites differ by ~10 % in orientation, shading and performance ratio, so 2 % only
# matters for such degenerate cells.
SCALE_FLOOR_SHARE = 0.02


def peer_outliers(yields: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """The site-days to flag, with their robust z-score: columns ``meter``, ``day``, ``z``.

    ``yields`` has one row per site-day with readings: ``cell``, ``meter``, ``day`` and ``specific_yield``
    (the reported kWh per kWp).  ``threshold`` is the methodology's robust z cut-off.
    """
    median = pl.col("specific_yield").median().over("cell", "day")
    mad = (pl.col("specific_yield") - median).abs().median().over("cell", "day")
    scale = pl.max_horizontal(mad * MAD_TO_SIGMA, median * SCALE_FLOOR_SHARE)
    judged = yields.with_columns(peers=pl.len().over("cell", "day"))
    return (
        judged.filter(pl.col("peers") >= MIN_PEERS)
        .with_columns(z=(pl.col("specific_yield") - median) / scale)
        .filter(pl.col("z") > threshold)
        .select("meter", "day", "z")
    )
