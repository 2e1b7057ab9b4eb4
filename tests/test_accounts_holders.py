"""Unified social credit codes (GB 32100 check character), GB/T 4754 industry codes and periods."""

from __future__ import annotations

from datetime import date

import pytest

from tanhui.accounts.holders import check_industry, check_uscc, uscc_check_character
from tanhui.accounts.periods import Period
from tanhui.errors import InvalidRequest


def test_the_standards_example_code_passes_its_check() -> None:
    # GB 32100-2015's example: Σ value × 3^i mod 31 over the first 17 characters is 28, and 31 − 28 = 3.
    assert uscc_check_character("91350100M000100Y4") == "3"
    assert check_uscc(" 91350100m000100y43 ") == "91350100M000100Y43"


@pytest.mark.parametrize(("code", "why"), [
    ("91350100M000100Y44", "should be 3, not 4"),
    ("91350100M000100Y4", "18 characters"),
    ("91350100M000100I43", "does not use: I"),
    ("9135A100M000100Y43", "administrative division"),
])
def test_bad_codes_say_what_is_wrong(code: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        check_uscc(code)


def test_industry_codes() -> None:
    assert check_industry("3011") == "C3011" and check_industry("c30") == "C30" and check_industry("P833") == "P833"
    for code, why in (("D3011", "section C, not D"), ("9811", "no division 98"), ("C3", "2-4 digits"),
                      ("C30111", "2-4 digits")):
        with pytest.raises(InvalidRequest, match=why):
            check_industry(code)


def test_periods() -> None:
    assert Period.parse("2023") == Period(date(2023, 1, 1), date(2023, 12, 31))
    assert Period.parse("2024-02") == Period(date(2024, 2, 1), date(2024, 2, 29))
    assert str(Period.parse("2023-01..2023-06")) == "2023-01..2023-06" and str(Period.parse("2023")) == "2023"
    assert Period.parse("2023-11..2024-02").months == ("2023-11", "2023-12", "2024-01", "2024-02")
    assert Period.parse("2024-02").year_before() == Period(date(2023, 2, 1), date(2023, 2, 28))
    for bad in ("2023-13", "23", "2023-06..2023-01", "2023-01-01"):
        with pytest.raises(InvalidRequest):
            Period.parse(bad)
