"""Registry tables: accounts, projects, issuances, blocks, acts and their movements.

The constraints here are the database half of the ledger's invariants (see ``invariants.py``):

1. ``ck_blocks_quantity``: quantity = last - first + 1 and first <= last.
2. No overlap of blocks of one issuance: an exclusion constraint on PostgreSQL, a trigger on SQLite
   (both created in the migration, as they are dialect-specific).
3. Blocks tile their issuance exactly: every block lies in 1..issued quantity (``ck_blocks_bounds`` and a
   foreign key from (issuance_id, issued_last) to the issuance's (id, quantity)), and its neighbours exist:
   (issuance_id, predecessor_last) and (issuance_id, successor_first) are foreign keys into the blocks
   themselves, checked at commit.  With no overlap, a gap anywhere breaks one of them; a block may be deleted
   only when it is available (it merged into its neighbour) and never as its issuance's last (triggers).
4./6. Triggers refuse any change to a retired, cancelled or revoked block, and moving a pledged one.
5. ``ck_accounts_available`` / ``ck_accounts_pledged``: balances never go below zero.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tanhui.db import metadata
from tanhui.registry.blocks import State
from tanhui.types import Id, one_of

ACCOUNT_KINDS = ("holding", "retirement", "compliance", "buffer", "escrow")
PROJECT_STATUSES = ("registered", "suspended", "closed")
ACT_KINDS = ("issuance", "transfer", "retirement", "cancellation", "pledge", "release", "revocation")
CANCELLATION_PURPOSES = ("compliance", "regulatory")



accounts = Table(
    "accounts", metadata,
    Column("id", Id, primary_key=True),
    Column("organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("pledged", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organization_id", "name"),
    CheckConstraint(one_of("kind", ACCOUNT_KINDS), name="kind"),
    CheckConstraint("available >= 0", name="available"),
    CheckConstraint("pledged >= 0", name="pledged"),
)

projects = Table(
    "projects", metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("methodology", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("status", PROJECT_STATUSES), name="status"),
)

acts = Table(
    "acts", metadata,
    Column("id", Id, primary_key=True),
    Column("kind", String(20), nullable=False),
    # Not indexed: nothing looks acts up by account (statements read movements, which are), and accounts
    # are never deleted, so the keys need no index either; each index would be one more page every act writes.
    Column("account_id", Id, ForeignKey("accounts.id")),
    Column("to_account_id", Id, ForeignKey("accounts.id")),
    Column("quantity", BigInteger, nullable=False),
    Column("reason", Text),
    Column("actor", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(one_of("kind", ACT_KINDS), name="kind"),
    CheckConstraint("quantity > 0", name="quantity"),
)

issuances = Table(
    "issuances", metadata,
    Column("id", Id, primary_key=True),
    Column("act_id", Id, ForeignKey("acts.id"), nullable=False, unique=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False, index=True),
    Column("registry", String(8), nullable=False),
    Column("region", String(12), nullable=False),
    Column("credit_type", String(10), nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("id", "quantity"),  # target of blocks' (issuance_id, issued_last) key
    CheckConstraint("quantity > 0", name="quantity"),
    CheckConstraint("period_start <= period_end", name="period"),
)

pledges = Table(
    "pledges", metadata,
    Column("id", Id, primary_key=True),
    Column("act_id", Id, ForeignKey("acts.id"), nullable=False, unique=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("bank_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("release_act_id", Id, ForeignKey("acts.id"), unique=True),
    Column("note", Text),
    CheckConstraint("status IN ('active', 'released')", name="status"),
    CheckConstraint("(status = 'active') = (release_act_id IS NULL)", name="release"),
)

blocks = Table(
    "blocks", metadata,
    Column("id", Id, primary_key=True),
    Column("issuance_id", Id, nullable=False),
    Column("first", BigInteger, nullable=False),
    Column("last", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("issued_last", BigInteger, nullable=False),
    Column("predecessor_last", BigInteger),
    Column("successor_first", BigInteger),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("state", String(10), nullable=False),
    Column("pledge_id", Id, ForeignKey("pledges.id")),
    UniqueConstraint("issuance_id", "first"),
    UniqueConstraint("issuance_id", "last"),
    ForeignKeyConstraint(["issuance_id", "issued_last"], ["issuances.id", "issuances.quantity"],
                         name="fk_blocks_issuance"),
    ForeignKeyConstraint(["issuance_id", "predecessor_last"], ["blocks.issuance_id", "blocks.last"],
                         name="fk_blocks_predecessor", deferrable=True, initially="DEFERRED"),
    ForeignKeyConstraint(["issuance_id", "successor_first"], ["blocks.issuance_id", "blocks.first"],
                         name="fk_blocks_successor", deferrable=True, initially="DEFERRED"),
    CheckConstraint("first <= last AND quantity = last - first + 1", name="quantity"),
    CheckConstraint("first >= 1 AND last <= issued_last", name="bounds"),
    CheckConstraint(
        # IS NOT NULL: a CHECK passes when it is NULL, so without it a NULL key would pass as a neighbour.
        "(first = 1 AND predecessor_last IS NULL) OR "
        "(first > 1 AND predecessor_last IS NOT NULL AND predecessor_last = first - 1)",
        name="predecessor",
    ),
    CheckConstraint(
        "(last = issued_last AND successor_first IS NULL) OR "
        "(last < issued_last AND successor_first IS NOT NULL AND successor_first = last + 1)",
        name="successor",
    ),
    CheckConstraint(one_of("state", State.ALL), name="state"),
    CheckConstraint("(state = 'pledged') = (pledge_id IS NOT NULL)", name="pledge"),
    Index("ix_blocks_holdings", "account_id", "state", "issuance_id", "first"),
)

movements = Table(
    "movements", metadata,
    Column("id", Id, primary_key=True),
    Column("act_id", Id, ForeignKey("acts.id"), nullable=False, index=True),
    Column("issuance_id", Id, ForeignKey("issuances.id"), nullable=False),
    Column("first", BigInteger, nullable=False),
    Column("last", BigInteger, nullable=False),
    Column("from_account_id", Id, ForeignKey("accounts.id")),
    Column("to_account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("from_state", String(10)),
    Column("to_state", String(10), nullable=False),
    CheckConstraint("first <= last", name="range"),
    Index("ix_movements_serials", "issuance_id", "first"),
    Index("ix_movements_from", "from_account_id", "id"),
    Index("ix_movements_to", "to_account_id", "id"),
)

retirements = Table(
    "retirements", metadata,
    Column("act_id", Id, ForeignKey("acts.id"), primary_key=True),
    Column("beneficiary", String(200), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("note", Text),
)

cancellations = Table(
    "cancellations", metadata,
    Column("act_id", Id, ForeignKey("acts.id"), primary_key=True),
    Column("purpose", String(20), nullable=False),
    Column("compliance_year", Integer),
    CheckConstraint(one_of("purpose", CANCELLATION_PURPOSES), name="purpose"),
)
