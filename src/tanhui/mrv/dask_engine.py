"""The Dask engine of verification: the same per-partition function, run on a Dask cluster's worker processes.

`dask_engine` is a context manager that yields a `verify.Engine`: with a scheduler address it connects to that
cluster, without one it starts a `LocalCluster` of worker processes on this machine and closes it afterwards.
Results come back in partition order, so ``intervals.parquet`` (and its sha256 in the summary) is byte for byte
what the local engine writes; at most `IN_FLIGHT_PER_THREAD` partitions per worker thread are submitted ahead,
so neither the driver nor the workers ever hold more than a few partitions.

Where the readings are read: a task carries a lazy scan of a spill file in verify's scratch directory (or of the
input).  A cluster started here shares this machine's filesystem, so the scan itself is shipped and each worker
reads its own partition.  A cluster at an address may not see this machine's files, so the driver reads each
partition's readings itself, one partition at a time, and scatters them to a worker (docs/mrv-scale.md).
"""

from __future__ import annotations

import dataclasses
import gc
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tanhui.errors import InvalidRequest
from tanhui.mrv.verify import Engine, PartitionResult, PartitionTask

# Partitions submitted ahead per worker thread: one running and one waiting, so a worker never idles while the
# driver fetches and writes the previous result, and results not yet written stay a small, bounded number.
IN_FLIGHT_PER_THREAD = 2
# Seconds to wait for a scheduler and its first worker: one that is up answers in well under a second, and an
# operator with a wrong address should hear so soon rather than after Dask's default 30 s.
CONNECT_TIMEOUT_S = 10.0
# Packages whose versions decide the numbers a partition yields: a worker must run the same ones as the driver,
# or the summary (which records this process's tanhui version) would describe results it did not compute.
SAME_ON_WORKERS = ("tanhui", "polars", "pyarrow", "numpy", "pandas", "pvlib")


class ClusterUnavailable(InvalidRequest):
    """The Dask scheduler cannot be reached, has no workers, or its workers cannot run this verification."""

    code, title = "cluster-unavailable", "The Dask cluster is not available"


class PartitionLost(InvalidRequest):
    """A partition's task could not be completed by the cluster (its workers kept dying)."""

    code, title = "partition-lost", "The Dask cluster lost a partition"


@contextmanager
def dask_engine(scheduler: str | None = None, *, workers: int | None = None,
                connect_timeout: float = CONNECT_TIMEOUT_S) -> Iterator[Engine]:
    """An engine that runs verify's partitions on a Dask cluster, for the duration of the ``with`` block.

    ``scheduler`` is an address such as ``tcp://10.0.0.5:8786``; its workers need the same tanhui, Polars,
    pvlib... as this process (checked on connecting).  Without it, a `LocalCluster` of ``workers`` processes
    (default: one per core) is started on 127.0.0.1 without a dashboard, and stopped when the block ends.
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        from dask.system import CPU_COUNT

        # One single-threaded process per core, each verifying one partition at a time: the numpy, pvlib and
        # Python steps of a partition hold the GIL, so processes (not threads) give the parallelism, and one
        # Polars thread per process (read when the worker first imports Polars, with its first task) keeps the
        # machine at one busy thread per core instead of cores × cores.
        with LocalCluster(n_workers=workers or CPU_COUNT, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None, env={"POLARS_MAX_THREADS": "1"}) as cluster, \
                Client(cluster, set_as_default=False, direct_to_workers=True) as client:
            _check_workers(client, "the local cluster", connect_timeout)
            yield _engine(client, ship=_plan)
        return
    if workers is not None:
        raise InvalidRequest("the number of workers applies only to a local cluster: a cluster at "
                             f"{scheduler} has the workers it was started with")
    try:
        client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
    except (OSError, ValueError) as exc:
        # The half-made Client closes itself in __del__, stopping distributed's shared loop runner.  Left to
        # the garbage collector, that can happen inside a later LoopRunner.start in this thread (a LocalCluster
        # starting), which then waits for itself for ever: finalise it now, while nothing else is starting.
        gc.collect()
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        _check_workers(client, f"the Dask cluster at {scheduler}", connect_timeout)
        yield _engine(client, ship=_readings)


def _plan(task: PartitionTask) -> PartitionTask:
    """The task as it is: its readings are a scan the worker runs itself (same filesystem)."""
    return task


def _readings(task: PartitionTask) -> PartitionTask:
    """The task with its readings read here, for workers that cannot see this machine's files."""
    return dataclasses.replace(task, readings=task.readings.collect().lazy())


def _check_workers(client: Any, cluster: str, timeout: float) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise ClusterUnavailable(f"{cluster} has no workers (waited {timeout:g} s for one); an adaptive "
                                 f"cluster must keep at least one") from None
    versions = client.get_versions(packages=list(SAME_ON_WORKERS))
    different = version_mismatches(versions["client"]["packages"],
                                   {worker: found["packages"] for worker, found in versions["workers"].items()})
    if different:
        raise ClusterUnavailable(f"the workers of {cluster} cannot verify for this process: {different}")


def version_mismatches(mine: Mapping[str, str | None], workers: Mapping[str, Mapping[str, str | None]]) -> str:
    """Which workers run which `SAME_ON_WORKERS` package at another version than ``mine`` ("" if none)."""
    found = []
    for worker, theirs in sorted(workers.items()):
        wrong = [f"{name} {theirs.get(name) or 'missing'} (here {mine.get(name)})"
                 for name in SAME_ON_WORKERS if theirs.get(name) != mine.get(name)]
        if wrong:
            found.append(f"{worker} has {', '.join(wrong)}")
    return "; ".join(found)


def _engine(client: Any, ship: Callable[[PartitionTask], PartitionTask]) -> Engine:
    def run(tasks: Sequence[PartitionTask],
            work: Callable[[PartitionTask], PartitionResult]) -> Iterator[PartitionResult]:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        ahead = max(1, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
        waiting = iter(tasks)
        pending: deque[tuple[PartitionTask, Any]] = deque()

        def submit(task: PartitionTask) -> Any:
            """The task's future, or the error if its data could not be scattered: a worker that dies while
            the driver sends it data (it ran the previous partition and was killed) closes the connection
            midway.  The partition is sent again when its turn comes, after the dead worker's own partition
            has failed or been retried."""
            try:
                # Scattered, not passed to submit: the data goes to a worker, never into the scheduler's graph.
                shipped = client.scatter(ship(task), hash=False)
            except OSError as exc:  # distributed's CommClosedError among them
                return exc
            return client.submit(work, shipped, pure=False)

        def submit_next() -> None:
            task = next(waiting, None)
            if task is not None:
                pending.append((task, submit(task)))

        try:
            for _ in range(ahead):
                submit_next()
            while pending:
                task, future = pending.popleft()
                lost = f"partition {task.index} of {len(tasks)} was not verified"
                if isinstance(future, OSError):
                    future = submit(task)
                    if isinstance(future, OSError):
                        raise PartitionLost(f"{lost}: its readings could not be sent to a worker: {future}")
                try:
                    result = future.result()
                except (KilledWorker, FutureCancelledError) as exc:
                    raise PartitionLost(f"{lost}: {exc}") from None
                future.release()  # the worker may drop it now: it is about to be written
                submit_next()
                yield result
        finally:
            client.cancel([future for _, future in pending if not isinstance(future, OSError)])

    return run
