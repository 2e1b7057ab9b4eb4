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
