"""`tanhui accounts`: import carbon-account data, show a holder's accounting, evaluate it, benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer

from tanhui.accounts import importing, meter_feed, register
from tanhui.accounts.benchmarks import listed, parse_file, save
from tanhui.accounts.evaluation import show as shown
from tanhui.accounts.periods import Period
from tanhui.accounts.profiles import compute_benchmarks, credit_profile, profile_json, statement
from tanhui.cli.context import fail, operator_work, print_json, registry, state, table
from tanhui.errors import BadInput

accounts = typer.Typer(no_args_is_help=True, help="Carbon accounts / 碳账户: import, show, evaluate, benchmarks.")
benchmarks = typer.Typer(no_args_is_help=True, help="Industry benchmarks / 行业基准: compute, load, list.")
accounts.add_typer(benchmarks, name="benchmarks")

REFERENCE = typer.Argument(..., metavar="REFERENCE", help="The holder's reference, as imported.")
PERIOD = typer.Option(..., "--period", metavar="PERIOD", help="2025, 2025-03 or 2025-01..2025-06.")


def _holder_id(ctx: typer.Context, reference: str) -> int:
    with registry(ctx).connect() as conn:
        found = register.holder_by_reference(conn, reference)
    if found is None:
        fail(ctx, f"no carbon account holder with reference {reference!r}")
    return int(found["id"])


@accounts.command("import")
def import_file(
    ctx: typer.Context,
    kind: str = typer.Argument(..., metavar="KIND", help="holders, economics or records."),
    file: Path = typer.Argument(..., metavar="FILE", exists=True, dir_okay=False, help="A CSV or XLSX file."),
) -> None:
    """Import a CSV or XLSX file: every row, or none with each bad row named / 批量导入."""
    with operator_work(ctx) as (tx, operator):
        done = importing.import_file(tx, operator, kind, file.read_bytes(), file.name)
        tx.commit()
    state(ctx).out.print(f"imported {done.rows} {kind} rows / 已导入 {done.rows} 行")


@accounts.command("link-meter")
def link_meter(ctx: typer.Context, reference: str = REFERENCE,
               meter_id: str = typer.Argument(..., metavar="METER")) -> None:
    """Let a meter's accepted energy feed the holder's electricity / 关联电表."""
    holder_id = _holder_id(ctx, reference)
    with operator_work(ctx) as (tx, operator):
        register.link_meter(tx, operator, holder_id=holder_id, meter_id=meter_id)
        tx.commit()
    state(ctx).out.print(f"meter {meter_id} feeds {reference}")


@accounts.command("link-organization")
def link_organization(ctx: typer.Context, reference: str = REFERENCE,
                      organization_id: int = typer.Argument(..., metavar="ORGANIZATION_ID", min=1)) -> None:
    """Name the registry organisation whose users act for the holder / 关联登记机构."""
    holder_id = _holder_id(ctx, reference)
    with operator_work(ctx) as (tx, operator):
        register.link_organization(tx, operator, holder_id, organization_id)
        tx.commit()
    state(ctx).out.print(f"organisation {organization_id} acts for {reference}")


@accounts.command("feed")
def feed(ctx: typer.Context, output: Path = typer.Argument(..., metavar="DIR", exists=True,
                                                           help="A `tanhui mrv verify` output directory.")) -> None:
    """Record linked meters' accepted energy per month as electricity / 从核证数据汇总月度电量."""
    with operator_work(ctx) as (tx, operator):
        ids = meter_feed.feed(tx, operator, output)
        tx.commit()
    state(ctx).out.print(f"recorded {len(ids)} monthly electricity records / 已记录 {len(ids)} 条")


