"""Project lifecycle: declarations and their events, public comments, submitted monitoring reports, claimed days

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:13:16.826039
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Facts: never updated, never deleted.
APPEND_ONLY = ("declaration_events", "public_comments")
# Changed by their lifecycle's acts, never deleted: events, reports and projects name them.
NO_DELETE = ("declarations", "submitted_reports")


def upgrade() -> None:
    op.create_table(
        "declarations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "owner_organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("methodology", sa.String(length=60), nullable=False),
        sa.Column("region", sa.String(length=12), nullable=False),
        sa.Column("design", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("announcement_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'approved') = (project_id IS NOT NULL)", name=op.f("ck_declarations_approved_project")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'returned', 'announced', 'approved', 'rejected')",
            name=op.f("ck_declarations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_organization_id"],
            ["organizations.id"],
            name=op.f("fk_declarations_owner_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_declarations_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declarations")),
        sa.UniqueConstraint("project_id", name=op.f("uq_declarations_project_id")),
    )
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_declarations_owner_organization_id"), ["owner_organization_id"], unique=False
        )

    op.create_table(
        "declaration_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("declaration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('declared', 'edited', 'submitted', 'returned', 'announced', 'approved', 'rejected')",
            name=op.f("ck_declaration_events_action"),
        ),
        sa.ForeignKeyConstraint(
            ["declaration_id"],
            ["declarations.id"],
            name=op.f("fk_declaration_events_declaration_id_declarations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declaration_events")),
    )
    with op.batch_alter_table("declaration_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_declaration_events_declaration_id"), ["declaration_id"], unique=False
        )

    op.create_table(
        "public_comments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("declaration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["declaration_id"],
            ["declarations.id"],
            name=op.f("fk_public_comments_declaration_id_declarations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_comments")),
    )
    with op.batch_alter_table("public_comments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_public_comments_declaration_id"), ["declaration_id"], unique=False
        )

    op.create_table(
        "submitted_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("declaration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("methodology", sa.String(length=60), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("data_rows", sa.Integer(), nullable=False),
        sa.Column(
            "verifier_organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("net_kg", sa.BigInteger(), nullable=False),
        sa.Column("buffer_kg", sa.BigInteger(), nullable=False),
        sa.Column("issuable_kg", sa.BigInteger(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("issuance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("buffer_issuance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status <> 'issued' OR buffer_kg = 0 OR buffer_issuance_id IS NOT NULL",
            name=op.f("ck_submitted_reports_buffered"),
        ),
        sa.CheckConstraint(
            "status <> 'issued' OR issuable_kg = 0 OR issuance_id IS NOT NULL",
            name=op.f("ck_submitted_reports_issued"),
        ),
        sa.CheckConstraint(
            "status IN ('submitted', 'verified', 'rejected', 'issued')",
            name=op.f("ck_submitted_reports_status"),
        ),
        sa.CheckConstraint(
            "buffer_kg >= 0 AND buffer_kg <= net_kg AND issuable_kg = net_kg - buffer_kg",
            name=op.f("ck_submitted_reports_amounts"),
        ),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_submitted_reports_period")),
        sa.ForeignKeyConstraint(
            ["buffer_issuance_id"],
            ["issuances.id"],
            name=op.f("fk_submitted_reports_buffer_issuance_id_issuances"),
        ),
        sa.ForeignKeyConstraint(
            ["declaration_id"],
            ["declarations.id"],
            name=op.f("fk_submitted_reports_declaration_id_declarations"),
        ),
        sa.ForeignKeyConstraint(
            ["issuance_id"], ["issuances.id"], name=op.f("fk_submitted_reports_issuance_id_issuances")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_submitted_reports_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["verifier_organization_id"],
            ["organizations.id"],
            name=op.f("fk_submitted_reports_verifier_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submitted_reports")),
        sa.UniqueConstraint("buffer_issuance_id", name=op.f("uq_submitted_reports_buffer_issuance_id")),
        sa.UniqueConstraint("issuance_id", name=op.f("uq_submitted_reports_issuance_id")),
    )
    with op.batch_alter_table("submitted_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_submitted_reports_declaration_id"), ["declaration_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_submitted_reports_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_submitted_reports_verifier_organization_id"),
            ["verifier_organization_id"],
            unique=False,
        )

    op.create_table(
        "submitted_report_days",
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_submitted_report_days_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["submitted_reports.id"],
            name=op.f("fk_submitted_report_days_report_id_submitted_reports"),
        ),
        sa.PrimaryKeyConstraint("project_id", "day", name=op.f("pk_submitted_report_days")),
    )
    with op.batch_alter_table("submitted_report_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submitted_report_days_report_id"), ["report_id"], unique=False)
    row_guards(append_only=APPEND_ONLY, no_delete=NO_DELETE)


def downgrade() -> None:
    with op.batch_alter_table("submitted_report_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submitted_report_days_report_id"))

    op.drop_table("submitted_report_days")
    with op.batch_alter_table("submitted_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submitted_reports_verifier_organization_id"))
        batch_op.drop_index(batch_op.f("ix_submitted_reports_project_id"))
        batch_op.drop_index(batch_op.f("ix_submitted_reports_declaration_id"))

    op.drop_table("submitted_reports")
    with op.batch_alter_table("public_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_public_comments_declaration_id"))

    op.drop_table("public_comments")
    with op.batch_alter_table("declaration_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_declaration_events_declaration_id"))

    op.drop_table("declaration_events")
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_declarations_owner_organization_id"))

    op.drop_table("declarations")
