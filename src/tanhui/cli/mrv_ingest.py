"""`tanhui mrv ingest`: meter-reading files into the lake, each file all or nothing."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from tanhui.cli.context import complain, fail, registry, state

_HASH_CHUNK = 1 << 20


class ReadingFormat(StrEnum):
    """The formats `read_readings` understands."""

    csv = "csv"
    parquet = "parquet"
    dlt645 = "dlt645"


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH", show_default=False,
        help="Readings files: CSV or Parquet with meter_id, ts and kwh or register_kwh; or ts,frame CSV of DL/T 645.",
    ),
    fmt: ReadingFormat | None = typer.Option(
        None, "--format", show_default=False,
        help="Format of every PATH (default: from the suffix, .csv or .parquet; dlt645 must be given).",
    ),
    sites: Path | None = typer.Option(
        None, "--sites", metavar="SITES.csv", show_default=False,
        help="Site registry CSV; a file with readings of any other meter is refused. Default: the meters registered "
             "in the registry database (`tanhui mrv sites import`).",
    ),
) -> None:
    """Store meter readings in the lake / 电表读数入库: each file all or nothing, never a reading twice.

    Prints per file the readings stored, those already stored and the local dates they cover.

    A refused file is named with its faulty rows and changes nothing; the others are still ingested; exit code 1.

    See docs/mrv-intake.md.
    """
    from rich.progress import Progress

    from tanhui.errors import BadInput
    from tanhui.mrv.lake import Lake
    from tanhui.mrv.readings import check_known_meters, read_readings
    from tanhui.mrv.sites import read_sites

    cli = state(ctx)
    known = frozenset(read_sites(sites)["meter_id"].to_list()) if sites is not None else registered_meters(ctx)
    lake = Lake(cli.settings.data_dir / "lake")
    refused = []
    with Progress(console=cli.err, transient=True, disable=len(paths) < 2) as progress:
        task = progress.add_task("入库 ingesting", total=len(paths))
        for path in paths:
            try:
                batch = read_readings(path, fmt.value if fmt else None)
                # Checked here to name CSV lines; the lake would name rows of the frame.
                check_known_meters(batch.frame, known, batch.source, rows=batch.rows, word=batch.row_word)
                result = lake.ingest(batch.frame, source=str(path.resolve()), known_meters=known,
                                     source_sha256=_sha256(path))
            except BadInput as exc:
                complain(ctx, f"refused, nothing stored: {exc.detail}")
                refused.append(path)
            else:
                dates = (f"{result.dates[0]}..{result.dates[-1]}" if len(result.dates) > 1
                         else str(result.dates[0]))
                batch_note = f" (batch {result.batch_id})" if result.batch_id else ""
                stored = f"{result.rows_stored:,} reading{'' if result.rows_stored == 1 else 's'} stored"
                _say(cli.out, f"{path}: {stored}, {result.rows_already_stored:,} already stored, "
                              f"local dates {dates}{batch_note}")
                for note in batch.notes:
                    _say(cli.out, f"  note: {note}")
            progress.advance(task)
    if refused:
        complain(ctx, f"{len(refused)} of {len(paths)} files refused (the others were ingested): "
                      f"{', '.join(map(str, refused))}")
        raise typer.Exit(1)


def registered_meters(ctx: typer.Context) -> frozenset[str]:
    """The meter ids registered in the registry database; the command fails, saying what to do, when none are."""
    from tanhui.mrv.registry import registered_meter_ids

    with registry(ctx).connect() as conn:
        known = registered_meter_ids(conn)
    if not known:
        fail(ctx, f"no meters are registered in {state(ctx).database}: register them with "
                  "`tanhui mrv sites import SITES.csv`, or name the site file with --sites")
    return known


def _say(console: Console, line: str) -> None:
    console.print(line, soft_wrap=True, markup=False, highlight=False)  # file names may hold [brackets]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
