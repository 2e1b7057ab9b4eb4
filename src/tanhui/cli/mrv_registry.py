"""`tanhui mrv sites|claims|issue|provenance`: the registry side of MRV, acting locally as the operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from tanhui.cli.context import cli_actor, operator_work, print_json, registry, state, table

sites = typer.Typer(no_args_is_help=True, help="Registered meters / 登记电表: import, list.")
claims = typer.Typer(no_args_is_help=True,
                     help="Energy claims / 电量权属声明: declare (green certificates, other registries), list.")
_PAGE = 500


@sites.command("import")
def sites_import(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="SITES.csv", help="A site file: meter_id,site_id,owner,capacity_kw,"
                                "latitude,longitude,region,commissioned [,tilt,azimuth,grid_point]."),
    update: bool = typer.Option(False, "--update", help="Change registered meters whose attributes differ "
                                "(without it, such a file is refused naming each difference)."),
) -> None:
    """Register the meters of a site file; owner = an organisation's exact registered name / 导入电表."""
    from tanhui.mrv.registry import register_sites, sites_from_rows
    from tanhui.mrv.sites import read_sites

    rows = sites_from_rows(read_sites(path).iter_rows(named=True))
    with operator_work(ctx) as (tx, operator):
        done = register_sites(tx, operator, rows, update=update)
        tx.commit()
    state(ctx).out.print(f"{len(done.registered):,} meters registered, {len(done.updated):,} updated, "
                         f"{len(done.unchanged):,} already registered as they are / 已登记")


@sites.command("list")
def sites_list(
    ctx: typer.Context,
    owner: int | None = typer.Option(None, "--owner", help="Only this organisation's meters (its id)."),
) -> None:
    """List registered meters / 电表列表."""
    from sqlalchemy import select

    from tanhui.identity.tables import organizations
    from tanhui.mrv.tables import meters

    query = (select(meters.c.meter_id, meters.c.site_id, organizations.c.name, meters.c.capacity_w,
                    meters.c.region, meters.c.commissioned)
             .join(organizations, organizations.c.id == meters.c.owner_organization_id).order_by(meters.c.id))
    if owner is not None:
        query = query.where(meters.c.owner_organization_id == owner)
    with registry(ctx).connect() as conn:
        rows = conn.execute(query).all()
    state(ctx).out.print(table(f"Meters / 电表 ({len(rows):,})",
                               ["meter", "site", "owner", "kWp", "region", "commissioned"],
                               [(m, s, o, f"{w / 1000:g}", r, c) for m, s, o, w, r, c in rows]))


@claims.command("declare")
def claims_declare(
    ctx: typer.Context,
    meter: str = typer.Option(..., help="The meter's id."),
    period: str = typer.Option(..., help="Local days START..END the instrument covers, e.g. 2024-01-01..2024-01-31."),
    instrument: str = typer.Option(..., help="green_certificate or other_registry."),
    reference: str = typer.Option(..., help="The certificate number, or the other registry's serial."),
) -> None:
    """Declare that a meter's energy backs an instrument outside this registry / 声明外部权属（绿证、其他登记簿）."""
    from tanhui.cli.registry import parse_period
    from tanhui.mrv.registry import declare_claim

    first, last = parse_period(period)
    with operator_work(ctx) as (tx, operator):
        claim = declare_claim(tx, operator, meter_id=meter, first_day=first, last_day=last, instrument=instrument,
                              reference=reference)
        tx.commit()
    state(ctx).out.print(f"Declared claim {claim['id']}: meter {escape(meter)} {first}..{last} backs "
                         f"{instrument} {escape(claim['reference'])} / 已声明")


@claims.command("list")
def claims_list(ctx: typer.Context, meter: str = typer.Option(..., help="The meter's id.")) -> None:
    """The instruments a meter's energy backs, by period / 电表权属."""
    from tanhui.identity.services import operator_principal
    from tanhui.mrv.registry import claims_page

    found: list[dict[str, Any]] = []
    with registry(ctx).connect() as conn:
        viewer = operator_principal(conn, cli_actor())
        after: tuple[int, ...] | None = None
        while True:
            page = claims_page(conn, viewer, meter, after=after, limit=_PAGE)
            found.extend(page.items)
            if (after := page.next_key) is None:
                break
    state(ctx).out.print(table(f"Claims on meter {meter} / 权属", ["claim", "days", "instrument", "reference",
                                                                  "report"],
                               [(c["id"], f"{c['first_day']}..{c['last_day']}", c["instrument"], c["reference"],
                                 c["report_id"]) for c in found]))


