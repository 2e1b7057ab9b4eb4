"""Methodology versions' states decided by the operator, and evidence attached to declarations

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:48:14.383805
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "methodology_versions",
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("superseded_by", sa.String(length=60), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(state = 'superseded') = (superseded_by IS NOT NULL)",
            name=op.f("ck_methodology_versions_successor"),
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'published', 'superseded')", name=op.f("ck_methodology_versions_state")
        ),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_methodology_versions")),
    )
    op.create_table(
        "declaration_attachments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("declaration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_declaration_attachments_size")),
        sa.ForeignKeyConstraint(
            ["declaration_id"],
            ["declarations.id"],
            name=op.f("fk_declaration_attachments_declaration_id_declarations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declaration_attachments")),
    )
    with op.batch_alter_table("declaration_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_declaration_attachments_declaration_id"), ["declaration_id"], unique=False
        )
    row_guards(append_only=("declaration_attachments",))


def downgrade() -> None:
    with op.batch_alter_table("declaration_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_declaration_attachments_declaration_id"))

    op.drop_table("declaration_attachments")
    op.drop_table("methodology_versions")
