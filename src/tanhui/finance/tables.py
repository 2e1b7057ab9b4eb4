"""Tables for issued carbon credit reports, holders' consent to banks, the banks' access log and loan products."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tanhui.db import metadata
from tanhui.types import Id, one_of

CONSENT_SCOPES = ("summary", "full")
ACCESS_KINDS = ("list", "summary", "full", "pdf", "quote")

# A report as issued: its content (canonical JSON of the profile and the issue time) is kept, so the PDF can be
# rendered again byte for byte and anyone can recompute the hash the public verification page shows.
credit_reports = Table(
    "credit_reports", metadata,
    Column("id", Id, primary_key=True),
    Column("holder_id", BigInteger, ForeignKey("carbon_holders.id"), nullable=False, index=True),
    # The organisation the holder was linked to when the report was issued (members read their own reports).
    Column("holder_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("holder_name", String(200), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("label", String(20)),
    Column("carbon_efficiency_grade", String(2)),
    Column("credit_rating", String(4)),
    Column("content", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False, unique=True),
    # In the QR code's address: without it the public page answers 404, so report ids cannot be walked
    # to read every holder's label.
    Column("verification_code", String(32), nullable=False, unique=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("issued_by", String(64), nullable=False),
    CheckConstraint("period_start <= period_end", name="period"),
)

consent_grants = Table(
    "consent_grants", metadata,
    Column("id", Id, primary_key=True),
    Column("holder_id", BigInteger, ForeignKey("carbon_holders.id"), nullable=False, index=True),
    Column("holder_organization_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("bank_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("scope", String(10), nullable=False),
    Column("purpose", Text),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("granted_by", String(64), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(64)),
    CheckConstraint(one_of("scope", CONSENT_SCOPES), name="scope"),
    CheckConstraint("expires_at > granted_at", name="expiry"),
    CheckConstraint("(revoked_at IS NULL) = (revoked_by IS NULL)", name="revoked"),
)

# Not journaled, like login_failures: a log of reads, allowed or refused; append-only (guarded by triggers).
# ``holder_id`` is what was asked for, so it has no foreign key: refused asks about unknown holders are logged too.
report_accesses = Table(
    "report_accesses", metadata,
    Column("id", Id, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("holder_id", BigInteger, nullable=False, index=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False),  # the bank (or who tried)
    Column("actor", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("report_id", Id, ForeignKey("credit_reports.id")),
    Column("grant_id", Id, ForeignKey("consent_grants.id")),
    Column("allowed", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    CheckConstraint(one_of("kind", ACCESS_KINDS), name="kind"),
    CheckConstraint("NOT allowed OR grant_id IS NOT NULL", name="granted"),
)

# A bank's loan product, one row per version; the newest version is the one quoted.
loan_products = Table(
    "loan_products", metadata,
    Column("id", Id, primary_key=True),
    Column("bank_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("code", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", Text, nullable=False),  # canonical JSON of the product's terms and rules
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    CheckConstraint("version >= 1", name="version"),
    UniqueConstraint("bank_organization_id", "code", "version"),
)
