"""The write path: acts lose two indexes nothing reads; PostgreSQL appends journal entries where it takes the head

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No query looks acts up by account (statements read movements), and accounts are never deleted: the
    # indexes only cost every act two more pages to write.
    op.drop_index("ix_acts_to_account_id", table_name="acts")
    op.drop_index("ix_acts_account_id", table_name="acts")
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite writers hold the database's write lock and chain entries in Python
    # The entry's hash is SHA-256 of its canonical JSON (tanhui.journal.chain.entry_hash); the writer sends
    # that JSON around the time and the link (entry_parts), which only the head's holder knows.  The time
    # is taken under the head's lock, so entries' times follow their order, and spelled as canonical_value
    # spells it (UTC, microseconds, "Z").
    op.execute("""
        CREATE FUNCTION tanhui_journal_append(p_kind text, p_actor text, p_payload text,
                                              p_before_at bytea, p_after_at bytea) RETURNS bigint
        LANGUAGE plpgsql AS $$
        DECLARE
            v_seq bigint;
            v_prev text;
            v_at timestamptz;
            v_hash text;
        BEGIN
            SELECT seq + 1, hash INTO v_seq, v_prev FROM journal_head WHERE id = 1 FOR UPDATE;
            v_at := clock_timestamp();
            v_hash := encode(sha256(
                p_before_at
                || convert_to(to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8')
                || p_after_at
                || convert_to(v_prev || '","seq":' || v_seq || '}', 'UTF8')), 'hex');
            INSERT INTO journal_entries (seq, at, kind, actor, payload, prev_hash, hash)
            VALUES (v_seq, v_at, p_kind, p_actor, p_payload, v_prev, v_hash);
            UPDATE journal_head SET seq = v_seq, hash = v_hash WHERE id = 1;
            RETURN v_seq;
        END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION tanhui_journal_append(text, text, text, bytea, bytea)")
    op.create_index("ix_acts_account_id", "acts", ["account_id"], unique=False)
    op.create_index("ix_acts_to_account_id", "acts", ["to_account_id"], unique=False)
