"""`tanhui report`, `tanhui consent` and `tanhui loan`: credit reports, holders' consent and green-loan products.

They act as the registry operator (issuing reports, recording a holder's signed consent, defining a bank's
products on its behalf) through the same services as the API.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from pypdf.errors import PdfReadError
from rich.markup import escape
from sqlalchemy import select

from tanhui.accounts import credit_report as reports
from tanhui.accounts.credit_report_pdf import (
    attached_content,
    page_text,
    render_pdf,
    stated_verification_url,
    stored_report_pdf,
    verification_url,
)
from tanhui.accounts.periods import Period
from tanhui.accounts.register import holder_by_reference
from tanhui.cli.context import fail, operator_work, print_json, registry, state, table
from tanhui.errors import NotFound
from tanhui.finance import consent as consents
from tanhui.finance import products
from tanhui.finance.loans import product_json, yuan
from tanhui.finance.tables import credit_reports
from tanhui.identity.services import operator_principal

report = typer.Typer(no_args_is_help=True, help="Carbon credit reports / 碳征信报告: issue, render, verify, list.")
consent = typer.Typer(no_args_is_help=True, help="Consent / 授权: grant, revoke, list, log (banks' reads).")
loan = typer.Typer(no_args_is_help=True, help="Green loans / 绿色贷款: products and quotes.")
product = typer.Typer(no_args_is_help=True, help="Loan products / 贷款产品: define, list, show, examples.")
loan.add_typer(product, name="product")


def _read_json(ctx: typer.Context, path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except OSError as exc:
        fail(ctx, f"cannot read {path}: {exc.strerror}")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(ctx, f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}")


# ---------------------------------------------------------------- reports

@report.command("issue")
def report_issue(
    ctx: typer.Context,
    profile_file: Path | None = typer.Argument(None, metavar="[PROFILE.json]",
                                               help="A credit profile as JSON, instead of --holder and --period."),
    holder: str | None = typer.Option(None, "--holder", metavar="REFERENCE",
                                      help="A carbon account holder: its report as the accounting computes it."),
    period: str | None = typer.Option(None, "--period", metavar="PERIOD", help="With --holder: 2025, 2025-03 or "
                                      "2025-01..2025-06."),
    holder_org: int | None = typer.Option(None, "--holder-org", metavar="ID", min=1,
                                          help="The organisation whose members act for the holder: links a holder "
                                               "not yet linked (a linked holder's must match)."),
    pdf: Path | None = typer.Option(None, "--pdf", metavar="FILE", help="Also write the PDF here."),
) -> None:
    """Issue a holder's report for a period; prints its id and SHA-256 / 出具碳征信报告."""
    if (profile_file is None) == (holder is None) or (holder is None) != (period is None):
        raise typer.BadParameter("give either PROFILE.json, or --holder REFERENCE with --period PERIOD")
    with operator_work(ctx) as (tx, operator):
        if holder is not None and period is not None:
            found = holder_by_reference(tx.conn, holder)
            if found is None:
                raise NotFound(f"no carbon account holder with reference {holder!r}")
            row = reports.issue_holder_report(tx, operator, found["id"], Period.parse(period),
                                              holder_organization_id=holder_org)
        else:
            assert profile_file is not None
            profile = reports.profile_from_json(_read_json(ctx, profile_file))
            row = reports.issue_report(tx, operator, profile, holder_organization_id=holder_org)
        tx.commit()
    out = state(ctx).out
    out.print(f"Issued credit report {row['id']} for holder {row['holder_id']} ({escape(row['holder_name'])}), "
              f"{row['period_start']}..{row['period_end']} / 已出具")
    out.print(f"  SHA-256 {row['content_sha256']}", soft_wrap=True)
    if pdf is not None:
        pdf.write_bytes(stored_report_pdf(row, state(ctx).settings.public_url))
        out.print(f"  PDF {pdf}")


@report.command("render")
def report_render(
    ctx: typer.Context,
    report_id: int = typer.Argument(..., metavar="REPORT"),
    out: Path = typer.Option(..., "--out", metavar="FILE", help="Where to write the PDF."),
) -> None:
    """Write an issued report's bilingual PDF / 生成报告 PDF."""
    with registry(ctx).connect() as conn:
        row = reports.get_report(conn, report_id)
    out.write_bytes(stored_report_pdf(row, state(ctx).settings.public_url))
    state(ctx).out.print(f"Wrote {out} (credit report {report_id}, SHA-256 {row['content_sha256']})", soft_wrap=True)


def _first_difference(text: str, expected: str) -> tuple[int, str, str]:
    """The first line (1-based) where two page texts differ, and both versions of it."""
    found, stated = text.splitlines(), expected.splitlines()
    for number in range(max(len(found), len(stated))):
        mine = found[number] if number < len(found) else ""
        theirs = stated[number] if number < len(stated) else ""
        if mine != theirs:
            return number + 1, mine, theirs
    return 0, "", ""


