"""The `tanhui` console script: the Typer app, its global options, and how errors reach the operator."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from typer.core import TyperGroup

from tanhui.cli import accounts, audit, finance, lifecycle, methodology, mrv, points, regions, registry, serial, server
from tanhui.cli.context import CliState, fail, state
from tanhui.config import Settings
from tanhui.errors import TanhuiError


class _RegistryGroup(TyperGroup):
    """The root command: an error the user can act on becomes one line and exit 1, never a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TanhuiError as exc:
            fail(ctx, exc.detail)
        except OperationalError as exc:  # unreachable server, locked or unwritable file, missing tables
            reason = " ".join(str(exc.orig).split())
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


app.command("serve")(server.serve)
app.add_typer(server.db, name="db")
app.command("bootstrap")(server.bootstrap)
app.command("demo")(server.demo)
app.add_typer(serial.serial, name="serial")
app.add_typer(audit.audit, name="audit")
app.add_typer(mrv.mrv, name="mrv")
app.add_typer(methodology.methodology, name="methodology")
app.add_typer(regions.region, name="region")
app.add_typer(regions.compliance, name="compliance")
app.add_typer(points.points, name="points")
app.add_typer(accounts.accounts, name="accounts")
app.add_typer(finance.report, name="report")
app.add_typer(finance.consent, name="consent")
app.add_typer(finance.loan, name="loan")
app.add_typer(registry.org, name="org")
app.add_typer(registry.user, name="user")
app.add_typer(registry.account, name="account")
registry.project.command("pending")(lifecycle.pending)
registry.project.command("remind")(lifecycle.remind)
registry.project.command("announce")(lifecycle.announce)
registry.project.command("return")(lifecycle.return_declaration)
registry.project.command("approve")(lifecycle.approve)
registry.project.command("reject")(lifecycle.reject)
registry.project.command("submit-report")(lifecycle.submit_report)
registry.project.command("sign-off")(lifecycle.sign_off)
app.add_typer(registry.project, name="project")
app.command("issue")(registry.issue)
app.command("cancel")(registry.cancel)
app.command("revoke")(registry.revoke)
