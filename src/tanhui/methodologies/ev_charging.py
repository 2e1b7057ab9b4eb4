"""EV charging: charged kWh → km; ER = km × fuel per km × fuel EF − kWh × EF_grid (form of T/CSAE 235-2021)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tanhui.methodologies.methodology import Condition, Field, Line, Methodology, Reductions, settle, shown

CODE = "EV-CHARGE"
FORMULA = ("km = kWh × 100 ÷ ev_kwh_per_100km; BE = km × fuel_l_per_100km ÷ 100 × fuel_density_kg_per_l ÷ 1000 "
           "× NCV × CC × OF × 44/12 (kgCO2); PE = kWh × EF_grid; ER = Σ (BE − PE), rounded down")
DESIGN_FIELDS = (
    Field("pile_count", "integer", "piles", "充电桩数量", "number of charging piles", minimum=Decimal(1)),
    Field("separately_metered", "boolean", "", "每个充电桩独立计量", "every pile has its own meter"),
)
MONITORING_FIELDS = (
    Field("charger_id", "text", "", "充电桩编号", "charging pile id"),
    Field("period_start", "date", "", "监测期开始", "first day of the monitoring period"),
    Field("period_end", "date", "", "监测期结束", "last day of the monitoring period"),
    Field("charged_kwh", "decimal", "kWh", "充电量", "energy delivered to vehicles on the pile's meter",
          minimum=Decimal(0)),
)
CONDITIONS = (
    Condition("separately_metered", "==", "充电量须来自充电桩独立电表",
              "charged energy must come from the pile's own meter", literal=True),
)


def calculate(methodology: Methodology, rows: Sequence[Mapping[str, Any]]) -> Reductions:
    """Baseline gasoline car against the grid electricity the EV drew, per pile and period."""
    value = methodology.value
    fuel_kg_co2_per_t = (value("fuel_ncv") * value("fuel_carbon_content") * value("fuel_oxidation") * 44 / 12)
    lines = []
    for row in rows:
        kwh = Fraction(row["charged_kwh"])
        km = kwh * 100 / value("ev_kwh_per_100km")
        fuel_t = km * value("fuel_l_per_100km") / 100 * value("fuel_density_kg_per_l") / 1000
        baseline = fuel_t * fuel_kg_co2_per_t
        project = kwh * methodology.grid_kg_per_kwh
        lines.append(Line(row["_row"], row["charger_id"], baseline, project, baseline - project,
                          {"km": shown(km), "fuel_t": shown(fuel_t)}))
    return settle(methodology.reference, lines)
