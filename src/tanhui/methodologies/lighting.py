"""Lighting efficiency retrofits: ER = (kWh_baseline − kWh_project) × EF_grid, metered or rated W × hours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tanhui.errors import BadInput
from tanhui.methodologies.methodology import Condition, Field, Line, Methodology, Reductions, settle, shown

CODE = "LIGHT-EFF"
FORMULA = ("metered: kWh as read; rated: kWh = count × watts × operating_hours ÷ 1000 (the same hours for baseline "
           "and project); ER = Σ (kWh_baseline − kWh_project) × EF_grid, rounded down")
_ZERO = Decimal(0)
DESIGN_FIELDS = (
    Field("fixture_count", "integer", "fixtures", "改造灯具数量", "number of fixtures replaced", minimum=Decimal(1)),
    Field("baseline_removed", "boolean", "", "原灯具已拆除停用", "the replaced lamps are taken out of service"),
)
MONITORING_FIELDS = (
    Field("fixture_group", "text", "", "灯具组", "group of like fixtures"),
    Field("period_start", "date", "", "监测期开始", "first day of the monitoring period"),
    Field("period_end", "date", "", "监测期结束", "last day of the monitoring period"),
    Field("method", "text", "", "方法", "metered or rated", choices=("metered", "rated")),
    Field("baseline_kwh", "decimal", "kWh", "基准电量", "metered: baseline energy", required=False, minimum=_ZERO),
    Field("project_kwh", "decimal", "kWh", "项目电量", "metered: project energy", required=False, minimum=_ZERO),
    Field("baseline_count", "integer", "fixtures", "原灯具数", "rated: baseline fixtures", required=False,
          minimum=_ZERO),
    Field("baseline_watts", "decimal", "W", "原灯具额定功率", "rated: power of one baseline fixture", required=False,
          minimum=_ZERO),
    Field("project_count", "integer", "fixtures", "新灯具数", "rated: project fixtures", required=False,
          minimum=_ZERO),
    Field("project_watts", "decimal", "W", "新灯具额定功率", "rated: power of one project fixture", required=False,
          minimum=_ZERO),
    Field("operating_hours", "decimal", "h", "运行小时", "rated: hours lit in the period", required=False,
          minimum=_ZERO),
)
_NEEDS = {"metered": ("baseline_kwh", "project_kwh"),
          "rated": ("baseline_count", "baseline_watts", "project_count", "project_watts", "operating_hours")}
CONDITIONS = (
    Condition("baseline_removed", "==", "原灯具须拆除停用", "the replaced lamps must be taken out of service",
              literal=True),
)


def _energy(row: Mapping[str, Any]) -> tuple[Fraction, Fraction]:
    if row["method"] == "metered":
        return Fraction(row["baseline_kwh"]), Fraction(row["project_kwh"])
    hours = Fraction(row["operating_hours"])
    return (row["baseline_count"] * Fraction(row["baseline_watts"]) * hours / 1000,
            row["project_count"] * Fraction(row["project_watts"]) * hours / 1000)


def calculate(methodology: Methodology, rows: Sequence[Mapping[str, Any]]) -> Reductions:
    """Saved energy per fixture group at the grid factor; a group that uses more counts against the others."""
    missing = [f"row {row['_row']}: {row['method']} needs {name}"
               for row in rows for name in _NEEDS[row["method"]] if name not in row]
    if missing:
        raise BadInput("monitoring data: " + "; ".join(missing))
    lines = []
    for row in rows:
        baseline_kwh, project_kwh = _energy(row)
        factor = methodology.grid_kg_per_kwh
        lines.append(Line(row["_row"], row["fixture_group"], baseline_kwh * factor, project_kwh * factor,
                          (baseline_kwh - project_kwh) * factor,
                          {"baseline_kwh": shown(baseline_kwh), "project_kwh": shown(project_kwh)}))
    return settle(methodology.reference, lines)
