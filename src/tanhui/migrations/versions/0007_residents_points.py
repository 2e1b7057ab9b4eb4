"""Residents' points: behaviour events, the points ledger, catalogue, redemptions and travel packages

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:38:13.349373
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tanhui.migrations.guards import row_guards

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Facts never changed or deleted, and rows that change but are never deleted.
APPEND_ONLY = (
    "behaviour_events",
    "points_entries",
    "points_redemptions",
    "travel_packages",
    "packaged_events",
)
NO_DELETE = ("points_balances", "points_lots", "points_catalogue", "resident_settings")


def upgrade() -> None:
    op.create_table(
        "points_catalogue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("price_g", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_g > 0", name=op.f("ck_points_catalogue_price")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_points_catalogue_stock")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_catalogue")),
        sa.UniqueConstraint("code", name=op.f("uq_points_catalogue_code")),
    )
    op.create_table(
        "behaviour_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("behaviour", sa.String(length=30), nullable=False),
        sa.Column("scheme", sa.String(length=30), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("distance_m", sa.BigInteger(), nullable=True),
        sa.Column("saved_wh", sa.BigInteger(), nullable=True),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("counted_milli", sa.BigInteger(), nullable=False),
        sa.Column("points_g", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'accepted') = (reason IS NULL)", name=op.f("ck_behaviour_events_reasoned")
        ),
        sa.CheckConstraint(
            "reason IS NULL OR reason IN ('duplicate', 'impossible_speed', 'daily_cap')",
            name=op.f("ck_behaviour_events_reason"),
        ),
        sa.CheckConstraint(
            "status <> 'refused' OR (counted_milli = 0 AND points_g = 0)",
            name=op.f("ck_behaviour_events_refused"),
        ),
        sa.CheckConstraint(
            "status IN ('accepted', 'capped', 'refused')", name=op.f("ck_behaviour_events_status")
        ),
        sa.CheckConstraint(
            "quantity_milli > 0 AND counted_milli >= 0 AND counted_milli <= quantity_milli AND points_g >= 0",
            name=op.f("ck_behaviour_events_amounts"),
        ),
        sa.CheckConstraint("started_at < ended_at", name=op.f("ck_behaviour_events_times")),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["organizations.id"], name=op.f("fk_behaviour_events_resident_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_behaviour_events")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_behaviour_events_source_event_id")),
    )
    with op.batch_alter_table("behaviour_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_behaviour_events_resident_day", ["resident_id", "behaviour", "day"], unique=False
        )

    op.create_table(
        "points_balances",
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("balance_g", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance_g >= 0", name=op.f("ck_points_balances_balance")),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["organizations.id"], name=op.f("fk_points_balances_resident_id_organizations")
        ),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_points_balances")),
    )
    op.create_table(
        "points_redemptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("rebate_fen", sa.BigInteger(), nullable=True),
        sa.Column("rebate_year", sa.Integer(), nullable=True),
        sa.Column("loan_reference", sa.String(length=100), nullable=True),
        sa.Column("points_g", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'catalogue') = (item_id IS NOT NULL AND quantity > 0)",
            name=op.f("ck_points_redemptions_item"),
        ),
        sa.CheckConstraint(
            "(kind = 'loan_rebate') = (rebate_fen > 0 AND rebate_year IS NOT NULL AND loan_reference IS NOT NULL)",
            name=op.f("ck_points_redemptions_rebate"),
        ),
        sa.CheckConstraint("kind IN ('catalogue', 'loan_rebate')", name=op.f("ck_points_redemptions_kind")),
        sa.CheckConstraint("points_g > 0", name=op.f("ck_points_redemptions_points")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["points_catalogue.id"], name=op.f("fk_points_redemptions_item_id_points_catalogue")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["organizations.id"],
            name=op.f("fk_points_redemptions_resident_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_redemptions")),
    )
    with op.batch_alter_table("points_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_redemptions_rebate_year", ["resident_id", "rebate_year"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_points_redemptions_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "resident_settings",
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("leaderboard", sa.Boolean(), nullable=False),
        sa.Column("nickname", sa.String(length=40), nullable=True),
        sa.Column("packaging_consent", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT leaderboard OR nickname IS NOT NULL", name=op.f("ck_resident_settings_nickname")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["organizations.id"], name=op.f("fk_resident_settings_resident_id_organizations")
        ),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_resident_settings")),
    )
    op.create_table(
        "points_lots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("earned_g", sa.BigInteger(), nullable=False),
        sa.Column("remaining_g", sa.BigInteger(), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("earned_at < expires_at", name=op.f("ck_points_lots_expiry")),
        sa.CheckConstraint(
            "earned_g > 0 AND remaining_g >= 0 AND remaining_g <= earned_g",
            name=op.f("ck_points_lots_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["behaviour_events.id"], name=op.f("fk_points_lots_event_id_behaviour_events")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["organizations.id"], name=op.f("fk_points_lots_resident_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_lots")),
        sa.UniqueConstraint("event_id", name=op.f("uq_points_lots_event_id")),
    )
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.create_index("ix_points_lots_resident_expiry", ["resident_id", "expires_at"], unique=False)

    op.create_table(
        "points_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount_g", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_g", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("redemption_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'earn') = (amount_g > 0) AND amount_g <> 0", name=op.f("ck_points_entries_sign")
        ),
        sa.CheckConstraint("(kind = 'redeem') = (lot_id IS NULL)", name=op.f("ck_points_entries_lot")),
        sa.CheckConstraint(
            "(kind = 'redeem') = (redemption_id IS NOT NULL)", name=op.f("ck_points_entries_redemption")
        ),
        sa.CheckConstraint(
            "kind IN ('earn', 'expire', 'redeem', 'reverse')", name=op.f("ck_points_entries_kind")
        ),
        sa.CheckConstraint("balance_after_g >= 0", name=op.f("ck_points_entries_balance")),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["points_lots.id"], name=op.f("fk_points_entries_lot_id_points_lots")
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["points_redemptions.id"],
            name=op.f("fk_points_entries_redemption_id_points_redemptions"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["organizations.id"], name=op.f("fk_points_entries_resident_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_entries")),
        sa.UniqueConstraint("kind", "lot_id", name=op.f("uq_points_entries_kind_lot_id")),
        sa.UniqueConstraint("redemption_id", name=op.f("uq_points_entries_redemption_id")),
    )
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_points_entries_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "travel_packages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "aggregator_organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("methodology", sa.String(length=60), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("net_kg", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_travel_packages_period")),
        sa.CheckConstraint(
            "residents > 0 AND events >= residents AND net_kg >= 0", name=op.f("ck_travel_packages_counts")
        ),
        sa.ForeignKeyConstraint(
            ["aggregator_organization_id"],
            ["organizations.id"],
            name=op.f("fk_travel_packages_aggregator_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_travel_packages_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["submitted_reports.id"],
            name=op.f("fk_travel_packages_report_id_submitted_reports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_packages")),
        sa.UniqueConstraint("report_id", name=op.f("uq_travel_packages_report_id")),
    )
    with op.batch_alter_table("travel_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_travel_packages_aggregator_organization_id"),
            ["aggregator_organization_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_travel_packages_project_id"), ["project_id"], unique=False)

    op.create_table(
        "packaged_events",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("package_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["behaviour_events.id"], name=op.f("fk_packaged_events_event_id_behaviour_events")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["travel_packages.id"], name=op.f("fk_packaged_events_package_id_travel_packages")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["organizations.id"], name=op.f("fk_packaged_events_resident_id_organizations")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_packaged_events")),
    )
    with op.batch_alter_table("packaged_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_packaged_events_package_id"), ["package_id"], unique=False)

    row_guards(append_only=APPEND_ONLY, no_delete=NO_DELETE)


def downgrade() -> None:
    with op.batch_alter_table("packaged_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_packaged_events_package_id"))

    op.drop_table("packaged_events")
    with op.batch_alter_table("travel_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_packages_project_id"))
        batch_op.drop_index(batch_op.f("ix_travel_packages_aggregator_organization_id"))

    op.drop_table("travel_packages")
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_entries_resident_id"))

    op.drop_table("points_entries")
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_points_lots_resident_expiry")

    op.drop_table("points_lots")
    op.drop_table("resident_settings")
    with op.batch_alter_table("points_redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_redemptions_resident_id"))
        batch_op.drop_index("ix_points_redemptions_rebate_year")

    op.drop_table("points_redemptions")
    op.drop_table("points_balances")
    with op.batch_alter_table("behaviour_events", schema=None) as batch_op:
        batch_op.drop_index("ix_behaviour_events_resident_day")

    op.drop_table("behaviour_events")
    op.drop_table("points_catalogue")
