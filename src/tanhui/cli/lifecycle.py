"""`tanhui project pending|remind|announce|return|approve|reject|submit-report|sign-off`: the operator's steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tanhui.cli.context import operator_work, print_json, registry, state, table
from tanhui.projects import declarations as declaring
from tanhui.projects import reports
from tanhui.registry.queries import utc


def pending(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
            overdue: bool = typer.Option(False, "--overdue", help="Only steps past their due time; exit 1 if any.")
            ) -> None:
    """Declarations to review or decide, reports to verify or sign off / 待办事项 (for a daily reminder job)."""
    with registry(ctx).connect() as conn:
        steps = [step for step in reports.pending_steps(conn) if step["overdue"] or not overdue]
    if as_json:
        print_json(steps)
    else:
        rows = [(s["what"], s["name"], s["step"], s["due_at"].isoformat(timespec="minutes"),
                 "OVERDUE 逾期" if s["overdue"] else "") for s in steps]
        state(ctx).out.print(table("Pending / 待办", ["what", "name", "step", "due (UTC)", ""], rows))
    if overdue and steps:
        raise typer.Exit(1)


def remind(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Send the reminders now due (two days before a step is due, then once overdue), each once / 发送待办提醒.

    Run it from a scheduled job (cron, systemd timer) as often as you like; each organisation reads its
    reminders at GET /api/v1/reminders."""
    from tanhui.projects import reminders

    with operator_work(ctx) as (tx, operator):
        sent = [dict(row) for row in reminders.send(tx, operator)]
        tx.commit()
    if as_json:
        print_json(sent)
        return
    rows = [(r["organization_id"], r["what"], r["name"], r["step"], r["kind"],
             utc(r["due_at"]).isoformat(timespec="minutes")) for r in sent]
    state(ctx).out.print(table(f"Reminders sent / 已发送提醒 ({len(sent)})",
                               ["organisation", "what", "name", "step", "kind", "due (UTC)"], rows))


def _decided(ctx: typer.Context, act: Any, declaration_id: int, **arguments: Any) -> None:
    with operator_work(ctx) as (tx, operator):
        row = act(tx, operator, declaration_id, **arguments)
        tx.commit()
    state(ctx).out.print(f"declaration {row['id']} is now {row['status']}"
                         + (f"; project {row['project_id']} is registered" if row["project_id"] else ""))


def announce(ctx: typer.Context, declaration_id: int = typer.Argument(..., metavar="DECLARATION"),
             days: int = typer.Option(..., "--days", help="Length of the public announcement (1-90 days).")) -> None:
    """The completeness review passes: announce the declaration to the public / 公示."""
    _decided(ctx, declaring.announce, declaration_id, days=days)


def return_declaration(ctx: typer.Context, declaration_id: int = typer.Argument(..., metavar="DECLARATION"),
                       reason: str = typer.Option(..., "--reason", help="What the owner must complete.")) -> None:
    """Return a submitted declaration to its owner with the reasons / 退回补正."""
    _decided(ctx, declaring.return_for_changes, declaration_id, reason=reason)


def approve(ctx: typer.Context, declaration_id: int = typer.Argument(..., metavar="DECLARATION"),
            reason: str | None = typer.Option(None, "--reason", help="A note for the record.")) -> None:
    """After the announcement: approve and register the project / 批准登记."""
    _decided(ctx, declaring.approve, declaration_id, reason=reason)


def reject(ctx: typer.Context, declaration_id: int = typer.Argument(..., metavar="DECLARATION"),
           reason: str = typer.Option(..., "--reason", help="Why, for the owner and the record.")) -> None:
    """Refuse a submitted or announced declaration, for good / 不予登记."""
    _decided(ctx, declaring.reject, declaration_id, reason=reason)


def sign_off(ctx: typer.Context, report_id: int = typer.Argument(..., metavar="REPORT"),
             account: int = typer.Option(..., "--account", help="The project owner's holding account."),
             buffer_account: int | None = typer.Option(None, "--buffer-account",
                                                       help="The registry's buffer account, for a buffer share."),
             vintage: int | None = typer.Option(None, "--vintage", help="Default: the period's last year."),
             to_owners: bool = typer.Option(False, "--to-owners", help="An MRV report: pass each site owner's "
                                            "units on to that owner's oldest holding account.")) -> None:
    """Issue a verified monitoring report's reductions / 签发核证减排量."""
    settings = state(ctx).settings
    with (state(ctx).err.status("issuing / 签发中…"), operator_work(ctx) as (tx, operator)):
        row = reports.issue(tx, operator, report_id, registry=settings.registry_code,
                            credit_type=settings.default_credit_type, account_id=account,
                            buffer_account_id=buffer_account, vintage=vintage, data_dir=settings.data_dir,
                            to_owners=to_owners)
        tx.commit()
    state(ctx).out.print(f"monitoring report {row['id']} issued: {row['issuable_kg']:,} kgCO2e to account {account}"
                         + (f", {row['buffer_kg']:,} to the buffer" if row["buffer_kg"] else ""))


def submit_report(ctx: typer.Context,
                  report: Path = typer.Argument(..., metavar="DIR", help="The directory `tanhui mrv verify --out` "
                                                "wrote."),
                  project_id: int = typer.Option(..., "--project", help="The registered project (PV-DIST)."),
                  verifier: int = typer.Option(..., "--verifier", help="The verifier organisation's id.")) -> None:
    """Submit an MRV verify output as a monitoring report on the project owner's behalf / 代业主提交监测报告待核证.

    The journal records the operator as the actor; the owner submits over the API itself
    (POST /api/v1/projects/{id}/reports/mrv)."""
    from tanhui.mrv.registry import StagedReport
    from tanhui.projects.mrv_reports import reports_root

    cli = state(ctx)
    registry(ctx)  # refuse a missing or outdated database before copying the report
    with (cli.err.status("checking the report / 核对监测报告…"),
          StagedReport(report, reports_root(cli.settings.data_dir)) as staged,
          operator_work(ctx) as (tx, operator)):
        row = reports.submit_mrv_report(tx, reports.for_owner(tx.conn, operator, project_id), staged,
                                        project_id=project_id, verifier_organization_id=verifier)
        tx.commit()
    cli.out.print(f"monitoring report {row['id']} submitted for verification by organisation {verifier}: "
                  f"{row['period_start']}..{row['period_end']}, {row['data_rows']:,} sites, {row['net_kg']:,} kgCO2e")
