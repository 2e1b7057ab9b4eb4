"""Benchmark harness: run timed worker processes together, describe the machine, and report figures."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import platform
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# An operation is one unit of work a worker repeats; it gets its sequence number and raises when refused.
Operation = Callable[[int], None]
# A worker's setup: given its arguments, a context that yields the operation and tidies up afterwards.
Setup = Callable[..., AbstractContextManager[Operation]]

WARMUP_OPERATIONS = 10
# Hard bounds on every loop, whatever the clock says.
MAX_OPERATIONS_PER_WORKER = 10_000_000
MAX_CONSECUTIVE_FAILURES = 200
SETUP_TIMEOUT_S = 120.0
# Time a worker may need beyond its measured seconds to finish the operation in flight and report.
FINISH_GRACE_S = 120.0


@dataclass
class WorkerResult:
    """What one worker process did while the clock ran."""

    index: int
    successes: int = 0
    warmup: int = 0
    elapsed: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    error: str | None = None


@dataclass
class Run:
    """The workers of one benchmark, run together for the same seconds."""

    workers: list[WorkerResult]

    @property
    def successes(self) -> int:
        return sum(w.successes for w in self.workers)

    @property
    def warmup(self) -> int:
        return sum(w.warmup for w in self.workers)

    @property
    def elapsed(self) -> float:
        return max((w.elapsed for w in self.workers), default=0.0)

    @property
    def per_second(self) -> float:
        return self.successes / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def failures(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for worker in self.workers:
            total.update(worker.failures)
        return dict(total)

    @property
    def errors(self) -> list[str]:
        return [f"worker {w.index}: {w.error}" for w in self.workers if w.error]

    def latency_ms(self, quantile: float) -> float | None:
        samples = sorted(x for w in self.workers for x in w.latencies_ms)
        if not samples:
            return None
        return samples[min(len(samples) - 1, int(quantile * len(samples)))]

    def summary(self) -> dict[str, Any]:
        p50, p99 = self.latency_ms(0.50), self.latency_ms(0.99)
        return {
            "successes": self.successes, "warmup": self.warmup, "elapsed_s": round(self.elapsed, 3),
            "failures": self.failures, "errors": self.errors,
            "latency_p50_ms": None if p50 is None else round(p50, 3),
            "latency_p99_ms": None if p99 is None else round(p99, 3),
        }


def failure_name(exc: BaseException) -> str:
    """A short name for why an operation failed: the domain error's code, else the exception's class."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else type(exc).__name__


def _timed_loop(operation: Operation, seconds: float, barrier: Any, result: WorkerResult) -> None:
    # Warm-up operations open connections and fill caches; they must succeed, and are not counted.
    for sequence in range(WARMUP_OPERATIONS):
        operation(sequence)
        result.warmup += 1
    barrier.wait(timeout=SETUP_TIMEOUT_S)
    start = time.perf_counter()
    deadline = start + seconds
    consecutive_failures = 0
    for sequence in range(WARMUP_OPERATIONS, WARMUP_OPERATIONS + MAX_OPERATIONS_PER_WORKER):
        began = time.perf_counter()
        if began >= deadline:
            break
        try:
            operation(sequence)
        except Exception as exc:
            name = failure_name(exc)
            result.failures[name] = result.failures.get(name, 0) + 1
            consecutive_failures += 1
            if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                result.error = f"stopped after {consecutive_failures} failures in a row; last: {exc}"
                break
        else:
            result.successes += 1
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            consecutive_failures = 0
    result.elapsed = time.perf_counter() - start


def _worker_main(setup: Setup, args: tuple[Any, ...], seconds: float, barrier: Any, results: Any,
                 index: int) -> None:
    result = WorkerResult(index)
    try:
        with setup(*args) as operation:
            _timed_loop(operation, seconds, barrier, result)
    except threading.BrokenBarrierError:
        result.error = result.error or "another worker failed before the start"
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        barrier.abort()  # release the others rather than leave them waiting for us
    results.put(result)


def run_workers(setup: Setup, per_worker_args: Sequence[tuple[Any, ...]], seconds: float) -> Run:
    """Run one process per argument tuple; all start the clock together and run ``seconds``."""
    # Spawned, not forked: each worker builds its own engine and connections from nothing.
    context = mp.get_context("spawn")
    barrier = context.Barrier(len(per_worker_args) + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_worker_main, daemon=True,
                        args=(setup, args, seconds, barrier, results, index))
        for index, args in enumerate(per_worker_args)
    ]
    for process in processes:
        process.start()
    # A broken barrier means a worker failed to set up; its result says why.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=SETUP_TIMEOUT_S)
    collected: dict[int, WorkerResult] = {}
    deadline = time.monotonic() + seconds + FINISH_GRACE_S
    while len(collected) < len(processes) and time.monotonic() < deadline:
        try:
            result = results.get(timeout=1.0)
        except queue.Empty:
            if not any(p.is_alive() for p in processes) and results.empty():
                break
            continue
        collected[result.index] = result
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join(timeout=10)
    for index in range(len(processes)):
        collected.setdefault(index, WorkerResult(index, error="exited without reporting"))
    return Run([collected[i] for i in range(len(processes))])


