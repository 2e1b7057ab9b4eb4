"""Wetland sequestration: ER = area × accumulation rate × years × 44/12 − leakage, a buffer share withheld."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tanhui.methodologies.methodology import (
    Condition,
    Field,
    Line,
    Methodology,
    Reductions,
    period_years,
    settle,
    shown,
)

CODE = "WETLAND-SEQ"
ECOSYSTEMS = ("mangrove", "tidal_marsh", "seagrass")
FORMULA = ("ER_parcel = area_ha × rate_<ecosystem> (tC/ha/yr) × years × 44/12 × 1000 (kgCO2); years count each "
           "calendar year's days against its length; net = Σ ER − Σ leakage_kg, rounded down; buffer = net × "
           "buffer_share, rounded up, to the buffer account; the project receives net − buffer")
DESIGN_FIELDS = (
    Field("area_ha", "decimal", "ha", "湿地面积", "wetland area declared", minimum=Decimal(0)),
    Field("ecosystem", "text", "", "湿地类型", "main ecosystem", choices=ECOSYSTEMS),
    Field("tenure_documented", "boolean", "", "管护权属证明", "the right to manage the parcels is documented"),
)
MONITORING_FIELDS = (
    Field("parcel_id", "text", "", "地块编号", "parcel id"),
    Field("ecosystem", "text", "", "湿地类型", "ecosystem of the parcel", choices=ECOSYSTEMS),
    Field("area_ha", "decimal", "ha", "面积", "parcel area in the period", minimum=Decimal(0)),
    Field("period_start", "date", "", "监测期开始", "first day of the monitoring period"),
    Field("period_end", "date", "", "监测期结束", "last day of the monitoring period"),
    Field("leakage_kg", "decimal", "kgCO2e", "泄漏量", "emissions displaced elsewhere by the project, as verified",
          required=False, minimum=Decimal(0)),
)
CONDITIONS = (
    Condition("area_ha", ">", "申报面积须大于零", "the declared area must be positive", literal=Decimal(0)),
    Condition("tenure_documented", "==", "须证明地块管护权属", "the right to manage the parcels must be documented",
              literal=True),
)


def calculate(methodology: Methodology, rows: Sequence[Mapping[str, Any]]) -> Reductions:
    """Soil carbon accumulated per parcel over its period; verified leakage deducted; buffer share withheld."""
    lines = []
    for row in rows:
        years = period_years(row["period_start"], row["period_end"])
        removal = Fraction(row["area_ha"]) * methodology.value(f"rate_{row['ecosystem']}") * years * 44 * 1000 / 12
        lines.append(Line(row["_row"], row["parcel_id"], removal, Fraction(0), removal, {"years": shown(years)}))
    leakage = sum((Fraction(row.get("leakage_kg", 0)) for row in rows), Fraction(0))
    return settle(methodology.reference, lines, leakage_kg=leakage, buffer_share=methodology.value("buffer_share"))