@report.command("verify")
def report_verify(
    ctx: typer.Context,
    pdf: Path = typer.Argument(..., metavar="FILE.pdf"),
) -> None:
    """Check a report PDF against its attached content and the issued report it names / 核验报告.

    The attached content must hash to an issued report's SHA-256, and the pages must read exactly as that
    content renders: an edited figure, label or name on a page is found as well as an edited attachment.
    """
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about damaged files would repeat ours
    try:
        data = pdf.read_bytes()
        content, text = attached_content(data), page_text(data)
    except OSError as exc:
        fail(ctx, f"cannot read {pdf}: {exc.strerror}")
    except (PdfReadError, ValueError) as exc:
        fail(ctx, f"{pdf} is not a readable PDF: {exc}")
    if content is None:
        fail(ctx, f"{pdf} carries no credit-report content; it is not a Tanhui carbon credit report")
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    with registry(ctx).connect() as conn:
        row = conn.execute(select(credit_reports).where(credit_reports.c.content_sha256 == digest)).mappings().first()
    if row is None:
        fail(ctx, f"no issued credit report has the content hash {digest}: the attachment was altered or the "
                  "report was never issued here")
    profile, issued_at = reports.stored_profile(row)
    url = stated_verification_url(text) or verification_url(state(ctx).settings.public_url, row)
    own_path = verification_url("", row)
    if not url.endswith(own_path):
        fail(ctx, f"{pdf} states the verification address {url}, which is not credit report {row['id']}'s "
                  f"(…{own_path})")
    expected = page_text(render_pdf(profile, issued_at=issued_at, report_id=row["id"], content_sha256=digest,
                                    content=row["content"], verify_url=url))
    if text != expected:
        line, found, stated = _first_difference(text, expected)
        fail(ctx, f"{pdf}'s pages do not read as credit report {row['id']} renders: line {line} reads "
                  f"{found!r} where the report states {stated!r}")
    state(ctx).out.print(f"Verified / 核验通过: credit report {row['id']}, holder {escape(row['holder_name'])}, "
                         f"{row['period_start']}..{row['period_end']}, issued {row['issued_at']:%Y-%m-%d %H:%M} UTC, "
                         f"SHA-256 {digest}", soft_wrap=True)


@report.command("list")
def report_list(ctx: typer.Context, holder: int = typer.Option(..., "--holder", metavar="ID")) -> None:
    """A holder's reports, newest period first / 报告清单."""
    with registry(ctx).connect() as conn:
        rows = reports.holder_reports(conn, holder)
    state(ctx).out.print(table(f"Credit reports of holder {holder} / 碳征信报告", [
        "id", "period", "label", "grade", "rating", "issued", "SHA-256"], [
        (r["id"], f"{r['period_start']}..{r['period_end']}", r["label"], r["carbon_efficiency_grade"],
         r["credit_rating"], f"{r['issued_at']:%Y-%m-%d %H:%M}", r["content_sha256"]) for r in rows]))


# ---------------------------------------------------------------- consent

@consent.command("grant")
def consent_grant(
    ctx: typer.Context,
    holder: int = typer.Option(..., "--holder", metavar="ID"),
    bank: int = typer.Option(..., "--bank", metavar="ID", help="The bank organisation."),
    scope: str = typer.Option(..., "--scope", help="summary (evaluations, totals, quotes) or full (also the PDF)."),
    days: int = typer.Option(..., "--days", min=1, help="How long the consent lasts."),
    purpose: str | None = typer.Option(None, "--purpose", help="E.g. the holder's signed consent form number."),
) -> None:
    """Record a holder's consent to a bank, as the operator on the holder's signed request / 授权银行查询."""
    with operator_work(ctx) as (tx, operator):
        row = consents.grant(tx, operator, holder_id=holder, bank_organization_id=bank, scope=scope, days=days,
                             purpose=purpose)
        tx.commit()
    state(ctx).out.print(f"Consent {row['id']}: bank {bank} may read holder {holder}'s reports ({scope}) until "
                         f"{row['expires_at']:%Y-%m-%d %H:%M} UTC / 已授权")


@consent.command("revoke")
def consent_revoke(ctx: typer.Context, consent_id: int = typer.Argument(..., metavar="CONSENT")) -> None:
    """End a consent at once / 撤销授权."""
    with operator_work(ctx) as (tx, operator):
        consents.revoke(tx, operator, consent_id)
        tx.commit()
    state(ctx).out.print(f"Revoked consent {consent_id} / 已撤销")


@consent.command("list")
def consent_list(ctx: typer.Context, holder: int = typer.Option(..., "--holder", metavar="ID")) -> None:
    """Every consent a holder gave / 授权清单."""
    with registry(ctx).connect() as conn:
        rows = consents.holder_grants(conn, operator_principal(conn, "cli"), holder)
    state(ctx).out.print(table(f"Consents of holder {holder} / 授权", [
        "id", "bank", "scope", "granted", "expires", "revoked", "active"], [
        (r["id"], r["bank_organization_id"], r["scope"], f"{r['granted_at']:%Y-%m-%d %H:%M}",
         f"{r['expires_at']:%Y-%m-%d %H:%M}", r["revoked_at"] and f"{r['revoked_at']:%Y-%m-%d %H:%M}",
         "yes" if r["active"] else "no") for r in rows]))


