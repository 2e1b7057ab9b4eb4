"""Regions and compliance: organisations' regions, verified emissions and surrenders, cross-regional transfers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:29:32.541498
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Facts: never updated, never deleted.
APPEND_ONLY = ("compliance_obligations", "compliance_surrenders")
# Decided once, never deleted.
NO_DELETE = ("cross_regional_transfers",)


def upgrade() -> None:
    op.create_table(
        "compliance_obligations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region", sa.String(length=12), nullable=False),
        sa.Column("compliance_year", sa.Integer(), nullable=False),
        sa.Column("verified_emissions_kg", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "compliance_year BETWEEN 2000 AND 2100", name=op.f("ck_compliance_obligations_year")
        ),
        sa.CheckConstraint("verified_emissions_kg > 0", name=op.f("ck_compliance_obligations_emissions")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_compliance_obligations_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_obligations")),
        sa.UniqueConstraint(
            "organization_id",
            "region",
            "compliance_year",
            name=op.f("uq_compliance_obligations_organization_id_region_compliance_year"),
        ),
    )
    with op.batch_alter_table("compliance_obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_compliance_obligations_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "organization_regions",
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region", sa.String(length=12), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_regions_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_organization_regions")),
    )
    op.create_table(
        "compliance_surrenders",
        sa.Column("act_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("obligation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("outside_kg", sa.BigInteger(), nullable=False),
        sa.Column("serials", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "quantity > 0 AND outside_kg >= 0 AND outside_kg <= quantity",
            name=op.f("ck_compliance_surrenders_amounts"),
        ),
        sa.ForeignKeyConstraint(["act_id"], ["acts.id"], name=op.f("fk_compliance_surrenders_act_id_acts")),
        sa.ForeignKeyConstraint(
            ["obligation_id"],
            ["compliance_obligations.id"],
            name=op.f("fk_compliance_surrenders_obligation_id_compliance_obligations"),
        ),
        sa.PrimaryKeyConstraint("act_id", name=op.f("pk_compliance_surrenders")),
    )
    with op.batch_alter_table("compliance_surrenders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_compliance_surrenders_obligation_id"), ["obligation_id"], unique=False
        )

    op.create_table(
        "cross_regional_transfers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("escrow_act_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("to_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("escrow_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("serials", sa.Text(), nullable=False),
        sa.Column("from_regions", sa.String(length=200), nullable=False),
        sa.Column("to_region", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decision_act_ids", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name=op.f("ck_cross_regional_transfers_decided")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused')", name=op.f("ck_cross_regional_transfers_status")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cross_regional_transfers_quantity")),
        sa.ForeignKeyConstraint(
            ["escrow_account_id"],
            ["accounts.id"],
            name=op.f("fk_cross_regional_transfers_escrow_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["escrow_act_id"], ["acts.id"], name=op.f("fk_cross_regional_transfers_escrow_act_id_acts")
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["accounts.id"],
            name=op.f("fk_cross_regional_transfers_from_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["to_account_id"],
            ["accounts.id"],
            name=op.f("fk_cross_regional_transfers_to_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cross_regional_transfers")),
        sa.UniqueConstraint("escrow_act_id", name=op.f("uq_cross_regional_transfers_escrow_act_id")),
    )
    with op.batch_alter_table("cross_regional_transfers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cross_regional_transfers_from_account_id"), ["from_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cross_regional_transfers_to_account_id"), ["to_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cross_regional_transfers_to_region"), ["to_region"], unique=False
        )
    row_guards(append_only=APPEND_ONLY, no_delete=NO_DELETE)


def downgrade() -> None:
    with op.batch_alter_table("cross_regional_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cross_regional_transfers_to_region"))
        batch_op.drop_index(batch_op.f("ix_cross_regional_transfers_to_account_id"))
        batch_op.drop_index(batch_op.f("ix_cross_regional_transfers_from_account_id"))

    op.drop_table("cross_regional_transfers")
    with op.batch_alter_table("compliance_surrenders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_surrenders_obligation_id"))

    op.drop_table("compliance_surrenders")
    op.drop_table("organization_regions")
    with op.batch_alter_table("compliance_obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_obligations_organization_id"))

    op.drop_table("compliance_obligations")
