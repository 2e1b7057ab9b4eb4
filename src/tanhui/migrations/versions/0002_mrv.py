"""MRV: registered meters, monitoring reports and their sites, energy claims and the (meter, day) exclusivity key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Facts: never updated, never deleted (the exclusivity key must never be lifted by a DELETE).
APPEND_ONLY = ("monitoring_reports", "report_sites", "energy_claims", "claimed_days")
# Meters change (an explicit update of their attributes) but are never deleted: reports and claims name them.
NO_DELETE = ("meters",)


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("id", _ID, nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("owner_organization_id", _ID, nullable=False),
        sa.Column("capacity_w", sa.BigInteger(), nullable=False),
        sa.Column("latitude_microdeg", sa.Integer(), nullable=False),
        sa.Column("longitude_microdeg", sa.Integer(), nullable=False),
        sa.Column("tilt_microdeg", sa.Integer(), nullable=True),
        sa.Column("azimuth_microdeg", sa.Integer(), nullable=True),
        sa.Column("grid_point", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("commissioned", sa.Date(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "azimuth_microdeg IS NULL OR azimuth_microdeg BETWEEN 0 AND 360000000", name=op.f("ck_meters_azimuth")
        ),
        sa.CheckConstraint("capacity_w > 0", name=op.f("ck_meters_capacity")),
        sa.CheckConstraint(
            "latitude_microdeg BETWEEN -90000000 AND 90000000", name=op.f("ck_meters_latitude")
        ),
        sa.CheckConstraint(
            "longitude_microdeg BETWEEN -180000000 AND 180000000", name=op.f("ck_meters_longitude")
        ),
        sa.CheckConstraint(
            "tilt_microdeg IS NULL OR tilt_microdeg BETWEEN 0 AND 90000000", name=op.f("ck_meters_tilt")
        ),
        sa.ForeignKeyConstraint(
            ["owner_organization_id"], ["organizations.id"],
            name=op.f("fk_meters_owner_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("meter_id", name=op.f("uq_meters_meter_id")),
    )
    op.create_index(op.f("ix_meters_owner_organization_id"), "meters", ["owner_organization_id"], unique=False)

    op.create_table(
        "monitoring_reports",
        sa.Column("id", _ID, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("issuance_id", _ID, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("methodology_code", sa.String(length=40), nullable=False),
        sa.Column("methodology_version", sa.String(length=40), nullable=False),
        sa.Column("methodology_title", sa.String(length=200), nullable=False),
        sa.Column("grid_factor", sa.Text(), nullable=False),
        sa.Column("summary_sha256", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("sites", sa.Integer(), nullable=False),
        sa.Column("reported_wh", sa.BigInteger(), nullable=False),
        sa.Column("accepted_wh", sa.BigInteger(), nullable=False),
        sa.Column("reduction_kg", sa.BigInteger(), nullable=False),
        sa.Column("issued_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_monitoring_reports_period")),
        sa.CheckConstraint("reduction_kg > 0", name=op.f("ck_monitoring_reports_reduction")),
        sa.ForeignKeyConstraint(
            ["issuance_id"], ["issuances.id"], name=op.f("fk_monitoring_reports_issuance_id_issuances")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_monitoring_reports_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_reports")),
        sa.UniqueConstraint("issuance_id", name=op.f("uq_monitoring_reports_issuance_id")),
        sa.UniqueConstraint("summary_sha256", name=op.f("uq_monitoring_reports_summary_sha256")),
    )
    op.create_index(op.f("ix_monitoring_reports_project_id"), "monitoring_reports", ["project_id"], unique=False)

    op.create_table(
        "energy_claims",
        sa.Column("id", _ID, nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("instrument", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("report_id", _ID, nullable=True),
        sa.Column("declared_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(instrument = 'tanhui_credit') = (report_id IS NOT NULL)", name=op.f("ck_energy_claims_report")
        ),
        sa.CheckConstraint(
            "instrument IN ('tanhui_credit', 'green_certificate', 'other_registry')",
            name=op.f("ck_energy_claims_instrument"),
        ),
        sa.CheckConstraint("first_day <= last_day", name=op.f("ck_energy_claims_period")),
        sa.ForeignKeyConstraint(["meter_id"], ["meters.meter_id"], name=op.f("fk_energy_claims_meter_id_meters")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["monitoring_reports.id"], name=op.f("fk_energy_claims_report_id_monitoring_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_claims")),
        sa.UniqueConstraint("id", "meter_id", name=op.f("uq_energy_claims_id_meter_id")),
    )
    op.create_index(op.f("ix_energy_claims_meter_id"), "energy_claims", ["meter_id"], unique=False)
    op.create_index(op.f("ix_energy_claims_report_id"), "energy_claims", ["report_id"], unique=False)

    op.create_table(
        "report_sites",
        sa.Column("report_id", _ID, nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("owner_organization_id", _ID, nullable=False),
        sa.Column("capacity_w", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("intervals_expected", sa.Integer(), nullable=False),
        sa.Column("reported_wh", sa.BigInteger(), nullable=False),
        sa.Column("accepted_wh", sa.BigInteger(), nullable=False),
        sa.Column("reduction_kg", sa.BigInteger(), nullable=False),
        sa.Column("flag_counts", sa.Text(), nullable=False),
        sa.Column("serial_first", sa.BigInteger(), nullable=True),
        sa.Column("serial_last", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(reduction_kg = 0 AND serial_first IS NULL AND serial_last IS NULL) OR "
            "(reduction_kg > 0 AND serial_first >= 1 AND serial_last = serial_first + reduction_kg - 1)",
            name=op.f("ck_report_sites_contribution"),
        ),
        sa.ForeignKeyConstraint(["meter_id"], ["meters.meter_id"], name=op.f("fk_report_sites_meter_id_meters")),
        sa.ForeignKeyConstraint(
            ["owner_organization_id"], ["organizations.id"],
            name=op.f("fk_report_sites_owner_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["monitoring_reports.id"], name=op.f("fk_report_sites_report_id_monitoring_reports")
        ),
        sa.PrimaryKeyConstraint("report_id", "meter_id", name=op.f("pk_report_sites")),
    )
    op.create_index("ix_report_sites_serials", "report_sites", ["report_id", "serial_first"], unique=False)

    op.create_table(
        "claimed_days",
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claim_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id", "meter_id"], ["energy_claims.id", "energy_claims.meter_id"], name="fk_claimed_days_claim"
        ),
        sa.PrimaryKeyConstraint("meter_id", "day", name=op.f("pk_claimed_days")),
    )
    op.create_index(op.f("ix_claimed_days_claim_id"), "claimed_days", ["claim_id"], unique=False)
    row_guards(append_only=APPEND_ONLY, no_delete=NO_DELETE)


def downgrade() -> None:
    # Dropping a table drops its triggers; tanhui_refuse() belongs to revision 0001.
    op.drop_index(op.f("ix_claimed_days_claim_id"), table_name="claimed_days")
    op.drop_table("claimed_days")
    op.drop_index("ix_report_sites_serials", table_name="report_sites")
    op.drop_table("report_sites")
    op.drop_index(op.f("ix_energy_claims_report_id"), table_name="energy_claims")
    op.drop_index(op.f("ix_energy_claims_meter_id"), table_name="energy_claims")
    op.drop_table("energy_claims")
    op.drop_index(op.f("ix_monitoring_reports_project_id"), table_name="monitoring_reports")
    op.drop_table("monitoring_reports")
    op.drop_index(op.f("ix_meters_owner_organization_id"), table_name="meters")
    op.drop_table("meters")
