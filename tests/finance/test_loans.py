"""Loan products: rules by label, grade and rating, exact terms with their reasons, versions, who may quote."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tanhui.accounts import credit_report as reports
from tanhui.errors import Conflict, InvalidRequest, PermissionDenied
from tanhui.finance import consent, products
from tanhui.finance.loans import Standing, product_from_json, product_json, quote, yuan
from tanhui.journal import audit
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, snapshot
from tests.finance.profiles import profile

QUZHOU = "QZ-INDUSTRIAL-CARBON-REDUCTION"


def _standing(label: str | None = "light_green", grade: int | None = 2, rating: str | None = "AA",
              kind: str = "enterprise") -> Standing:
    return Standing(holder_kind=kind, label=label, grade=grade, rating=rating)


def test_the_seeds_one_and_a_half_times_limit_for_a_green_label() -> None:
    product = products.example(QUZHOU)
    terms = quote(product, _standing("dark_green"), normal_limit_fen=1_000_000_01, base_rate_bp=385)
    # 1,000,000.01 yuan × 3/2 = 1,500,000.015 yuan: rounded down to the fen, never up.
    assert (terms.eligible, terms.rule, terms.limit_fen, terms.rate_bp) == (True, "green label", 1_500_000_01, 355)
    assert terms.reasons[0] == "eligible: holder enterprise, label not red"
    assert "rule 'green label' applies (label dark_green or light_green): limit × 3/2, rate − 30 bp" in terms.reasons
    assert "rule 'yellow label' not tried: an earlier rule applied" in terms.reasons
    assert terms.reasons[-1] == "terms: limit 1,500,000.01 yuan (normal 1,000,000.01), rate 355 bp (base 385)"


def test_yellow_gets_normal_terms_and_red_is_not_eligible() -> None:
    product = products.example(QUZHOU)
    yellow = quote(product, _standing("yellow"), normal_limit_fen=80_000_00, base_rate_bp=400)
    assert (yellow.rule, yellow.limit_fen, yellow.rate_bp) == ("yellow label", 80_000_00, 400)
    assert "rule 'green label' does not apply: label is yellow, needs dark_green or light_green" in yellow.reasons
    red = quote(product, _standing("red"), normal_limit_fen=80_000_00, base_rate_bp=400)
    assert (red.eligible, red.limit_fen, red.rate_bp) == (False, None, None)
    assert red.reasons == ("not eligible: label is red, must not be red",)
    unlabelled = quote(product, _standing(None), normal_limit_fen=1, base_rate_bp=1)
    assert unlabelled.reasons == ("not eligible: label is not evaluated, must not be red",)
    resident = quote(product, _standing(kind="resident"), normal_limit_fen=1, base_rate_bp=1)
    assert resident.reasons == ("not eligible: holder is a resident, needs enterprise",)


@pytest.mark.parametrize(("grade", "eligible"), [(1, True), (4, True), (5, False), (None, False)])
def test_a_grade_threshold_holds_at_its_edge(grade: int | None, eligible: bool) -> None:
    terms = quote(products.example("WUYI-CARBON-REDUCTION"), _standing(grade=grade), normal_limit_fen=100,
                  base_rate_bp=40)
    assert terms.eligible is eligible
    if eligible:
        assert terms.rate_bp == 0  # 40 − 50 bp floored at the product's minimum
        assert "rate floored at the product's minimum 0 bp" in terms.reasons


def _rated(min_rating: str) -> Any:
    return product_from_json({"code": "R", "name_zh": "评级贷", "name_en": "Rated", "rules": [
        {"name": "rated", "when": {"min_rating": min_rating}, "limit_multiplier": "1.25", "rate_discount_bp": 20}],
        "max_limit_fen": 1_000_00})


def test_minimum_rating_and_the_products_cap() -> None:
    assert quote(_rated("AA"), _standing(rating="AA"), normal_limit_fen=500_00, base_rate_bp=300).limit_fen == 625_00
    below = quote(_rated("AA"), _standing(rating="A"), normal_limit_fen=500_00, base_rate_bp=300)
    assert below.rule is None and below.limit_fen == 500_00 and below.rate_bp == 300
    assert "rule 'rated' does not apply: credit rating is A, needs AA or better" in below.reasons
    assert "no rule applies: the normal limit and rate" in below.reasons
    capped = quote(_rated("C"), _standing(rating="C"), normal_limit_fen=2_000_00, base_rate_bp=300)
    assert capped.limit_fen == 1_000_00 and "limit capped at the product's maximum 1,000.00 yuan" in capped.reasons
    assert _rated("AA").rules[0].limit_multiplier == Fraction(5, 4)
    assert yuan(123_456_789) == "1,234,567.89"


@pytest.mark.parametrize(("change", "phrase"), [
    ({"rules": [{"name": "x", "limit_multiplier": 1.5}]}, "rules[1].limit_multiplier must be an exact number"),
    ({"rules": [{"name": "x", "when": {"labels": ["blue"]}}]}, "rules[1].when.labels: unknown blue"),
    ({"eligibility": {"max_grade": 6}}, "eligibility.max_grade must be one of 1 to 5"),
    ({"eligibility": {"min_rating": "AAAA"}}, "eligibility.min_rating must be one of AAA"),
    ({"eligibility": {"colour": "red"}}, "eligibility: unknown conditions colour"),
    ({"code": "has space"}, "may hold only ASCII letters"),
    ({"rate": 3}, "unknown product fields rate"),
    ({"rules": [{"name": "a"}, {"name": "a"}]}, "two rules have the same name"),
    ({"rules": [{"name": "a", "rate_discount_bp": -5}]}, "rules[1].rate_discount_bp must be a whole number"),
])
def test_a_bad_product_names_the_field(change: dict[str, Any], phrase: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        product_from_json({"code": "P", "name_zh": "产品", "name_en": "P"} | change)
    assert phrase in raised.value.detail


def test_examples_carry_tagged_sources_and_round_trip() -> None:
    for product, figures in products.example_products().values():
        assert figures and all(f.tag in ("V", "T", "R") and f.source for f in figures)
        assert product_from_json(product_json(product)) == product
    notes = products.example(QUZHOU).notes
    assert any("3/2 [V] seed 004" in note for note in notes)


def _define(world: World, who: Any, definition: dict[str, Any]) -> Any:
    with UnitOfWork(world.engine, who.actor) as tx:
        row = products.define(tx, who, bank_organization_id=world.bank_org, definition=definition)
        tx.commit()
    return row


def test_a_bank_versions_its_products_and_others_cannot(world: World) -> None:
    definition = product_json(products.example(QUZHOU))
    before = snapshot(world.engine)
    with UnitOfWork(world.engine, world.buyer.actor) as tx, pytest.raises(PermissionDenied):
        products.define(tx, world.buyer, bank_organization_id=world.bank_org, definition=definition)
    with UnitOfWork(world.engine, world.bank.actor) as tx, pytest.raises(InvalidRequest, match="not a bank"):
        products.define(tx, world.bank, bank_organization_id=world.buyer_org, definition=definition)
    assert snapshot(world.engine) == before
    assert _define(world, world.bank, definition)["version"] == 1
    with pytest.raises(Conflict, match="version 1 already has these terms"):
        _define(world, world.bank, definition)
    definition["rules"][0]["limit_multiplier"] = "2"
    assert _define(world, world.operator, definition)["version"] == 2
    with world.engine.connect() as conn:
        assert [r["version"] for r in products.versions(conn, world.bank_org, QUZHOU)] == [1, 2]
        current = products.current_products(conn, world.bank_org)
        assert [(r["code"], r["version"]) for r in current] == [(QUZHOU, 2)]
        assert products.product_of(current[0]).rules[0].limit_multiplier == 2
    assert audit.verify(world.engine).problems == []


def test_the_holder_and_a_consented_bank_get_a_quote(world: World) -> None:
    _define(world, world.bank, product_json(products.example(QUZHOU)))
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        report = reports.issue_report(tx, world.operator, profile(), holder_organization_id=world.buyer_org)["id"]
        tx.commit()
    ask = {"bank_organization_id": world.bank_org, "code": QUZHOU, "holder_id": 1, "normal_limit_fen": 2_000_000_00,
           "base_rate_bp": 385}
    own = products.quote_for(world.engine, world.buyer, **ask)
    assert (own.quote.limit_fen, own.quote.rate_bp, own.report["id"]) == (3_000_000_00, 355, report)
    with pytest.raises(PermissionDenied, match="refused and logged"):
        products.quote_for(world.engine, world.bank, **ask)
    with pytest.raises(PermissionDenied, match="for the holder and, with consent, the bank"):
        products.quote_for(world.engine, world.owner, **ask)
    with UnitOfWork(world.engine, world.buyer.actor) as tx:
        consent.grant(tx, world.buyer, holder_id=1, bank_organization_id=world.bank_org, scope="summary", days=1)
        tx.commit()
    assert products.quote_for(world.engine, world.bank, **ask).quote.rule == "green label"
    with world.engine.connect() as conn:
        log = consent.access_log(conn, world.buyer, 1)
    assert [(r["kind"], r["allowed"]) for r in log] == [("quote", False), ("quote", True)]


@given(normal=st.integers(0, 10**13), base=st.integers(0, 2_000), numerator=st.integers(1, 50),
       denominator=st.integers(1, 20), discount=st.integers(0, 1_000), floor=st.integers(0, 300))
def test_terms_never_exceed_the_rule_and_never_undercut_the_floor(normal: int, base: int, numerator: int,
                                                                   denominator: int, discount: int,
                                                                   floor: int) -> None:
    multiplier = Fraction(numerator, denominator)
    assume(multiplier <= 10)
    product = product_from_json({"code": "P", "name_zh": "产品", "name_en": "P", "min_rate_bp": floor, "rules": [
        {"name": "any", "limit_multiplier": str(multiplier), "rate_discount_bp": discount}]})
    terms = quote(product, _standing(), normal_limit_fen=normal, base_rate_bp=base)
    assert terms.limit_fen is not None and terms.rate_bp is not None
    # Rounded down to the fen: within one fen below the exact product, never above it.
    assert 0 <= normal * multiplier - terms.limit_fen < 1
    assert terms.rate_bp == max(base - discount, floor)
