"""MRV throughput: full verification of 1e8 15-minute readings against a bare DuckDB GROUP BY over the same file.

Run ``python benchmarks/mrv.py --help``; BENCHMARKS.md explains each figure and keeps the latest results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import Progress

from harness import Figure, machine, now_utc, print_report, write_json
from tanhui.mrv.synthetic import ParkSpec, write_park

# The scale: 100,000 sites × 10 days × 96 intervals ≈ 9.6e7 readings.
DEFAULT_SITES = 100_000
DEFAULT_DAYS = 10
READINGS_PER_S_TARGET = 20_000_000.0
RATIO_TO_DUCKDB_TARGET = 3.0
PEAK_MEMORY_TARGET_GIB = 4.0
# Memory is sampled this often while verify runs (the peak of the whole process tree, Dask workers included).
MEMORY_SAMPLE_S = 0.1
DUCKDB_REPEATS = 3


def generate(spec: ParkSpec, directory: Path, console: Console) -> dict[str, Any]:
    """Write the park once per spec; a later run with the same spec and directory reuses it."""
    stamp = directory / "spec.json"
    wanted = {"sites": spec.sites, "start": spec.start.isoformat(), "days": spec.days, "seed": spec.seed}
    if stamp.exists() and json.loads(stamp.read_text()).get("spec") == wanted:
        console.print(f"reusing the generated park in {directory}")
        return dict(json.loads(stamp.read_text()))
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("generating readings", total=spec.sites)
        files = write_park(spec, directory, progress=lambda done, _: progress.update(task, completed=done))
    described = {"spec": wanted, "readings": files.readings_rows, "registers": files.register_rows,
                 "generate_s": round(time.perf_counter() - started, 1),
                 "parquet_mb": round((files.readings.stat().st_size + files.registers.stat().st_size) / 2**20, 1)}
    stamp.write_text(json.dumps(described))
    return described


def duckdb_group_by(readings: Path) -> float:
    """Seconds for the bare baseline: the total per meter over the readings file (best of a few runs)."""
    import duckdb

    best = float("inf")
    with duckdb.connect() as db:
        db.execute(f"SET threads = {os.cpu_count() or 1}")
        for _ in range(DUCKDB_REPEATS):
            started = time.perf_counter()
            db.execute("SELECT meter_id, SUM(kwh) FROM read_parquet(?) GROUP BY meter_id", [str(readings)]).fetchall()
            best = min(best, time.perf_counter() - started)
    return best


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # a worker that just exited
            continue
    return total


def run_verify(directory: Path, engine: str, scheduler: str | None) -> dict[str, Any]:
    """Run `tanhui mrv verify` as an operator would, timing it and sampling its memory."""
    out = directory / f"verified-{engine}"
    command = [sys.executable, "-m", "tanhui", "mrv", "verify", "--sites", str(directory / "sites.csv"),
               "--readings", str(directory / "readings.parquet"), str(directory / "registers.parquet"),
               "--out", str(out)]
    if engine != "local":
        command += ["--engine", engine] + (["--scheduler", scheduler] if scheduler else [])
    peak = 0
    output: dict[str, str] = {}
    # An empty numba cache: the run compiles the flag kernels as the first run after installing does, and the
    # compile time is part of the figure.
    with tempfile.TemporaryDirectory(prefix="tanhui-mrv-numba-") as cache:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "NUMBA_CACHE_DIR": cache})
        watched = psutil.Process(child.pid)

        def drain() -> None:
            output["out"], output["err"] = child.communicate()

        reader = threading.Thread(target=drain)
        reader.start()
        while child.poll() is None:
            peak = max(peak, _tree_rss(watched))
            time.sleep(MEMORY_SAMPLE_S)
        reader.join()
        elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"verify exited {child.returncode}: {output.get('err', '').strip()[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {"seconds": elapsed, "peak_gib": peak / 2**30, "summary": summary}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sites", type=int, default=DEFAULT_SITES, help=f"sites (default {DEFAULT_SITES:,})")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"local days (default {DEFAULT_DAYS})")
    parser.add_argument("--directory", type=Path,
                        help="where to write (and reuse) the generated park; default: a temporary directory")
    parser.add_argument("--engine", choices=("local", "dask"), default="local", help="verify's engine")
    parser.add_argument("--scheduler", help="Dask scheduler address (with --engine dask; default: a LocalCluster)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.sites < 1 or args.days < 1:
        parser.error("--sites and --days must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    spec = ParkSpec(sites=args.sites, start=date(2024, 6, 1), days=args.days)
    context: dict[str, Any] = {"date": now_utc(), **machine(), "sites": args.sites, "days": args.days,
                               "engine": args.engine}
    throughput = Figure("verify · readings/s", "readings/s", target=READINGS_PER_S_TARGET)
    against_duckdb = Figure("verify time ÷ DuckDB GROUP BY", "×", target=RATIO_TO_DUCKDB_TARGET, lower_is_better=True)
    memory = Figure("verify · peak memory", "GiB", target=PEAK_MEMORY_TARGET_GIB, lower_is_better=True)
    with tempfile.TemporaryDirectory(prefix="tanhui-mrv-bench-") as tmp:
        directory = args.directory or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        park = generate(spec, directory, console)
        rows = park["readings"] + park["registers"]
        context["readings"] = rows
        console.print(f"{rows:,} readings ({park['parquet_mb']} MB of Parquet); DuckDB baseline…")
        baseline = duckdb_group_by(directory / "readings.parquet")
        console.print(f"DuckDB GROUP BY: {baseline:.2f} s; verify ({args.engine})…")
        try:
            verified = run_verify(directory, args.engine, args.scheduler)
        except RuntimeError as exc:
            for figure in (throughput, against_duckdb, memory):
                figure.error = str(exc)
            verified = None
    if verified is not None:
        throughput.value = rows / verified["seconds"]
        against_duckdb.value = verified["seconds"] / baseline
        against_duckdb.details = {"verify_s": round(verified["seconds"], 2), "duckdb_s": round(baseline, 3)}
        memory.value = verified["peak_gib"]
        totals = verified["summary"].get("totals", {})
        throughput.details = {"accepted_kwh": totals.get("accepted_kwh"), "reduction_kg": totals.get("reduction_kg"),
                              "generate_s": park.get("generate_s")}
    figures = [throughput, against_duckdb, memory]
    print_report(figures, context, console, title="Tanhui MRV benchmark")
    if args.json is not None:
        write_json(args.json, figures, context)
    return 1 if any(f.error for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