@accounts.command("show")
def show(ctx: typer.Context, reference: str = REFERENCE, period: str = PERIOD,
         as_json: bool = typer.Option(False, "--json", help="Every line as JSON.")) -> None:
    """A holder's emissions with every record, factor and source / 碳排放核算明细."""
    holder_id = _holder_id(ctx, reference)
    with registry(ctx).connect() as conn:
        done = statement(conn, holder_id, Period.parse(period)).accounting
    if as_json:
        print_json({"emissions_kg": done.emissions_kg, "by_scope_kg": done.by_scope_kg,
                    "green_electricity_deducted_kg": done.green_deducted_kg,
                    "retired_offsets_kg": done.retired_offsets_kg, "lines": done.breakdown()})
        return
    rows = [(line["record_id"], line["energy_type"], f"{line['quantity']} {line['unit']}", line["period_start"],
             line["source"], line["scope"], line["factor"], line["kg"]) for line in done.breakdown()]
    out = state(ctx).out
    out.print(table(f"{reference} {period}", ["record", "energy", "quantity", "from", "source", "scope", "factor",
                                              "kgCO2e"], rows))
    out.print(f"scope 1 {done.scope1_kg} kg · scope 2 {done.scope2_kg} kg (green electricity deducted "
              f"{done.green_deducted_kg} kg) · total {done.emissions_kg} kgCO2e · retired offsets, not netted: "
              f"{done.retired_offsets_kg} kg")


@accounts.command("evaluate")
def evaluate(ctx: typer.Context, reference: str = REFERENCE, period: str = PERIOD,
             as_json: bool = typer.Option(False, "--json", help="The whole credit profile as JSON.")) -> None:
    """Label, carbon-efficiency grade and credit rating with their reasons / 评价与贴标."""
    holder_id = _holder_id(ctx, reference)
    with registry(ctx).connect() as conn:
        profile = credit_profile(conn, holder_id, Period.parse(period))
    if as_json:
        print_json(profile_json(profile))
        return
    out = state(ctx).out
    out.print(f"{profile.name} {period}: {profile.emissions_kg} kgCO2e; intensity "
              f"{shown(profile.intensity_per_value_added) if profile.intensity_per_value_added is not None else '-'}"
              f" t/10k yuan; benchmark {profile.benchmark_source or 'none'}")
    for evaluation in (profile.label, profile.carbon_efficiency, profile.credit_rating):
        if evaluation is None:
            continue
        out.print(f"{evaluation.scheme}: {evaluation.outcome}")
        for reason in evaluation.reasons:
            out.print(f"  {reason}")
    if profile.label is None:
        out.print("not evaluated: the period needs value added and the year's industry benchmark / 未评价")


@benchmarks.command("compute")
def benchmarks_compute(ctx: typer.Context, year: int = typer.Option(..., "--year", min=2000, max=2100)) -> None:
    """Compute a year's benchmarks from the platform's holders / 由平台数据计算行业基准."""
    with operator_work(ctx) as (tx, operator):
        made = compute_benchmarks(tx, operator, year)
        tx.commit()
    state(ctx).out.print(f"{len(made)} benchmarks for {year}")


@benchmarks.command("load")
def benchmarks_load(ctx: typer.Context, file: Path = typer.Argument(..., metavar="FILE", exists=True)) -> None:
    """Load benchmarks a bureau publishes (CSV); all rows or none / 导入行业基准."""
    try:
        found = parse_file(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BadInput(f"{file} is not UTF-8 text") from None
    with operator_work(ctx) as (tx, operator):
        save(tx, operator, found, "loaded")
        tx.commit()
    state(ctx).out.print(f"loaded {len(found)} benchmarks")


@benchmarks.command("list")
def benchmarks_list(ctx: typer.Context, year: int | None = typer.Option(None, "--year", min=2000, max=2100)) -> None:
    """Benchmarks by year, region and industry (tCO2e per 10k yuan value added) / 行业基准."""
    with registry(ctx).connect() as conn:
        found = listed(conn, year)
    rows = [(b.year, b.region, b.industry, b.holders, shown(b.p25), shown(b.median), shown(b.p75), shown(b.average),
             b.source) for b in found]
    state(ctx).out.print(table("Benchmarks / 行业基准", ["year", "region", "industry", "# holders", "p25", "median",
                                                        "p75", "average", "source"], rows))
