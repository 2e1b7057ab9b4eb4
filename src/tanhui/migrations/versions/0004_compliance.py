"""Compliance: major emitters' verified emissions per region and year, and the surrenders made against them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:24:22.922123
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Facts: never updated, never deleted.
APPEND_ONLY = ("compliance_obligations", "compliance_surrenders")


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
    _guards()


def downgrade() -> None:
    with op.batch_alter_table("compliance_surrenders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_surrenders_obligation_id"))

    op.drop_table("compliance_surrenders")
    with op.batch_alter_table("compliance_obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_obligations_organization_id"))

    op.drop_table("compliance_obligations")


def _guards() -> None:
    """Append-only triggers, as the earlier revisions give their facts."""
    for table in APPEND_ONLY:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tanhui_refuse()"
            )
            continue
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
                BEGIN SELECT RAISE(ABORT, 'tanhui: {table} rows are append-only'); END""")
