"""Verification on a Dask cluster of worker processes writes exactly what the local engine writes."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dask
import polars as pl
import psutil
import pytest
from distributed import Client, LocalCluster
from distributed.comm.core import CommClosedError
from polars.testing import assert_frame_equal

from tanhui.errors import InvalidRequest
from tanhui.mrv import dask_engine as dask_engine_module
from tanhui.mrv import verify
from tanhui.mrv.dask_engine import ClusterUnavailable, PartitionLost, dask_engine, version_mismatches
from tanhui.mrv.frames import READING_SCHEMA
from tanhui.mrv.synthetic import ParkSpec, make_park, write_park
from tanhui.mrv.verify import Period

pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear is deprecated:DeprecationWarning")

# 120 sites (enough for every kind of fault) over two days; the park spans four grid cells, so partitions of at
# most one interval put each cell in a partition of its own.
SPEC = ParkSpec(sites=120, days=2)
PERIOD = Period(SPEC.start, SPEC.start + timedelta(days=SPEC.days - 1))
NOW = datetime(2025, 1, 1, tzinfo=UTC)
ONE_CELL_EACH = 1


@pytest.fixture(scope="module")
def park(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.LazyFrame]:
    files = write_park(SPEC, tmp_path_factory.mktemp("park"))
    readings = pl.concat([pl.scan_parquet(files.readings), pl.scan_parquet(files.registers)], how="diagonal_relaxed")
    readings = readings.select(pl.col(name).cast(dtype) for name, dtype in READING_SCHEMA.items())
    return make_park(SPEC).sites, readings


def _verify(out: Path, park: tuple[pl.DataFrame, pl.LazyFrame], **options: Any) -> tuple[dict[str, Any], int]:
    sites, readings = park
    ticks: list[int] = []
    summary = verify.verify(sites, readings, PERIOD, out, now=NOW, progress=lambda done, _: ticks.append(done),
                            **options)
    return summary, len(ticks)


def _assert_same_output(local: Path, dask: Path) -> None:
    for name in ("intervals.parquet", "daily.parquet"):
        assert_frame_equal(pl.read_parquet(dask / name), pl.read_parquet(local / name))
        assert (dask / name).read_bytes() == (local / name).read_bytes()
    summaries = [json.loads((out / "summary.json").read_text(encoding="utf-8")) for out in (local, dask)]
    for summary in summaries:
        del summary["generated_at"]
    assert summaries[0] == summaries[1]
    assert summaries[0]["totals"]["reduction_kg"] > 0
    assert any(summaries[0]["totals"]["flag_counts"].values())


def _children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


@pytest.fixture(scope="module")
def local_runs(park: tuple[pl.DataFrame, pl.LazyFrame], tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The local engine's output with one partition per cell, and with the whole park in one partition."""
    runs = {}
    for limit in (ONE_CELL_EACH, verify.PARTITION_INTERVALS):
        out = tmp_path_factory.mktemp(f"local-{limit}")
        _verify(out, park, partition_intervals=limit)
        runs[limit] = out
    return runs


def test_a_local_cluster_of_worker_processes_writes_what_the_local_engine_writes(
        park: tuple[pl.DataFrame, pl.LazyFrame], local_runs: dict[int, Path], tmp_path: Path) -> None:
    partitions = len(verify.plan_partitions(park[0], PERIOD, ONE_CELL_EACH))
    assert partitions > 2
    before = _children()
    with dask_engine(workers=2) as engine:
        workers = [child for child in _children() if child not in before and "spawn_main" in " ".join(child.cmdline())]
        assert len(workers) == 2
        for limit in local_runs:
            _, ticks = _verify(tmp_path / str(limit), park, engine=engine, partition_intervals=limit)
            assert ticks == (partitions if limit == ONE_CELL_EACH else 1)
            _assert_same_output(local_runs[limit], tmp_path / str(limit))
        # A partition's bad input fails on a worker and reaches the caller as the same error; nothing is written.
        sites, readings = park
        skewed = pl.concat([readings, readings.head(1).with_columns(pl.col("ts") + timedelta(minutes=5))])
        with pytest.raises(InvalidRequest, match="not at the start of a 15-minute interval"):
            verify.verify(sites, skewed, PERIOD, tmp_path / "skewed", now=NOW, engine=engine,
                          partition_intervals=ONE_CELL_EACH)
        assert list((tmp_path / "skewed").iterdir()) == []
    assert not [worker for worker in workers if worker.is_running()]


