"""Monitoring reports from MRV: a verify output submitted for a declared PV project, archived, issued at sign-off."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Self

from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.errors import BadInput, Conflict, InvalidRequest, NotFound
from tanhui.identity.principal import Principal
from tanhui.mrv.registry import (
    REPORTS,
    SUMMARY,
    StagedReport,
    check_sites,
    claimed_conflicts,
    file_sha256,
    issue_from_report,
    listed,
)
from tanhui.mrv.tables import meters, monitoring_reports
from tanhui.projects.declarations import design_of
from tanhui.projects.tables import mrv_submissions
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

MAX_FILE_BYTES = 4 << 30  # a month of a few thousand sites' intervals is well under a gigabyte
_CHUNK = 1 << 20


class Upload:
    """Uploaded report files written to a scratch folder beside the archive, hashed as they are written and
    bounded in size; removed on exit (the archive keeps its own checked copy)."""

    def __init__(self, data_dir: Path, files: Mapping[str, BinaryIO]) -> None:
        root = reports_root(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        self.directory = root / f".upload-{secrets.token_hex(8)}"
        self.directory.mkdir()
        self.sha256: dict[str, str] = {}
        try:
            for name, source in files.items():
                self.sha256[name] = self._write(name, source)
        except BaseException:
            self.discard()
            raise

    def _write(self, name: str, source: BinaryIO) -> str:
        digest, size = hashlib.sha256(), 0
        with (self.directory / name).open("wb") as target:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise BadInput(f"{name} is larger than {MAX_FILE_BYTES >> 30} GiB")
                digest.update(chunk)
                target.write(chunk)
        if size == 0:
            raise BadInput(f"{name} is empty")
        return digest.hexdigest()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def reports_root(data_dir: Path) -> Path:
    return Path(data_dir) / REPORTS


def _check_grid_connections(conn: Connection, declaration: RowMapping, meter_ids: list[str]) -> None:
    """Each grid connection of the report (the meters sharing a grid point, or a meter alone) stays within the
    declared maximum, which the methodology's applicability bounded at declaration."""
    limit = design_of(declaration).get("max_grid_connection_kw")
    if limit is None:
        return
    capacity_w: dict[str, int] = defaultdict(int)
    for row in conn.execute(select(meters.c.meter_id, meters.c.grid_point, meters.c.capacity_w)
                            .where(meters.c.meter_id.in_(meter_ids))):
        capacity_w[row.grid_point or f"meter {row.meter_id}"] += row.capacity_w
    over = [f"{point}: {Decimal(watts) / 1000:f} kW" for point, watts in sorted(capacity_w.items())
            if Decimal(watts) / 1000 > Decimal(limit)]
    if over:
        raise InvalidRequest(f"the declaration bounds each grid connection at {limit} kW, but the report's "
                             f"connections exceed it: {listed(over)}")


def check_submission(conn: Connection, declaration: RowMapping, staged: StagedReport) -> None:
    """A verify output fits its declared project: the pinned methodology version, one vintage, registered
    meters as verified, grid connections within the declaration, meter-days and the report itself unused."""
    summary = staged.summary
    reference = f"{summary.methodology_code}@{summary.methodology_version}"
    if reference != declaration["methodology"]:
        raise InvalidRequest(f"project {declaration['project_id']} is pinned to {declaration['methodology']}, but "
                             f"the report was verified under {reference}; verify again with --methodology "
                             f"{declaration['methodology']}")
    if summary.period_start.year != summary.period_end.year:
        raise InvalidRequest(f"the monitoring period {summary.period_start}..{summary.period_end} spans two "
                             "years; a serial has one vintage, so verify and submit each year's part separately")
    earlier = read_one(conn, mrv_submissions, mrv_submissions.c.summary_sha256 == staged.summary_sha256)
    if earlier is not None:
        raise Conflict(f"this verify output (summary sha256 {staged.summary_sha256}) was already submitted as "
                       f"monitoring report {earlier['report_id']}")
    issued = read_one(conn, monitoring_reports, monitoring_reports.c.summary_sha256 == staged.summary_sha256)
    if issued is not None:
        raise Conflict(f"this verify output (summary sha256 {staged.summary_sha256}) was already issued as "
                       f"MRV report {issued['id']}")
    meter_ids = [site.meter_id for site in summary.sites]
    check_sites(conn, summary)
    _check_grid_connections(conn, declaration, meter_ids)
    taken = claimed_conflicts(conn, meter_ids, summary.period_start, summary.period_end)
    if taken:
        raise Conflict(f"the report's meter-days already back other instruments, so they cannot back these "
                       f"credits: {listed(taken)}")


