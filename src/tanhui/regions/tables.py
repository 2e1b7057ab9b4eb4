"""Compliance tables: a major emitter's verified emissions per region and year, and what it surrendered against them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tanhui.db import metadata
from tanhui.types import Id

compliance_obligations = Table(
    "compliance_obligations", metadata,
    Column("id", Id, primary_key=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("region", String(12), nullable=False),
    Column("compliance_year", Integer, nullable=False),
    Column("verified_emissions_kg", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("verified_emissions_kg > 0", name="emissions"),
    CheckConstraint("compliance_year BETWEEN 2000 AND 2100", name="year"),
    UniqueConstraint("organization_id", "region", "compliance_year"),
)

compliance_surrenders = Table(
    "compliance_surrenders", metadata,
    Column("act_id", Id, ForeignKey("acts.id"), primary_key=True),  # the cancellation that ended the units
    Column("obligation_id", Id, ForeignKey("compliance_obligations.id"), nullable=False, index=True),
    Column("quantity", BigInteger, nullable=False),
    Column("outside_kg", BigInteger, nullable=False),
    Column("serials", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("quantity > 0 AND outside_kg >= 0 AND outside_kg <= quantity", name="amounts"),
)

CROSS_REGIONAL_STATUSES = ("pending", "approved", "refused")

# Which region an organisation belongs to: where its credits are received and its obligations fall.
organization_regions = Table(
    "organization_regions", metadata,
    Column("organization_id", Id, ForeignKey("organizations.id"), primary_key=True),
    Column("region", String(12), nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False),
)

# A transfer into a region that approves incoming credits: the units wait in the operator's escrow account.
cross_regional_transfers = Table(
    "cross_regional_transfers", metadata,
    Column("id", Id, primary_key=True),
    Column("escrow_act_id", Id, ForeignKey("acts.id"), nullable=False, unique=True),
    Column("from_account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("to_account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("escrow_account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("serials", Text, nullable=False),
    Column("from_regions", String(200), nullable=False),
    Column("to_region", String(12), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("decision_act_ids", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    CheckConstraint("quantity > 0", name="quantity"),
    CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status"),
    CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided"),
)
