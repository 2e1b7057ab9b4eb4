"""The peer check: a site-day far above its grid cell's other sites is flagged, and only then."""

from __future__ import annotations

import polars as pl

from tanhui.mrv import peers

THRESHOLD = 3.5


def _yields(*cells: tuple[int, int, list[float]]) -> pl.DataFrame:
    """(cell, day, specific yields of the cell's sites that day); meters are numbered across all cells."""
    rows = []
    meter = 0
    for cell, day, values in cells:
        for value in values:
            rows.append({"cell": cell, "meter": meter, "day": day, "specific_yield": value})
            meter += 1
    return pl.DataFrame(rows, schema={"cell": pl.Int32, "meter": pl.UInt32, "day": pl.Int64,
                                      "specific_yield": pl.Float64})


def test_a_site_far_above_its_cell_is_flagged_with_its_robust_z() -> None:
    flagged = peers.peer_outliers(_yields((7, 0, [4.1, 4.3, 3.9, 4.0, 4.2, 8.4])), THRESHOLD)
    assert flagged["meter"].to_list() == [5] and flagged["day"].to_list() == [0]
    # median 4.15, MAD 0.15: z = (8.4 − 4.15) / (1.4826 × 0.15) ≈ 19.1
    assert abs(flagged["z"][0] - 4.25 / (peers.MAD_TO_SIGMA * 0.15)) < 1e-6


def test_a_site_far_below_its_cell_is_not_flagged() -> None:
    assert peers.peer_outliers(_yields((7, 0, [4.1, 4.3, 3.9, 4.0, 4.2, 0.4])), THRESHOLD).is_empty()


def test_just_inside_the_threshold_is_not_flagged() -> None:
    # median 4.1, MAD 0.1 (the six others spread evenly): 3.4 robust SDs above is 4.1 + 3.4 × 0.14826.
    values = [3.9, 4.0, 4.1, 4.1, 4.2, 4.3]
    inside = _yields((7, 0, [*values, 4.1 + 3.4 * peers.MAD_TO_SIGMA * 0.1]))
    outside = _yields((7, 0, [*values, 4.1 + 3.6 * peers.MAD_TO_SIGMA * 0.1]))
    assert peers.peer_outliers(inside, THRESHOLD).is_empty()
    assert len(peers.peer_outliers(outside, THRESHOLD)) == 1


def test_too_few_peers_judge_nobody() -> None:
    assert peers.MIN_PEERS == 5
    assert peers.peer_outliers(_yields((7, 0, [4.1, 4.3, 4.0, 8.4])), THRESHOLD).is_empty()
    assert len(peers.peer_outliers(_yields((7, 0, [4.1, 4.3, 4.0, 4.2, 8.4])), THRESHOLD)) == 1


def test_sites_are_compared_within_their_cell_and_day_only() -> None:
    sunny, cloudy = [5.0, 5.2, 4.9, 5.1, 5.0], [1.0, 1.2, 0.9, 1.1, 1.0]
    # The same sunny yields are ordinary in their own cell, and on their own day.
    assert peers.peer_outliers(_yields((1, 0, sunny), (2, 0, cloudy)), THRESHOLD).is_empty()
    assert peers.peer_outliers(_yields((1, 0, cloudy), (1, 1, sunny)), THRESHOLD).is_empty()
    flagged = peers.peer_outliers(_yields((1, 0, cloudy), (1, 1, [*sunny[:4], 9.9])), THRESHOLD)
    assert flagged.select("meter", "day").rows() == [(9, 1)]


def test_identical_yields_do_not_make_every_difference_an_outlier() -> None:
    # MAD 0: the scale falls back to 2 % of the median (0.1 kWh/kWp), so 5 % above is 2.5 robust SDs.
    assert peers.peer_outliers(_yields((3, 0, [5.0] * 6 + [5.25])), THRESHOLD).is_empty()
    assert len(peers.peer_outliers(_yields((3, 0, [5.0] * 6 + [6.0])), THRESHOLD)) == 1
