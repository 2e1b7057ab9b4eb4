"""Operator commands on the registry's host: organisations, users, accounts, projects, issue, cancel, revoke.

They act as the registry operator (journal actor ``cli:<login name>``) through the same services as the API,
so every check and every journal entry is the same as for a request.
"""

from __future__ import annotations

from datetime import date

import typer
from rich.markup import escape
from sqlalchemy import BigInteger, cast, func, select

from tanhui.cli.context import operator_work, registry, state, table
from tanhui.identity import services as identity
from tanhui.identity.tables import ORGANIZATION_KINDS, ROLES, organizations, users
from tanhui.registry import ledger
from tanhui.registry.blocks import State
from tanhui.registry.tables import ACCOUNT_KINDS, CANCELLATION_PURPOSES, accounts, blocks, issuances, projects

org = typer.Typer(no_args_is_help=True, help="Organisations / 机构: create, list.")
user = typer.Typer(no_args_is_help=True, help="Users / 用户: create.")
account = typer.Typer(no_args_is_help=True, help="Accounts / 账户: open, list, show.")
project = typer.Typer(no_args_is_help=True,
                      help="Projects / 项目: register, list; the lifecycle's pending steps and operator decisions.")
# `tanhui bootstrap` makes the one operator organisation; every other kind is onboarded.
_ONBOARDED_KINDS = ", ".join(kind for kind in ORGANIZATION_KINDS if kind != "operator")


def _password(password: str | None) -> str:
    if password is None:
        return str(typer.prompt("Password / 密码", hide_input=True, confirmation_prompt=True))
    return password


def parse_period(text: str) -> tuple[date, date]:
    """``2024-01-01..2024-12-31`` as its two dates; a usage error naming the problem otherwise."""
    start, dots, end = text.partition("..")
    if not dots:
        raise typer.BadParameter(f"{text!r} is not a period; write START..END, like 2024-01-01..2024-12-31",
                                 param_hint="--period")
    try:
        return date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: {exc}; dates are YYYY-MM-DD", param_hint="--period") from exc


def _report(ctx: typer.Context, what: str, result: ledger.ActResult) -> None:
    out = state(ctx).out
    out.print(f"{what}: act {result.act['id']}, {result.act['quantity']:,} kgCO2e")
    for serial in result.serials:
        out.print(f"  {serial}", soft_wrap=True)


# ---------------------------------------------------------------- organisations and users

@org.command("create")
def org_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The organisation's name."),
    kind: str = typer.Option(..., help=f"One of {_ONBOARDED_KINDS}."),
) -> None:
    """Onboard an organisation / 新建机构."""
    with operator_work(ctx) as (tx, operator):
        row = identity.create_organization(tx, operator, name=name, kind=kind)
        tx.commit()
    state(ctx).out.print(f"Created organisation {row['id']}: {escape(row['name'])} ({row['kind']}) "
                         "/ 已创建机构")


@org.command("list")
def org_list(ctx: typer.Context) -> None:
    """List organisations with their users and accounts / 机构列表."""
    of_organization = organizations.c.id
    user_count = select(func.count()).where(users.c.organization_id == of_organization).scalar_subquery()
    account_count = (select(func.count()).where(accounts.c.organization_id == of_organization)
                     .scalar_subquery())
    with registry(ctx).connect() as conn:
        rows = conn.execute(select(organizations.c.id, organizations.c.name, organizations.c.kind, user_count,
                                   account_count).order_by(organizations.c.id)).all()
    state(ctx).out.print(table("Organisations / 机构", ["id", "name", "kind", "# users", "# accounts"], rows))


