"""`tanhui mrv verify`: readings files or a lake → flagged intervals, daily energy, summary and report, no database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from tanhui.cli.context import fail, state
from tanhui.errors import InvalidRequest

if TYPE_CHECKING:
    import polars as pl

    from tanhui.mrv.verify import Engine, Period

_HASH_CHUNK = 1 << 20


class EngineName(StrEnum):
    """Where the partitions are verified: in this process, or on a Dask cluster."""

    local = "local"
    dask = "dask"


def verify(
    ctx: typer.Context,
    sites: Path = typer.Option(..., "--sites", metavar="SITES.csv", show_default=False,
                               help="Site registry CSV (meter_id, site_id, owner, capacity_kw, latitude, longitude, "
                                    "region, commissioned; optional tilt, azimuth, grid_point)."),
    readings: Path = typer.Option(..., "--readings", metavar="PATH", show_default=False,
                                  help="A readings file (CSV or Parquet with meter_id, ts and kwh or register_kwh; "
                                       "or DL/T 645 ts,frame CSV with --format dlt645) or a lake directory. More "
                                       "paths may follow: --readings a.csv b.csv …"),
    more: list[Path] = typer.Argument(None, metavar="PATH", show_default=False,
                                      help="Further readings files or lake directories."),
    period: str | None = typer.Option(None, "--period", metavar="START..END", show_default=False,
                                      help="Inclusive local (Asia/Shanghai) days, like 2024-01-01..2024-01-31. "
                                           "Default: the whole days the readings cover."),
    methodology: str | None = typer.Option(None, "--methodology", metavar="CODE@VERSION", show_default=False,
                                           help="Methodology version, e.g. PV-DIST@1-EC2023 (the default) or "
                                                "PV-DIST@1-CN2023."),
    out: Path = typer.Option(..., "--out", metavar="DIR", show_default=False,
                             help="Directory for intervals.parquet, daily.parquet, summary.json and report.html "
                                  "(created if missing; files of an earlier run are replaced)."),
    fmt: str | None = typer.Option(None, "--format", metavar="csv|parquet|dlt645", show_default=False,
                                   help="Format of every readings file (default: from the suffix)."),
    engine: EngineName | None = typer.Option(None, "--engine", show_default=False,
                                             help="local (the default): verify in this process; dask: on a Dask "
                                                  "cluster, the one at --scheduler or else a local cluster of "
                                                  "worker processes started for the run. Same output either way."),
    scheduler: str | None = typer.Option(None, "--scheduler", metavar="ADDRESS", show_default=False,
                                         help="Dask scheduler address, like tcp://10.0.0.5:8786 (implies "
                                              "--engine dask). See docs/mrv-scale.md."),
) -> None:
    """Verify meter readings and compute reductions / 数字化核证: flag every 15-minute interval, credit the rest.

    Writes DIR/intervals.parquet (every expected interval with its flags), DIR/daily.parquet (per meter and local
    day), DIR/summary.json (per site: reported and accepted kWh, flag counts, reductions in kg, the grid factor and
    its source) and DIR/report.html.

    Works on files alone; no registry database is used.  With --engine dask (or --scheduler) the same partitions
    run on a Dask cluster.  See docs/mrv-verification.md and docs/mrv-scale.md.
    """
    import polars as pl
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tanhui.mrv.frames import LOCAL_TIMEZONE
    from tanhui.mrv.report import write_report
    from tanhui.mrv.sites import read_sites
    from tanhui.mrv.verify import Period
    from tanhui.mrv.verify import verify as run_verification

    cli = state(ctx)
    if scheduler is not None and engine is EngineName.local:
        fail(ctx, f"--scheduler {scheduler} names a Dask cluster, but --engine local verifies in this process: "
                  "give --engine dask, or leave out --scheduler", code=2)
    chosen = Period.parse(period) if period is not None else None
    site_table = read_sites(sites)
    meters = site_table["meter_id"].to_list()
    frames, inputs, notes = _load(readings, [*(more or [])], fmt, meters, chosen)
    if chosen is None:
        chosen = _covered_days(frames)
    notes.insert(0, f"Timestamps without a UTC offset were read as {LOCAL_TIMEZONE} local time (UTC+08:00).")
    with _engine(engine, scheduler) as runner, \
            Progress(TextColumn("核证 verifying"), BarColumn(), MofNCompleteColumn(), TextColumn("site-days"),
                     TimeElapsedColumn(), console=cli.err, transient=True) as progress:
        task = progress.add_task("verify", total=len(site_table) * chosen.days)
        summary = run_verification(
            site_table, pl.concat(frames, how="vertical"), chosen, out, methodology=methodology, inputs=inputs,
            notes=notes, progress=lambda done, total: progress.update(task, completed=done, total=total),
            engine=runner,
        )
    report = write_report(out)
    _print_summary(ctx, summary, out, report)


@contextmanager
def _engine(name: EngineName | None, scheduler: str | None) -> Iterator[Engine]:
    """The engine the options name; a scheduler address alone means the Dask engine."""
    if name is EngineName.dask or scheduler is not None:
        from tanhui.mrv.dask_engine import dask_engine

        with dask_engine(scheduler) as engine:
            yield engine
    else:
        from tanhui.mrv.verify import run_partitions

        yield run_partitions


def _load(first: Path, more: list[Path], fmt: str | None, meters: list[str],
          period: Period | None) -> tuple[list[pl.LazyFrame], list[dict[str, Any]], list[str]]:
    """Each readings path as a lazy frame of the sites' readings, with what the summary records about it."""
    from tanhui.mrv.frames import INTERVAL
    from tanhui.mrv.lake import MANIFEST, Lake
    from tanhui.mrv.readings import check_known_meters, read_readings

    frames: list[pl.LazyFrame] = []
    inputs: list[dict[str, Any]] = []
    notes: list[str] = []
    for path in (first, *more):
        if path.is_dir():
            if not (path / MANIFEST).is_file():
                raise InvalidRequest(f"{path} is a directory but not a lake (it has no {MANIFEST}); give readings "
                                     "files or a lake made by `tanhui mrv ingest`")
            lake = Lake(path)
            # The closing register read of the last interval is stamped at the period's end: read one past it.
            if period is None:
                frames.append(lake.scan(meters=meters))
            else:
                frames.append(lake.scan(start=period.first, end=period.stop + INTERVAL, meters=meters))
            batches = lake.manifest()["batches"]
            inputs.append({"lake": str(path.resolve()), "batches": len(batches),
                           "last_batch": batches[-1]["id"] if batches else None})
        else:
            batch = read_readings(path, fmt)
            # Here rather than in verify, so that the error names the file's own lines.
            check_known_meters(batch.frame, meters, batch.source, rows=batch.rows, word=batch.row_word)
            frames.append(batch.frame.lazy())
            inputs.append({"file": str(path.resolve()), "sha256": _sha256(path), "readings": len(batch.frame)})
            notes.extend(f"{path.name}: {note}" for note in batch.notes)
    return frames, inputs, notes


