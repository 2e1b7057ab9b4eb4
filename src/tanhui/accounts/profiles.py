"""A holder's accounting, evaluation and credit profile for a period, read from the database."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.accounts.accounting import Accounting, account, intensity, province_factors
from tanhui.accounts.benchmarks import WHOLE_REGION, Benchmark, save, stored
from tanhui.accounts.energy import QUANTITY_SCALE, EnergyRecord
from tanhui.accounts.evaluation import Standing, evaluate
from tanhui.accounts.factors import province_of
from tanhui.accounts.holders import industry_division
from tanhui.accounts.periods import Period
from tanhui.accounts.population import PERCENTILE_COLUMNS, YUAN_PER_10K, benchmarks_of_population
from tanhui.accounts.profile import CreditProfile, DataQuality
from tanhui.accounts.register import holder as find_holder
from tanhui.accounts.tables import carbon_holders, energy_records, holder_economics
from tanhui.identity.principal import Principal
from tanhui.mrv.frames import LOCAL_TIMEZONE
from tanhui.registry.tables import acts, retirements
from tanhui.unit_of_work import UnitOfWork


def records_of(conn: Connection, holder_id: int, period: Period) -> list[EnergyRecord]:
    """The holder's records lying wholly within the period, in id order."""
    r = energy_records.c
    rows = conn.execute(select(energy_records).where(r.holder_id == holder_id, r.period_start >= period.start,
                                                     r.period_end <= period.end).order_by(r.id)).mappings()
    return [EnergyRecord(row["id"], row["energy_type"], row["unit"], Decimal(row["quantity"]), row["period_start"],
                         row["period_end"], row["source"], row["metered"], row["area"], row["certificate_id"])
            for row in rows]


def retired_offsets_kg(conn: Connection, found: RowMapping, period: Period) -> int:
    """Units retired for the holder (beneficiary named as the holder, its code or reference) for the period.

    A retirement counts when its consumption period overlaps the accounting period, or, without one, when it
    was made within the period.  Shown beside emissions, never subtracted from them.
    """
    names = [n for n in (found["name"], found["unified_social_credit_code"], found["reference"]) if n]
    local = ZoneInfo(LOCAL_TIMEZONE)
    made_in = (acts.c.created_at >= datetime.combine(period.start, time(), local)) \
        & (acts.c.created_at < datetime.combine(period.end + timedelta(days=1), time(), local))
    total = conn.execute(
        select(func.coalesce(func.sum(acts.c.quantity), 0))
        .join(retirements, retirements.c.act_id == acts.c.id)
        .where(retirements.c.beneficiary.in_(names),
               or_((retirements.c.period_start <= period.end) & (retirements.c.period_end >= period.start),
                   retirements.c.period_start.is_(None) & made_in))).scalar_one()
    return int(total)


def economics_of(conn: Connection, holder_id: int, period: Period) -> RowMapping | None:
    e = holder_economics.c
    return conn.execute(select(holder_economics).where(e.holder_id == holder_id, e.period_start == period.start,
                                                       e.period_end == period.end)).mappings().first()


def _money(row: RowMapping | None, column: str) -> Fraction | None:
    return None if row is None or row[column] is None else Fraction(row[column])


@dataclass(frozen=True, slots=True)
class Statement:
    """The accounting of a holder and period with the figures evaluation reads."""

    holder: RowMapping
    period: Period
    accounting: Accounting
    value_added: Fraction | None
    output_value: Fraction | None
    pollution_score: int | None

    @property
    def intensity(self) -> Fraction | None:
        return intensity(self.accounting.emissions_kg, self.value_added)


def statement(conn: Connection, holder_id: int, period: Period) -> Statement:
    found = find_holder(conn, holder_id)
    accounted = account(records_of(conn, holder_id, period), province_factors(province_of(found["region"])),
                        retired_offsets_kg=retired_offsets_kg(conn, found, period))
    economics = economics_of(conn, holder_id, period)
    return Statement(found, period, accounted, _money(economics, "value_added_10k_yuan"),
                     _money(economics, "output_value_10k_yuan"),
                     None if economics is None else economics["pollution_score"])


def _quality(accounted: Accounting, period: Period) -> DataQuality:
    records = [line.record for line in (*accounted.lines, *accounted.green_lines)]
    covered = {r.month for r in records if r.energy_type != "green_electricity"}
    notes = sorted({line.factor.note for line in (*accounted.lines, *accounted.green_lines) if line.factor.note})
    spanning = sum(1 for r in records if (r.period_start.year, r.period_start.month)
                   != (r.period_end.year, r.period_end.month))
    if spanning:
        notes.append(f"{spanning} record(s) span more than one month and are shown in the month they start")
    if accounted.green_unused_kg:
        notes.append(f"{accounted.green_unused_kg} kg of green electricity had no electricity of its month and area "
                     f"to count against and was not deducted")
    metered = sum(1 for r in records if r.metered)
    return DataQuality(len(records), metered, len(records) - metered, len(covered & set(period.months)),
                       len(period.months), tuple(notes))