def issue(
    ctx: typer.Context,
    report: Path = typer.Option(..., "--report", help="The directory `tanhui mrv verify --out` wrote."),
    project_id: int = typer.Option(..., "--project", help="The project, whose methodology the report follows."),
    account_id: int | None = typer.Option(
        None, "--account", help="The holding (or buffer) account to issue into; with --to-owners, default: the "
                                "project owner's oldest holding account."),
    to_owners: bool = typer.Option(False, "--to-owners", help="Then transfer each owner's sites' units to that "
                                                              "owner's oldest holding account."),
    credit_type: str | None = typer.Option(
        None, help="Credit type in the serial (default: TANHUI_DEFAULT_CREDIT_TYPE, PHCER)."),
) -> None:
    """Issue a verified monitoring report as one serial block, claiming its meter-days / 按监测报告签发."""
    from tanhui.mrv.registry import REPORTS, StagedReport, issue_from_report

    cli = state(ctx)
    settings = cli.settings
    registry(ctx)  # refuse a missing or outdated database before copying the report
    with (cli.err.status("checking and issuing the report / 核对并签发…"),
          StagedReport(report, settings.data_dir / REPORTS) as staged, operator_work(ctx) as (tx, operator)):
        done = issue_from_report(tx, operator, staged, registry=settings.registry_code,
                                 credit_type=credit_type or settings.default_credit_type,
                                 project_id=project_id, account_id=account_id, to_owners=to_owners)
        tx.commit()
    issuance = done.issuance.detail
    assert issuance is not None
    out = cli.out
    out.print(f"Issued / 已签发 monitoring report {done.report['id']} ({done.report['sites']:,} sites, "
              f"{done.report['period_start']}..{done.report['period_end']}) as issuance {issuance['id']}, "
              f"act {done.issuance.act['id']}: {issuance['quantity']:,} kgCO2e")
    for serial in done.issuance.serials:
        out.print(f"  {serial}", soft_wrap=True)
    out.print(table("Per owner / 按所有者", ["owner", "account", "serial", "# sites", "kgCO2e"],
                    [(s.organization, s.account_id, s.serial, s.sites, s.quantity) for s in done.shares]))
    out.print(f"Archived / 已归档: {staged.archived}", soft_wrap=True)


def provenance(
    ctx: typer.Context,
    serial: str = typer.Argument(..., metavar="SERIAL", help="A serial or range."),
    intervals: int = typer.Option(0, "--intervals", min=0, max=_PAGE, help="Also print this many of the sites' "
                                                                            "accepted 15-minute intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON (with --intervals of them)."),
) -> None:
    """The monitoring report, sites and intervals behind a serial / 序列号溯源."""
    from tanhui.identity.services import operator_principal
    from tanhui.mrv.registry import REPORTS
    from tanhui.mrv.registry import provenance as trace

    with registry(ctx).connect() as conn:
        view, _ = trace(conn, operator_principal(conn, cli_actor()), serial,
                        reports_root=state(ctx).settings.data_dir / REPORTS, after=None, limit=max(intervals, 1))
    view["intervals"] = view["intervals"][:intervals]
    if as_json:
        print_json(view)
        return
    out, report = state(ctx).out, view["report"]
    factor = report["grid_factor"]
    out.print(f"{view['serial']} ({view['quantity']:,} kgCO2e) of issuance {view['issuance']['id']}", soft_wrap=True)
    out.print(f"Monitoring report {report['id']} / 监测报告: {report['period_start']}..{report['period_end']}, "
              f"{escape(report['methodology']['code'])} {escape(report['methodology']['version'])}, "
              f"summary sha256 {report['summary_sha256']}", soft_wrap=True)
    # "value" keeps the published digits; tco2_per_mwh is the same figure as a JSON number.
    out.print(f"Grid factor / 电网排放因子: {factor.get('value', factor.get('tco2_per_mwh'))} tCO2/MWh, "
              f"{escape(str(factor.get('series')))} {factor.get('data_year')} {escape(str(factor.get('region')))} "
              f"({escape(str(factor.get('source')))})", soft_wrap=True)
    out.print(table(f"Sites / 站点 ({len(view['sites']):,})",
                    ["meter", "site", "owner", "kWp", "region", "reported kWh", "accepted kWh", "flags", "serial",
                     "kgCO2e"],
                    [(s["meter_id"], s["site_id"], s["owner"], f"{s['capacity_kw']:g}", s["region"],
                      f"{s['reported_kwh']:,.3f}", f"{s['accepted_kwh']:,.3f}",
                      ", ".join(f"{k} {v}" for k, v in sorted(s["flag_counts"].items()) if v) or "—", s["serial"],
                      s["reduction_kg"]) for s in view["sites"]]))
    if intervals:
        out.print(table("Intervals / 时段 (UTC)", ["meter", "start", "kWh", "accepted kWh", "flags"],
                        [(i["meter_id"], f"{i['ts']:%Y-%m-%d %H:%M}", i["kwh"], i["accepted_kwh"],
                          ", ".join(i["flags"]) or "—") for i in view["intervals"]]))