def _covered_days(frames: list[pl.LazyFrame]) -> Period:
    """The whole local days the readings cover.  A register read stamped at midnight closes the day before."""
    from zoneinfo import ZoneInfo

    import polars as pl

    from tanhui.mrv.frames import INTERVAL, LOCAL_TIMEZONE
    from tanhui.mrv.verify import Period

    interval = pl.when(pl.col("kwh").is_null()).then(pl.col("ts") - INTERVAL).otherwise(pl.col("ts"))
    bounds = pl.concat(frames, how="vertical").select(
        pl.col("ts").min().alias("first"), interval.max().alias("last"),
    ).collect()
    first, last = bounds.row(0)
    if first is None:
        raise InvalidRequest("the readings hold no reading of the sites' meters: nothing to verify")
    zone = ZoneInfo(LOCAL_TIMEZONE)
    return Period(first.astimezone(zone).date(), max(last, first).astimezone(zone).date())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _print_summary(ctx: typer.Context, summary: dict[str, Any], out: Path, report: Path) -> None:
    cli = state(ctx)
    totals, factor = summary["totals"], summary["methodology"]["grid_factor"]
    method = summary["methodology"]
    period = summary["period"]
    cli.out.print(f"核证完成 verified {totals['sites']:,} sites, {period['start']}..{period['end']} "
                  f"({period['timezone']}), methodology {method['code']}@{method['version']}", soft_wrap=True)
    share = totals["accepted_kwh"] / totals["reported_kwh"] if totals["reported_kwh"] > 0 else 0.0
    cli.out.print(f"  reported {totals['reported_kwh']:,.3f} kWh, accepted {totals['accepted_kwh']:,.3f} kWh "
                  f"({share:.1%}), {totals['intervals_expected']:,} intervals expected")
    cli.out.print(f"  reductions {totals['reduction_kg']:,} kgCO2e at {factor['value']} {factor['unit']} "
                  f"({factor['series']} {factor['data_year']} {factor['region']}, [{factor['tag']}] "
                  f"{escape(factor['source'])})", soft_wrap=True)
    raised = [f"{name} {count:,}" for name, count in totals["flag_counts"].items() if count]
    cli.out.print(f"  flags: {', '.join(raised) if raised else 'none'}")
    for note in summary["notes"]:
        cli.out.print(f"  note: {escape(note)}", soft_wrap=True)
    for name in ("intervals.parquet", "daily.parquet", "summary.json"):
        cli.out.print(f"  {out / name}", soft_wrap=True)
    cli.out.print(f"  {report}", soft_wrap=True)