@user.command("create")
def user_create(
    ctx: typer.Context,
    organization_id: int = typer.Option(..., "--org", help="The organisation's id."),
    username: str = typer.Option(..., help="Login name: 3-64 lower-case letters, digits, '.', '_' or '-'."),
    role: str = typer.Option(..., help=f"One of {', '.join(ROLES)}."),
    password: str | None = typer.Option(
        None, help="At least 10 characters; prompted for, hidden, when omitted."),
    region: str | None = typer.Option(None, help="Operator users only: the region this user is the operator of "
                                      "(it decides cross-regional transfers into it and its districts)."),
) -> None:
    """Add a user to an organisation / 新建用户."""
    registry(ctx)  # refuse a missing database before asking for a password
    secret = _password(password)
    with operator_work(ctx) as (tx, operator):
        row = identity.create_user(tx, operator, organization_id=organization_id, username=username,
                                   password=secret, role=role, region=region)
        tx.commit()
    state(ctx).out.print(f"Created user {row['id']}: {escape(username)} ({role}) in organisation "
                         f"{organization_id} / 已创建用户")


# ---------------------------------------------------------------- accounts

@account.command("open")
def account_open(
    ctx: typer.Context,
    organization_id: int = typer.Option(..., "--org", help="The owning organisation's id."),
    kind: str = typer.Option(..., help=f"One of {', '.join(ACCOUNT_KINDS)}."),
    name: str = typer.Option(..., help="A name unique within the organisation."),
) -> None:
    """Open an account for an organisation / 开立账户."""
    with operator_work(ctx) as (tx, operator):
        row = ledger.open_account(tx, operator, organization_id=organization_id, kind=kind, name=name)
        tx.commit()
    state(ctx).out.print(f"Opened account {row['id']}: {escape(row['name'])} ({row['kind']}) "
                         f"for organisation {organization_id} / 已开立账户")


@account.command("list")
def account_list(
    ctx: typer.Context,
    organization_id: int | None = typer.Option(None, "--org", help="Only this organisation's accounts."),
) -> None:
    """List accounts and their balances / 账户列表."""
    query = (select(accounts.c.id, organizations.c.name, accounts.c.kind, accounts.c.name,
                    accounts.c.available, accounts.c.pledged)
             .join(organizations, organizations.c.id == accounts.c.organization_id).order_by(accounts.c.id))
    if organization_id is not None:
        query = query.where(accounts.c.organization_id == organization_id)
    with registry(ctx).connect() as conn:
        rows = conn.execute(query).all()
    state(ctx).out.print(table("Accounts / 账户", ["id", "organisation", "kind", "name", "available kgCO2e",
                                                   "pledged kgCO2e"], rows))


@account.command("show")
def account_show(ctx: typer.Context, account_id: int = typer.Argument(..., help="The account's id.")) -> None:
    """Show an account and its units by state / 账户详情 (available, pledged, retired, cancelled, revoked)."""
    with registry(ctx).connect() as conn:
        row = ledger.get_account(conn, account_id)
        owner = ledger.get_organization(conn, row["organization_id"])
        # PostgreSQL sums bigints as numeric; the cast keeps every count and quantity an int.
        by_state = {
            state_: (count, units) for state_, count, units in conn.execute(
                select(blocks.c.state, func.count(), cast(func.sum(blocks.c.quantity), BigInteger))
                .where(blocks.c.account_id == account_id).group_by(blocks.c.state)
            )
        }
    out = state(ctx).out
    out.print(f"Account {row['id']} · {escape(row['name'])} · {row['kind']} · organisation {owner['id']} "
              f"{escape(owner['name'])}")
    rows = [(s, *by_state.get(s, (0, 0))) for s in State.ALL]
    rows.append(("total", sum(r[1] for r in rows), sum(r[2] for r in rows)))
    out.print(table("Units by state / 按状态", ["state", "# blocks", "kgCO2e"], rows))


# ---------------------------------------------------------------- projects

@project.command("register")
def project_register(
    ctx: typer.Context,
    name: str = typer.Option(..., help="The project's name."),
    owner: int = typer.Option(..., help="The owning organisation's id."),
    methodology: str = typer.Option(..., help="Methodology code, e.g. PV-DIST."),
    region: str = typer.Option(..., help="Region code used in serials, e.g. SIP."),
) -> None:
    """Register a project / 登记项目."""
    with operator_work(ctx) as (tx, operator):
        row = ledger.register_project(tx, operator, name=name, owner_organization_id=owner,
                                      methodology=methodology, region=region)
        tx.commit()
    state(ctx).out.print(f"Registered project {row['id']}: {escape(row['name'])} / 已登记项目")


