"""The journal audit on the command line: verify the chain against the ledger, print its head to anchor."""

from __future__ import annotations

import typer

from tanhui.cli.context import complain, print_json, registry, state
from tanhui.journal.audit import verify
from tanhui.registry import queries

audit = typer.Typer(no_args_is_help=True, help="Journal audit / 审计: verify, head.")


@audit.command("verify")
def audit_verify(
    ctx: typer.Context,
    expect_head: str | None = typer.Option(
        None, help="The head hash published (anchored) earlier; the journal must still contain it."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Verify the journal's hash chain and every ledger row / 校验日志; exit 1 naming the first bad entry."""
    report = verify(registry(ctx), expect_head=expect_head)
    if as_json:
        print_json({
            "ok": report.ok, "entries": report.entries, "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "problems": [{"seq": p.seq, "message": p.message} for p in report.problems],
        })
        if not report.ok:
            raise typer.Exit(1)
        return
    out = state(ctx).out
    if report.ok:
        out.print(f"Journal intact / 日志完整: {report.entries:,} entries, head seq {report.head_seq}, "
                  f"hash {report.head_hash}", soft_wrap=True)
        return
    first = report.problems[0]
    complain(ctx, f"journal NOT intact / 日志被篡改: {len(report.problems)} problem(s); first bad: "
                  f"{_where(first.seq)}: {first.message}")
    for problem in report.problems[1:]:
        state(ctx).err.print(f"  also {_where(problem.seq)}: {problem.message}", markup=False, soft_wrap=True)
    raise typer.Exit(1)


def _where(seq: int | None) -> str:
    # Findings with no seq concern rows no entry describes, or an invariant over many rows.
    return "no single entry" if seq is None else f"entry seq {seq}"


@audit.command("head")
def audit_head(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print seq and hash as JSON."),
) -> None:
    """Print the journal head (seq and hash) to publish or anchor elsewhere / 日志头（用于外部锚定）."""
    with registry(ctx).connect() as conn:
        head = queries.journal_head_view(conn)
    if as_json:
        print_json(head)
    else:
        state(ctx).out.print(f"seq  {head['seq']}\nhash {head['hash']}")
