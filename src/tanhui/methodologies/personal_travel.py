"""Personal low-carbon travel: ER = Σ trips × g per trip + Σ km × g per km, by mode, per the version's city factors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tanhui.errors import BadInput
from tanhui.methodologies.methodology import Condition, Field, Line, Methodology, Reductions, settle

CODE = "TRAVEL-LOW"
FORMULA = ("per row: trips × <mode>_g_per_trip or km × <mode>_g_per_km (the version's factors say which modes "
           "count and how); ER = Σ ÷ 1000 (kgCO2e), rounded down")
DESIGN_FIELDS = (
    Field("participant_count", "integer", "residents", "参与居民数", "residents whose travel is packaged",
          minimum=Decimal(1)),
    Field("consent_recorded", "boolean", "", "已取得居民授权", "every resident has consented"),
)
MONITORING_FIELDS = (
    Field("participant_id", "text", "", "参与者编号", "pseudonymous resident id"),
    Field("date", "date", "", "日期", "day of travel"),
    Field("mode", "text", "", "出行方式", "bus, metro, shared_bike, e_bus (as the version's factors name them)"),
    Field("trips", "integer", "trips", "出行次数", "trips (modes counted per trip)", required=False,
          minimum=Decimal(0)),
    Field("km", "decimal", "km", "里程", "distance (modes counted per km)", required=False, minimum=Decimal(0)),
)
CONDITIONS = (
    Condition("consent_recorded", "==", "须取得每位居民授权", "every resident must have consented", literal=True),
)


def modes(methodology: Methodology) -> dict[str, tuple[str, str]]:
    """Each mode the version counts: (the monitoring column it is counted in, its factor's parameter)."""
    counted = {}
    for name in methodology.parameters:
        for suffix, column in (("_g_per_trip", "trips"), ("_g_per_km", "km")):
            if name.endswith(suffix):
                counted[name.removesuffix(suffix)] = (column, name)
    return counted


def calculate(methodology: Methodology, rows: Sequence[Mapping[str, Any]]) -> Reductions:
    """Each row's trips or kilometres at its mode's factor."""
    counted = modes(methodology)
    problems = []
    for row in rows:
        if row["mode"] not in counted:
            problems.append(f"row {row['_row']}: mode {row['mode']!r} is not counted by {methodology.reference} "
                            f"(counted: {', '.join(counted)})")
        elif counted[row["mode"]][0] not in row:
            problems.append(f"row {row['_row']}: mode {row['mode']} is counted in {counted[row['mode']][0]}, "
                            "which is empty")
    if problems:
        raise BadInput("monitoring data: " + "; ".join(problems))
    lines = []
    for row in rows:
        column, factor = counted[row["mode"]]
        grams = Fraction(row[column]) * methodology.value(factor)
        lines.append(Line(row["_row"], row["participant_id"], grams / 1000, Fraction(0), grams / 1000,
                          {"mode": row["mode"], "date": row["date"].isoformat()}))
    return settle(methodology.reference, lines)