@project.command("list")
def project_list(ctx: typer.Context) -> None:
    """List projects and how much each has been issued / 项目列表."""
    issued = (select(cast(func.coalesce(func.sum(issuances.c.quantity), 0), BigInteger))
              .where(issuances.c.project_id == projects.c.id).scalar_subquery())
    with registry(ctx).connect() as conn:
        rows = conn.execute(
            select(projects.c.id, projects.c.name, organizations.c.name, projects.c.methodology,
                   projects.c.region, projects.c.status, issued)
            .join(organizations, organizations.c.id == projects.c.owner_organization_id)
            .order_by(projects.c.id)
        ).all()
    state(ctx).out.print(table("Projects / 项目", ["id", "name", "owner", "methodology", "region", "status",
                                                   "issued kgCO2e"], rows))


# ---------------------------------------------------------------- acts only the operator makes

def issue(
    ctx: typer.Context,
    project_id: int = typer.Option(..., "--project", help="The project's id."),
    vintage: int = typer.Option(..., help="Vintage year, within the monitoring period."),
    period: str = typer.Option(..., help="Monitoring period START..END, e.g. 2024-01-01..2024-12-31."),
    quantity: int = typer.Option(..., help="Whole kgCO2e (1 t = 1,000)."),
    account_id: int = typer.Option(..., "--account", help="The holding (or buffer) account to issue into."),
    credit_type: str | None = typer.Option(
        None, help="Credit type in the serial (default: TANHUI_DEFAULT_CREDIT_TYPE, PHCER)."),
) -> None:
    """Issue a project's credits into an account as one serial block / 签发减排量."""
    period_start, period_end = parse_period(period)
    settings = state(ctx).settings
    with operator_work(ctx) as (tx, operator):
        result = ledger.issue(tx, operator, registry=settings.registry_code, project_id=project_id,
                              vintage=vintage, period_start=period_start, period_end=period_end,
                              quantity=quantity,
                              account_id=account_id, credit_type=credit_type or settings.default_credit_type)
        tx.commit()
    _report(ctx, f"Issued / 已签发 (issuance {result.detail['id'] if result.detail else '?'})", result)


def cancel(
    ctx: typer.Context,
    account_id: int = typer.Option(..., "--account", help="The account whose units are cancelled."),
    purpose: str = typer.Option(..., help=f"One of {', '.join(CANCELLATION_PURPOSES)}."),
    quantity: int | None = typer.Option(None, help="Whole kgCO2e, first issued first (or --serial-range)."),
    serial_range: str | None = typer.Option(
        None, help="Exactly these units, e.g. TH1.SIP.PHCER.P1.V2024.I1.1-500."),
    compliance_year: int | None = typer.Option(None, help="The year a compliance surrender counts for."),
    reason: str | None = typer.Option(None, help="Why (required for a regulatory cancellation)."),
) -> None:
    """Cancel units: compliance surrender or regulatory act; final / 注销（履约或监管）."""
    with operator_work(ctx) as (tx, operator):
        result = ledger.cancel(tx, operator, account_id=account_id, purpose=purpose, quantity=quantity,
                               serial_range=serial_range, compliance_year=compliance_year, reason=reason)
        tx.commit()
    _report(ctx, "Cancelled / 已注销", result)


def revoke(
    ctx: typer.Context,
    reason: str = typer.Option(..., help="Why the units are invalid."),
    serial_range: str | None = typer.Option(None, help="Exactly these units, wherever they are held."),
    account_id: int | None = typer.Option(None, "--account", help="With --quantity: from this account."),
    quantity: int | None = typer.Option(None, help="Whole kgCO2e from --account, first issued first."),
) -> None:
    """Revoke (invalidate) available units; final / 撤销无效减排量."""
    with operator_work(ctx) as (tx, operator):
        result = ledger.revoke(tx, operator, reason=reason, serial_range=serial_range, account_id=account_id,
                               quantity=quantity)
        tx.commit()
    _report(ctx, "Revoked / 已撤销", result)