def credit_profile(connection: Connection, holder_id: int, period: Period) -> CreditProfile:
    """Everything a carbon credit report of the holder and period states, evaluated by the newest schemes.

    Evaluation needs the period's value added and the benchmarks of the period's first year for the holder's
    industry and region (``tanhui accounts benchmarks``); without them label, grade and rating are None.
    """
    now = statement(connection, holder_id, period)
    found = now.holder
    year = period.start.year
    industry = industry_division(found["industry_code"]) if found["industry_code"] else None
    bench = stored(connection, industry, found["region"], year) if industry else None
    region_bench = stored(connection, WHOLE_REGION, found["region"], year)
    before = statement(connection, holder_id, period.year_before())
    electricity = sum((Fraction(line.record.quantity) for line in now.accounting.lines
                       if line.record.energy_type == "electricity"), Fraction(0))  # kWh, its only unit
    green = sum((Fraction(line.record.quantity) for line in now.accounting.green_lines), Fraction(0))
    label, efficiency, rating = evaluate(Standing(
        intensity=now.intensity, industry_median=bench.median if bench else None,
        industry_average=bench.average if bench else None,
        region_average=region_bench.average if region_bench else None,
        previous_intensity=before.intensity, value_added=now.value_added,
        output_value=now.output_value, green_kwh=green, electricity_kwh=electricity,
        pollution_score=now.pollution_score))
    accounted = now.accounting
    return CreditProfile(
        holder_id=found["id"], holder_kind=found["kind"], name=found["name"],
        unified_social_credit_code=found["unified_social_credit_code"], industry_code=found["industry_code"],
        region_code=found["region"], area=found["area"], period_start=period.start, period_end=period.end,
        emissions_kg=accounted.emissions_kg, emissions_by_area_kg=accounted.emissions_by_area_kg,
        emissions_by_scope_kg=accounted.by_scope_kg, green_electricity_deducted_kg=accounted.green_deducted_kg,
        retired_offsets_kg=accounted.retired_offsets_kg, monthly_emissions_kg=accounted.monthly_kg,
        value_added_10k_yuan=now.value_added, output_value_10k_yuan=now.output_value,
        intensity_per_value_added=now.intensity,
        intensity_per_output_value=intensity(accounted.emissions_kg, now.output_value),
        benchmark_intensity=bench.median if bench else None,
        benchmark_source=(f"{bench.source} ({bench.industry} {bench.region} {bench.year}, n={bench.holders})"
                          if bench else None),
        label=label, carbon_efficiency=efficiency, credit_rating=rating,
        data_quality=_quality(accounted, period), factors=accounted.factors,
    )


def population_benchmarks(conn: Connection, year: int) -> list[Benchmark]:
    """Benchmarks of the platform's own population, by the columnar path (`population`): holders with an
    industry and the year's value added, by industry division and region, and each region over all its
    industries (industry "*")."""
    period = Period.parse(str(year))
    e, h, r = holder_economics.c, carbon_holders.c, energy_records.c
    members = conn.execute(
        select(h.id, h.industry_code, h.region, e.value_added_10k_yuan)
        .join(holder_economics, e.holder_id == h.id)
        .where(e.period_start == period.start, e.period_end == period.end, e.value_added_10k_yuan.is_not(None),
               h.industry_code.is_not(None))
        .order_by(h.id)).all()
    members = [m for m in members if Fraction(m.value_added_10k_yuan) > 0]
    if not members:
        return []
    holders = pa.table({
        "holder_id": [m.id for m in members], "province": [province_of(m.region) for m in members],
        "industry": [industry_division(m.industry_code) for m in members], "region": [m.region for m in members],
        # Value added has at most 4 decimals of 10k yuan: whole yuan.
        "va_yuan": [int(Fraction(m.value_added_10k_yuan) * YUAN_PER_10K) for m in members],
    })
    rows = conn.execute(
        select(r.holder_id, r.energy_type, r.unit, r.quantity, r.period_start, r.area)
        .join(holder_economics, (e.holder_id == r.holder_id) & (e.period_start == period.start)
              & (e.period_end == period.end))
        .where(r.period_start >= period.start, r.period_end <= period.end)).all()
    records = pa.table({
        "holder_id": pa.array([x.holder_id for x in rows], pa.int64()),
        "energy_type": pa.array([x.energy_type for x in rows], pa.string()),
        "unit": pa.array([x.unit for x in rows], pa.string()),
        "year": pa.array([x.period_start.year for x in rows], pa.int32()),
        "month": pa.array([x.period_start.month for x in rows], pa.int32()),
        "area": pa.array([x.area for x in rows], pa.string()),
        "quantity_milli": pa.array([int(Decimal(x.quantity) * QUANTITY_SCALE) for x in rows], pa.int64()),
    })
    source = f"platform population {year}"
    found = []
    for b in benchmarks_of_population(holders, records).to_pylist():
        values = {name: Fraction(b[f"{name}_kg"] * 10, b[f"{name}_va"]) for name, _ in PERCENTILE_COLUMNS}
        found.append(Benchmark(b["industry"], b["region"], year, b["n"], average=Fraction(b["sum_kg"] * 10,
                                                                                        b["sum_va"]),
                               source=source, **values))
    return found


def compute_benchmarks(tx: UnitOfWork, principal: Principal, year: int) -> list[Benchmark]:
    """Compute and store the population benchmarks of a year (replacing that year's of the same keys)."""
    principal.require_operator("set industry benchmarks")
    found = population_benchmarks(tx.conn, year)
    save(tx, principal, found, "computed")
    return found


def plain(value: Any) -> Any:
    """Fractions as exact text ("20759/75000"), dates as ISO text: a profile as JSON loses nothing."""
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def profile_json(profile: CreditProfile) -> dict[str, Any]:
    return {k: plain(v) for k, v in dataclasses.asdict(profile).items()}
