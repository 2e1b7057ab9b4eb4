"""Tables for organisations, users, API keys, failed logins and instance secrets."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, ForeignKey, String, Table, Text

from tanhui.db import metadata
from tanhui.types import Id

ORGANIZATION_KINDS = ("operator", "project_owner", "aggregator", "verifier", "buyer", "bank", "individual")
ROLES = ("admin", "representative", "viewer")
API_KEY_NAME_LENGTH = 100

organizations = Table(
    "organizations", metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(f"kind IN ({', '.join(repr(k) for k in ORGANIZATION_KINDS)})", name="kind"),
)

users = Table(
    "users", metadata,
    Column("id", Id, primary_key=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # An operator user of one region (a district's ecology bureau): decides what crosses into that region only.
    Column("region", String(12)),
    CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Id, primary_key=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(API_KEY_NAME_LENGTH), nullable=False),
    Column("role", String(20), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role"),
)

# Not journaled: a security log, not ledger state.
login_failures = Table(
    "login_failures", metadata,
    Column("id", Id, primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

instance_secrets = Table(
    "instance_secrets", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
