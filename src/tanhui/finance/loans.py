"""Green-loan products priced on carbon labels, grades and ratings, and the quote that explains its terms.

Money is exact: limits in integer fen (0.01 yuan), rates in integer basis points, multipliers as fractions;
a limit is rounded down to the fen, so a quote never offers more than its rule allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, get_args

from tanhui.accounts.profile import CreditProfile, HolderKind, Label, Rating
from tanhui.errors import InvalidRequest

LABELS: tuple[str, ...] = get_args(Label)
RATINGS: tuple[str, ...] = get_args(Rating)  # best first
HOLDER_KINDS: tuple[str, ...] = get_args(HolderKind)
GRADES = (1, 2, 3, 4, 5)  # Zhejiang carbon-efficiency grades, 1 the most efficient
MAX_MULTIPLIER = 10
MAX_FEN = 10**15  # ten trillion yuan: far above any loan, well inside 64-bit arithmetic
CODE_LENGTH = 40


@dataclass(frozen=True)
class Standing:
    """What a loan rule reads of a holder: kind, label, carbon-efficiency grade and credit rating."""

    holder_kind: str
    label: str | None
    grade: int | None
    rating: str | None

    @classmethod
    def of(cls, profile: CreditProfile) -> Standing:
        grade = profile.carbon_efficiency.outcome if profile.carbon_efficiency else None
        return cls(holder_kind=profile.holder_kind, label=profile.label.outcome if profile.label else None,
                   grade=int(grade) if grade and grade.isdigit() else None,
                   rating=profile.credit_rating.outcome if profile.credit_rating else None)


@dataclass(frozen=True)
class Conditions:
    """Conditions that must all hold; an empty field sets no condition."""

    holder_kinds: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # the label must be one of these
    not_labels: tuple[str, ...] = ()  # e.g. ("red",): "label not red"
    max_grade: int | None = None  # grade 1..max_grade (1 is best)
    min_rating: str | None = None  # this rating or better

    def unmet(self, standing: Standing) -> list[str]:
        """Each condition the standing fails, in words; [] when all hold."""
        failed = []
        if self.holder_kinds and standing.holder_kind not in self.holder_kinds:
            failed.append(f"holder is a {standing.holder_kind}, needs {' or '.join(self.holder_kinds)}")
        if self.labels and standing.label not in self.labels:
            failed.append(f"label is {standing.label or 'not evaluated'}, needs {' or '.join(self.labels)}")
        if self.not_labels and (standing.label is None or standing.label in self.not_labels):
            failed.append(f"label is {standing.label or 'not evaluated'}, must not be "
                          f"{' or '.join(self.not_labels)}")
        if self.max_grade is not None and (standing.grade is None or standing.grade > self.max_grade):
            failed.append(f"carbon-efficiency grade is {standing.grade or 'not evaluated'}, needs "
                          f"{self.max_grade} or better")
        if self.min_rating is not None and (
                standing.rating not in RATINGS or RATINGS.index(standing.rating) > RATINGS.index(self.min_rating)):
            failed.append(f"credit rating is {standing.rating or 'not evaluated'}, needs {self.min_rating} or better")
        return failed

    def describe(self) -> str:
        parts = []
        if self.holder_kinds:
            parts.append(f"holder {' or '.join(self.holder_kinds)}")
        if self.labels:
            parts.append(f"label {' or '.join(self.labels)}")
        if self.not_labels:
            parts.append(f"label not {' or '.join(self.not_labels)}")
        if self.max_grade is not None:
            parts.append(f"grade ≤ {self.max_grade}")
        if self.min_rating is not None:
            parts.append(f"rating ≥ {self.min_rating}")
        return ", ".join(parts) or "any holder"


@dataclass(frozen=True)
class PricingRule:
    """Terms for holders meeting ``when``: the normal limit times ``limit_multiplier``, the rate less a discount."""

    name: str
    when: Conditions
    limit_multiplier: Fraction
    rate_discount_bp: int


@dataclass(frozen=True)
class LoanProduct:
    """A bank's product: who is eligible, and pricing rules tried in order (the first that holds applies)."""

    code: str
    name_zh: str
    name_en: str
    eligibility: Conditions
    rules: tuple[PricingRule, ...]
    min_rate_bp: int = 0  # the rate never goes below this floor, whatever the discount
    max_limit_fen: int | None = None
    notes: tuple[str, ...] = ()  # sources and tags of the figures, and what the product does not model


