"""Commands that set a registry up and run it: serve, db upgrade/current, bootstrap, demo."""

from __future__ import annotations

import os

import typer
import uvicorn
from rich.markup import escape

from tanhui.cli.context import fail, registry, registry_is_empty, sqlite_file, state, table
from tanhui.demo import DEMO_LOGINS, DEMO_PASSWORD, demo_present, seed_demo
from tanhui.identity import services as identity
from tanhui.migrate import current_revision, head_revision, upgrade

db = typer.Typer(no_args_is_help=True, help="Database schema / 数据库结构: upgrade, current.")

DEFAULT_OPERATOR = "碳惠运营方 Tanhui Registry Operator"


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    demo: bool = typer.Option(False, "--demo", help="Seed the demo registry when the database is empty."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Serve the REST API and its docs / 启动 API 服务 (migrates an embedded SQLite database itself)."""
    cli = state(ctx)
    engine = registry(ctx, create=True)
    if demo:
        _seed(ctx)
    elif registry_is_empty(engine):
        cli.out.print("The registry is empty: create its operator with `tanhui bootstrap`, or use --demo.\n"
                      "登记簿为空：请先运行 `tanhui bootstrap`，或加 --demo 启动演示。")
    cli.close()  # the server makes its own engines; no connection of ours should outlive this point
    # The factory reads its settings from the environment, in this process and in every worker.
    os.environ["TANHUI_DATABASE_URL"] = cli.settings.database_url
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    cli.out.print(f"Registry database / 数据库: {escape(cli.database)}\n"
                  f"API docs / 接口文档: http://{shown}:{port}/docs   (Ctrl+C to stop / 停止)")
    uvicorn.run("tanhui.api.app:create_app", factory=True, host=host, port=port, workers=workers)


def bootstrap(
    ctx: typer.Context,
    username: str = typer.Option(..., help="The operator's first admin user."),
    password: str | None = typer.Option(
        None, help="Their password (at least 10 characters); prompted for, hidden, when omitted."),
    organization: str = typer.Option(DEFAULT_OPERATOR, help="Name of the operator organisation."),
) -> None:
    """Create the operator organisation and its first admin in an empty registry / 初始化运营方与管理员."""
    engine = registry(ctx, create=True)
    # Refuse before asking for a password that could not be used.
    if not registry_is_empty(engine):
        fail(ctx, "the registry already has organisations; bootstrap runs only on an empty database")
    if password is None:
        password = typer.prompt("Password / 密码", hide_input=True, confirmation_prompt=True)
    user = identity.bootstrap(engine, username=username, password=password, organization_name=organization)
    state(ctx).out.print(f"Created the operator organisation {user['organization_id']} "
                         f"({escape(organization)}) and its admin {escape(username)} / 已创建运营方及管理员.")


def demo(ctx: typer.Context) -> None:
    """Seed the demo registry into the configured database / 写入演示数据 (kept when it has data)."""
    registry(ctx, create=True)
    _seed(ctx)


def _seed(ctx: typer.Context) -> None:
    cli = state(ctx)
    settings = cli.settings
    if seed_demo(cli.engine, registry=settings.registry_code, credit_type=settings.default_credit_type):
        cli.out.print("Seeded the demo registry / 已写入演示数据: 1,200 t of rooftop PV credits issued, "
                      "500 t sold to a Wujiang buyer, 100 t retired, 200 t pledged to a bank.")
    elif demo_present(cli.engine):
        cli.out.print("The demo registry is already here; kept as it is / 演示数据已存在，保持不变。")
    else:
        cli.out.print("The database already has other organisations, so the demo was not seeded; "
                      "existing data kept.\n数据库已有其他数据，未写入演示数据。")
        return
    cli.out.print(table(
        f"Demo logins / 演示账号 (password / 密码: {DEMO_PASSWORD})",
        ["username", "organisation", "kind", "try / 可尝试"],
        [(login.username, login.organization, login.kind, login.tries) for login in DEMO_LOGINS],
    ))


@db.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the schema to the newest revision / 升级数据库结构."""
    cli = state(ctx)
    before = current_revision(cli.engine)
    upgrade(cli.engine)
    after = current_revision(cli.engine)
    if before == after:
        cli.out.print(f"{escape(cli.database)}: already at {after} (head) / 已是最新")
    else:
        cli.out.print(f"{escape(cli.database)}: upgraded from {before or 'an empty schema'} to {after} "
                      "/ 已升级")


@db.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision and whether it is the newest / 查看数据库结构版本."""
    cli = state(ctx)
    engine = cli.engine
    path = sqlite_file(cli.settings)
    # Connecting would create the SQLite file; a question about the schema should not.
    current = None if path is not None and not path.exists() else current_revision(engine)
    head = head_revision(engine)
    verdict = "at head / 已是最新" if current == head else "behind: run `tanhui db upgrade` / 需升级"
    cli.out.print(f"database {escape(cli.database)}\ncurrent  {current or 'none (empty)'}\nhead     {head}\n"
                  f"{verdict}")
