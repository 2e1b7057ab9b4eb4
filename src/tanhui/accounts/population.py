"""The columnar path: accounting, benchmarks and evaluation of a whole population in one DuckDB query.

It computes what `accounting.account`, `benchmarks.benchmark_of` and `evaluation.evaluate` compute, with the
same factors and schemes, in integer arithmetic (HUGEINT) so that it agrees with them exactly:

- records carry quantities in thousandths of their unit (``quantity_milli``); each (energy type, unit, year,
  province) gets its factor as an exact fraction num/den of kgCO2 per unit, and a record's emission is
  ⌊(2·q·num + 1000·den) / (2·1000·den)⌋, its exact value rounded half up (in BIGINT while the product fits,
  else HUGEINT);
- green electricity counts against the electricity of the same holder, area and month;
- money is in whole yuan (10k yuan × 10⁴), so an intensity ratio E₁/VA₁ ÷ E₂/VA₂ is E₁·VA₂ / (VA₁·E₂) and a
  threshold a/b is compared as E₁·VA₂·b ≤ a·VA₁·E₂, never in floating point;
- the median is the nearest rank ⌈n/2⌉ of the holders ordered by intensity.

Inputs (Arrow, Polars or DuckDB relations): ``holders(holder_id, province, industry, region, va_yuan,
ov_yuan, prev_kg, prev_va_yuan, pollution_score)`` and ``records(holder_id, energy_type, unit, year, month,
area, quantity_milli)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import lcm
from typing import Any

import duckdb
import pyarrow as pa

from tanhui.accounts.energy import ENERGY_TYPES, QUANTITY_SCALE
from tanhui.accounts.evaluation import Dimension, Scheme, scheme
from tanhui.accounts.factors import record_factor

BIGINT_MAX = 2**63 - 1
YUAN_PER_10K = 10_000
FUEL, ELECTRICITY, HEAT, GREEN = 1, 2, 3, 4  # scope 1; scope 2 (two kinds); deducted
PERCENTILE_COLUMNS = (("p10", 10), ("p25", 25), ("median", 50), ("p75", 75), ("p90", 90))


def factor_table(keys: Sequence[tuple[str, str, int, str]]) -> pa.Table:
    """num/den kgCO2 per unit for each (energy type, unit, year, province), from the reference files."""
    rows: dict[str, list[Any]] = {k: [] for k in ("energy_type", "unit", "year", "province", "num", "den",
                                                  "bigint_below", "kind", "kg_per_unit")}
    for code, unit, year, province in sorted(set(keys)):
        factor = record_factor(code, unit, year=year, province=province).kg_per_unit
        num, den = factor.numerator, factor.denominator
        assert 2 * QUANTITY_SCALE * den < BIGINT_MAX, (code, factor)
        # The largest quantity whose 2·q·num + 1000·den stays within BIGINT (the emission itself always fits).
        below = (BIGINT_MAX - QUANTITY_SCALE * den) // (2 * num) if num else BIGINT_MAX
        for name, value in (("energy_type", code), ("unit", unit), ("year", year), ("province", province),
                            ("num", num), ("den", den), ("bigint_below", below), ("kind", _kind(code)),
                            ("kg_per_unit", float(factor))):
            rows[name].append(value)
    return pa.table(rows, schema=pa.schema([
        ("energy_type", pa.string()), ("unit", pa.string()), ("year", pa.int32()), ("province", pa.string()),
        ("num", pa.int64()), ("den", pa.int64()), ("bigint_below", pa.int64()), ("kind", pa.int8()),
        ("kg_per_unit", pa.float64())]))


def _kind(code: str) -> int:
    """How the query treats an energy type: a small integer, so the records' pass compares no text."""
    if code in ("electricity", "heat", "green_electricity"):
        return {"electricity": ELECTRICITY, "heat": HEAT, "green_electricity": GREEN}[code]
    assert ENERGY_TYPES[code].scope == "scope1", code
    return FUEL


def _bound(step_bound: Fraction) -> tuple[int, int]:
    return step_bound.numerator, step_bound.denominator


def _points(dimension: Dimension, num: str, den: str) -> str:
    """SQL for a dimension's points of the ratio num/den (NULL or den ≤ 0: its points for a missing input)."""
    missing = "NULL" if dimension.missing is None else str(dimension.missing)
    cases = [f"WHEN ({num}) IS NULL OR ({den}) IS NULL OR ({den}) <= 0 THEN {missing}"]
    for step in dimension.steps:
        a, b = _bound(step.bound)
        op = "<=" if step.at_most else ">="
        cases.append(f"WHEN ({num}) * {b} {op} {a}::HUGEINT * ({den}) THEN {int(step.result)}")
    return f"(CASE {' '.join(cases)} ELSE {dimension.otherwise} END)"


