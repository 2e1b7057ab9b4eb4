"""`tanhui mrv verify`: readings files or a lake → flagged intervals, daily energy, summary and report, no database."""

from __future__ import annotations

import hashlib
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from tanhui.cli.context import state
from tanhui.errors import InvalidRequest

if TYPE_CHECKING:
    import polars as pl

    from tanhui.mrv.verify import Period

_HASH_CHUNK = 1 << 20


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
    engine: str | None = typer.Option(None, "--engine", metavar="local|dask", show_default=False,
                                      help="Where the partitions run: this process (local, the default) or a Dask "
                                           "cluster (dask; a cluster on this machine unless --scheduler)."),
    scheduler: str | None = typer.Option(None, "--scheduler", metavar="ADDRESS", show_default=False,
                                         help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                                              "(implies --engine dask)."),
    workers: int | None = typer.Option(None, "--workers", min=1, max=256, show_default=False,
                                       help="Worker processes of the local Dask cluster (default: one per core)."),
) -> None:
    """Verify meter readings and compute reductions / 数字化核证: flag every 15-minute interval, credit the rest.

    Writes DIR/intervals.parquet (every expected interval with its flags), DIR/daily.parquet (per meter and local
    day), DIR/summary.json (per site: reported and accepted kWh, flag counts, reductions in kg, the grid factor and
    its source) and DIR/report.html.

    Works on files alone; no registry database is used.  See docs/mrv-verification.md.
    """
    import polars as pl
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tanhui.mrv.frames import LOCAL_TIMEZONE
    from tanhui.mrv.report import write_report
    from tanhui.mrv.sites import read_sites
    from tanhui.mrv.verify import Period
    from tanhui.mrv.verify import verify as run_verification

    cli = state(ctx)
    use_dask = _engine_choice(engine, scheduler, workers)
    chosen = Period.parse(period) if period is not None else None
    site_table = read_sites(sites)
    meters = site_table["meter_id"].to_list()
    frames, inputs, notes = _load(readings, [*(more or [])], fmt, meters, chosen)
    if chosen is None:
        chosen = _covered_days(frames)
    notes.insert(0, f"Timestamps without a UTC offset were read as {LOCAL_TIMEZONE} local time (UTC+08:00).")
    with ExitStack() as stack:
        options: dict[str, Any] = {}
        if use_dask:
            from tanhui.mrv.dask_engine import dask_engine

            options["engine"] = stack.enter_context(dask_engine(scheduler, workers=workers))
        progress = stack.enter_context(Progress(
            TextColumn("核证 verifying"), BarColumn(), MofNCompleteColumn(), TextColumn("site-days"),
            TimeElapsedColumn(), console=cli.err, transient=True))
        task = progress.add_task("verify", total=len(site_table) * chosen.days)
        summary = run_verification(
            site_table, pl.concat(frames, how="vertical"), chosen, out, methodology=methodology, inputs=inputs,
            notes=notes, progress=lambda done, total: progress.update(task, completed=done, total=total),
            **options,
        )
    report = write_report(out)
    _print_summary(ctx, summary, out, report)


def _engine_choice(engine: str | None, scheduler: str | None, workers: int | None) -> bool:
    """Whether the run goes to Dask; a usage error for options that contradict each other."""
    if engine not in (None, "local", "dask"):
        raise typer.BadParameter(f"{engine!r} is not an engine: local or dask", param_hint="--engine")
    if scheduler is not None and engine == "local":
        raise typer.BadParameter("a scheduler address needs --engine dask (or no --engine)", param_hint="--scheduler")
    if workers is not None and (scheduler is not None or engine != "dask"):
        raise typer.BadParameter("--workers sizes the local Dask cluster: use it with --engine dask and no "
                                 "--scheduler", param_hint="--workers")
    return engine == "dask" or scheduler is not None


def _load(first: Path, more: list[Path], fmt: str | None, meters: list[str],
          period: Period | None) -> tuple[list[pl.LazyFrame], list[dict[str, Any]], list[str]]:
    """Each readings path as a lazy frame of the sites' readings, with what the summary records about it."""
    from tanhui.mrv.frames import INTERVAL
    from tanhui.mrv.lake import MANIFEST, Lake
    from tanhui.mrv.readings import scan_readings

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
            # Unknown meters are refused here rather than in verify, so that the error names the file's own lines.
            scan = scan_readings(path, meters, fmt)
            frames.append(scan.frame)
            inputs.append({"file": str(path.resolve()), "sha256": _sha256(path), "readings": scan.readings})
            notes.extend(f"{path.name}: {note}" for note in scan.notes)
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
