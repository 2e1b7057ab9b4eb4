"""Idempotency keys: a replayed write returns the first result and changes nothing."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from tanhui.db import metadata
from tanhui.types import Id

# Stored in the same transaction as the write it remembers, so the two commit or vanish together.
idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("id", Id, primary_key=True),
    Column("principal", String(80), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("principal", "key"),
)