def _outcome(applied: Scheme, num: str, den: str) -> str:
    cases = []
    for step in applied.outcomes:
        a, b = _bound(step.bound)
        op = "<=" if step.at_most else ">="
        cases.append(f"WHEN ({num}) * {b} {op} {a}::HUGEINT * ({den}) THEN '{step.result}'")
    return f"(CASE {' '.join(cases)} ELSE '{applied.otherwise}' END)"


def _weighted(applied: Scheme, ratios: dict[str, tuple[str, str]]) -> str:
    """SQL of the outcome of Σ weight × points, with the weights scaled to whole numbers."""
    scale = lcm(*(d.weight.denominator for d in applied.dimensions))
    score = " + ".join(f"{int(d.weight * scale)} * {_points(d, *ratios[d.name])}" for d in applied.dimensions)
    return _outcome(applied, f"({score})::HUGEINT", str(scale))


def _sql() -> str:
    efficiency, colours, rating = scheme("carbon_efficiency"), scheme("four_colours"), scheme("credit_rating")
    # Intensity ratios as numerator/denominator pairs of HUGEINTs (see the module's docstring).
    k = ("h.kg * b.sum_va", "h.va_yuan * b.sum_kg")
    ratios_colours = {
        "industry_advancement": ("h.kg * b.median_va", "h.va_yuan * b.median_kg"),
        "regional_contribution": ("h.kg * r.sum_va", "h.va_yuan * r.sum_kg"),
        "historical_decline": ("CASE WHEN h.prev_va_yuan > 0 THEN h.kg * h.prev_va_yuan END",
                               "h.va_yuan * h.prev_kg"),
    }
    ratios_rating = {
        "economy": ("h.va_yuan", "h.ov_yuan"),
        "energy": ("h.green_q", "h.electricity_q"),
        "pollution": ("h.pollution_score", "1"),
        "carbon": (f"CASE WHEN {k[1]} > 0 THEN {k[0]} END", k[1]),
    }
    return f"""
WITH rec AS MATERIALIZED (  -- computed once: the CTEs below read it three times
    SELECT r.holder_id, r.area, r.month, r.quantity_milli AS q, f.kind,
           CASE WHEN r.quantity_milli <= f.bigint_below  -- the product fits in BIGINT: much faster
                THEN (2 * r.quantity_milli * f.num + {QUANTITY_SCALE} * f.den) // (2 * {QUANTITY_SCALE} * f.den)
                ELSE ((2 * r.quantity_milli::HUGEINT * f.num + {QUANTITY_SCALE} * f.den)
                      // (2 * {QUANTITY_SCALE} * f.den))::BIGINT END AS kg
    FROM records r JOIN holders h USING (holder_id)
    JOIN factors f ON f.energy_type = r.energy_type AND f.unit = r.unit AND f.year = r.year
                   AND f.province = h.province
),
green AS (  -- green electricity per holder, area and month, and the electricity it counts against
    SELECT g.holder_id, least(g.kg, coalesce(e.kg, 0)) AS deducted
    FROM (SELECT holder_id, area, month, sum(kg) AS kg FROM rec WHERE kind = {GREEN} GROUP BY ALL) g
    LEFT JOIN (SELECT holder_id, area, month, sum(kg) AS kg FROM rec
               WHERE kind = {ELECTRICITY} AND (holder_id, area, month) IN
                     (SELECT (holder_id, area, month) FROM rec WHERE kind = {GREEN})
               GROUP BY ALL) e USING (holder_id, area, month)
),
totals AS (
    SELECT holder_id,
           coalesce(sum(kg) FILTER (kind = {FUEL}), 0) AS scope1_kg,
           coalesce(sum(kg) FILTER (kind IN ({ELECTRICITY}, {HEAT})), 0) AS scope2_gross_kg,
           coalesce(sum(q) FILTER (kind = {ELECTRICITY}), 0) AS electricity_q,
           coalesce(sum(q) FILTER (kind = {GREEN}), 0) AS green_q
    FROM rec GROUP BY holder_id
),
accounted AS MATERIALIZED (  -- read by the ranking and the final select
    SELECT hd.*, coalesce(t.scope1_kg, 0) AS scope1_kg,
           coalesce(t.scope2_gross_kg, 0) - coalesce(d.deducted, 0) AS scope2_kg,
           coalesce(d.deducted, 0) AS green_deducted_kg,
           coalesce(t.scope1_kg, 0) + coalesce(t.scope2_gross_kg, 0) - coalesce(d.deducted, 0) AS kg,
           coalesce(t.electricity_q, 0) AS electricity_q, coalesce(t.green_q, 0) AS green_q
    FROM holders hd LEFT JOIN totals t USING (holder_id)
    LEFT JOIN (SELECT holder_id, sum(deducted) AS deducted FROM green GROUP BY holder_id) d USING (holder_id)
),
ranked AS MATERIALIZED (
    SELECT industry, region, kg, va_yuan,
           row_number() OVER (PARTITION BY industry, region ORDER BY kg::DOUBLE / va_yuan, holder_id) AS rank,
           count(*) OVER (PARTITION BY industry, region) AS n
    FROM accounted WHERE va_yuan > 0 AND industry IS NOT NULL
),
bench AS (  -- nearest rank ⌈p·n/100⌉ of each percentile, as the (kg, yuan) of the holder at that rank
    SELECT industry, region, any_value(n) AS n, sum(kg) AS sum_kg, sum(va_yuan) AS sum_va,
           {", ".join(f"any_value(kg) FILTER (rank = greatest(1, ({p} * n + 99) // 100)) AS {name}_kg, "
                      f"any_value(va_yuan) FILTER (rank = greatest(1, ({p} * n + 99) // 100)) AS {name}_va"
                      for name, p in PERCENTILE_COLUMNS)}
    FROM ranked GROUP BY industry, region
),
whole AS (
    SELECT region, sum(kg) AS sum_kg, sum(va_yuan) AS sum_va FROM ranked GROUP BY region
)
SELECT h.holder_id, h.kg::BIGINT AS emissions_kg, h.scope1_kg::BIGINT AS scope1_kg,
       h.scope2_kg::BIGINT AS scope2_kg, h.green_deducted_kg::BIGINT AS green_deducted_kg,
       CASE WHEN h.va_yuan > 0 AND b.sum_kg > 0 THEN {_outcome(efficiency, *k)} END AS grade,
       CASE WHEN h.va_yuan > 0 AND b.n IS NOT NULL THEN {_weighted(colours, ratios_colours)} END AS label,
       CASE WHEN h.va_yuan > 0 AND b.n IS NOT NULL THEN {_weighted(rating, ratios_rating)} END AS rating
FROM accounted h
LEFT JOIN bench b ON b.industry = h.industry AND b.region = h.region
LEFT JOIN whole r ON r.region = h.region
"""


