"""The meter-data lake: readings as date-partitioned Parquet files, committed batch by batch through a manifest.

Safety invariants, which every path below upholds:
1. The manifest is the commit point.  A reader sees exactly the batches the manifest lists; a file it does not list
   (left by an ingest that died) is never read, and the next ingest removes it.
2. An ingest is all or nothing, and durable when it returns: its files and their directories are fsynced before the
   manifest naming them is atomically replaced, and the manifest's directory is fsynced after.
3. Committed files are never changed or removed, so a reader holding an older manifest still finds all its files.
4. One writer at a time: ingests take an exclusive lock on ``root/.lock``.
5. Re-ingesting a reading already stored (same meter_id, ts, kwh, register_kwh) stores nothing, so redelivery is
   idempotent; a different value for a stored (meter_id, ts) is stored too, for verification to flag `duplicate`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import polars as pl

from tanhui.errors import DamagedLake
from tanhui.mrv.frames import LOCAL_TIMEZONE
from tanhui.mrv.readings import SCHEMA, check_known_meters, check_readings

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "tanhui.mrv.lake/1"
LOCK = ".lock"
_COLUMNS = list(SCHEMA)
_PARTITION = "date="
_TEMPORARY = ".tmp"
_LOCAL = ZoneInfo(LOCAL_TIMEZONE)



@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: rows received = rows stored + rows already stored (identical readings)."""

    source: str
    batch_id: str | None  # None when every reading was already stored, so no batch was committed
    rows_received: int
    rows_stored: int
    rows_already_stored: int
    dates: list[date]  # the local dates the received readings cover
    files: list[str]  # the files written, relative to the lake's root


