"""Carbon accounts: holders, their economic figures, energy records, meters and industry benchmarks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:39:22.967488
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "industry_benchmarks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("industry", sa.String(length=5), nullable=False),
        sa.Column("region", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("holders", sa.Integer(), nullable=False),
        sa.Column("median", sa.String(length=80), nullable=False),
        sa.Column("p10", sa.String(length=80), nullable=False),
        sa.Column("p25", sa.String(length=80), nullable=False),
        sa.Column("p75", sa.String(length=80), nullable=False),
        sa.Column("p90", sa.String(length=80), nullable=False),
        sa.Column("average", sa.String(length=80), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("origin IN ('computed', 'loaded')", name=op.f("ck_industry_benchmarks_origin")),
        sa.CheckConstraint("holders > 0", name=op.f("ck_industry_benchmarks_holders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_industry_benchmarks")),
        sa.UniqueConstraint(
            "industry", "region", "year", name=op.f("uq_industry_benchmarks_industry_region_year")
        ),
    )
    op.create_table(
        "carbon_holders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unified_social_credit_code", sa.String(length=18), nullable=True),
        sa.Column("industry_code", sa.String(length=5), nullable=True),
        sa.Column("region", sa.String(length=12), nullable=False),
        sa.Column("area", sa.String(length=24), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "area IN ('industry', 'energy', 'buildings', 'transport', 'agriculture_forestry', 'daily_life')",
            name=op.f("ck_carbon_holders_area"),
        ),
        sa.CheckConstraint(
            "kind <> 'enterprise' OR (unified_social_credit_code IS NOT NULL AND industry_code IS NOT NULL)",
            name=op.f("ck_carbon_holders_enterprise"),
        ),
        sa.CheckConstraint(
            "kind <> 'resident' OR (unified_social_credit_code IS NULL AND industry_code IS NULL)",
            name=op.f("ck_carbon_holders_resident"),
        ),
        sa.CheckConstraint(
            "kind = 'resident' OR organization_id IS NULL", name=op.f("ck_carbon_holders_organization")
        ),
        sa.CheckConstraint(
            "kind IN ('enterprise', 'public_institution', 'resident')", name=op.f("ck_carbon_holders_kind")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_carbon_holders_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carbon_holders")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_carbon_holders_organization_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_carbon_holders_reference")),
        sa.UniqueConstraint(
            "unified_social_credit_code", name=op.f("uq_carbon_holders_unified_social_credit_code")
        ),
    )
    op.create_table(
        "energy_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("holder_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("energy_type", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column("quantity", sa.String(length=40), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("metered", sa.Boolean(), nullable=False),
        sa.Column("area", sa.String(length=24), nullable=False),
        sa.Column("certificate_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(energy_type = 'green_electricity') = (certificate_id IS NOT NULL)",
            name=op.f("ck_energy_records_certificate"),
        ),
        sa.CheckConstraint(
            "area IN ('industry', 'energy', 'buildings', 'transport', 'agriculture_forestry', 'daily_life')",
            name=op.f("ck_energy_records_area"),
        ),
        sa.CheckConstraint(
            "energy_type IN ('electricity', 'heat', 'green_electricity', 'natural_gas', 'anthracite', "
            "'bituminous_coal', 'lignite', 'washed_coal', 'coke', 'gasoline', 'diesel', 'lpg', 'fuel_oil')",
            name=op.f("ck_energy_records_energy_type"),
        ),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_energy_records_period")),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["carbon_holders.id"], name=op.f("fk_energy_records_holder_id_carbon_holders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_records")),
        sa.UniqueConstraint("certificate_id", name=op.f("uq_energy_records_certificate_id")),
        sa.UniqueConstraint(
            "holder_id",
            "energy_type",
            "period_start",
            "period_end",
            "source",
            name=op.f("uq_energy_records_holder_id_energy_type_period_start_period_end_source"),
        ),
    )
    with op.batch_alter_table("energy_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_energy_records_holder_id"), ["holder_id"], unique=False)

    op.create_table(
        "holder_economics",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("holder_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("output_value_10k_yuan", sa.String(length=40), nullable=True),
        sa.Column("value_added_10k_yuan", sa.String(length=40), nullable=True),
        sa.Column("pollution_score", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_holder_economics_period")),
        sa.CheckConstraint(
            "pollution_score IS NULL OR pollution_score BETWEEN 0 AND 100",
            name=op.f("ck_holder_economics_pollution"),
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["carbon_holders.id"], name=op.f("fk_holder_economics_holder_id_carbon_holders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holder_economics")),
        sa.UniqueConstraint(
            "holder_id",
            "period_start",
            "period_end",
            name=op.f("uq_holder_economics_holder_id_period_start_period_end"),
        ),
    )
    with op.batch_alter_table("holder_economics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_holder_economics_holder_id"), ["holder_id"], unique=False)

    op.create_table(
        "holder_meters",
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("holder_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["carbon_holders.id"], name=op.f("fk_holder_meters_holder_id_carbon_holders")
        ),
        sa.PrimaryKeyConstraint("meter_id", name=op.f("pk_holder_meters")),
    )
    with op.batch_alter_table("holder_meters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_holder_meters_holder_id"), ["holder_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("holder_meters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_holder_meters_holder_id"))

    op.drop_table("holder_meters")
    with op.batch_alter_table("holder_economics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_holder_economics_holder_id"))

    op.drop_table("holder_economics")
    with op.batch_alter_table("energy_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_energy_records_holder_id"))

    op.drop_table("energy_records")
    op.drop_table("carbon_holders")
    op.drop_table("industry_benchmarks")