def evaluate_population(holders: Any, records: Any, *, threads: int | None = None) -> pa.Table:
    """Emissions, carbon-efficiency grade, four-colour label and credit rating of every holder (in no order)."""
    conn = duckdb.connect()
    try:
        if threads:
            conn.execute(f"SET threads = {int(threads)}")
        conn.register("holders", holders)
        conn.register("records", records)
        keys = conn.execute("SELECT DISTINCT r.energy_type, r.unit, r.year::INTEGER, h.province FROM records r "
                            "JOIN holders h USING (holder_id)").fetchall()
        conn.register("factors", factor_table(keys))
        return conn.sql(_sql()).to_arrow_table()
    finally:
        conn.close()


def benchmarks_of_population(holders: Any, records: Any) -> pa.Table:
    """Per industry and region, and per region over all industries (``*``): n, Σ kg, Σ yuan and the
    (kg, yuan) of the holder at each percentile's nearest rank."""
    conn = duckdb.connect()
    try:
        conn.register("given", holders)
        conn.register("records", records)
        keys = conn.execute("SELECT DISTINCT r.energy_type, r.unit, r.year::INTEGER, h.province FROM records r "
                            "JOIN given h USING (holder_id)").fetchall()
        conn.register("factors", factor_table(keys))
        body = _sql().split("SELECT h.holder_id")[0]
        pairs = ", ".join(f"{name}_kg::BIGINT AS {name}_kg, {name}_va::BIGINT AS {name}_va"
                          for name, _ in PERCENTILE_COLUMNS)
        parts = []
        for industry in ("industry", "'*'"):  # the second pass puts every holder in the region's "*"
            conn.execute(f"CREATE OR REPLACE TEMP VIEW holders AS SELECT * REPLACE ({industry} AS industry) "
                         f"FROM given")
            parts.append(conn.sql(f"{body} SELECT industry, region, n, sum_kg::BIGINT AS sum_kg, "
                                  f"sum_va::BIGINT AS sum_va, {pairs} FROM bench ORDER BY industry, region")
                         .to_arrow_table())
        return pa.concat_tables(parts)
    finally:
        conn.close()