@dataclass(frozen=True)
class Quote:
    """The terms a holder gets under a product, and why: the rule that applied and why others did not."""

    product_code: str
    eligible: bool
    rule: str | None
    limit_fen: int | None
    rate_bp: int | None
    reasons: tuple[str, ...]


def quote(product: LoanProduct, standing: Standing, *, normal_limit_fen: int, base_rate_bp: int) -> Quote:
    """The holder's terms: ``normal_limit_fen`` and ``base_rate_bp`` are the bank's terms without the product."""
    _amount(normal_limit_fen, "normal_limit_fen", MAX_FEN)
    _amount(base_rate_bp, "base_rate_bp", 100_000)
    unmet = product.eligibility.unmet(standing)
    if unmet:
        return Quote(product.code, False, None, None, None,
                     tuple(f"not eligible: {reason}" for reason in unmet))
    reasons = [f"eligible: {product.eligibility.describe()}"]
    applied: PricingRule | None = None
    for rule in product.rules:
        failed = rule.when.unmet(standing)
        if applied is not None:
            reasons.append(f"rule {rule.name!r} not tried: an earlier rule applied")
        elif failed:
            reasons.append(f"rule {rule.name!r} does not apply: {'; '.join(failed)}")
        else:
            applied = rule
            reasons.append(f"rule {rule.name!r} applies ({rule.when.describe()}): limit × "
                           f"{_ratio(rule.limit_multiplier)}, rate − {rule.rate_discount_bp} bp")
    multiplier = applied.limit_multiplier if applied else Fraction(1)
    discount = applied.rate_discount_bp if applied else 0
    if applied is None:
        reasons.append("no rule applies: the normal limit and rate")
    limit = normal_limit_fen * multiplier.numerator // multiplier.denominator  # rounded down to the fen
    if product.max_limit_fen is not None and limit > product.max_limit_fen:
        reasons.append(f"limit capped at the product's maximum {yuan(product.max_limit_fen)} yuan")
        limit = product.max_limit_fen
    rate = base_rate_bp - discount
    if rate < product.min_rate_bp:
        reasons.append(f"rate floored at the product's minimum {product.min_rate_bp} bp")
        rate = product.min_rate_bp
    reasons.append(f"terms: limit {yuan(limit)} yuan (normal {yuan(normal_limit_fen)}), rate {rate} bp "
                   f"(base {base_rate_bp})")
    return Quote(product.code, True, applied.name if applied else None, limit, rate, tuple(reasons))


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals and thousands separators, exact."""
    whole, cents = divmod(fen, 100)
    return f"{whole:,}.{cents:02d}"


def _ratio(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _amount(value: Any, where: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise InvalidRequest(f"{where} must be a whole number from 0 to {most}, not {value!r}")
    return value


def _strings(value: Any, where: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{where} must be a list of text")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise InvalidRequest(f"{where}: unknown {', '.join(unknown)}; one of {', '.join(allowed)}")
    return tuple(value)


def _text(value: Any, where: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= limit:
        raise InvalidRequest(f"{where} must be text of 1 to {limit} characters")
    return value.strip()


def _conditions(data: Any, where: str) -> Conditions:
    if data is None:
        return Conditions()
    if not isinstance(data, dict):
        raise InvalidRequest(f"{where} must be a table of conditions")
    known = {"holder_kinds", "labels", "not_labels", "max_grade", "min_rating"}
    extra = set(data) - known
    if extra:
        raise InvalidRequest(f"{where}: unknown conditions {', '.join(sorted(extra))}; known: "
                             f"{', '.join(sorted(known))}")
    grade = data.get("max_grade")
    if grade is not None and (isinstance(grade, bool) or grade not in GRADES):
        raise InvalidRequest(f"{where}.max_grade must be one of 1 to 5, not {grade!r}")
    rating = data.get("min_rating")
    if rating is not None and rating not in RATINGS:
        raise InvalidRequest(f"{where}.min_rating must be one of {', '.join(RATINGS)}, not {rating!r}")
    return Conditions(holder_kinds=_strings(data.get("holder_kinds"), f"{where}.holder_kinds", HOLDER_KINDS),
                      labels=_strings(data.get("labels"), f"{where}.labels", LABELS),
                      not_labels=_strings(data.get("not_labels"), f"{where}.not_labels", LABELS),
                      max_grade=grade, min_rating=rating)


def _multiplier(value: Any, where: str) -> Fraction:
    try:
        multiplier = Fraction(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except (ValueError, ZeroDivisionError):
        multiplier = None
    if multiplier is None or not 0 < multiplier <= MAX_MULTIPLIER:
        raise InvalidRequest(f"{where} must be an exact number above 0 and at most {MAX_MULTIPLIER}, such as "
                             f"\"3/2\" or \"1.5\" (text, not a float), not {value!r}")
    return multiplier


def product_from_json(data: Any) -> LoanProduct:
    """A product from its definition (TOML or JSON), each bad field named."""
    if not isinstance(data, dict):
        raise InvalidRequest("a loan product must be a table (JSON object)")
    known = {"code", "name_zh", "name_en", "eligibility", "rules", "min_rate_bp", "max_limit_fen", "notes"}
    extra = set(data) - known
    if extra:
        raise InvalidRequest(f"unknown product fields {', '.join(sorted(extra))}; known: {', '.join(sorted(known))}")
    code = _text(data.get("code"), "code", CODE_LENGTH)
    if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in code):
        raise InvalidRequest(f"code {code!r} may hold only ASCII letters, digits, '-', '_' and '.'")
    rules_data = data.get("rules", [])
    if not isinstance(rules_data, list):
        raise InvalidRequest("rules must be a list")
    rules = []
    for number, rule in enumerate(rules_data, start=1):
        where = f"rules[{number}]"
        if not isinstance(rule, dict):
            raise InvalidRequest(f"{where} must be a table")
        extra = set(rule) - {"name", "when", "limit_multiplier", "rate_discount_bp"}
        if extra:
            raise InvalidRequest(f"{where}: unknown fields {', '.join(sorted(extra))}")
        rules.append(PricingRule(name=_text(rule.get("name"), f"{where}.name"),
                                 when=_conditions(rule.get("when"), f"{where}.when"),
                                 limit_multiplier=_multiplier(rule.get("limit_multiplier", "1"),
                                                              f"{where}.limit_multiplier"),
                                 rate_discount_bp=_amount(rule.get("rate_discount_bp", 0),
                                                          f"{where}.rate_discount_bp", 10_000)))
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise InvalidRequest("two rules have the same name; each rule's name is what a quote cites")
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise InvalidRequest("notes must be a list of text")
    maximum = data.get("max_limit_fen")
    return LoanProduct(
        code=code, name_zh=_text(data.get("name_zh"), "name_zh"), name_en=_text(data.get("name_en"), "name_en"),
        eligibility=_conditions(data.get("eligibility"), "eligibility"), rules=tuple(rules),
        min_rate_bp=_amount(data.get("min_rate_bp", 0), "min_rate_bp", 100_000),
        max_limit_fen=None if maximum is None else _amount(maximum, "max_limit_fen", MAX_FEN),
        notes=tuple(notes))


def _conditions_json(conditions: Conditions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("holder_kinds", "labels", "not_labels"):
        if getattr(conditions, name):
            out[name] = list(getattr(conditions, name))
    if conditions.max_grade is not None:
        out["max_grade"] = conditions.max_grade
    if conditions.min_rating is not None:
        out["min_rating"] = conditions.min_rating
    return out


def product_json(product: LoanProduct) -> dict[str, Any]:
    """The product's definition in the shape ``product_from_json`` reads, multipliers as exact text."""
    out: dict[str, Any] = {
        "code": product.code, "name_zh": product.name_zh, "name_en": product.name_en,
        "eligibility": _conditions_json(product.eligibility),
        "rules": [{"name": r.name, "when": _conditions_json(r.when), "limit_multiplier": _ratio(r.limit_multiplier),
                   "rate_discount_bp": r.rate_discount_bp} for r in product.rules],
        "min_rate_bp": product.min_rate_bp, "notes": list(product.notes)}
    if product.max_limit_fen is not None:
        out["max_limit_fen"] = product.max_limit_fen
    return out
