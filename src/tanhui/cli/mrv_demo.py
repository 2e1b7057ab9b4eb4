"""`tanhui mrv demo-park`: write a synthetic PV park's sites and a month of readings with labelled faults."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from tanhui.cli.context import operator_work, state


def demo_park(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Directory to write sites.csv, readings.parquet, registers.parquet "
                                                 "and faults.csv into (created if missing)."),
    sites: int = typer.Option(1000, "--sites", min=1, max=1_000_000, help="Number of sites (meters)."),
    start: str = typer.Option("2024-06-01", "--start", help="First local day (YYYY-MM-DD)."),
    days: int = typer.Option(30, "--days", min=1, max=366, help="Number of local days."),
    owners: int = typer.Option(12, "--owners", min=1, max=1000, help="Number of site owners."),
    seed: int = typer.Option(2024, "--seed", help="Random seed: the same seed gives the same park."),
    faults: bool = typer.Option(True, "--faults/--no-faults", help="Inject labelled faults (listed in faults.csv)."),
    register_owners: bool = typer.Option(
        False, "--register-owners",
        help="Also onboard the owners in the registry database (as project owners, each with a holding account), "
             "so that `tanhui mrv sites import` and `mrv issue --to-owners` find them."),
) -> None:
    """Generate a demo park: realistic PV output from pvlib's clear sky, weather per cell, and known faults."""
    from rich.progress import Progress

    from tanhui.mrv.synthetic import ParkSpec, owner_name, write_park

    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise typer.BadParameter(f"{start!r} is not a date (YYYY-MM-DD)", param_hint="--start") from None
    cli = state(ctx)
    spec = ParkSpec(sites=sites, start=first, days=days, seed=seed, owners=owners, faults=faults)
    if register_owners:
        onboarded = _onboard(ctx, [owner_name(i + 1) for i in range(owners)])
        cli.out.print(f"{onboarded} owner organisations onboarded ({owners - onboarded} were already there)")
    with Progress(console=cli.err, transient=True) as progress:
        task = progress.add_task("生成读数 generating readings", total=sites)
        files = write_park(spec, out, progress=lambda done, _total: progress.update(task, completed=done))
    cli.out.print(f"{sites:,} sites, {files.readings_rows:,} interval readings and {files.register_rows:,} register "
                  f"reads over {days} days from {first} (Asia/Shanghai) → {out}")
    for path in (files.sites, files.readings, files.registers, files.faults):
        cli.out.print(f"  {path}")


def _onboard(ctx: typer.Context, names: list[str]) -> int:
    """Onboard the owners that are not in the registry yet, in one transaction; how many were new."""
    from sqlalchemy import select

    from tanhui.identity import services as identity
    from tanhui.identity.tables import organizations
    from tanhui.registry import ledger

    with operator_work(ctx) as (tx, operator):
        known = set(tx.conn.execute(select(organizations.c.name).where(organizations.c.name.in_(names))).scalars())
        new = [name for name in names if name not in known]
        for name in new:
            organization = identity.create_organization(tx, operator, name=name, kind="project_owner")
            ledger.open_account(tx, operator, organization_id=organization["id"], kind="holding",
                                name="光伏持有账户 PV holding")
        tx.commit()
    return len(new)
