"""`tanhui mrv verify --engine dask [--scheduler ADDRESS]` writes what the local engine writes, and says why not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from distributed import LocalCluster
from typer.testing import Result

from tanhui.mrv.synthetic import ParkSpec, write_park
from tests.mrv.test_verify_cli import one_line, tanhui

pytestmark = pytest.mark.filterwarnings("ignore:.*dayofyear is deprecated:DeprecationWarning")

# 60 sites (one of each fault kind) over one day: small, but with flags to carry over.
SPEC = ParkSpec(sites=60, days=1)
OUTPUTS = ("intervals.parquet", "daily.parquet")


@pytest.fixture(scope="module")
def park(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    files = write_park(SPEC, tmp_path_factory.mktemp("park"))
    return ["--sites", str(files.sites), "--readings", str(files.readings), str(files.registers),
            "--period", f"{SPEC.start}..{SPEC.start}"]


@pytest.fixture(scope="module")
def local(park: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local")
    result = tanhui(root, *park, "--out", str(root / "out"), "--engine", "local")
    assert result.exit_code == 0, result.output
    return root / "out"


def _summary(out: Path) -> dict[str, object]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    # The clock of each run: when it was written, and the "now" that decides `future` (no 2024 interval is).
    del summary["generated_at"], summary["verified_as_of"]
    return summary


def _assert_same(local: Path, dask: Path, result: Result) -> None:
    assert result.exit_code == 0, result.output
    for name in OUTPUTS:
        assert (dask / name).read_bytes() == (local / name).read_bytes()
    summary = _summary(local)
    assert _summary(dask) == summary
    totals = summary["totals"]
    assert isinstance(totals, dict) and totals["reduction_kg"] > 0 and any(totals["flag_counts"].values())
    assert (dask / "report.html").is_file()


def test_the_dask_engine_on_a_local_cluster_writes_what_the_local_engine_writes(
        park: list[str], local: Path, tmp_path: Path) -> None:
    result = tanhui(tmp_path, *park, "--out", str(tmp_path / "out"), "--engine", "dask")
    _assert_same(local, tmp_path / "out", result)


def test_a_scheduler_address_runs_on_that_cluster_and_implies_the_dask_engine(
        park: list[str], local: Path, tmp_path: Path) -> None:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        result = tanhui(tmp_path, *park, "--out", str(tmp_path / "out"), "--scheduler", address)
        _assert_same(local, tmp_path / "out", result)
        # It ran there (the cluster's scheduler handed out verify's partition task), and the run left the
        # cluster it did not start running.
        assert "run_task" in cluster.scheduler.task_prefixes
        assert [worker.status.name for worker in cluster.workers.values()] == ["running"]
        explicit = tanhui(tmp_path, *park, "--out", str(tmp_path / "explicit"), "--engine", "dask",
                          "--scheduler", address)
        _assert_same(local, tmp_path / "explicit", explicit)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--engine", "spark"], 2, "Invalid value for '--engine': Value error, 'spark' is not one of 'local',"),
    (["--engine", "local", "--scheduler", "tcp://127.0.0.1:8786"], 2,
     "--scheduler tcp://127.0.0.1:8786 names a Dask cluster, but --engine local verifies in this process"),
    (["--scheduler", "nonsense::"], 1, "cannot reach the Dask scheduler at nonsense::"),
])
def test_a_bad_engine_or_scheduler_is_one_clear_line_and_writes_nothing(
        park: list[str], tmp_path: Path, args: list[str], code: int, message: str) -> None:
    out = tmp_path / "out"
    result = tanhui(tmp_path, *park, "--out", str(out), *args)
    assert result.exit_code == code, result.output
    assert message in one_line(result.stderr)
    assert not out.exists() or not any(out.iterdir())
