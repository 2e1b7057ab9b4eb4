"""Column types and clock shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Integer

# SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Units are integer kgCO2e; one act may move at most this many (1 Gt), far above any real issuance,
# and well inside 64-bit arithmetic however many acts are summed.
MAX_QUANTITY = 10**12


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond both databases keep."""
    return datetime.now(UTC)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK condition: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
