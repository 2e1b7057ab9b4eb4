"""Lifecycle tables: declarations and their events, public comments, submitted monitoring reports, claimed days.

Exclusivity of monitoring periods: ``submitted_report_days`` has one row per (project, day) that a live
report covers, with (project_id, day) as its primary key, so two reports of one project can never cover one
day; a rejected report gives its days back.  Values are integers, dates and text (the journal keeps exact
values only); a report's monitoring data are an attachment named by its SHA-256.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tanhui.db import metadata
from tanhui.types import Id, one_of

DECLARATION_STATUSES = ("draft", "submitted", "returned", "announced", "approved", "rejected")
DECLARATION_ACTIONS = ("declared", "edited", "submitted", "returned", "announced", "approved", "rejected")
REPORT_STATUSES = ("submitted", "verified", "rejected", "issued")
REMINDER_KINDS = ("due_soon", "overdue")
REFERENCE_LENGTH = 60  # CODE@VERSION
SHA256_HEX = 64



declarations = Table(
    "declarations", metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("methodology", String(REFERENCE_LENGTH), nullable=False),
    Column("region", String(12), nullable=False),
    Column("design", Text, nullable=False),  # canonical JSON of the typed design fields
    Column("status", String(20), nullable=False),
    Column("announcement_ends_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),  # when the pending step (review, decision) is due
    Column("project_id", Id, ForeignKey("projects.id"), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("status", DECLARATION_STATUSES), name="status"),
    CheckConstraint("(status = 'approved') = (project_id IS NOT NULL)", name="approved_project"),
)

declaration_events = Table(
    "declaration_events", metadata,
    Column("id", Id, primary_key=True),
    Column("declaration_id", Id, ForeignKey("declarations.id"), nullable=False, index=True),
    Column("action", String(20), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("action", DECLARATION_ACTIONS), name="action"),
)

public_comments = Table(
    "public_comments", metadata,
    Column("id", Id, primary_key=True),
    Column("declaration_id", Id, ForeignKey("declarations.id"), nullable=False, index=True),
    Column("author", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Who sent it, as a keyed hash of the client address (never the address): what the rate limit counts.
    Column("source", String(SHA256_HEX)),
    Index("ix_public_comments_source", "source", "created_at"),
)

submitted_reports = Table(
    "submitted_reports", metadata,
    Column("id", Id, primary_key=True),
    Column("declaration_id", Id, ForeignKey("declarations.id"), nullable=False, index=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False, index=True),
    Column("methodology", String(REFERENCE_LENGTH), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("data_sha256", String(SHA256_HEX), nullable=False),
    Column("data_rows", Integer, nullable=False),
    Column("verifier_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("net_kg", BigInteger, nullable=False),
    Column("buffer_kg", BigInteger, nullable=False),
    Column("issuable_kg", BigInteger, nullable=False),
    Column("findings", Text),
    Column("issuance_id", Id, ForeignKey("issuances.id"), unique=True),
    Column("buffer_issuance_id", Id, ForeignKey("issuances.id"), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("status", REPORT_STATUSES), name="status"),
    CheckConstraint("period_start <= period_end", name="period"),
    CheckConstraint("buffer_kg >= 0 AND buffer_kg <= net_kg AND issuable_kg = net_kg - buffer_kg", name="amounts"),
    CheckConstraint("status <> 'issued' OR issuable_kg = 0 OR issuance_id IS NOT NULL", name="issued"),
    CheckConstraint("status <> 'issued' OR buffer_kg = 0 OR buffer_issuance_id IS NOT NULL", name="buffered"),
)

submitted_report_days = Table(
    "submitted_report_days", metadata,
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("day", Date, nullable=False),
    Column("report_id", Id, ForeignKey("submitted_reports.id"), nullable=False, index=True),
    PrimaryKeyConstraint("project_id", "day"),
)

# Evidence a declaration carries: files kept content-addressed on disk (`attachments`), named here.
declaration_attachments = Table(
    "declaration_attachments", metadata,
    Column("id", Id, primary_key=True),
    Column("declaration_id", Id, ForeignKey("declarations.id"), nullable=False, index=True),
    Column("sha256", String(SHA256_HEX), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("size_bytes > 0", name="size"),
)

# Monitoring reports submitted as an MRV verify output (`tanhui mrv verify --out DIR`) rather than a template
# upload: the archived report they name, once.  Their meter-days are claimed when the report is issued.
mrv_submissions = Table(
    "mrv_submissions", metadata,
    Column("report_id", Id, ForeignKey("submitted_reports.id"), primary_key=True),
    Column("summary_sha256", String(SHA256_HEX), nullable=False, unique=True),
    Column("sites", Integer, nullable=False),
    Column("accepted_wh", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("sites > 0 AND accepted_wh >= 0", name="amounts"),
)

# Reminders of pending lifecycle steps, delivered to the responsible organisation's inbox: at most one of each
# kind per step (the unique key), so a reminder job run every hour sends each reminder once.
reminders = Table(
    "reminders", metadata,
    Column("id", Id, primary_key=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("what", String(100), nullable=False),  # "declaration 5", "monitoring report 12"
    Column("step", String(100), nullable=False),  # "verifier: review"
    Column("name", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("what", "step", "kind", name="once"),
    CheckConstraint(one_of("kind", REMINDER_KINDS), name="kind"),
)
