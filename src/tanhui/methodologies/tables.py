"""The operator's decisions on methodology versions: published, or superseded by a named successor."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, String, Table

from tanhui.db import metadata

VERSION_STATES = ("draft", "published", "superseded")

methodology_versions = Table(
    "methodology_versions", metadata,
    Column("reference", String(60), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("superseded_by", String(60)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("state IN ('draft', 'published', 'superseded')", name="state"),
    CheckConstraint("(state = 'superseded') = (superseded_by IS NOT NULL)", name="successor"),
)
