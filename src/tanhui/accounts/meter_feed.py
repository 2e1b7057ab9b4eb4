"""Electricity records from the MRV data: each linked meter's accepted 15-minute energy summed per local month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
from sqlalchemy import select

from tanhui.accounts import register
from tanhui.accounts.energy import parse_quantity
from tanhui.accounts.tables import energy_records, holder_meters
from tanhui.errors import BadInput, Conflict
from tanhui.identity.principal import Principal
from tanhui.mrv.frames import LOCAL_TIMEZONE
from tanhui.mrv.verify import INTERVALS_FILE
from tanhui.unit_of_work import UnitOfWork

SOURCE_PREFIX = "mrv:"


@dataclass(frozen=True, slots=True)
class MonthlyEnergy:
    meter_id: str
    first_day: date
    last_day: date
    accepted_kwh: Decimal  # to the Wh
    intervals: int


def monthly_energy(intervals: Path) -> list[MonthlyEnergy]:
    """Per meter and local month of a verify output's intervals.parquet: accepted kWh and the days covered."""
    path = intervals / INTERVALS_FILE if intervals.is_dir() else intervals
    try:
        frame = pl.scan_parquet(path).select("meter_id", "ts", "accepted_kwh")
        monthly = (frame.with_columns(day=pl.col("ts").dt.convert_time_zone(LOCAL_TIMEZONE).dt.date())
                   .with_columns(month=pl.col("day").dt.truncate("1mo"))
                   .group_by("meter_id", "month")
                   .agg(pl.col("day").min().alias("first"), pl.col("day").max().alias("last"),
                        pl.col("accepted_kwh").sum().alias("kwh"), pl.len().alias("n"))
                   .sort("meter_id", "month").collect())
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise BadInput(f"{path} is not a verify output's {INTERVALS_FILE}: {exc}") from None
    # The sum of float interval energies, kept to the Wh as records are.
    return [MonthlyEnergy(r["meter_id"], r["first"], r["last"], parse_quantity(repr(round(r["kwh"], 3))), r["n"])
            for r in monthly.iter_rows(named=True)]


def feed(tx: UnitOfWork, principal: Principal, intervals: Path) -> list[int]:
    """Record each linked meter's months of the file as its holder's electricity (source ``mrv:METER``).

    A month span that overlaps one already fed from the same meter is refused, so no interval counts twice;
    meters not linked to a holder are left out.  Returns the new records' ids.
    """
    principal.require_operator("feed electricity from meter data")
    links = {row.meter_id: row.holder_id for row in tx.conn.execute(select(holder_meters))}
    months = [m for m in monthly_energy(intervals) if m.meter_id in links]
    ids = []
    r = energy_records.c
    for month in months:
        source = SOURCE_PREFIX + month.meter_id
        overlap = tx.conn.execute(select(r.id).where(r.source == source, r.period_start <= month.last_day,
                                                     r.period_end >= month.first_day)).first()
        if overlap is not None:
            raise Conflict(f"meter {month.meter_id}'s {month.first_day}..{month.last_day} overlaps record "
                           f"{overlap.id}, already fed; nothing was fed")
        found = register.holder(tx.conn, links[month.meter_id])
        values = {"energy_type": "electricity", "unit": "kWh", "quantity": month.accepted_kwh,
                  "period_start": month.first_day, "period_end": month.last_day, "source": source,
                  "metered": True, "area": None, "certificate_id": None}
        ids.append(register.insert_record(tx, found, values)["id"])
    return ids
