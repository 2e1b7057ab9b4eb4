"""Each evaluation scheme exactly at its thresholds and one step past them; benchmarks by nearest rank."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tanhui.accounts.benchmarks import benchmark_of, nearest_rank, parse_file
from tanhui.accounts.evaluation import Standing, carbon_efficiency, evaluate, scheme, schemes, weighted
from tanhui.errors import BadInput

STEP = Fraction(1, 10**9)  # one step past a threshold: far below any figure's precision


@pytest.mark.parametrize(("k", "grade"), [("0.6", "1"), ("0.8", "2"), ("1.2", "3"), ("2.0", "4")])
def test_carbon_efficiency_grades_at_and_past_each_threshold(k: str, grade: str) -> None:
    applied = scheme("carbon_efficiency")
    average = Fraction("0.35")
    at = carbon_efficiency(applied, Fraction(k) * average, average)
    past = carbon_efficiency(applied, (Fraction(k) + STEP) * average, average)
    assert at is not None and past is not None
    assert (at.outcome, at.score) == (grade, Fraction(k))
    assert past.outcome == str(int(grade) + 1)
    assert at.scheme == "zhejiang-carbon-efficiency@1"


def test_carbon_efficiency_needs_intensity_and_average() -> None:
    assert carbon_efficiency(scheme("carbon_efficiency"), None, Fraction(1)) is None
    assert carbon_efficiency(scheme("carbon_efficiency"), Fraction(1), Fraction(0)) is None


@pytest.mark.parametrize(("kind", "thresholds"), [
    ("four_colours", [("85", "dark_green", "light_green"), ("70", "light_green", "yellow"), ("55", "yellow", "red")]),
    ("credit_rating", [("90", "AAA", "AA"), ("80", "AA", "A"), ("70", "A", "BBB"), ("60", "BBB", "BB"),
                       ("50", "BB", "B"), ("40", "B", "CCC"), ("30", "CCC", "CC"), ("20", "CC", "C")]),
])
def test_weighted_outcomes_at_and_below_each_threshold(kind: str, thresholds: list[tuple[str, str, str]]) -> None:
    applied = scheme(kind)
    for score, at, below in thresholds:
        assert applied.outcome(Fraction(score))[0] == at
        assert applied.outcome(Fraction(score) - STEP)[0] == below


@pytest.mark.parametrize(("name", "bound", "at", "past"), [
    ("industry_advancement", "0.8", 100, 80), ("industry_advancement", "1.0", 80, 60),
    ("industry_advancement", "1.2", 60, 30), ("regional_contribution", "1.5", 60, 30),
    ("historical_decline", "0.95", 100, 80), ("historical_decline", "1.05", 60, 30),
])
def test_four_colour_dimensions_at_and_past_each_step(name: str, bound: str, at: int, past: int) -> None:
    [dimension] = [d for d in scheme("four_colours").dimensions if d.name == name]
    assert dimension.points(Fraction(bound))[0] == at
    assert dimension.points(Fraction(bound) + STEP)[0] == past


@pytest.mark.parametrize(("name", "bound", "at", "past"), [
    ("economy", "0.35", 100, 80), ("economy", "0.15", 60, 40), ("energy", "0.5", 100, 80),
    ("energy", "0.05", 60, 40), ("pollution", "90", 100, 80), ("pollution", "60", 60, 20),
])
def test_rating_indicators_higher_is_better_at_and_below(name: str, bound: str, at: int, past: int) -> None:
    [indicator] = [d for d in scheme("credit_rating").dimensions if d.name == name]
    assert indicator.points(Fraction(bound))[0] == at
    assert indicator.points(Fraction(bound) - STEP)[0] == past


def test_four_colours_by_hand() -> None:
    # 0.5 × 100 (ratio 0.8) + 0.25 × 80 (ratio 1.0) + 0.25 × 60 (ratio 1.05) = 50 + 20 + 15 = 85 → dark green
    at = weighted(scheme("four_colours"), {"industry_advancement": Fraction("0.8"),
                                           "regional_contribution": Fraction(1),
                                           "historical_decline": Fraction("1.05")})
    assert (at.outcome, at.score) == ("dark_green", 85)
    # the last ratio one step worse: 0.25 × 30 instead of 0.25 × 60 → 77.5 → light green
    past = weighted(scheme("four_colours"), {"industry_advancement": Fraction("0.8"),
                                             "regional_contribution": Fraction(1),
                                             "historical_decline": Fraction("1.05") + STEP})
    assert (past.outcome, past.score) == ("light_green", Fraction("77.5"))
    # no previous year: 60 points → still 85
    assert weighted(scheme("four_colours"), {"industry_advancement": Fraction("0.8"),
                                             "regional_contribution": Fraction(1)}).score == 85


def test_evaluate_by_hand() -> None:
    standing = Standing(intensity=Fraction("0.3"), industry_median=Fraction("0.4"), industry_average=Fraction("0.5"),
                        region_average=Fraction("0.25"), previous_intensity=Fraction("0.3"),
                        value_added=Fraction(30), output_value=Fraction(100), green_kwh=Fraction(1000),
                        electricity_kwh=Fraction(10000), pollution_score=None)
    label, efficiency, rating = evaluate(standing)
    assert efficiency is not None and (efficiency.outcome, efficiency.score) == ("1", Fraction("0.6"))
    # ratios 0.75 → 100, 1.2 → 60, 1.0 → 80: 50 + 15 + 20 = 85
    assert label is not None and (label.outcome, label.score) == ("dark_green", 85)
    # economy 0.3 → 80, energy 0.1 → 60, pollution missing → 60, carbon K 0.6 → 100:
    # 0.2 × 80 + 0.2 × 60 + 0.2 × 60 + 0.4 × 100 = 16 + 12 + 12 + 40 = 80 → AA
    assert rating is not None and (rating.outcome, rating.score) == ("AA", 80)
    assert len(rating.reasons) == 5 and rating.reasons[2].startswith("pollution: no input")


def test_every_scheme_says_where_it_comes_from() -> None:
    for applied in schemes():
        assert applied.source and applied.tag in ("V", "P")
        assert applied.describe()["reference"] == applied.reference
    assert scheme("carbon_efficiency").tag == "V" and scheme("four_colours").tag == "P"


def test_nearest_rank_percentiles() -> None:
    values = [Fraction(v) for v in (1, 2, 3, 4)]
    assert nearest_rank(values, 50) == 2 and nearest_rank(values, 10) == 1 and nearest_rank(values, 90) == 4
    assert nearest_rank(values, 75) == 3 and nearest_rank(values, 25) == 1
    # (kg, 10k yuan): intensities 0.1, 0.2, 0.5 t per 10k yuan; average (100 + 400 + 5000) / (1 + 2 + 10) kg
    made = benchmark_of("C25", "QUZHOU", 2023, [(100, Fraction(1)), (400, Fraction(2)), (5000, Fraction(10)),
                                                 (7, Fraction(0))], "test")
    assert made is not None and made.holders == 3
    assert (made.median, made.p10, made.p90) == (Fraction("0.2"), Fraction("0.1"), Fraction("0.5"))
    assert made.average == Fraction(5500, 13_000)
    assert benchmark_of("C25", "QUZHOU", 2023, [], "test") is None


def test_a_benchmark_file_is_taken_whole_or_not_at_all() -> None:
    head = "industry,region,year,holders,median,p10,p25,p75,p90,average,source\n"
    good = "C25,QUZHOU,2023,40,0.5,0.1,0.3,0.8,1.2,0.6,bureau 2023\n"
    [loaded] = parse_file(head + good)
    assert loaded.median == Fraction("0.5") and loaded.source == "bureau 2023"
    with pytest.raises(BadInput) as raised:
        parse_file(head + good + "C26,QUZHOU,2023,40,0.5,0.6,0.3,0.8,1.2,0.6,x\nC25,QUZHOU,2023,1,1,1,1,1,1,1,y\n"
                   "C27,QUZHOU,20x3,1,1,1,1,1,1,1,z\n")
    assert "row 3:" in raised.value.detail and "row 4: C25/QUZHOU/2023 appears twice" in raised.value.detail
    assert "row 5:" in raised.value.detail
    with pytest.raises(BadInput, match="lacks the columns average"):
        parse_file("industry,region,year,holders,median,p10,p25,p75,p90,source\n")
