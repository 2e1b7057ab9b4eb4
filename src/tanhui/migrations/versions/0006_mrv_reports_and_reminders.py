"""MRV verify outputs as monitoring reports, reminders, public comments' sources, operator users' regions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:53:35.933394
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("what", sa.String(length=100), nullable=False),
        sa.Column("step", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('due_soon', 'overdue')", name=op.f("ck_reminders_kind")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_reminders_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("what", "step", "kind", name="once"),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "mrv_submissions",
        sa.Column("report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("summary_sha256", sa.String(length=64), nullable=False),
        sa.Column("sites", sa.Integer(), nullable=False),
        sa.Column("accepted_wh", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sites > 0 AND accepted_wh >= 0", name=op.f("ck_mrv_submissions_amounts")),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["submitted_reports.id"],
            name=op.f("fk_mrv_submissions_report_id_submitted_reports"),
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_mrv_submissions")),
        sa.UniqueConstraint("summary_sha256", name=op.f("uq_mrv_submissions_summary_sha256")),
    )
    row_guards(append_only=("mrv_submissions", "reminders"))
    # A plain ADD COLUMN (no table rebuild on SQLite), so public_comments keeps its append-only triggers.
    op.add_column("public_comments", sa.Column("source", sa.String(length=64), nullable=True))
    op.create_index("ix_public_comments_source", "public_comments", ["source", "created_at"])
    op.add_column("users", sa.Column("region", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("region")
    op.drop_index("ix_public_comments_source", table_name="public_comments")
    with op.batch_alter_table("public_comments", schema=None) as batch_op:
        batch_op.drop_column("source")
    if op.get_bind().dialect.name == "sqlite":  # the rebuilt tables lost their triggers there
        row_guards(append_only=("public_comments",), no_delete=("users",))
    op.drop_table("mrv_submissions")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_organization_id"))

    op.drop_table("reminders")
