"""`tanhui methodology`: the methodology library on files alone: list, show, template, document, check, calculate."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tanhui.cli.context import fail, print_json, state, table
from tanhui.methodologies.catalogue import find, versions
from tanhui.methodologies.document import document
from tanhui.methodologies.monitoring_data import parse_design, parse_rows, template_csv

methodology = typer.Typer(no_args_is_help=True, help="Methodologies / 方法学: list, show, template, check, calculate.")
Reference = typer.Argument(..., metavar="CODE[@VERSION]", show_default=False,
                           help="A version such as EV-CHARGE@1-EC2023; a code alone names its default version.")


def _write(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def _read(ctx: typer.Context, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(ctx, f"cannot read {path}: {exc}")


@methodology.command("list")
def list_versions(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every methodology version the platform ships / 方法学清单."""
    if as_json:
        print_json([m.describe() for m in versions()])
        return
    rows = [(m.reference, "yes 是" if m.default else "", m.title_zh, m.title_en) for m in versions()]
    state(ctx).out.print(table("Methodologies / 方法学", ["version", "default", "title 标题", "title"], rows))


@methodology.command("show")
def show(ctx: typer.Context, reference: str = Reference) -> None:
    """One version in full as JSON: formula, parameters with sources, conditions, fields / 方法学详情."""
    print_json(find(reference).describe())


@methodology.command("template")
def template(reference: str = Reference,
             out: Path | None = typer.Option(None, "--out", metavar="FILE", help="Write here, not to stdout.")) -> None:
    """The monitoring-data CSV template / 监测数据模板."""
    _write(template_csv(find(reference)), out)


@methodology.command("document")
def methodology_document(reference: str = Reference,
                         out: Path | None = typer.Option(None, "--out", metavar="FILE",
                                                         help="Write here, not to stdout.")) -> None:
    """The bilingual methodology document (Markdown) / 方法学文本."""
    _write(document(find(reference)), out)


@methodology.command("check")
def check(ctx: typer.Context, reference: str = Reference,
          design: Path = typer.Option(..., "--design", metavar="DESIGN.json", show_default=False,
                                      help="The project's design fields as a JSON object.")) -> None:
    """Check a project design against the version's applicability conditions / 适用条件检查; exit 1 if it fails."""
    version = find(reference)
    try:
        fields = json.loads(_read(ctx, design))
    except json.JSONDecodeError as exc:
        fail(ctx, f"{design} is not JSON: {exc}")
    if not isinstance(fields, dict):
        fail(ctx, f"{design} must hold a JSON object of design fields")
    version.check_applicability(parse_design(version, fields))
    state(ctx).out.print(f"{version.reference} applies / 适用: every condition holds.")


@methodology.command("calculate")
def calculate(ctx: typer.Context, reference: str = Reference,
              data: Path = typer.Argument(..., metavar="DATA.csv", show_default=False,
                                          help="Monitoring data in the version's template."),
              as_json: bool = typer.Option(False, "--json", help="Print every line as JSON.")) -> None:
    """Reductions of monitoring data, in whole kgCO2e / 计算减排量 (no database is used)."""
    version = find(reference)
    result = version.reductions(parse_rows(version, _read(ctx, data), source=str(data)))
    if as_json:
        print_json(result.describe())
        return
    described = result.describe()
    rows = [("gross / 总量", described["gross_kg"]), ("leakage / 泄漏", described["leakage_kg"]),
            ("net kgCO2e / 净减排", result.net_kg), ("buffer kgCO2e / 缓冲", result.buffer_kg),
            ("issuable kgCO2e / 可签发", result.issuable_kg)]
    state(ctx).out.print(table(f"{version.reference} · {len(result.lines)} rows / 行", ["", "kgCO2e"], rows))

