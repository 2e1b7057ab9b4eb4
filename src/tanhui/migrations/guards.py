"""Row guards the migrations give their tables: facts that are append-only, and rows that are never deleted.

PostgreSQL's triggers call ``tanhui_refuse()``, which revision 0001 creates; SQLite's raise in place.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op


def row_guards(*, append_only: Iterable[str] = (), no_delete: Iterable[str] = ()) -> None:
    """Refuse UPDATE and DELETE on ``append_only`` tables, and DELETE on ``no_delete`` ones."""
    if op.get_bind().dialect.name == "postgresql":
        for table in append_only:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION tanhui_refuse()")
        for table in no_delete:
            op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION tanhui_refuse()")
        return
    for table in append_only:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
                BEGIN SELECT RAISE(ABORT, 'tanhui: {table} rows are append-only'); END""")
    for table in no_delete:
        op.execute(f"""
            CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'tanhui: {table} rows are never deleted'); END""")
