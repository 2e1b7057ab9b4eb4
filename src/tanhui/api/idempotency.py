"""Idempotency keys: a replayed write returns the first result and changes nothing."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection, RowMapping

from tanhui.db import metadata
from tanhui.errors import TanhuiError
from tanhui.journal.chain import canonical_json
from tanhui.prepared import Prepared
from tanhui.types import Id, utcnow

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

KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"

# Every write request runs these (see ``tanhui.prepared``).
_HOLD = Prepared(select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("name"), 0))))
_STORED = Prepared(select(idempotency_keys).where(idempotency_keys.c.principal == bindparam("principal"),
                                                  idempotency_keys.c.key == bindparam("key")))
_REMEMBER = Prepared(insert(idempotency_keys), column_keys=[
    "principal", "key", "request_hash", "status_code", "response_body", "created_at"])


class IdempotencyKeyReused(TanhuiError):
    code, status, title = "idempotency-key-reused", 422, "The idempotency key was used for another request"


def request_hash(method: str, path: str, body: Any) -> str:
    """SHA-256 of what makes two requests the same: method, path and the canonical JSON of the body."""
    return hashlib.sha256(canonical_json({"method": method, "path": path, "body": body}).encode()).hexdigest()


def lookup(conn: Connection, principal: str, key: str) -> list[tuple[Prepared, dict[str, Any]]]:
    """The statements that look up the answer stored for (principal, key), to send with others (``together``);
    ``found`` reads their rows.

    On PostgreSQL the look-up first takes a transaction-scoped advisory lock on the key, so concurrent
    requests with one key wait for each other: a duplicate waits for the first to commit and then replays
    it, instead of doing the work again only to be refused by the unique key (or by the balance the first
    one spent).  SQLite already runs one writer at a time (BEGIN IMMEDIATE).
    """
    held = [(_HOLD, {"name": f"{principal}\n{key}"})] if conn.dialect.name == "postgresql" else []
    return [*held, (_STORED, {"principal": principal, "key": key})]


def found(rows: list[list[RowMapping]]) -> RowMapping | None:
    """The stored answer from ``lookup``'s rows, if a request with that key succeeded."""
    return rows[-1][0] if rows[-1] else None


def stored(conn: Connection, principal: str, key: str) -> RowMapping | None:
    """The response remembered for (principal, key), if a request with that key succeeded."""
    return _STORED.first(conn, {"principal": principal, "key": key})


def remembering(*, principal: str, key: str, request_hash: str, status_code: int,
                response_body: str) -> tuple[Prepared, dict[str, Any]]:
    """The insert that stores a successful response under its key, for the write's commit to send first
    (``UnitOfWork.commit``); it raises IntegrityError if another request stored the key first."""
    return _REMEMBER, {"principal": principal, "key": key, "request_hash": request_hash,
                       "status_code": status_code, "response_body": response_body, "created_at": utcnow()}


def check_replay(row: RowMapping, key: str, request_hash: str) -> None:
    """Refuse a key reused for a different request (a replay must be the same request)."""
    if row["request_hash"] != request_hash:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was already used for a different request (another path or body); "
            "use a new key for a new request", idempotency_key=key,
        )
