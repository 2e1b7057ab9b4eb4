"""Carbon credit reports as issued, holders' consent to banks, the banks' access log, and loan products

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:42:18.385658
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_grants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "holder_organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "bank_organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("scope IN ('summary', 'full')", name=op.f("ck_consent_grants_scope")),
        sa.CheckConstraint(
            "(revoked_at IS NULL) = (revoked_by IS NULL)", name=op.f("ck_consent_grants_revoked")
        ),
        sa.CheckConstraint("expires_at > granted_at", name=op.f("ck_consent_grants_expiry")),
        sa.ForeignKeyConstraint(
            ["bank_organization_id"],
            ["organizations.id"],
            name=op.f("fk_consent_grants_bank_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["holder_organization_id"],
            ["organizations.id"],
            name=op.f("fk_consent_grants_holder_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_grants")),
    )
    with op.batch_alter_table("consent_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_grants_bank_organization_id"), ["bank_organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consent_grants_holder_id"), ["holder_id"], unique=False)

    op.create_table(
        "credit_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "holder_organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=True),
        sa.Column("carbon_efficiency_grade", sa.String(length=2), nullable=True),
        sa.Column("credit_rating", sa.String(length=4), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("verification_code", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_credit_reports_period")),
        sa.ForeignKeyConstraint(
            ["holder_organization_id"],
            ["organizations.id"],
            name=op.f("fk_credit_reports_holder_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_reports")),
        sa.UniqueConstraint("content_sha256", name=op.f("uq_credit_reports_content_sha256")),
        sa.UniqueConstraint("verification_code", name=op.f("uq_credit_reports_verification_code")),
    )
    with op.batch_alter_table("credit_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_reports_holder_id"), ["holder_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_credit_reports_holder_organization_id"), ["holder_organization_id"], unique=False
        )

    op.create_table(
        "loan_products",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "bank_organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_loan_products_version")),
        sa.ForeignKeyConstraint(
            ["bank_organization_id"],
            ["organizations.id"],
            name=op.f("fk_loan_products_bank_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_products")),
        sa.UniqueConstraint(
            "bank_organization_id",
            "code",
            "version",
            name=op.f("uq_loan_products_bank_organization_id_code_version"),
        ),
    )
    with op.batch_alter_table("loan_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_products_bank_organization_id"), ["bank_organization_id"], unique=False
        )

    op.create_table(
        "report_accesses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("grant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('list', 'summary', 'full', 'pdf', 'quote')", name=op.f("ck_report_accesses_kind")
        ),
        sa.CheckConstraint("NOT allowed OR grant_id IS NOT NULL", name=op.f("ck_report_accesses_granted")),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["consent_grants.id"], name=op.f("fk_report_accesses_grant_id_consent_grants")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_report_accesses_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["credit_reports.id"], name=op.f("fk_report_accesses_report_id_credit_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_accesses")),
    )
    with op.batch_alter_table("report_accesses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_accesses_holder_id"), ["holder_id"], unique=False)
    # Issued reports, product versions and the access log are facts; a consent is revoked, never deleted.
    row_guards(
        append_only=("credit_reports", "loan_products", "report_accesses"), no_delete=("consent_grants",)
    )


def downgrade() -> None:
    with op.batch_alter_table("report_accesses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_accesses_holder_id"))

    op.drop_table("report_accesses")
    with op.batch_alter_table("loan_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_products_bank_organization_id"))

    op.drop_table("loan_products")
    with op.batch_alter_table("credit_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_reports_holder_organization_id"))
        batch_op.drop_index(batch_op.f("ix_credit_reports_holder_id"))

    op.drop_table("credit_reports")
    with op.batch_alter_table("consent_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_grants_holder_id"))
        batch_op.drop_index(batch_op.f("ix_consent_grants_bank_organization_id"))

    op.drop_table("consent_grants")