def test_a_cluster_at_a_scheduler_address_writes_what_the_local_engine_writes(
        park: tuple[pl.DataFrame, pl.LazyFrame], local_runs: dict[int, Path], tmp_path: Path) -> None:
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    try:
        address = cluster.scheduler_address
        assert isinstance(address, str) and address.startswith("tcp://127.0.0.1:")
        with dask_engine(address) as engine:
            _verify(tmp_path, park, engine=engine, partition_intervals=ONE_CELL_EACH)
        _assert_same_output(local_runs[ONE_CELL_EACH], tmp_path)
        # The engine disconnected but left the cluster it did not start running.
        assert cluster.scheduler_info["workers"]
        with pytest.raises(InvalidRequest, match="only to a local cluster"), dask_engine(address, workers=4):
            pass
    finally:
        cluster.close()


def test_a_scheduler_that_cannot_be_used_is_named_in_the_error() -> None:
    refused = re.escape("cannot reach the Dask scheduler at tcp://127.0.0.1:9: ")
    with pytest.raises(ClusterUnavailable, match=refused), dask_engine("tcp://127.0.0.1:9", connect_timeout=1):
        pass
    with pytest.raises(ClusterUnavailable, match="at nonsense::"), dask_engine("nonsense::"):
        pass
    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as empty:
        idle = re.escape(f"cluster at {empty.scheduler_address} has no workers")
        with pytest.raises(ClusterUnavailable, match=idle), dask_engine(empty.scheduler_address, connect_timeout=1):
            pass


def _die(task: verify.PartitionTask) -> verify.PartitionResult:
    os._exit(9)  # as a worker killed for its memory would


def test_a_partition_whose_worker_dies_fails_the_run_by_name_and_writes_nothing(
        park: tuple[pl.DataFrame, pl.LazyFrame], tmp_path: Path) -> None:
    sites, readings = park
    lost = f"partition 0 of {len(verify.plan_partitions(sites, PERIOD, ONE_CELL_EACH))} was not verified"
    # No retries on other workers: the first death is final.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), dask_engine(workers=1) as engine, \
            pytest.raises(PartitionLost, match=lost):
        verify.verify(sites, readings, PERIOD, tmp_path, now=NOW, partition_intervals=ONE_CELL_EACH,
                      engine=lambda tasks, _: engine(tasks, _die))
    assert list(tmp_path.iterdir()) == []


def test_a_partition_whose_readings_cannot_reach_a_dying_worker_is_sent_again_in_its_turn(
        park: tuple[pl.DataFrame, pl.LazyFrame], local_runs: dict[int, Path], tmp_path: Path) -> None:
    # The race of a worker dying while the driver scatters the next partition to it: the connection closes
    # midway.  The first attempt to send partition 1 fails so; the run still writes what the local engine does.
    failed: list[int] = []

    def ship(task: verify.PartitionTask) -> verify.PartitionTask:
        if task.index == 1 and not failed:
            failed.append(task.index)
            raise CommClosedError("in <TCP (closed) ConnectionPool.scatter local=tcp://127.0.0.1:1>: Stream is closed")
        return task

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster, set_as_default=False) as client:
        _verify(tmp_path, park, engine=dask_engine_module._engine(client, ship=ship),
                partition_intervals=ONE_CELL_EACH)
    assert failed == [1]
    _assert_same_output(local_runs[ONE_CELL_EACH], tmp_path)


def test_workers_running_other_versions_are_named() -> None:
    mine = {"tanhui": "0.1.0", "polars": "2.1.0", "pyarrow": "21.0.0", "numpy": "2.4.6", "pandas": "3.1.1",
            "pvlib": "0.16.0", "lz4": None}
    assert version_mismatches(mine, {"tcp://a:1": dict(mine), "tcp://b:1": dict(mine, lz4="4.0")}) == ""
    found = version_mismatches(mine, {"tcp://b:1": dict(mine, polars="1.9.0", tanhui=None), "tcp://a:1": mine})
    assert found == "tcp://b:1 has tanhui missing (here 0.1.0), polars 1.9.0 (here 2.1.0)"
