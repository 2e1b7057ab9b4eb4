"""The site registry file: one row per meter with its site, owner, capacity, location and orientation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

import polars as pl

from tanhui.errors import BadInput
from tanhui.mrv.frames import SITE_COLUMNS, SITE_OPTIONAL_COLUMNS, SITE_SCHEMA
from tanhui.mrv.readings import read_text_csv, rows_text

_SCHEMA = pl.Schema(cast("Mapping[str, pl.DataType]", SITE_SCHEMA))
_LINE = "__line__"
# Allowed ranges, inclusive, of the numeric columns that have a natural range (degrees).
_RANGES = {"latitude": (-90.0, 90.0), "longitude": (-180.0, 180.0), "tilt": (0.0, 90.0), "azimuth": (0.0, 360.0)}


def read_sites(path: Path) -> pl.DataFrame:
    """The sites in `frames.SITE_SCHEMA` (optional columns null where absent or empty), in file order.

    Any problem raises `BadInput` naming the file, the lines (the header is line 1) and the column, and every
    problem found is listed at once, so one round of corrections suffices.
    """
    table = read_text_csv(path, "sites")
    columns = [c for c in table.columns if c != _LINE]
    missing = [c for c in SITE_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in SITE_SCHEMA]
    if missing or unknown:
        raise BadInput(f"{path}: the header must be {','.join(SITE_COLUMNS)} plus optionally "
                       f"{', '.join(SITE_OPTIONAL_COLUMNS)}"
                       + (f"; missing {', '.join(missing)}" if missing else "")
                       + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    table = table.filter(~pl.all_horizontal(pl.col(columns).is_null()))  # blank lines are not sites
    if table.is_empty():
        raise BadInput(f"{path}: the file has a header but no sites")
    table = table.with_columns(pl.col(columns).str.strip_chars().replace("", None))
    problems: list[str] = []

    def report(condition: pl.Expr, message: str) -> None:
        lines = table.filter(condition.fill_null(False))[_LINE]
        if len(lines):
            problems.append(f"{rows_text(lines, 'line')}: {message}")

    for name in SITE_COLUMNS:
        report(pl.col(name).is_null(), f"column {name} is empty")
    report(pl.col("meter_id").is_duplicated() & pl.col("meter_id").is_not_null(),
           "column meter_id repeats a meter (each meter is one row)")
    parsed: dict[str, pl.Expr] = {}
    for name, dtype in _SCHEMA.items():
        if name not in columns:
            parsed[name] = pl.lit(None, dtype)
        elif dtype == pl.Float64:
            parsed[name] = pl.col(name).cast(pl.Float64, strict=False)
            report(pl.col(name).is_not_null() & parsed[name].is_null(), f"column {name} is not a number")
            report(~parsed[name].is_finite(), f"column {name} is not finite")
        elif dtype == pl.Date:
            parsed[name] = pl.col(name).str.to_date("%Y-%m-%d", strict=False)
            report(pl.col(name).is_not_null() & parsed[name].is_null(),
                   f"column {name} is not a date like 2024-01-31")
        else:
            parsed[name] = pl.col(name)
    report(parsed["capacity_kw"] <= 0, "column capacity_kw must be above 0")
    for name, (low, high) in _RANGES.items():
        report(parsed[name].is_finite() & ~parsed[name].is_between(low, high),
               f"column {name} must be between {low:g} and {high:g} degrees")
    if problems:
        raise BadInput(f"{path}: " + "; ".join(problems))
    return table.select(parsed[name].alias(name) for name in _SCHEMA)
