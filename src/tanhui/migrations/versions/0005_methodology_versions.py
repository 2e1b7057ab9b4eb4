"""Methodology versions: the operator's decisions to publish a draft version or supersede a published one

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:45:28.071860
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
    op.drop_table("methodology_versions")
