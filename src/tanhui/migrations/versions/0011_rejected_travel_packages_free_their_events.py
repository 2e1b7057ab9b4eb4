"""A rejected travel package's events are free again: packaged_events rows may be deleted once its report is rejected

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 04:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# A package's events stay claimed while its monitoring report can still lead to credits; once the verifier
# rejects the report (final), they may be packaged again, as a rejected report's days may be reported again.
REJECTED = """EXISTS (SELECT 1 FROM travel_packages p JOIN submitted_reports r ON r.id = p.report_id
                      WHERE p.id = OLD.package_id AND r.status = 'rejected')"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER packaged_events_append_only ON packaged_events")
        op.execute(f"""
            CREATE FUNCTION tanhui_packaged_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' OR NOT {REJECTED} THEN
                    RAISE EXCEPTION 'tanhui: packaged event % is freed only when its package''s report is '
                                    'rejected, and never changed', OLD.event_id;
                END IF;
                RETURN OLD;
            END $$""")
        op.execute("CREATE TRIGGER packaged_events_guard BEFORE UPDATE OR DELETE ON packaged_events "
                   "FOR EACH ROW EXECUTE FUNCTION tanhui_packaged_events_guard()")
        return
    op.execute("DROP TRIGGER packaged_events_no_delete")
    op.execute(f"""
        CREATE TRIGGER packaged_events_freed BEFORE DELETE ON packaged_events WHEN NOT {REJECTED}
        BEGIN SELECT RAISE(ABORT, 'tanhui: a packaged event is freed only when its package''s report is rejected');
        END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER packaged_events_guard ON packaged_events")
        op.execute("DROP FUNCTION tanhui_packaged_events_guard()")
        op.execute("CREATE TRIGGER packaged_events_append_only BEFORE UPDATE OR DELETE ON packaged_events "
                   "FOR EACH ROW EXECUTE FUNCTION tanhui_refuse()")
        return
    op.execute("DROP TRIGGER packaged_events_freed")
    op.execute("""
        CREATE TRIGGER packaged_events_no_delete BEFORE DELETE ON packaged_events
        BEGIN SELECT RAISE(ABORT, 'tanhui: packaged_events rows are append-only'); END""")
