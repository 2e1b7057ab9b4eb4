"""The meter-data lake: all-or-nothing ingests committed by the manifest, idempotent redelivery, scans by range."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from tanhui.errors import BadInput, DamagedLake
from tanhui.mrv.frames import READING_SCHEMA
from tanhui.mrv.lake import Lake

T0 = datetime(2024, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
QUARTER = timedelta(minutes=15)


def readings(*rows: tuple[str, datetime, float | None, float | None]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=READING_SCHEMA, orient="row")


def energy(meter: str, start: int, values: list[float]) -> pl.DataFrame:
    """Interval energy of one meter for consecutive quarters from T0 + start quarters."""
    return readings(*((meter, T0 + (start + i) * QUARTER, v, None) for i, v in enumerate(values)))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the lake's root and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ingest_stores_sorted_zstd_parquet_per_local_date_and_lists_it_in_the_manifest(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    # 15:45 UTC is 23:45 on 1 March in Shanghai; 16:00 UTC is already 2 March there.
    late = datetime(2024, 3, 1, 15, 45, tzinfo=UTC)
    batch = readings(("m2", late + QUARTER, 0.0, None), ("m2", late, 0.5, None), ("m1", late + QUARTER, 0.0, None),
                     ("m1", late, 0.25, None))

    result = lake.ingest(batch, source="day.csv", source_sha256="ab" * 32)

    assert (result.rows_received, result.rows_stored, result.rows_already_stored) == (4, 4, 0)
    assert result.dates == [date(2024, 3, 1), date(2024, 3, 2)]
    assert result.files == ["date=2024-03-01/part-00000001.parquet", "date=2024-03-02/part-00000001.parquet"]
    first = pl.read_parquet(lake.root / result.files[0])
    assert first.rows() == [("m1", late, 0.25, None), ("m2", late, 0.5, None)]
    second = pl.read_parquet(lake.root / result.files[1])
    assert second["meter_id"].to_list() == ["m1", "m2"]
    assert pq.ParquetFile(lake.root / result.files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    [entry] = lake.manifest()["batches"]
    assert entry["id"] == result.batch_id == "00000001"
    assert (entry["source"], entry["sha256"], entry["rows"]) == ("day.csv", "ab" * 32, 4)
    assert entry["dates"] == ["2024-03-01", "2024-03-02"]
    assert entry["files"] == result.files
    assert json.loads((lake.root / "manifest.json").read_text()) == lake.manifest()


def test_reingesting_the_same_readings_stores_nothing_and_leaves_the_lake_byte_identical(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    batch = energy("m1", 0, [1.0, 2.0, 3.0])
    lake.ingest(batch, source="a.csv")
    before = snapshot(lake.root)

    again = lake.ingest(batch, source="a.csv")

    assert (again.batch_id, again.rows_stored, again.rows_already_stored, again.files) == (None, 0, 3, [])
    assert snapshot(lake.root) == before
    assert lake.scan().collect().height == 3


def test_redelivery_overlapping_stored_readings_stores_only_the_new_ones(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(energy("m1", 0, [1.0, 2.0]), source="mqtt")

    result = lake.ingest(energy("m1", 0, [1.0, 2.0, 3.0]), source="mqtt")

    assert (result.rows_stored, result.rows_already_stored) == (1, 2)
    assert lake.scan().collect().sort("ts")["kwh"].to_list() == [1.0, 2.0, 3.0]


def test_identical_rows_are_one_reading_but_a_different_value_for_the_same_interval_is_kept(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    twice = readings(("m1", T0, 1.0, None), ("m1", T0, 1.0, None), ("m1", T0 + QUARTER, 2.0, None))

    result = lake.ingest(twice, source="twice.csv")
    assert (result.rows_received, result.rows_stored, result.rows_already_stored) == (3, 2, 1)

    conflicting = lake.ingest(readings(("m1", T0, 1.5, None)), source="fix.csv")
    assert conflicting.rows_stored == 1
    stored = lake.scan().collect().filter(pl.col("ts") == T0)
    assert sorted(stored["kwh"].to_list()) == [1.0, 1.5]  # verification flags these `duplicate`


def test_register_readings_are_stored_and_deduplicated_like_interval_energy(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    registers = readings(("m1", T0, None, 1000.5), ("m1", T0 + QUARTER, None, 1001.25))
    lake.ingest(registers, source="reg.parquet")

    again = lake.ingest(registers, source="reg.parquet")

    assert again.rows_already_stored == 2
    assert lake.scan().collect().sort("ts")["register_kwh"].to_list() == [1000.5, 1001.25]


def test_unknown_meters_refuse_the_whole_batch_naming_rows_and_meters(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(energy("m1", 0, [1.0]), source="first")
    before = snapshot(lake.root)
    batch = pl.concat([energy("m1", 1, [1.0]), energy("ghost", 1, [2.0]), energy("m1", 2, [1.0])])

    with pytest.raises(BadInput, match=r"row 2: unknown meter ghost"):
        lake.ingest(batch, source="mixed", known_meters={"m1"})

    assert snapshot(lake.root) == before


@pytest.mark.parametrize(("batch", "message"), [
    (readings(("m1", T0, 1.0, None), ("m1", T0 + timedelta(minutes=7), 1.0, None)),
     r"row 2: column ts is not the start of a 15-minute interval"),
    (readings(("m1", T0, 1.0, 5.0), ("m1", T0 + QUARTER, None, None)),
     r"rows 1 and 2: need exactly one of kwh and register_kwh"),
    (readings(("m1", T0, float("inf"), None), ("m1", T0 + QUARTER, float("nan"), None)),
     r"rows 1 and 2: column kwh is not finite"),
    (readings(("m1", T0, 1.0, None), ("", T0, 1.0, None)), r"row 2: column meter_id is empty"),
    (readings(("m1", T0, 2e6, None)), r"row 1: column kwh is beyond 1,000,000 kWh"),
    (energy("m1", 0, [1.0]).with_columns(pl.col("ts").dt.replace_time_zone(None)),
     r"column ts must hold time-zone aware datetimes"),
    (energy("m1", 0, [1.0]).drop("register_kwh"), r"missing register_kwh"),
])
def test_bad_readings_are_refused_naming_the_rows_and_change_nothing(
    tmp_path: Path, batch: pl.DataFrame, message: str,
) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(energy("m1", 10, [1.0]), source="first")
    before = snapshot(lake.root)

    with pytest.raises(BadInput, match=message):
        lake.ingest(batch, source="bad")

    assert snapshot(lake.root) == before


def test_files_of_an_ingest_that_died_are_never_read_and_are_removed_by_the_next_ingest(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(energy("m1", 0, [1.0]), source="first")
    # What a process killed between writing its files and replacing the manifest leaves behind.
    orphan = lake.root / "date=2024-03-01" / "part-00000002.parquet"
    energy("m1", 1, [9.0]).write_parquet(orphan)
    stray_partition = lake.root / "date=2024-03-05"
    stray_partition.mkdir()
    (stray_partition / ".part-00000002.parquet.tmp").write_bytes(b"half a file")
    (lake.root / ".manifest.json.tmp").write_text("{")

    assert lake.scan().collect()["kwh"].to_list() == [1.0]

    result = lake.ingest(energy("m1", 1, [2.0]), source="second")

    assert result.batch_id == "00000002"
    assert sorted(snapshot(lake.root)) == [
        ".lock", "date=2024-03-01/part-00000001.parquet", "date=2024-03-01/part-00000002.parquet", "manifest.json",
    ]
    assert lake.scan().collect().sort("ts")["kwh"].to_list() == [1.0, 2.0]


def test_scan_filters_by_half_open_time_range_and_meters(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(pl.concat([energy("m1", 0, [1.0, 2.0, 3.0, 4.0]), energy("m2", 0, [5.0, 6.0])]), source="x")
    lake.ingest(energy("m1", 96, [7.0]), source="next day")

    middle = lake.scan(T0 + QUARTER, T0 + 3 * QUARTER).collect().sort("meter_id", "ts")
    assert middle["kwh"].to_list() == [2.0, 3.0, 6.0]
    assert lake.scan(meters=["m2"]).collect()["kwh"].sort().to_list() == [5.0, 6.0]
    # Naive bounds are Shanghai time: 12:00 local is T0.
    assert lake.scan(datetime(2024, 3, 1, 12, 0), datetime(2024, 3, 1, 12, 15), meters={"m1"}).collect()[
        "kwh"].to_list() == [1.0]
    assert lake.scan(T0 + 96 * QUARTER).collect()["kwh"].to_list() == [7.0]
    assert lake.scan().collect_schema() == pl.Schema(READING_SCHEMA)


def test_an_empty_or_missing_lake_scans_as_no_readings(tmp_path: Path) -> None:
    empty = Lake(tmp_path / "nowhere").scan(T0, T0 + QUARTER).collect()
    assert empty.is_empty()
    assert empty.schema == pl.Schema(READING_SCHEMA)
    assert not (tmp_path / "nowhere").exists()


def test_a_damaged_manifest_is_reported_not_overwritten(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(energy("m1", 0, [1.0]), source="first")
    (lake.root / "manifest.json").write_text("{not json")

    with pytest.raises(DamagedLake, match=r"manifest\.json is not valid JSON"):
        lake.ingest(energy("m1", 1, [1.0]), source="second")

    assert (lake.root / "manifest.json").read_text() == "{not json"


def test_a_second_writer_waits_for_the_lock_and_then_commits_its_batch(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.ingest(energy("m1", 0, [1.0]), source="first")
    before = snapshot(lake.root)
    script = textwrap.dedent(f"""
        from datetime import datetime, UTC
        from pathlib import Path
        import polars as pl
        from tanhui.mrv.frames import READING_SCHEMA
        from tanhui.mrv.lake import Lake
        frame = pl.DataFrame([("m1", datetime(2024, 3, 1, 4, 15, tzinfo=UTC), 2.0, None)],
                             schema=READING_SCHEMA, orient="row")
        print("ingesting", flush=True)
        Lake(Path({str(lake.root)!r})).ingest(frame, source="other process")
    """)
    with open(lake.root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline() == "ingesting\n"
        with pytest.raises(subprocess.TimeoutExpired):
            writer.wait(timeout=2)
        assert snapshot(lake.root) == before  # nothing written while another writer holds the lock
    assert writer.wait(timeout=60) == 0
    assert [b["source"] for b in lake.manifest()["batches"]] == ["first", "other process"]
