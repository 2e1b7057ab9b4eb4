"""`tanhui points scheme | record | balance | expire | leaderboard | catalogue | package`: residents' points."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import typer

from tanhui.cli.context import fail, operator_work, print_json, registry, state, table
from tanhui.points import imports, ledger, packaging, redemption, residents
from tanhui.points.scheme import scheme
from tanhui.projects import reports

points = typer.Typer(
    no_args_is_help=True,
    help="Residents' points / 居民碳积分: scheme, record, balance, expire, leaderboard, catalogue, package.",
)
catalogue = typer.Typer(no_args_is_help=True, help="The rewards catalogue / 积分兑换目录: add, restock, list.")
points.add_typer(catalogue, name="catalogue")
DAY = ["%Y-%m-%d"]


@points.command("scheme")
def show_scheme() -> None:
    """The points rules as JSON: factors, caps, speeds, expiry, rebate, with tags and sources / 积分规则."""
    print_json(scheme().describe())


@points.command("record")
def record(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ..., metavar="FILE.csv", exists=True, dir_okay=False, help="Columns: " + ", ".join(imports.COLUMNS)
    ),
) -> None:
    """Record a source's behaviour events; a bad row records nothing / 导入低碳行为记录.

    Replayed (source, event_id) pairs are skipped as already recorded; refused and capped events are recorded
    with their reasons.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        fail(ctx, f"{file} is not UTF-8 text: {exc}")
    with operator_work(ctx) as (tx, operator):
        outcome = imports.record_file(tx, operator, text)
        tx.commit()
    rows = [(status, outcome.get(status, 0)) for status in ("accepted", "capped", "refused", "replayed")]
    state(ctx).out.print(table(f"Events of {file.name} / 行为记录", ["status", "# events"], rows))


@points.command("balance")
def balance(
    ctx: typer.Context,
    resident: int = typer.Argument(..., metavar="RESIDENT", help="The resident's organisation id."),
) -> None:
    """A resident's balance and latest ledger entries / 积分余额与流水."""
    with registry(ctx).connect() as conn:
        ledger.resident(conn, resident)
        held = ledger.balance(conn, resident)
        rows = [
            (e["id"], e["kind"], e["amount_g"], e["balance_after_g"], e["created_at"])
            for e in ledger.entries(conn, resident, limit=20)
        ]
    state(ctx).out.print(f"resident {resident}: {held:,} gCO2e of points")
    state(ctx).out.print(
        table("Latest entries / 最近流水", ["# entry", "kind", "g", "balance g", "at (UTC)"], rows)
    )


@points.command("expire")
def expire(
    ctx: typer.Context,
    as_of: datetime | None = typer.Option(
        None,
        "--as-of",
        help="Expire what is due by this time (UTC unless an offset is given); default now.",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
    ),
) -> None:
    """Expire every points lot that is due, oldest first; running it again expires nothing more / 积分到期."""
    moment = None if as_of is None else as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    with operator_work(ctx) as (tx, operator):
        done = ledger.expire(tx, operator, moment)
        tx.commit()
    state(ctx).out.print(
        f"expired {done.lots} lot(s), {done.points_g:,} g of points of {done.residents} "
        f"resident(s)" + (f", due by {moment.isoformat()}" if moment else "")
    )


@points.command("leaderboard")
def leaderboard(
    ctx: typer.Context,
    region: str = typer.Option(..., "--region", help="Region code, e.g. WUHAN."),
    start: datetime = typer.Option(..., "--from", formats=DAY, help="First local day."),
    end: datetime = typer.Option(..., "--to", formats=DAY, help="Last local day."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Opted-in residents of a region ranked by the points of the period / 低碳排行榜 (nicknames only)."""
    first, last = date.fromordinal(start.toordinal()), date.fromordinal(end.toordinal())
    with registry(ctx).connect() as conn:
        board = residents.leaderboard(conn, region=region, start=first, end=last)
    if as_json:
        print_json(board)
        return
    rows = [(place["rank"], place["nickname"], place["points_g"]) for place in board]
    state(ctx).out.print(table(f"{region} {first}..{last}", ["# rank", "nickname", "# points g"], rows))


@catalogue.command("add")
def add_item(
    ctx: typer.Context,
    code: str = typer.Argument(..., metavar="CODE", help="The reward's code, e.g. BUS-PASS-10."),
    name_zh: str = typer.Option(..., "--name-zh", help="Its name in Chinese."),
    name_en: str = typer.Option(..., "--name-en", help="Its name in English."),
    price_g: int = typer.Option(..., "--price", min=1, help="Its price in grams of points."),
    stock: int = typer.Option(0, "--stock", min=0, help="How many there are."),
) -> None:
    """Add a reward at a points price with its stock / 新增兑换商品."""
    with operator_work(ctx) as (tx, operator):
        row = redemption.add_item(tx, operator, code=code, name_zh=name_zh, name_en=name_en, price_g=price_g,
                                  stock=stock)
        tx.commit()
    state(ctx).out.print(f"catalogue item {row['code']}: {row['price_g']:,} g, {row['stock']:,} in stock")


@catalogue.command("restock")
def restock(
    ctx: typer.Context,
    code: str = typer.Argument(..., metavar="CODE"),
    added: int = typer.Option(..., "--added", min=1, help="How many more."),
) -> None:
    """Add stock to a reward / 补充库存."""
    with operator_work(ctx) as (tx, operator):
        row = redemption.restock(tx, operator, code, added=added)
        tx.commit()
    state(ctx).out.print(f"catalogue item {row['code']}: {row['stock']:,} in stock")


@catalogue.command("list")
def list_items(ctx: typer.Context) -> None:
    """The rewards, their prices and stock / 兑换目录."""
    with registry(ctx).connect() as conn:
        rows = [(r["code"], r["name_zh"], r["name_en"], r["price_g"], r["stock"]) for r in redemption.items(conn)]
    state(ctx).out.print(table("Catalogue / 兑换目录", ["code", "名称", "name", "# price g", "# stock"], rows))


@points.command("package")
def package(
    ctx: typer.Context,
    project_id: int = typer.Option(..., "--project", min=1, help="The aggregator's registered TRAVEL-LOW project."),
    start: datetime = typer.Option(..., "--from", formats=DAY, help="First local day of the monitoring period."),
    end: datetime = typer.Option(..., "--to", formats=DAY, help="Last local day."),
    verifier: int = typer.Option(..., "--verifier", min=1, help="The verifier organisation's id."),
) -> None:
    """Package the period's consenting residents' travel into the project's monitoring report, on the
    aggregator's behalf / 代聚合方打包居民低碳出行.

    The journal records the operator as the actor; the aggregator packages over the API itself
    (POST /api/v1/points/packages)."""
    with operator_work(ctx) as (tx, operator):
        made = packaging.package(tx, reports.for_owner(tx.conn, operator, project_id), state(ctx).settings.data_dir,
                                 project_id=project_id, period_start=start.date(), period_end=end.date(),
                                 verifier_organization_id=verifier)
        tx.commit()
    state(ctx).out.print(f"travel package {made['id']}: {made['events']:,} events of {made['residents']:,} "
                         f"resident(s), {made['net_kg']:,} kgCO2e in monitoring report {made['report_id']} for "
                         f"verification by organisation {verifier}")
