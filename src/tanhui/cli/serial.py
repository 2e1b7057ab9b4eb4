"""Serial numbers on the command line: parse one into its parts, and show the lifecycle of its units."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer

from tanhui.cli.context import cli_actor, fail, print_json, registry, state, table
from tanhui.identity.services import operator_principal
from tanhui.registry import queries
from tanhui.registry.serials import Serial, SerialError, parse_serial

_PAGE = 500
serial = typer.Typer(no_args_is_help=True, help="Serial numbers / 序列号: parse, history.")


def _parse(ctx: typer.Context, text: str) -> Serial:
    try:
        return parse_serial(text)
    except SerialError as exc:
        fail(ctx, str(exc), code=2)


@serial.command("parse")
def serial_parse(
    ctx: typer.Context,
    text: str = typer.Argument(
        ..., metavar="SERIAL", help="A serial or range, e.g. TH1.SIP.PHCER.P42.V2024.I17.1-500."),
    as_json: bool = typer.Option(False, "--json", help="Print the parts as JSON."),
) -> None:
    """Print a serial's parts / 解析序列号: registry, version, region, type, project, vintage, range."""
    parsed = _parse(ctx, text)
    parts = {"serial": str(parsed), **asdict(parsed), "quantity": parsed.quantity, "prefix": parsed.prefix}
    if as_json:
        print_json(parts)
        return
    labels = {
        "serial": "canonical serial / 规范序列号", "registry": "registry / 登记簿", "region": "region / 区域",
        "credit_type": "credit type / 类型", "project_id": "project / 项目", "vintage": "vintage / 年份",
        "issuance_id": "issuance / 签发批次", "first": "first unit / 起始", "last": "last unit / 终止",
        "version": "format version / 格式版本", "quantity": "units / 数量 (kgCO2e)",
        "prefix": "prefix / 前缀",
    }
    rows = [(labels[k], f"{v:,}" if k == "quantity" else v) for k, v in parts.items()]
    state(ctx).out.print(table("Serial / 序列号", ["part", "value"], rows))


@serial.command("history")
def serial_history(
    ctx: typer.Context,
    text: str = typer.Argument(
        ..., metavar="SERIAL", help="A serial or range; every act touching any unit in it."),
) -> None:
    """Every act that touched these units, in order, and where they are now / 序列号全生命周期."""
    _parse(ctx, text)
    events: list[dict[str, Any]] = []
    with registry(ctx).connect() as conn:
        operator = operator_principal(conn, cli_actor())
        after: tuple[int, ...] | None = None
        while True:  # the lifecycle comes in pages of movements
            view, after = queries.lifecycle(conn, operator, text, after=after, limit=_PAGE)
            events.extend(view["events"])
            if after is None:
                break
    out = state(ctx).out
    out.print(table(
        f"History of {view['serial']} / 生命周期 ({view['quantity']:,} kgCO2e)",
        ["act", "at (UTC)", "kind", "units", "account", "state"],
        [(e["act_id"], f"{e['at']:%Y-%m-%d %H:%M:%S}", e["kind"], e["serial"],
          f"{e['from_account_id'] or '—'} → {e['to_account_id']}",
          f"{e['from_state'] or '—'} → {e['to_state']}")
         for e in events],
    ))
    out.print(table("Now / 当前", ["units", "account", "state", "kgCO2e"],
                    [(b["serial"], b["account_id"], b["state"], b["quantity"]) for b in view["blocks"]]))
