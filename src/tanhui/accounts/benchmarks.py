"""Industry benchmarks of intensity: median and percentiles per industry, region and year, computed or loaded."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.accounts.tables import industry_benchmarks
from tanhui.errors import BadInput
from tanhui.identity.principal import Principal
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

WHOLE_REGION = "*"  # the industry of a region's benchmark over all its industries
PERCENTILES = (10, 25, 50, 75, 90)
FILE_COLUMNS = ("industry", "region", "year", "holders", "median", "p10", "p25", "p75", "p90", "average", "source")


@dataclass(frozen=True, slots=True)
class Benchmark:
    """Intensities (tCO2e per 10k yuan value added) of a population: nearest-rank percentiles and Σ E / Σ VA."""

    industry: str
    region: str
    year: int
    holders: int
    median: Fraction
    p10: Fraction
    p25: Fraction
    p75: Fraction
    p90: Fraction
    average: Fraction
    source: str

    def describe(self) -> dict[str, Any]:
        return {"industry": self.industry, "region": self.region, "year": self.year, "holders": self.holders,
                **{k: str(getattr(self, k)) for k in ("median", "p10", "p25", "p75", "p90", "average")},
                "source": self.source}


def nearest_rank(ordered: Sequence[Fraction], percent: int) -> Fraction:
    """The p-th percentile by nearest rank: the value at rank ⌈p × n / 100⌉ (so the median of 4 is the 2nd)."""
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def benchmark_of(industry: str, region: str, year: int, population: Iterable[tuple[int, Fraction]],
                 source: str) -> Benchmark | None:
    """From (emissions kg, value added 10k yuan) pairs with positive value added; None for an empty one."""
    pairs = [(kg, va) for kg, va in population if va > 0]
    if not pairs:
        return None
    ordered = sorted(Fraction(kg, 1000) / va for kg, va in pairs)
    p10, p25, median, p75, p90 = (nearest_rank(ordered, p) for p in PERCENTILES)
    average = Fraction(sum(kg for kg, _ in pairs), 1000) / sum(va for _, va in pairs)
    return Benchmark(industry, region, year, len(pairs), median, p10, p25, p75, p90, average, source)


def _row(found: RowMapping) -> Benchmark:
    return Benchmark(found["industry"], found["region"], found["year"], found["holders"],
                     **{k: Fraction(found[k]) for k in ("median", "p10", "p25", "p75", "p90", "average")},
                     source=found["source"])


def stored(conn: Connection, industry: str, region: str, year: int) -> Benchmark | None:
    b = industry_benchmarks.c
    found = read_one(conn, industry_benchmarks, (b.industry == industry) & (b.region == region) & (b.year == year))
    return None if found is None else _row(found)


def listed(conn: Connection, year: int | None = None) -> list[Benchmark]:
    query = select(industry_benchmarks).order_by(industry_benchmarks.c.year, industry_benchmarks.c.region,
                                                 industry_benchmarks.c.industry)
    if year is not None:
        query = query.where(industry_benchmarks.c.year == year)
    return [_row(r) for r in conn.execute(query).mappings()]


def save(tx: UnitOfWork, principal: Principal, found: Sequence[Benchmark], origin: str) -> int:
    """Store benchmarks, replacing those of the same industry, region and year; returns how many."""
    principal.require_operator("set industry benchmarks")
    for item in found:
        values = {**{k: str(getattr(item, k)) for k in ("median", "p10", "p25", "p75", "p90", "average")},
                  "holders": item.holders, "origin": origin, "source": item.source, "updated_at": utcnow()}
        b = industry_benchmarks.c
        tx.entry("accounts.benchmark", industry=item.industry, region=item.region, year=item.year, origin=origin)
        where = (b.industry == item.industry) & (b.region == item.region) & (b.year == item.year)
        if not tx.update(industry_benchmarks, where, values):
            tx.insert(industry_benchmarks, {"industry": item.industry, "region": item.region, "year": item.year,
                                            **values})
    return len(found)


def parse_file(text: str) -> list[Benchmark]:
    """Benchmarks from a CSV with FILE_COLUMNS; every bad row is named, and none is taken if one is bad."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in FILE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadInput(f"the benchmark file lacks the columns {', '.join(missing)}")
    found, problems, seen = [], [], set()
    for number, row in enumerate(reader, start=2):
        try:
            values = [Fraction(row[k]) for k in ("median", "p10", "p25", "p75", "p90", "average")]
            if min(values) < 0 or not values[1] <= values[2] <= values[0] <= values[3] <= values[4]:
                raise ValueError("p10 ≤ p25 ≤ median ≤ p75 ≤ p90, all ≥ 0")
            median, p10, p25, p75, p90, average = values
            item = Benchmark(row["industry"].strip().upper(), row["region"].strip().upper(), int(row["year"]),
                             int(row["holders"]), median=median, p10=p10, p25=p25, p75=p75, p90=p90,
                             average=average, source=row["source"].strip())
            if item.holders <= 0 or not item.source or not 2000 <= item.year <= 2100:
                raise ValueError("holders > 0, a source, and a year 2000-2100 are required")
        except (ValueError, ZeroDivisionError, TypeError) as exc:
            problems.append(f"row {number}: {exc}")
            continue
        key = (item.industry, item.region, item.year)
        if key in seen:
            problems.append(f"row {number}: {'/'.join(map(str, key))} appears twice")
        seen.add(key)
        found.append(item)
    if problems:
        raise BadInput("; ".join(problems))
    return found