def record_submission(tx: UnitOfWork, report: RowMapping, staged: StagedReport) -> None:
    """Archive the checked files under their summary hash (for the verifier to read) and name them, once."""
    staged.archive()
    summary = staged.summary
    tx.insert(mrv_submissions, {"report_id": report["id"], "summary_sha256": staged.summary_sha256,
                                "sites": len(summary.sites), "accepted_wh": round(summary.accepted_kwh * 1000),
                                "created_at": utcnow()})


def submission(conn: Connection, report_id: int) -> RowMapping | None:
    return read_one(conn, mrv_submissions, mrv_submissions.c.report_id == report_id)


def archive_of(data_dir: Path, row: RowMapping) -> Path:
    """The archived verify output an MRV monitoring report names (its data hash is the summary's)."""
    directory = reports_root(data_dir) / row["data_sha256"]
    if not directory.is_dir():
        raise NotFound(f"the archived files of monitoring report {row['id']} are missing from this server's data "
                       "directory (TANHUI_DATA_DIR)")
    return directory


def archived_summary(data_dir: Path, row: RowMapping) -> bytes:
    """An MRV report's archived summary.json, checked against the hash the report was submitted with."""
    path = archive_of(data_dir, row) / SUMMARY
    if file_sha256(path) != row["data_sha256"]:
        raise Conflict(f"the archived summary of monitoring report {row['id']} no longer matches its hash")
    return path.read_bytes()


def archived_file(data_dir: Path, conn: Connection, row: RowMapping, name: str) -> Path:
    """One data file of an MRV report's archive, checked against the hash its summary records."""
    if submission(conn, row["id"]) is None:
        raise NotFound(f"monitoring report {row['id']} was uploaded in its methodology's template; it has no "
                       f"{name}")
    expected = json.loads(archived_summary(data_dir, row))["files"][name]
    path = archive_of(data_dir, row) / name
    if not path.is_file() or file_sha256(path) != expected:
        raise Conflict(f"the archived {name} of monitoring report {row['id']} no longer matches the hash its "
                       "summary records; the archive was altered")
    return path


def issue(tx: UnitOfWork, principal: Principal, row: RowMapping, data_dir: Path, *, registry: str,
          credit_type: str, account_id: int, to_owners: bool) -> dict[str, Any]:
    """Issue a verified MRV report from its archive, checked again: the issuance, its distribution to owners,
    the MRV report record and the claim of every meter-day, in the caller's transaction."""
    directory = archive_of(data_dir, row)
    with StagedReport(directory, reports_root(data_dir)) as staged:
        if staged.summary_sha256 != row["data_sha256"]:
            raise Conflict(f"the archived verify output of monitoring report {row['id']} no longer matches the "
                           "summary hash recorded at submission; the archive was altered")
        done = issue_from_report(tx, principal, staged, registry=registry, credit_type=credit_type,
                                 project_id=row["project_id"], account_id=account_id, to_owners=to_owners,
                                 through_lifecycle=True)
    assert done.issuance.detail is not None  # issue() returns the issuance it made
    return {"issuance_id": done.issuance.detail["id"], "mrv_report_id": done.report["id"]}
