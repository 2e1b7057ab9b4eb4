"""What every command shares: the settings, the registry database, the operator's unit of work and output."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tanhui.config import Settings

# The database layers (SQLAlchemy, Alembic, the registry's tables) load with the first command that uses the
# registry, so that commands working on files alone, such as `tanhui mrv verify`, start without them.
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tanhui.identity.principal import Principal
    from tanhui.unit_of_work import UnitOfWork

# Piped output (grep, files, tests) is not wrapped at 80 columns, so serials stay on one line.
_PIPE_WIDTH = 200


@dataclass
class CliState:
    """Per-invocation state kept on the root context: settings, a lazily made engine, the consoles."""

    settings: Settings
    out: Console = field(default_factory=lambda: Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH))
    err: Console = field(
        default_factory=lambda: Console(stderr=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH)
    )
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from tanhui.db import create_engine

            # One command uses one or two connections at a time; a small pool keeps PostgreSQL's free.
            self._engine = create_engine(self.settings.database_url,
                                         busy_timeout_ms=self.settings.sqlite_busy_timeout_ms, pool_size=2)
        return self._engine

    @property
    def database(self) -> str:
        """The database URL as it may be shown (password hidden)."""
        from sqlalchemy.engine import make_url

        return make_url(self.settings.database_url).render_as_string(hide_password=True)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def state(ctx: typer.Context) -> CliState:
    """The invocation's state, from any command's context."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState), "the root callback sets the state"
    return obj


def complain(ctx: typer.Context, message: str) -> None:
    """Print one clear error line on stderr."""
    state(ctx).err.print(f"[bold red]错误 error:[/] {escape(message)}", soft_wrap=True)


def fail(ctx: typer.Context, message: str, *, code: int = 1) -> NoReturn:
    """Print one clear error line and exit (1: refused or failed; 2: the command line is wrong)."""
    complain(ctx, message)
    raise typer.Exit(code)


def sqlite_file(settings: Settings) -> Path | None:
    """The embedded database's file, or None for PostgreSQL and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def registry(ctx: typer.Context, *, create: bool = False) -> Engine:
    """The registry's engine, its schema checked at head.

    With ``create`` (commands that make a registry: serve, bootstrap, demo) an embedded SQLite database is
    created or migrated on the spot; PostgreSQL is never migrated implicitly, so an operator decides when.
    """
    from tanhui.db import is_sqlite
    from tanhui.migrate import current_revision, head_revision, is_current, upgrade

    cli = state(ctx)
    path = sqlite_file(cli.settings)
    if not create and path is not None and not path.exists():
        fail(ctx, f"there is no registry database at {path}: create one with `tanhui db upgrade`, "
                  "`tanhui bootstrap` or `tanhui demo` (or set TANHUI_DATABASE_URL / --database-url)")
    engine = cli.engine
    if create and is_sqlite(engine):
        upgrade(engine)
    elif not is_current(engine):
        fail(ctx, f"the database {cli.database} is at schema revision {current_revision(engine) or 'none'}, "
                  f"not {head_revision(engine)}: run `tanhui db upgrade` first")
    return engine


def registry_is_empty(engine: Engine) -> bool:
    """True when no organisation exists yet (a fresh registry awaiting bootstrap or the demo)."""
    from sqlalchemy import func, select

    from tanhui.identity.tables import organizations

    with engine.connect() as conn:
        return not conn.execute(select(func.count()).select_from(organizations)).scalar_one()


def cli_actor() -> str:
    """The journal's name for the local operator: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli:unknown"


@contextmanager
def operator_work(ctx: typer.Context) -> Iterator[tuple[UnitOfWork, Principal]]:
    """A unit of work acting as the registry operator from this machine; the caller commits."""
    from tanhui.identity.services import operator_principal
    from tanhui.unit_of_work import UnitOfWork

    actor = cli_actor()
    with UnitOfWork(registry(ctx), actor) as tx:
        yield tx, operator_principal(tx.conn, actor)


def cell(value: Any, *, units: bool = False) -> Text:
    """A table cell showing ``value`` literally (no rich markup); quantities get thousands separators."""
    if value is None:
        return Text("—", style="dim")
    if units and isinstance(value, int):
        return Text(f"{value:,}")
    return Text(str(value))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table; columns of quantities (named '… kgCO2e') and counts ('# …') are right-aligned."""
    result = Table(title=title, title_justify="left")
    numeric = ["kgCO2e" in name or name.startswith("#") for name in columns]
    for name, right in zip(columns, numeric, strict=True):
        result.add_column(name, justify="right" if right else "left", overflow="fold")
    for row in rows:
        result.add_row(*(cell(v, units=right) for v, right in zip(row, numeric, strict=True)))
    return result


def print_json(value: Any) -> None:
    """Plain JSON on stdout, for scripts."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))
