"""Compliance offsetting as pure rules: which credits a region accepts for a compliance year, and how many."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from tanhui.errors import InvalidRequest
from tanhui.regions.catalogue import OffsetRules, same_area


class OffsetRefused(InvalidRequest):
    """Credits a region does not accept for a compliance surrender, or more than its cap allows."""

    code, title = "offset-refused", "The region's offsetting rules refuse this surrender"


@dataclass(frozen=True, slots=True)
class Credits:
    """Units of one issuance offered for a surrender, with what the rules look at."""

    quantity: int
    region: str
    credit_type: str
    methodology: str
    vintage: int


def caps(rules: OffsetRules, verified_emissions_kg: int) -> tuple[int, int]:
    """(total, outside-the-region) whole kgCO2e a compliance year may offset, rounded down."""
    emissions = Fraction(verified_emissions_kg)
    return (math.floor(emissions * Fraction(rules.cap_share.value)),
            math.floor(emissions * Fraction(rules.outside_cap_share.value)))


def check(rules: OffsetRules, *, region: str, compliance_year: int, verified_emissions_kg: int,
          surrendered_kg: int, surrendered_outside_kg: int, offered: list[Credits]) -> int:
    """Refuse, naming the rule, unless every credit is eligible and the caps hold; the outside part offered."""
    problems = []
    for credits in offered:
        what = f"{credits.quantity:,} kgCO2e of {credits.region} {credits.credit_type} {credits.methodology} " \
               f"vintage {credits.vintage}"
        if rules.credit_types and credits.credit_type not in rules.credit_types:
            problems.append(f"{what}: credit type not accepted (accepted: {', '.join(rules.credit_types)})")
        if rules.methodologies and credits.methodology not in rules.methodologies:
            problems.append(f"{what}: methodology not accepted (accepted: {', '.join(rules.methodologies)})")
        oldest = compliance_year - int(rules.vintage_years.value)
        if not oldest <= credits.vintage <= compliance_year:
            problems.append(f"{what}: vintage outside {oldest}-{compliance_year}")
        if not same_area(credits.region, region) and rules.outside_credits == "refused":
            problems.append(f"{what}: {region} accepts no credits from outside the region")
    if problems:
        raise OffsetRefused(f"{region} {compliance_year}: " + "; ".join(problems))
    total_cap, outside_cap = caps(rules, verified_emissions_kg)
    total = surrendered_kg + sum(c.quantity for c in offered)
    outside = surrendered_outside_kg + sum(c.quantity for c in offered if not same_area(c.region, region))
    if total > total_cap:
        raise OffsetRefused(f"{region} {compliance_year}: {total:,} kgCO2e would exceed the cap of {total_cap:,} "
                            f"({rules.cap_share.value} of verified emissions {verified_emissions_kg:,}); "
                            f"{max(total_cap - surrendered_kg, 0):,} may still be surrendered")
    if outside > outside_cap:
        raise OffsetRefused(f"{region} {compliance_year}: {outside:,} kgCO2e from outside the region would exceed "
                            f"its cap of {outside_cap:,} ({rules.outside_cap_share.value} of verified emissions)")
    return outside - surrendered_outside_kg
