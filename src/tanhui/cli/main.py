"""The `tanhui` console script: the Typer app, its global options, and how errors reach the operator."""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from tanhui.cli.context import CliState, fail, state
from tanhui.config import Settings
from tanhui.errors import TanhuiError

# Each command or group of the root: the module of tanhui.cli that defines it and its name there.  A module is
# imported only when its command runs (or help lists it), so that a command loads only what it uses: `tanhui mrv
# verify` starts without the registry's database layers, reportlab or the carbon-account importers.
_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server", "serve"), "bootstrap": ("server", "bootstrap"), "demo": ("server", "demo"),
    "issue": ("registry", "issue"), "cancel": ("registry", "cancel"), "revoke": ("registry", "revoke"),
    # The groups, listed by help after the commands.
    "db": ("server", "db"), "serial": ("serial", "serial"), "audit": ("audit", "audit"), "mrv": ("mrv", "mrv"),
    "methodology": ("methodology", "methodology"), "region": ("regions", "region"),
    "compliance": ("regions", "compliance"), "points": ("points", "points"), "accounts": ("accounts", "accounts"),
    "report": ("finance", "report"), "consent": ("finance", "consent"), "loan": ("finance", "loan"),
    "org": ("registry", "org"), "user": ("registry", "user"), "account": ("registry", "account"),
    "project": ("registry", "project"),
}
# The project group's commands of the declaration and monitoring-report lifecycle (tanhui.cli.lifecycle).
_PROJECT_LIFECYCLE = {"pending": "pending", "remind": "remind", "announce": "announce",
                      "return": "return_declaration", "approve": "approve", "reject": "reject",
                      "submit-report": "submit_report", "sign-off": "sign_off"}


@cache
def _command(name: str) -> Any:
    """The root's command ``name`` as Click runs it, its module imported now."""
    module, attribute = _COMMANDS[name]
    found = getattr(importlib.import_module(f"tanhui.cli.{module}"), attribute)
    if name == "project":
        lifecycle = importlib.import_module("tanhui.cli.lifecycle")
        for command, function in _PROJECT_LIFECYCLE.items():
            found.command(command)(getattr(lifecycle, function))
    holder = typer.Typer()
    if isinstance(found, typer.Typer):
        holder.add_typer(found, name=name)
    else:
        holder.command(name)(found)
    return typer.main.get_group(holder).commands[name]


def _is_operational_error(exc: Exception) -> bool:
    """Whether ``exc`` is SQLAlchemy's OperationalError (SQLAlchemy is loaded only by commands that use it)."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.OperationalError)


class _RegistryGroup(TyperGroup):
    """The root command: an error the user can act on becomes one line and exit 1, never a traceback."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return [*super().list_commands(ctx), *_COMMANDS]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        return _command(cmd_name) if cmd_name in _COMMANDS else super().get_command(ctx, cmd_name)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TanhuiError as exc:
            fail(ctx, exc.detail)
        except Exception as exc:
            if not _is_operational_error(exc):  # unreachable server, locked or unwritable file, missing tables
                raise
            reason = " ".join(str(getattr(exc, "orig", exc)).split())
            fail(ctx, f"the database {state(ctx).database} cannot be used: {reason}")


app = typer.Typer(
    name="tanhui", cls=_RegistryGroup, no_args_is_help=True, pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    database_url: str | None = typer.Option(
        None, "--database-url", show_default=False, metavar="URL",
        help="SQLAlchemy URL of the registry database; overrides TANHUI_DATABASE_URL (default: sqlite:///tanhui.db).",
    ),
) -> None:
    """Tanhui (碳惠) carbon-credit registry: serve the API, migrate, and act as the operator."""
    try:
        settings = Settings() if database_url is None else Settings(database_url=database_url)
    except ValidationError as exc:
        problems = "; ".join(f"TANHUI_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                             for e in exc.errors())
        raise typer.BadParameter(f"invalid settings: {problems}") from exc
    ctx.obj = CliState(settings)
    ctx.call_on_close(ctx.obj.close)
