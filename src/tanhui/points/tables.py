"""Points tables: behaviour events, the ledger (balances, lots, entries), catalogue, redemptions, packages.

The database keeps the invariants: a (source, event id) is recorded once (``uq_behaviour_events_source``);
a balance and every lot's remainder are never negative (CHECKs); entries, events, redemptions and packages
are append-only (triggers in the migration); a lot expires or is reversed at most once (unique kind + lot);
an event is packaged into at most one project's monitoring data (``packaged_events`` keyed by the event),
and its row is deleted, freeing it, only once that package's report is rejected (a trigger, revision 0011).
Quantities are integers: gCO2e, fen, and thousandths of a trip, a km (metres) or a kWh (Wh).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tanhui.db import metadata
from tanhui.points.award import REASONS, STATUSES
from tanhui.types import Id, one_of

ENTRY_KINDS = ("earn", "expire", "redeem", "reverse")
REDEMPTION_KINDS = ("catalogue", "loan_rebate")

behaviour_events = Table(
    "behaviour_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("resident_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("source", String(40), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("behaviour", String(30), nullable=False),
    Column("scheme", String(30), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False),
    Column("day", Date, nullable=False),  # the resident's local day it started: where its cap counts
    Column("distance_m", BigInteger),
    Column("saved_wh", BigInteger),
    Column("quantity_milli", BigInteger, nullable=False),
    Column("counted_milli", BigInteger, nullable=False),
    Column("points_g", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("reason", String(20)),
    Column("detail", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", "event_id"),
    Index("ix_behaviour_events_resident_day", "resident_id", "behaviour", "day"),
    CheckConstraint(one_of("status", STATUSES), name="status"),
    CheckConstraint(f"reason IS NULL OR {one_of('reason', REASONS)}", name="reason"),
    CheckConstraint("(status = 'accepted') = (reason IS NULL)", name="reasoned"),
    CheckConstraint("started_at < ended_at", name="times"),
    CheckConstraint(
        "quantity_milli > 0 AND counted_milli >= 0 AND counted_milli <= quantity_milli AND points_g >= 0",
        name="amounts",
    ),
    CheckConstraint("status <> 'refused' OR (counted_milli = 0 AND points_g = 0)", name="refused"),
)

# One row per resident: the balance the ledger's entries sum to, never below zero.
points_balances = Table(
    "points_balances",
    metadata,
    Column("resident_id", Id, ForeignKey("organizations.id"), primary_key=True),
    Column("balance_g", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("balance_g >= 0", name="balance"),
)

# Each earning is a lot that expires as a whole; redemptions take from the lot that expires first.
points_lots = Table(
    "points_lots",
    metadata,
    Column("id", Id, primary_key=True),
    Column("resident_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("event_id", Id, ForeignKey("behaviour_events.id"), nullable=False, unique=True),
    Column("earned_g", BigInteger, nullable=False),
    Column("remaining_g", BigInteger, nullable=False),
    Column("earned_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_points_lots_resident_expiry", "resident_id", "expires_at"),
    CheckConstraint("earned_g > 0 AND remaining_g >= 0 AND remaining_g <= earned_g", name="amounts"),
    CheckConstraint("earned_at < expires_at", name="expiry"),
)

points_catalogue = Table(
    "points_catalogue",
    metadata,
    Column("id", Id, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("price_g", BigInteger, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("price_g > 0", name="price"),
    CheckConstraint("stock >= 0", name="stock"),
)

points_redemptions = Table(
    "points_redemptions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("resident_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("kind", String(12), nullable=False),
    Column("item_id", Id, ForeignKey("points_catalogue.id")),
    Column("quantity", Integer),
    Column("rebate_fen", BigInteger),
    Column("rebate_year", Integer),
    Column("loan_reference", String(100)),
    Column("points_g", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_points_redemptions_rebate_year", "resident_id", "rebate_year"),
    CheckConstraint(one_of("kind", REDEMPTION_KINDS), name="kind"),
    CheckConstraint("points_g > 0", name="points"),
    CheckConstraint("(kind = 'catalogue') = (item_id IS NOT NULL AND quantity > 0)", name="item"),
    CheckConstraint(
        "(kind = 'loan_rebate') = (rebate_fen > 0 AND rebate_year IS NOT NULL "
        "AND loan_reference IS NOT NULL)",
        name="rebate",
    ),
)

points_entries = Table(
    "points_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("resident_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("amount_g", BigInteger, nullable=False),  # earn > 0; expire, redeem and reverse < 0
    Column("balance_after_g", BigInteger, nullable=False),
    Column("lot_id", Id, ForeignKey("points_lots.id")),
    Column("redemption_id", Id, ForeignKey("points_redemptions.id"), unique=True),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A lot is earned once, and expires or is reversed at most once: replays and concurrent runs collide here.
    UniqueConstraint("kind", "lot_id"),
    CheckConstraint(one_of("kind", ENTRY_KINDS), name="kind"),
    CheckConstraint("(kind = 'earn') = (amount_g > 0) AND amount_g <> 0", name="sign"),
    CheckConstraint("balance_after_g >= 0", name="balance"),
    CheckConstraint("(kind = 'redeem') = (redemption_id IS NOT NULL)", name="redemption"),
    CheckConstraint("(kind = 'redeem') = (lot_id IS NULL)", name="lot"),
)

# Whether a resident is shown on the leaderboard (under a nickname) and consents to packaging.
resident_settings = Table(
    "resident_settings",
    metadata,
    Column("resident_id", Id, ForeignKey("organizations.id"), primary_key=True),
    Column("leaderboard", Boolean, nullable=False),
    Column("nickname", String(40)),
    Column("packaging_consent", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("NOT leaderboard OR nickname IS NOT NULL", name="nickname"),
)

travel_packages = Table(
    "travel_packages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("aggregator_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False, index=True),
    Column("report_id", Id, ForeignKey("submitted_reports.id"), nullable=False, unique=True),
    Column("methodology", String(60), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("residents", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("net_kg", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("period_start <= period_end", name="period"),
    CheckConstraint("residents > 0 AND events >= residents AND net_kg >= 0", name="counts"),
)

packaged_events = Table(
    "packaged_events",
    metadata,
    Column("event_id", Id, ForeignKey("behaviour_events.id"), primary_key=True),
    Column("package_id", Id, ForeignKey("travel_packages.id"), nullable=False, index=True),
    Column("resident_id", Id, ForeignKey("organizations.id"), nullable=False),
)
