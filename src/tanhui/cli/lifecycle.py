"""`tanhui project pending`: the lifecycle steps waiting on the operator, a verifier or an owner, oldest due first."""

from __future__ import annotations

import typer

from tanhui.cli.context import print_json, registry, state, table
from tanhui.projects.reports import pending_steps


def pending(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
            overdue: bool = typer.Option(False, "--overdue", help="Only steps past their due time; exit 1 if any.")
            ) -> None:
    """Declarations to review or decide, reports to verify or sign off / 待办事项 (for a daily reminder job)."""
    with registry(ctx).connect() as conn:
        steps = [step for step in pending_steps(conn) if step["overdue"] or not overdue]
    if as_json:
        print_json(steps)
    else:
        rows = [(s["what"], s["name"], s["step"], s["due_at"].isoformat(timespec="minutes"),
                 "OVERDUE 逾期" if s["overdue"] else "") for s in steps]
        state(ctx).out.print(table("Pending / 待办", ["what", "name", "step", "due (UTC)", ""], rows))
    if overdue and steps:
        raise typer.Exit(1)