class Lake:
    """Readings stored under ``root/date=YYYY-MM-DD/part-<batch>.parquet`` (local dates) and ``root/manifest.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def manifest(self) -> dict[str, Any]:
        """The committed manifest: ``{"format", "batches": [{id, source, sha256, rows, dates, files, time}]}``."""
        path = self.root / MANIFEST
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": MANIFEST_FORMAT, "batches": []}
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DamagedLake(f"{path} is not valid JSON ({exc}); restore it from a backup") from exc
        if (not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT
                or not isinstance(manifest.get("batches"), list)):
            raise DamagedLake(f"{path} is not a {MANIFEST_FORMAT} manifest")
        return manifest

    def ingest(
        self,
        readings: pl.DataFrame,
        *,
        source: str,
        known_meters: Collection[str] | None = None,
        source_sha256: str | None = None,
    ) -> IngestResult:
        """Store the readings not stored yet, all or nothing; bad readings raise `BadInput` and store nothing.

        ``readings`` follow `frames.READING_SCHEMA` (``ts`` time-zone aware); with ``known_meters`` a reading of
        any other meter refuses the whole batch.  ``source`` (a file name, a topic) and ``source_sha256`` (of a
        source file) are recorded in the manifest.  Blocks while another process ingests.
        """
        frame = check_readings(readings, source)
        if known_meters is not None:
            check_known_meters(frame, known_meters, source)
        frame = frame.with_columns(date=pl.col("ts").dt.convert_time_zone(LOCAL_TIMEZONE).dt.date())
        dates = sorted(frame["date"].unique().to_list())
        if not self.root.exists():
            self.root.mkdir(parents=True, exist_ok=True)  # another writer may create it at the same moment
            _fsync_directory(self.root.parent)  # so the lake's own directory entry survives a crash too
        with self._locked():
            manifest = self.manifest()
            batch_id = f"{max((int(b['id']) for b in manifest['batches']), default=0) + 1:08d}"
            self._remove_uncommitted(batch_id)
            fresh = frame.unique(maintain_order=True)  # an identical row twice is one reading, sent twice
            stored = self._stored(manifest, fresh)
            if not stored.is_empty():
                fresh = fresh.join(stored, on=_COLUMNS, how="anti", nulls_equal=True, maintain_order="left")
            if fresh.is_empty():
                return IngestResult(source, None, len(frame), 0, len(frame), dates, [])
            files = self._write_batch(fresh, batch_id)
            manifest["batches"].append({
                "id": batch_id,
                "source": source,
                "sha256": source_sha256,
                "rows": len(fresh),
                "dates": sorted({d.isoformat() for d in fresh["date"].unique()}),
                "files": files,
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
            })
            _write_durably(self.root / MANIFEST,
                           lambda out: out.write(json.dumps(manifest, indent=1, ensure_ascii=False).encode()))
            _fsync_directory(self.root)
        return IngestResult(source, batch_id, len(frame), len(fresh), len(frame) - len(fresh), dates, files)

    def scan(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        meters: Collection[str] | None = None,
    ) -> pl.LazyFrame:
        """The committed readings with ``start <= ts < end`` of the given meters (all when None), lazily.

        Naive ``start``/``end`` are Asia/Shanghai time, as in input files.  Only the date partitions the range
        touches are read; the frame has `READING_SCHEMA`, a reading stored twice with different values twice.
        """
        first = _local_date(start) if start is not None else None
        last = _local_date(end, before=True) if end is not None else None
        paths = [
            str(self.root / name)
            for batch in self.manifest()["batches"]
            for name in batch["files"]
            if (first is None or _file_date(name) >= first) and (last is None or _file_date(name) <= last)
        ]
        if not paths:
            return pl.LazyFrame(schema=SCHEMA)
        lazy = pl.scan_parquet(paths, schema=SCHEMA, hive_partitioning=False)
        if start is not None:
            lazy = lazy.filter(pl.col("ts") >= _utc(start))
        if end is not None:
            lazy = lazy.filter(pl.col("ts") < _utc(end))
        if meters is not None:
            lazy = lazy.filter(pl.col("meter_id").is_in(pl.Series(list(meters), dtype=pl.String).implode()))
        return lazy

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, also if the process dies
            yield

    def _remove_uncommitted(self, batch_id: str) -> None:
        """Delete what an ingest that died left behind: its part files and temporary files.

        That ingest held the lock and found the same manifest, so it used the batch id this ingest is about to
        use; looking for that one name in each partition keeps this cheap however many files the lake holds.
        """
        (self.root / f".{MANIFEST}{_TEMPORARY}").unlink(missing_ok=True)
        name = _part_name(batch_id)
        for partition in self.root.glob(f"{_PARTITION}*"):
            leftovers = [partition / name, partition / f".{name}{_TEMPORARY}"]
            if any(path.exists() for path in leftovers):
                for path in leftovers:
                    path.unlink(missing_ok=True)
                if not any(partition.iterdir()):
                    partition.rmdir()

    def _stored(self, manifest: dict[str, Any], fresh: pl.DataFrame) -> pl.DataFrame:
        """The stored readings that could equal one of ``fresh``: same dates, meters and time span."""
        dates = {d.isoformat() for d in fresh["date"].unique()}
        paths = [str(self.root / name) for batch in manifest["batches"] for name in batch["files"]
                 if name.removeprefix(_PARTITION).split("/")[0] in dates]
        if not paths:
            return pl.DataFrame(schema=SCHEMA)
        # Files are sorted by meter and time, so these filters skip most row groups of a big partition.
        return (pl.scan_parquet(paths, schema=SCHEMA, hive_partitioning=False)
                .filter(pl.col("meter_id").is_in(fresh["meter_id"].unique().implode()),
                        pl.col("ts").is_between(fresh["ts"].min(), fresh["ts"].max()))
                .collect())

    def _write_batch(self, fresh: pl.DataFrame, batch_id: str) -> list[str]:
        """One sorted zstd Parquet file per local date, durable when this returns; their names."""
        files = []
        for (day,), part in sorted(fresh.partition_by("date", as_dict=True, include_key=False).items()):
            partition = self.root / f"{_PARTITION}{day.isoformat()}"
            partition.mkdir(exist_ok=True)
            name = f"{partition.name}/{_part_name(batch_id)}"
            ordered = part.sort("meter_id", "ts", maintain_order=True)
            _write_durably(self.root / name, partial(ordered.write_parquet, compression="zstd"))
            _fsync_directory(partition)
            files.append(name)
        _fsync_directory(self.root)  # the new partitions' directory entries
        return files


def _write_durably(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a temporary file beside ``path``, fsync it, and rename it into place (atomic on POSIX)."""
    temporary = path.with_name(f".{path.name}{_TEMPORARY}")
    with open(temporary, "wb") as out:
        write(out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _utc(moment: datetime) -> datetime:
    return (moment.replace(tzinfo=_LOCAL) if moment.tzinfo is None else moment).astimezone(UTC)


def _local_date(moment: datetime, *, before: bool = False) -> date:
    """The local date of ``moment``, or with ``before`` of the last microsecond before it (for an open end)."""
    moment = _utc(moment)
    if before:
        moment -= timedelta(microseconds=1)
    return moment.astimezone(_LOCAL).date()


def _part_name(batch_id: str) -> str:
    return f"part-{batch_id}.parquet"


def _file_date(name: str) -> date:
    return date.fromisoformat(name.removeprefix(_PARTITION).split("/")[0])