@consent.command("log")
def consent_log(
    ctx: typer.Context,
    holder: int = typer.Option(..., "--holder", metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Who read or tried to read a holder's reports, and when / 查询记录."""
    with registry(ctx).connect() as conn:
        rows = consents.access_log(conn, operator_principal(conn, "cli"), holder)
    if as_json:
        print_json([dict(r) for r in rows])
        return
    state(ctx).out.print(table(f"Access log of holder {holder} / 查询记录", [
        "at", "organisation", "actor", "what", "report", "allowed", "reason"], [
        (f"{r['at']:%Y-%m-%d %H:%M:%S}", r["organization_id"], r["actor"], r["kind"], r["report_id"],
         "yes" if r["allowed"] else "REFUSED", r["reason"]) for r in rows]))


# ---------------------------------------------------------------- loan products and quotes

@product.command("define")
def product_define(
    ctx: typer.Context,
    bank: int = typer.Option(..., "--bank", metavar="ID", help="The bank organisation."),
    file: Path | None = typer.Option(None, "--file", metavar="FILE", help="The product as JSON or TOML."),
    example_code: str | None = typer.Option(None, "--example", metavar="CODE",
                                            help="One of the example products (`tanhui loan product examples`)."),
) -> None:
    """Define a bank's product, or its next version / 定义贷款产品."""
    if (file is None) == (example_code is None):
        fail(ctx, "give exactly one of --file and --example", code=2)
    definition = product_json(products.example(example_code)) if example_code else _read_json(ctx, file)  # type: ignore[arg-type]
    with operator_work(ctx) as (tx, operator):
        row = products.define(tx, operator, bank_organization_id=bank, definition=definition)
        tx.commit()
    state(ctx).out.print(f"Defined {row['code']} version {row['version']} for bank {bank} / 已定义")


@product.command("list")
def product_list(ctx: typer.Context, bank: int | None = typer.Option(None, "--bank", metavar="ID")) -> None:
    """Every bank's current products / 贷款产品清单."""
    with registry(ctx).connect() as conn:
        rows = products.current_products(conn, bank)
    shown = []
    for row in rows:
        item = products.product_of(row)
        shown.append((row["bank_organization_id"], row["code"], row["version"], f"{item.name_zh} {item.name_en}",
                       "; ".join(f"{r.name}: ×{r.limit_multiplier}, −{r.rate_discount_bp} bp" for r in item.rules)))
    state(ctx).out.print(table("Loan products / 贷款产品", ["bank", "code", "version", "name", "rules"], shown))


@product.command("show")
def product_show(
    ctx: typer.Context,
    code: str = typer.Argument(..., metavar="CODE"),
    bank: int = typer.Option(..., "--bank", metavar="ID"),
) -> None:
    """Every version of a product, as JSON / 产品各版本."""
    with registry(ctx).connect() as conn:
        rows = products.versions(conn, bank, code)
    print_json([{"version": r["version"], "created_at": r["created_at"], "created_by": r["created_by"],
                 "definition": json.loads(r["definition"])} for r in rows])


@product.command("examples")
def product_examples() -> None:
    """The example products shipped with their figures' tags and sources, as JSON / 示例产品."""
    print_json([{**product_json(item), "figures": [vars(f) for f in figures]}
                for item, figures in products.example_products().values()])


def _fen(ctx: typer.Context, text: str) -> int:
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        fail(ctx, f"--normal-limit {text!r} must be yuan with at most two decimals, like 5000000 or 1234.56", code=2)
    return int(amount * 100)


@loan.command("quote")
def loan_quote(
    ctx: typer.Context,
    bank: int = typer.Option(..., "--bank", metavar="ID"),
    code: str = typer.Option(..., "--product", metavar="CODE"),
    holder: int = typer.Option(..., "--holder", metavar="ID"),
    normal_limit: str = typer.Option(..., "--normal-limit", metavar="YUAN",
                                     help="The bank's normal credit limit for the holder, in yuan."),
    base_rate: int = typer.Option(..., "--base-rate", metavar="BP", min=0, help="The rate without the product."),
) -> None:
    """A holder's terms under a bank's product, with the reasons / 贷款报价."""
    limit = _fen(ctx, normal_limit)
    engine = registry(ctx)
    with engine.connect() as conn:
        operator = operator_principal(conn, "cli")
    priced = products.quote_for(engine, operator, bank_organization_id=bank, code=code, holder_id=holder,
                                normal_limit_fen=limit, base_rate_bp=base_rate)
    terms = priced.quote
    out = state(ctx).out
    header = (f"{terms.product_code} v{priced.product['version']} for holder {holder} "
              f"(report {priced.report['id']}): ")
    if terms.eligible:
        assert terms.limit_fen is not None
        out.print(header + f"limit {yuan(terms.limit_fen)} yuan, rate {terms.rate_bp} bp / 可贷", soft_wrap=True)
    else:
        out.print(header + "not eligible / 不符合条件", soft_wrap=True)
    for reason in terms.reasons:
        out.print(f"  · {escape(reason)}", soft_wrap=True)
