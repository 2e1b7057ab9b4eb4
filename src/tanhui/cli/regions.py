"""`tanhui region` and `tanhui compliance`: regions with their offsetting rules, and the regulator's export."""

from __future__ import annotations

from pathlib import Path

import typer

from tanhui.cli.context import print_json, registry, state, table
from tanhui.regions import compliance as compliance_records
from tanhui.regions.catalogue import region as find_region
from tanhui.regions.catalogue import regions

region = typer.Typer(no_args_is_help=True, help="Regions / 区域: list, show (rules for compliance offsetting).")
compliance = typer.Typer(no_args_is_help=True, help="Compliance / 履约: export a region's surrenders.")


@region.command("list")
def region_list(ctx: typer.Context) -> None:
    """Every region and whether it has offsetting rules / 区域清单."""
    rows = []
    for known in regions().values():
        latest = known.rules[-1] if known.rules else None
        rows.append((known.code, f"{known.name_zh} {known.name_en}", known.parent or "",
                     f"{latest.cap_share.value} [{latest.cap_share.tag}] from {latest.from_year}" if latest else
                     "not set / 未设置", latest.outside_credits if latest else ""))
    state(ctx).out.print(table("Regions / 区域", ["code", "name", "parent", "cap share", "outside credits"], rows))


@region.command("show")
def region_show(code: str = typer.Argument(..., metavar="CODE")) -> None:
    """One region with every rule, figure, tag and source, as JSON / 区域规则."""
    print_json(find_region(code).describe())


@compliance.command("export")
def compliance_export(
    ctx: typer.Context,
    region_code: str = typer.Option(..., "--region", metavar="CODE", help="Region, e.g. WUJIANG."),
    year: int = typer.Option(..., "--year", min=2000, max=2100, help="Compliance year."),
    out: Path | None = typer.Option(None, "--out", metavar="FILE", help="Write the CSV here, not to stdout."),
) -> None:
    """Every surrender of a region's compliance year with its serials, for the regulator / 履约注销记录导出."""
    with registry(ctx).connect() as conn:
        text = compliance_records.export_csv(conn, region=region_code, compliance_year=year)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
