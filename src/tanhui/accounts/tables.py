"""Carbon-account tables: holders, their economic figures per period, energy records, meters and benchmarks.

Quantities and money are exact decimal text (the journal keeps no floats).  The database holds the rules
that must never break: one certificate backs one green-electricity record (unique ``certificate_id``), one
record per holder, energy type, period and source (a month fed twice from a meter is refused by the key),
and a meter feeds one holder.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tanhui.accounts.energy import ENERGY_TYPES
from tanhui.accounts.holders import HOLDER_KINDS
from tanhui.accounts.profile import AREAS
from tanhui.db import metadata
from tanhui.types import Id, one_of

DECIMAL_LENGTH = 40

carbon_holders = Table(
    "carbon_holders", metadata,
    Column("id", Id, primary_key=True),
    Column("reference", String(64), nullable=False, unique=True),  # the bureau's own key, what imports name
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("unified_social_credit_code", String(18), unique=True),
    Column("industry_code", String(5)),
    Column("region", String(12), nullable=False),
    Column("area", String(24), nullable=False),
    # The registry organisation whose members act for the holder: a resident's own (kind individual), or the
    # enterprise's or institution's; its users read the account and grant banks consent to its reports.
    Column("organization_id", Id, ForeignKey("organizations.id"), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("kind", HOLDER_KINDS), name="kind"),
    CheckConstraint(one_of("area", AREAS), name="area"),
    CheckConstraint("kind <> 'enterprise' OR (unified_social_credit_code IS NOT NULL AND industry_code IS NOT NULL)",
                    name="enterprise"),
    CheckConstraint("kind <> 'resident' OR (unified_social_credit_code IS NULL AND industry_code IS NULL)",
                    name="resident"),
)

holder_economics = Table(
    "holder_economics", metadata,
    Column("id", Id, primary_key=True),
    Column("holder_id", Id, ForeignKey("carbon_holders.id"), nullable=False, index=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("output_value_10k_yuan", String(DECIMAL_LENGTH)),
    Column("value_added_10k_yuan", String(DECIMAL_LENGTH)),
    Column("pollution_score", Integer),  # 0-100 from the environmental credit evaluation, when the bureau has one
    Column("source", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("period_start <= period_end", name="period"),
    CheckConstraint("pollution_score IS NULL OR pollution_score BETWEEN 0 AND 100", name="pollution"),
    UniqueConstraint("holder_id", "period_start", "period_end"),
)

energy_records = Table(
    "energy_records", metadata,
    Column("id", Id, primary_key=True),
    Column("holder_id", Id, ForeignKey("carbon_holders.id"), nullable=False, index=True),
    Column("energy_type", String(20), nullable=False),
    Column("unit", String(10), nullable=False),
    Column("quantity", String(DECIMAL_LENGTH), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("source", String(120), nullable=False),
    Column("metered", Boolean, nullable=False),
    Column("area", String(24), nullable=False),
    Column("certificate_id", String(100), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("energy_type", tuple(ENERGY_TYPES)), name="energy_type"),
    CheckConstraint(one_of("area", AREAS), name="area"),
    CheckConstraint("period_start <= period_end", name="period"),
    CheckConstraint("(energy_type = 'green_electricity') = (certificate_id IS NOT NULL)", name="certificate"),
    UniqueConstraint("holder_id", "energy_type", "period_start", "period_end", "source"),
)

holder_meters = Table(
    "holder_meters", metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("holder_id", Id, ForeignKey("carbon_holders.id"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

BENCHMARK_ORIGINS = ("computed", "loaded")

# Intensities (tCO2e per 10k yuan value added) as exact fractions ("a/b"); industry "*" is the whole region.
industry_benchmarks = Table(
    "industry_benchmarks", metadata,
    Column("id", Id, primary_key=True),
    Column("industry", String(5), nullable=False),
    Column("region", String(12), nullable=False),
    Column("year", Integer, nullable=False),
    Column("holders", Integer, nullable=False),
    Column("median", String(DECIMAL_LENGTH * 2), nullable=False),
    Column("p10", String(DECIMAL_LENGTH * 2), nullable=False),
    Column("p25", String(DECIMAL_LENGTH * 2), nullable=False),
    Column("p75", String(DECIMAL_LENGTH * 2), nullable=False),
    Column("p90", String(DECIMAL_LENGTH * 2), nullable=False),
    Column("average", String(DECIMAL_LENGTH * 2), nullable=False),  # Σ emissions / Σ value added
    Column("origin", String(10), nullable=False),
    Column("source", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("origin", BENCHMARK_ORIGINS), name="origin"),
    CheckConstraint("holders > 0", name="holders"),
    UniqueConstraint("industry", "region", "year"),
)