def run_threads(setup: Setup, per_worker_args: Sequence[tuple[Any, ...]], seconds: float) -> Run:
    """Run one thread of this process per argument tuple (sharing what the arguments share), like ``run_workers``."""
    barrier = threading.Barrier(len(per_worker_args) + 1)
    results: queue.Queue[WorkerResult] = queue.Queue()
    threads = [threading.Thread(target=_worker_main, daemon=True, args=(setup, args, seconds, barrier, results, index))
               for index, args in enumerate(per_worker_args)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=SETUP_TIMEOUT_S)
    for thread in threads:
        thread.join(timeout=seconds + FINISH_GRACE_S)
    collected = {result.index: result for result in list(results.queue)}
    return Run([collected.get(i) or WorkerResult(i, error="did not finish") for i in range(len(threads))])


# ---------------------------------------------------------------- the machine


def _proc_field(path: str, name: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    """CPU, cores, RAM, OS, Python and SQLite versions of the machine the figures come from."""
    memory_kb = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "ram_gib": round(int(memory_kb.split()[0]) / 1024 / 1024, 1) if memory_kb else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def now_utc() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------- figures and the report


@dataclass
class Figure:
    """One reported number, its same-run baseline, and its target (on the number itself or on the ratio)."""

    benchmark: str
    unit: str
    value: float | None = None
    baseline_name: str | None = None
    baseline_unit: str | None = None
    baseline: float | None = None
    target: float | None = None
    target_on_ratio: bool = False
    lower_is_better: bool = False  # a time or a memory figure: the target is a ceiling
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def passed(self) -> bool | None:
        """Whether the target is met; None when nothing valid was measured."""
        measured = self.ratio if self.target_on_ratio else self.value
        if self.target is None or measured is None or self.error:
            return None
        return measured <= self.target if self.lower_is_better else measured >= self.target

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "passed": self.passed}


def _number(value: float | None, unit: str | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.{0 if abs(value) >= 100 else 2}f} {unit or ''}".rstrip()


def _ratio_text(ratio: float) -> str:
    # Two significant digits for small ratios, so 0.0032 does not print as 0.00.
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"


def _target_text(figure: Figure) -> str:
    if figure.target is None:
        return "—"
    sign = "≤" if figure.lower_is_better else "≥"
    if figure.target_on_ratio:
        return f"ratio {sign} {figure.target:g}"
    return f"{sign} {figure.target:,.{0 if figure.target >= 100 else 1}f} {figure.unit}"


def _detail_text(details: dict[str, Any]) -> str:
    """Details on one line; a nested measurement (such as the baseline's) in parentheses."""
    parts = []
    for key, value in details.items():
        if value in (None, {}, []):
            continue
        if isinstance(value, dict) and key != "failures":
            parts.append(f"{key}=({_detail_text(value)})")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def print_report(figures: Sequence[Figure], context: dict[str, Any], console: Console, *,
                 title: str = "Tanhui ledger benchmark") -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("benchmark")
    table.add_column("figure", justify="right")
    table.add_column("baseline (same run)")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("result", justify="center")
    for figure in figures:
        baseline = "—" if figure.baseline_name is None else (
            f"{figure.baseline_name}: {_number(figure.baseline, figure.baseline_unit)}")
        ratio = "—" if figure.ratio is None else _ratio_text(figure.ratio)
        result = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]n/a[/]"}[figure.passed]
        figure_text = _number(figure.value, figure.unit)
        table.add_row(figure.benchmark, figure_text, baseline, ratio, _target_text(figure), result)
    console.print(table)
    for figure in figures:
        if figure.error:
            console.print(f"{figure.benchmark}: {figure.error}", style="red", markup=False)
        if figure.details:
            console.print(f"{figure.benchmark}: {_detail_text(figure.details)}", style="dim", markup=False)
    console.print(" · ".join(f"{key}: {value}" for key, value in context.items()))


def write_json(path: Path, figures: Sequence[Figure], context: dict[str, Any]) -> None:
    document = {**context, "figures": [f.as_json() for f in figures]}
    path.write_text(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")
