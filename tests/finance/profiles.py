"""Credit profiles for the finance tests (this module holds no tests), built by hand as the accounting would."""

from __future__ import annotations

import dataclasses
from datetime import date
from fractions import Fraction
from typing import Any

from tanhui.accounts.profile import CreditProfile, DataQuality, Evaluation, FactorUsed

MONTHLY = (412_300, 398_150, 455_020, 430_870, 441_600, 468_900, 502_330, 515_780, 470_240, 436_110, 420_660,
           447_040)


# The holders the profiles describe, as the bureau registers them (tests/finance/conftest.py).
HOLDER = {"reference": "QZ-GREEN", "kind": "enterprise", "name": "衢州绿源新材料有限公司", "region": "QUZHOU",
          "area": "industry", "unified_social_credit_code": "91330800MA28F3KX4H", "industry_code": "C2614"}
ANOTHER_HOLDER = {**HOLDER, "reference": "QZ-OTHER", "name": "Another holder",
                  "unified_social_credit_code": "91330800MA28F3KX5L"}


def profile(**changes: Any) -> CreditProfile:
    """A Quzhou chemicals maker's 2025: 5,399.000 t, light green, grade 2, AA; ``changes`` replace fields."""
    total = sum(MONTHLY)
    scope2 = 3_120_500
    base = CreditProfile(
        holder_id=1, holder_kind="enterprise", name="衢州绿源新材料有限公司",
        unified_social_credit_code="91330800MA28F3KX4H",
        industry_code="C2614", region_code="330800", area="industry",
        period_start=date(2025, 1, 1), period_end=date(2025, 12, 31),
        emissions_kg=total, emissions_by_area_kg={"industry": total - 180_000, "transport": 180_000},
        emissions_by_scope_kg={"scope1": total - scope2, "scope2": scope2},
        green_electricity_deducted_kg=260_400, retired_offsets_kg=150_000,
        monthly_emissions_kg=tuple((f"2025-{m:02}", kg) for m, kg in enumerate(MONTHLY, start=1)),
        value_added_10k_yuan=Fraction(18_250), output_value_10k_yuan=Fraction(61_400),
        intensity_per_value_added=Fraction(total, 1000 * 18_250),
        intensity_per_output_value=Fraction(total, 1000 * 61_400),
        benchmark_intensity=Fraction(39, 100), benchmark_source="platform population 2025, C2614 in 330800, n=38",
        label=Evaluation("quzhou-four-colours@1", "light_green", Fraction(74),
                         ("行业先进性 industry advancement: intensity 0.2958 vs benchmark 0.39 → 30 of 40",
                          "区域贡献 regional contribution: 24 of 30",
                          "历史下降 historical decline: −3.1 % → 20 of 30")),
        carbon_efficiency=Evaluation("zhejiang-carbon-efficiency@1", "2", Fraction(total, 1000 * 18_250) /
                                     Fraction(39, 100), ("K = 0.758 ≤ 0.8 → grade 2",)),
        credit_rating=Evaluation("hefei-carbon-credit@1", "AA", Fraction(83),
                                 ("economy 22/25, energy 20/25, pollution 19/25, carbon 22/25 → 83 → AA",)),
        data_quality=DataQuality(records=60, metered_records=48, declared_records=12, months_covered=12,
                                 months_in_period=12, notes=("electricity from the MRV data lake, 15-min",)),
        factors=(FactorUsed("grid:Zhejiang:2022", Fraction("0.5153"), "tCO2/MWh",
                            "MEE/NBS electricity CO2 emission factors, 2022 provincial", "T"),
                 FactorUsed("fuel:natural_gas:NCV", Fraction("389.31"), "GJ/10^4 Nm3",
                            "national GHG accounting guidelines", "T")),
    )
    return dataclasses.replace(base, **changes)
