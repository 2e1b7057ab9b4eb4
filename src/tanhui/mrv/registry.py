"""MRV use cases on the registry: register meters, declare energy claims, issue a monitoring report, trace a serial.

Rules (docs/mrv-issuance.md explains them for operators):

- A site's ``owner`` is the exact registered name of an organisation.  The operator registers meters for any
  owner; any other organisation (admins and representatives) registers only meters it owns itself, because
  registering a meter reserves its energy for its owner's instruments.
- Re-importing a meter with identical attributes changes nothing; different attributes are refused, naming
  each difference, unless the import asks to ``update`` (each change is journaled).
- A (meter, local day) backs at most one instrument: ``claimed_days``' primary key.  Issuing a report claims
  every day of its period for every one of its sites in the same transaction as the issuance, so an
  overlapping report or external claim fails on the key and nothing is issued.
- A report is known by the SHA-256 of its ``summary.json``; its files are copied beside the archive and
  checked there (so what is archived is what was checked), and the archive is put in place before the
  transaction commits: a failure afterwards leaves an archive directory without a report row, which is
  harmless (the next attempt reuses it), never a report row without its archive.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Table, and_, bindparam, func, insert, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from tanhui.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from tanhui.identity.principal import Principal
from tanhui.identity.tables import organizations
from tanhui.journal.chain import canonical_json
from tanhui.methodologies import DistributedPV, methodology
from tanhui.mrv import allocation
from tanhui.mrv.frames import LOCAL_TIMEZONE
from tanhui.mrv.tables import (
    EXTERNAL_INSTRUMENTS,
    GRID_POINT_LENGTH,
    METER_ID_LENGTH,
    MICRODEGREES,
    REFERENCE_LENGTH,
    REGION_LENGTH,
    claimed_days,
    energy_claims,
    meters,
    monitoring_reports,
    report_sites,
)
from tanhui.prepared import Prepared
from tanhui.projects.tables import declarations
from tanhui.reference import UnknownReference
from tanhui.registry import ledger, queries
from tanhui.registry.queries import Page, utc
from tanhui.registry.tables import accounts, projects
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

SUMMARY = "summary.json"
REPORTS = "reports"  # under the data directory: archived monitoring reports, one folder per summary hash
SUMMARY_FORMAT = "tanhui.mrv.summary/1"
REPORT_FILES = ("intervals.parquet", "daily.parquet")
# Sanity bound on a site's capacity (1 GW): a distributed-PV meter is far below it, and values past it are
# unit mix-ups (W for kW) or corrupt cells, not sites.
MAX_CAPACITY_KW = 1_000_000
# A declared claim writes one row per day; ten years is longer than any certificate period, and bounds a typo.
MAX_CLAIM_DAYS = 3660
# Rows per multi-row INSERT: with these tables' columns, well under SQLite's 32,766 bound parameters (and
# PostgreSQL's 65,535), and enough to make a round trip per row negligible.
_BATCH = 1024
# How many problems one error message lists before it says how many more there are.
_SHOWN = 10
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f]+$")


def listed(problems: Sequence[str]) -> str:
    """Problems joined for one message: the first ten, then how many more."""
    more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    return "; ".join(problems[:_SHOWN]) + more


@cache
def _inserting_many(table: Table, columns: tuple[str, ...], count: int) -> Prepared:
    """One INSERT of ``count`` rows … RETURNING, its parameters named ``<column>_<row>``, prepared once."""
    values = [{c: bindparam(f"{c}_{n}", type_=table.c[c].type) for c in columns} for n in range(count)]
    return Prepared(insert(table).values(values).returning(*table.columns))


def _insert_rows(tx: UnitOfWork, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[RowMapping]:
    """Insert many rows with multi-row INSERTs, journaled like ``tx.insert``: one round trip per batch.

    Batches are _BATCH rows, then powers of two for the rest, so a handful of prepared statements per table
    serve any number of rows (building a statement of a thousand rows costs far more than running it).
    """
    stored: list[RowMapping] = []
    columns = tuple(rows[0]) if rows else ()
    start = 0
    while start < len(rows):
        left = len(rows) - start
        count = _BATCH if left >= _BATCH else 1 << (left.bit_length() - 1)
        params = {f"{c}_{n}": row[c] for n, row in enumerate(rows[start:start + count]) for c in columns}
        stored.extend(tx.write(table, _inserting_many(table, columns, count), params))
        start += count
    return stored


def _chunks(values: Sequence[str], size: int = 1000) -> Iterable[Sequence[str]]:
    """Values in slices small enough for one IN (...) each."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


# ---------------------------------------------------------------- meters (sites)

@dataclass(frozen=True, slots=True)
class Site:
    """One row of a site file (``frames.SITE_SCHEMA``): a meter, its site and owner, and where and what it is."""

    meter_id: str
    site_id: str
    owner: str
    capacity_kw: float
    latitude: float
    longitude: float
    region: str
    commissioned: date
    tilt: float | None = None
    azimuth: float | None = None
    grid_point: str | None = None


@dataclass(frozen=True, slots=True)
class SiteImport:
    """What an import did, by meter id."""

    registered: list[str]
    updated: list[str]
    unchanged: list[str]


def sites_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Site]:
    """Sites from mappings with the site file's columns (``frame.iter_rows(named=True)`` of a site frame)."""
    names = [f.name for f in fields(Site)]
    sites = []
    for row in rows:
        values: dict[str, Any] = {name: row.get(name) for name in names}
        sites.append(Site(**values))
    return sites


def _text(value: object, limit: int) -> str | None:
    """Stripped text within ``limit`` characters and without control characters, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= limit and _NAME.match(value) else None


def _number(value: object, low: float, high: float) -> float | None:
    """A finite number within low..high, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if low <= value <= high else None


def _meter_values(site: Site) -> tuple[dict[str, Any], list[str]]:
    """A site as a meters row (less owner and times), and what is wrong with it."""
    problems = []
    values: dict[str, Any] = {}
    for name, limit in (("meter_id", METER_ID_LENGTH), ("site_id", METER_ID_LENGTH), ("region", REGION_LENGTH)):
        values[name] = _text(getattr(site, name), limit)
        if values[name] is None:
            problems.append(f"{name} must be 1-{limit} characters without control characters")
    capacity = _number(site.capacity_kw, 0.0005, MAX_CAPACITY_KW)  # at least 1 W once rounded
    if capacity is None:
        problems.append(f"capacity_kw must be a number of kW from 0.001 to {MAX_CAPACITY_KW:,}, "
                        f"not {site.capacity_kw!r}")
    values["capacity_w"] = None if capacity is None else round(capacity * 1000)
    for name, low, high, required in (("latitude", -90, 90, True), ("longitude", -180, 180, True),
                                      ("tilt", 0, 90, False), ("azimuth", 0, 360, False)):
        raw = getattr(site, name)
        degrees = _number(raw, low, high)
        if degrees is None and (required or raw is not None):
            problems.append(f"{name} must be a number of degrees from {low} to {high}, not {raw!r}")
        values[f"{name}_microdeg"] = None if degrees is None else round(degrees * MICRODEGREES)
    values["grid_point"] = None if site.grid_point is None else _text(site.grid_point, GRID_POINT_LENGTH)
    if site.grid_point is not None and values["grid_point"] is None:
        problems.append(f"grid_point must be 1-{GRID_POINT_LENGTH} characters")
    if not isinstance(site.commissioned, date) or isinstance(site.commissioned, datetime):
        problems.append(f"commissioned must be a date, not {site.commissioned!r}")
    values["commissioned"] = site.commissioned
    return values, problems


def _in_file_units(name: str, value: Any) -> tuple[str, Any]:
    """A meters column as a site file states it (kW, degrees), for messages."""
    if value is not None and name == "capacity_w":
        return "capacity_kw", value / 1000
    if value is not None and name.endswith("_microdeg"):
        return name.removesuffix("_microdeg"), value / MICRODEGREES
    return name, value


def _difference(column: str, registered: Any, given: Any) -> str:
    name, before = _in_file_units(column, registered)
    return f"{name} {before!r} → {_in_file_units(column, given)[1]!r}"


def _owners_by_name(conn: Connection, names: Iterable[str]) -> dict[str, RowMapping]:
    wanted = sorted(set(names))
    found: dict[str, RowMapping] = {}
    for chunk in _chunks(wanted):
        for row in conn.execute(select(organizations).where(organizations.c.name.in_(chunk))).mappings():
            found[row["name"]] = row
    return found


def registered_meter_ids(conn: Connection) -> frozenset[str]:
    """Every registered meter's id: the meters whose readings the lake accepts by default."""
    return frozenset(conn.execute(select(meters.c.meter_id)).scalars())


def _meters_by_id(conn: Connection, meter_ids: Iterable[str]) -> dict[str, RowMapping]:
    wanted = sorted(set(meter_ids))
    found: dict[str, RowMapping] = {}
    for chunk in _chunks(wanted):
        for row in conn.execute(select(meters).where(meters.c.meter_id.in_(chunk))).mappings():
            found[row["meter_id"]] = row
    return found


def _may_manage(principal: Principal, owner_organization_id: int) -> bool:
    return principal.is_operator or principal.organization_id == owner_organization_id


def register_sites(tx: UnitOfWork, principal: Principal, sites: Sequence[Site], *,
                   update: bool = False) -> SiteImport:
    """Register meters from a site file; identical re-imports change nothing, changes need ``update``.

    All or nothing: any bad row, unknown owner or (without ``update``) changed meter refuses the whole import,
    naming rows (counted from 1, after the header) and meters.
    """
    principal.require_write()
    if not sites:
        raise InvalidRequest("the site list is empty: give at least one site")
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    first_row: dict[str, int] = {}
    for number, site in enumerate(sites, start=1):
        values, wrong = _meter_values(site)
        label = f"row {number} (meter {site.meter_id!r})"
        problems.extend(f"{label}: {p}" for p in wrong)
        if not isinstance(site.owner, str) or not site.owner.strip():
            problems.append(f"{label}: owner must name a registered organisation")
        meter_id = values["meter_id"]
        if meter_id is not None:
            if meter_id in first_row:
                problems.append(f"{label}: meter {meter_id} is also on row {first_row[meter_id]}")
            first_row.setdefault(meter_id, number)
        rows.append(values)
    if problems:
        raise InvalidRequest(f"the site list has {len(problems)} problem(s): {listed(problems)}")

    owners = _owners_by_name(tx.conn, (site.owner.strip() for site in sites))
    unknown = defaultdict(list)
    for number, site in enumerate(sites, start=1):
        if site.owner.strip() not in owners:
            unknown[site.owner.strip()].append(number)
    if unknown:
        raise InvalidRequest("owner names no registered organisation (use its exact registered name): " + listed(
            [f"{name!r} on rows {', '.join(map(str, numbers[:_SHOWN]))}" for name, numbers in unknown.items()]))
    for values, site in zip(rows, sites, strict=True):
        values["owner_organization_id"] = owners[site.owner.strip()]["id"]
    foreign = sorted({v["meter_id"] for v in rows if not _may_manage(principal, v["owner_organization_id"])})
    if foreign:
        raise PermissionDenied(f"only the registry operator or the owner registers a meter; meters "
                               f"{listed(foreign)} are owned by another organisation")

    existing = _meters_by_id(tx.conn, first_row)
    taken = sorted(m for m, row in existing.items() if not _may_manage(principal, row["owner_organization_id"]))
    if taken:
        raise PermissionDenied(f"meters {listed(taken)} are registered to another organisation")
    new, changed, same = [], [], []
    differences = []
    for values in rows:
        stored = existing.get(values["meter_id"])
        if stored is None:
            new.append(values)
            continue
        diff = [_difference(k, stored[k], v) for k, v in values.items() if stored[k] != v]
        if diff:
            changed.append(values)
            differences.append(f"meter {values['meter_id']}: {', '.join(diff)}")
        else:
            same.append(values["meter_id"])
    if differences and not update:
        raise InvalidRequest("these meters are already registered with other attributes (registered → file); "
                             f"import with update to change them: {listed(differences)}")
    if new or changed:
        tx.entry("mrv.sites.registered", registered=len(new), updated=len(changed))
        now = utcnow()
        _insert_rows(tx, meters, [{**values, "registered_at": now} for values in new])
        for values in changed:
            tx.update(meters, meters.c.meter_id == values["meter_id"], values)
    return SiteImport([v["meter_id"] for v in new], [v["meter_id"] for v in changed], same)


def _meter_view(row: RowMapping, owner: Mapping[Any, Any]) -> dict[str, Any]:
    def degrees(name: str) -> float | None:
        value = row[f"{name}_microdeg"]
        return None if value is None else value / MICRODEGREES

    return {
        "meter_id": row["meter_id"], "site_id": row["site_id"], "owner_organization_id": owner["id"],
        "owner": owner["name"], "capacity_kw": row["capacity_w"] / 1000, "latitude": degrees("latitude"),
        "longitude": degrees("longitude"), "tilt": degrees("tilt"), "azimuth": degrees("azimuth"),
        "grid_point": row["grid_point"], "region": row["region"], "commissioned": row["commissioned"],
        "registered_at": utc(row["registered_at"]),
    }


def get_meter(conn: Connection, meter_id: str) -> RowMapping:
    row = read_one(conn, meters, meters.c.meter_id == meter_id)
    if row is None:
        raise NotFound(f"meter {meter_id!r} is not registered")
    return row


def _readable_meter(conn: Connection, viewer: Principal, meter_id: str) -> RowMapping:
    row = get_meter(conn, meter_id)
    if not viewer.may_read(row["owner_organization_id"]):
        raise PermissionDenied(f"meter {meter_id} belongs to another organisation")
    return row


def site(conn: Connection, viewer: Principal, meter_id: str) -> dict[str, Any]:
    """One registered meter, for the operator and its owner."""
    row = _readable_meter(conn, viewer, meter_id)
    owner = ledger.get_organization(conn, row["owner_organization_id"])
    return _meter_view(row, owner)


def sites_page(conn: Connection, viewer: Principal, *, after: tuple[int, ...] | None, limit: int) -> Page:
    """Registered meters in registration order: all for the operator, an organisation's own for anyone else."""
    query = (select(meters, organizations.c.name.label("owner_name"))
             .join(organizations, organizations.c.id == meters.c.owner_organization_id)
             .order_by(meters.c.id).limit(limit + 1))
    if not viewer.is_operator:
        query = query.where(meters.c.owner_organization_id == viewer.organization_id)
    if after is not None:
        query = query.where(meters.c.id > after[0])
    rows = conn.execute(query).mappings().all()
    next_key = (int(rows[limit - 1]["id"]),) if len(rows) > limit else None
    return Page([_meter_view(r, {"id": r["owner_organization_id"], "name": r["owner_name"]})
                 for r in rows[:limit]], next_key)


# ---------------------------------------------------------------- energy claims (exclusivity)

def _claim_view(row: RowMapping) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "meter_id", "first_day", "last_day", "instrument", "reference", "report_id",
                                "declared_by")} | {"created_at": utc(row["created_at"])}


def claimed_conflicts(conn: Connection, meter_ids: Sequence[str], first: date, last: date) -> list[str]:
    """What already claims any of these meters' days in first..last, one line per meter and claim."""
    found: dict[tuple[str, int], list[date]] = defaultdict(list)
    claims: dict[int, RowMapping] = {}
    for chunk in _chunks(meter_ids):
        rows = conn.execute(
            select(claimed_days.c.day, energy_claims)
            .join(energy_claims, energy_claims.c.id == claimed_days.c.claim_id)
            .where(claimed_days.c.meter_id.in_(chunk), claimed_days.c.day >= first, claimed_days.c.day <= last)
        ).mappings()
        for row in rows:
            found[(row["meter_id"], row["id"])].append(row["day"])
            claims[row["id"]] = row
    lines = []
    for (meter_id, claim_id), taken in sorted(found.items()):
        claim = claims[claim_id]
        runs = ", ".join(f"{a}..{b}" if a != b else f"{a}" for a, b in allocation.day_runs(taken))
        lines.append(f"meter {meter_id} on {runs} by {claim['instrument']} {claim['reference']} (claim {claim_id})")
    return lines


def _claim(tx: UnitOfWork, claims: Sequence[Mapping[str, Any]]) -> list[RowMapping]:
    """Insert claims and one claimed_days row per meter and day; the primary key refuses any day claimed twice."""
    stored = _insert_rows(tx, energy_claims, claims)
    day_rows = [{"meter_id": c["meter_id"], "day": day, "claim_id": c["id"]}
                for c in stored for day in allocation.days(c["first_day"], c["last_day"])]
    try:
        _insert_rows(tx, claimed_days, day_rows)
    except IntegrityError as exc:
        # The checks beforehand found these days free: a concurrent transaction claimed them since.
        raise Conflict("some of these meter-days were claimed by another request at the same moment; "
                       "nothing was recorded — read the meters' claims and retry") from exc
    return stored


def declare_claim(tx: UnitOfWork, principal: Principal, *, meter_id: str, first_day: date, last_day: date,
                  instrument: str, reference: str) -> dict[str, Any]:
    """Record that a meter's energy on first_day..last_day backs an instrument outside this registry.

    The operator or the meter's owner declares it; days already claimed are refused (409) naming the claims.
    """
    principal.require_write()
    meter = get_meter(tx.conn, meter_id)
    if not _may_manage(principal, meter["owner_organization_id"]):
        raise PermissionDenied(f"meter {meter_id} belongs to another organisation; its owner or the operator "
                               "declares its claims")
    if instrument not in EXTERNAL_INSTRUMENTS:
        raise InvalidRequest(f"instrument must be one of {', '.join(EXTERNAL_INSTRUMENTS)}, not {instrument!r} "
                             "(this registry's credits claim their days when a monitoring report is issued)")
    text = _text(reference, REFERENCE_LENGTH)
    if text is None:
        raise InvalidRequest(f"reference (the certificate number or other registry's serial) must be "
                             f"1-{REFERENCE_LENGTH} characters")
    if first_day > last_day:
        raise InvalidRequest(f"the claimed period starts {first_day}, after it ends {last_day}")
    if (last_day - first_day).days + 1 > MAX_CLAIM_DAYS:
        raise InvalidRequest(f"a claim covers at most {MAX_CLAIM_DAYS} days; declare longer periods in parts")
    taken = claimed_conflicts(tx.conn, [meter_id], first_day, last_day)
    if taken:
        raise Conflict(f"already claimed: {listed(taken)}")
    tx.entry("mrv.claim.declared", meter_id=meter_id, first_day=first_day, last_day=last_day,
             instrument=instrument)
    row = _claim(tx, [{"meter_id": meter_id, "first_day": first_day, "last_day": last_day,
                       "instrument": instrument, "reference": text, "report_id": None,
                       "declared_by": principal.actor, "created_at": utcnow()}])[0]
    tx.note(claim_id=row["id"])
    return _claim_view(row)


def claims_page(conn: Connection, viewer: Principal, meter_id: str, *, after: tuple[int, ...] | None,
                limit: int) -> Page:
    """A meter's claims (reports' and declared ones) in the order they were made, for the operator and owner."""
    _readable_meter(conn, viewer, meter_id)
    query = select(energy_claims).where(energy_claims.c.meter_id == meter_id).order_by(energy_claims.c.id)
    if after is not None:
        query = query.where(energy_claims.c.id > after[0])
    rows = conn.execute(query.limit(limit + 1)).mappings().all()
    next_key = (int(rows[limit - 1]["id"]),) if len(rows) > limit else None
    return Page([_claim_view(r) for r in rows[:limit]], next_key)


# ---------------------------------------------------------------- monitoring reports: reading and checking

@dataclass(frozen=True, slots=True)
class ReportSite:
    """One site's line of a monitoring report's summary."""

    meter_id: str
    site_id: str
    owner: str
    region: str
    capacity_kw: float
    intervals_expected: int
    reported_kwh: float
    accepted_kwh: float
    flag_counts: dict[str, int]
    reduction_kg: int


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``summary.json`` says, checked against its contract (tanhui.mrv.summary/1)."""

    period_start: date
    period_end: date
    methodology_code: str
    methodology_version: str
    methodology_title: str
    grid_factor: dict[str, Any]
    sites: list[ReportSite]
    reported_kwh: float
    accepted_kwh: float
    reduction_kg: int
    files: dict[str, str]


class _Reader:
    """Typed access to a JSON document that names the path of every bad value."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, what: str) -> InvalidRequest:
        return InvalidRequest(f"{self.source}: {path} {what}")

    def get(self, data: Any, path: str, key: str) -> Any:
        if not isinstance(data, dict) or key not in data:
            raise self.fail(f"{path}.{key}".lstrip("."), "is missing")
        return data[key]

    def text(self, data: Any, path: str, key: str, limit: int = 200) -> str:
        value = self.get(data, path, key)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise self.fail(f"{path}.{key}".lstrip("."), f"must be text of 1-{limit} characters, not {value!r}")
        return value

    def number(self, data: Any, path: str, key: str) -> float:
        value = self.get(data, path, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"{path}.{key}".lstrip("."), f"must be a number, not {value!r}")
        return float(value)

    def whole(self, data: Any, path: str, key: str) -> int:
        value = self.get(data, path, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"{path}.{key}".lstrip("."), f"must be a whole number ≥ 0, not {value!r}")
        return value

    def day(self, data: Any, path: str, key: str) -> date:
        value = self.text(data, path, key, 10)
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise self.fail(f"{path}.{key}".lstrip("."), f"must be a date YYYY-MM-DD, not {value!r}") from exc


def parse_summary(data: Any, source: str = SUMMARY) -> Summary:
    """Check a parsed ``summary.json`` against its contract; InvalidRequest names the first bad value."""
    read = _Reader(source)
    if read.get(data, "", "format") != SUMMARY_FORMAT:
        raise read.fail("format", f"must be {SUMMARY_FORMAT!r}, not {data.get('format')!r}")
    period = read.get(data, "", "period")
    start, end = read.day(period, "period", "start"), read.day(period, "period", "end")
    if start > end:
        raise read.fail("period", f"starts {start}, after it ends {end}")
    if read.get(period, "period", "timezone") != LOCAL_TIMEZONE:
        raise read.fail("period.timezone", f"must be {LOCAL_TIMEZONE!r}: claims are recorded by local day")
    methodology = read.get(data, "", "methodology")
    factor = read.get(methodology, "methodology", "grid_factor")
    if read.number(factor, "methodology.grid_factor", "tco2_per_mwh") <= 0:
        raise read.fail("methodology.grid_factor.tco2_per_mwh", "must be positive")
    read.text(factor, "methodology.grid_factor", "source", 2000)
    listed = read.get(data, "", "sites")
    if not isinstance(listed, list) or not listed:
        raise read.fail("sites", "must be a non-empty list: a monitoring report lists at least one site")
    sites = []
    for index, item in enumerate(listed):
        path = f"sites[{index}]"
        counts = read.get(item, path, "flag_counts")
        if not isinstance(counts, dict):
            raise read.fail(f"{path}.flag_counts", "must be an object of flag name → count")
        sites.append(ReportSite(
            meter_id=read.text(item, path, "meter_id", METER_ID_LENGTH),
            site_id=read.text(item, path, "site_id", METER_ID_LENGTH),
            owner=read.text(item, path, "owner"), region=read.text(item, path, "region", REGION_LENGTH),
            capacity_kw=read.number(item, path, "capacity_kw"),
            intervals_expected=read.whole(item, path, "intervals_expected"),
            reported_kwh=read.number(item, path, "reported_kwh"),
            accepted_kwh=read.number(item, path, "accepted_kwh"),
            flag_counts={str(k): read.whole(counts, f"{path}.flag_counts", k) for k in counts},
            reduction_kg=read.whole(item, path, "reduction_kg"),
        ))
    repeated = sorted(m for m, n in Counter(s.meter_id for s in sites).items() if n > 1)
    if repeated:
        raise read.fail("sites", f"lists meters {', '.join(repeated[:_SHOWN])} more than once")
    totals = read.get(data, "", "totals")
    total = read.whole(totals, "totals", "reduction_kg")
    if total != sum(s.reduction_kg for s in sites):
        raise read.fail("totals.reduction_kg", f"is {total:,} but the sites' reductions add up to "
                                               f"{sum(s.reduction_kg for s in sites):,}")
    files = read.get(data, "", "files")
    for name in REPORT_FILES:
        digest = read.text(files, "files", name, 64)
        if not _SHA256.match(digest):
            raise read.fail(f"files.{name}", "must be a lower-case hex SHA-256")
    return Summary(
        period_start=start, period_end=end, methodology_code=read.text(methodology, "methodology", "code", 40),
        methodology_version=read.text(methodology, "methodology", "version", 40),
        methodology_title=read.text(methodology, "methodology", "title"), grid_factor=dict(factor),
        sites=sites, reported_kwh=read.number(totals, "totals", "reported_kwh"),
        accepted_kwh=read.number(totals, "totals", "accepted_kwh"), reduction_kg=total,
        files={name: files[name] for name in REPORT_FILES},
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _check_files(directory: Path, summary: Summary, source: str) -> None:
    for name, expected in summary.files.items():
        path = directory / name
        if not path.is_file():
            raise InvalidRequest(f"report {source}: {name} is missing")
        actual = file_sha256(path)
        if actual != expected:
            raise InvalidRequest(f"report {source} was altered: {name} has SHA-256 {actual}, but summary.json "
                                 f"records {expected}")


def _within(value: float, expected: float) -> bool:
    # Sums of the same floats in another order differ in the last bits; anything more is a different figure.
    return abs(value - expected) <= 1e-6 * max(1.0, abs(expected))


def _methodology(summary: Summary, source: str) -> DistributedPV:
    """The methodology version the report names, as this registry's reference data holds it; the report must
    have used that version's grid factor."""
    reference = f"{summary.methodology_code}@{summary.methodology_version}"
    try:
        version = methodology(reference)
    except UnknownReference as exc:
        raise InvalidRequest(f"report {source}: {exc.detail}") from exc
    used, expected = summary.grid_factor, version.grid_factor
    stated = (used.get("series"), used.get("data_year"), used.get("region"), Decimal(str(used["tco2_per_mwh"])))
    if stated != (expected.series, expected.data_year, expected.region, expected.value):
        raise InvalidRequest(
            f"report {source} used the grid factor {' '.join(map(str, stated))} tCO2/MWh, but {reference} uses "
            f"{expected.series} {expected.data_year} {expected.region} {expected.value} tCO2/MWh")
    return version


def _check_intervals(path: Path, summary: Summary, version: DistributedPV, source: str) -> None:
    """The intervals file backs the summary: same meters, inside the period, same accepted energy, and each
    site's reduction is what the methodology makes of its accepted energy."""
    import polars as pl

    try:
        frame = pl.scan_parquet(path)
        start = datetime.combine(summary.period_start, datetime.min.time())
        end = datetime.combine(summary.period_end, datetime.max.time())
        local = pl.col("ts").dt.convert_time_zone(LOCAL_TIMEZONE).dt.replace_time_zone(None)
        sums = frame.group_by("meter_id").agg(
            pl.col("accepted_kwh").sum().alias("accepted_kwh"),
            (~local.is_between(start, end)).sum().alias("outside"),
        ).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidRequest(f"report {source}: intervals.parquet cannot be read as intervals: {exc}") from exc
    by_meter = {row["meter_id"]: row for row in sums.iter_rows(named=True)}
    stray = sorted(set(by_meter) - {s.meter_id for s in summary.sites})
    if stray:
        raise InvalidRequest(f"report {source}: intervals.parquet has meters the summary does not list: "
                             f"{listed(stray)}")
    problems = []
    for s in summary.sites:
        row = by_meter.get(s.meter_id, {"accepted_kwh": 0.0, "outside": 0})
        if row["outside"]:
            problems.append(f"meter {s.meter_id} has {row['outside']} intervals outside the period")
        if not _within(row["accepted_kwh"] or 0.0, s.accepted_kwh):
            problems.append(f"meter {s.meter_id}: the summary accepts {s.accepted_kwh} kWh, its intervals "
                            f"{row['accepted_kwh']} kWh")
        if s.reduction_kg != version.reduction_kg(s.accepted_kwh):
            problems.append(f"meter {s.meter_id}: reduction_kg {s.reduction_kg} is not "
                            f"{version.reduction_kg(s.accepted_kwh)}, what {version.reference} makes of "
                            f"{s.accepted_kwh} kWh")
    if problems:
        raise InvalidRequest(f"report {source} does not add up: {listed(problems)}")


class StagedReport:
    """A monitoring report's files copied beside the archive and checked there, so what is issued and archived
    is exactly what was checked.  Use as a context manager: the copy is removed unless ``archive`` kept it."""

    def __init__(self, source: Path, reports_root: Path) -> None:
        self.source = source
        self.reports_root = reports_root
        summary_path = source / SUMMARY
        if not summary_path.is_file():
            raise InvalidRequest(f"{source} is not a monitoring report: it has no {SUMMARY}")
        reports_root.mkdir(parents=True, exist_ok=True)
        self.staged = reports_root / f".incoming-{secrets.token_hex(8)}"
        self.staged.mkdir()
        try:
            shutil.copyfile(summary_path, self.staged / SUMMARY)
            self.summary_sha256 = file_sha256(self.staged / SUMMARY)
            try:
                data = json.loads((self.staged / SUMMARY).read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidRequest(f"{summary_path} is not valid JSON: {exc}") from exc
            self.summary = parse_summary(data, str(summary_path))
            for name in self.summary.files:
                if not (source / name).is_file():
                    raise InvalidRequest(f"report {source}: {name} is missing")
                shutil.copyfile(source / name, self.staged / name)
            version = _methodology(self.summary, str(source))
            _check_files(self.staged, self.summary, str(source))
            _check_intervals(self.staged / "intervals.parquet", self.summary, version, str(source))
        except BaseException:
            self.discard()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.discard()

    @property
    def archived(self) -> Path:
        return self.reports_root / self.summary_sha256

    def discard(self) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)

    def archive(self) -> Path:
        """Put the checked copy in place as ``reports_root/<summary sha256>/``, durably.

        A directory already there is an earlier attempt's (its transaction failed after this step): it is
        kept when it holds this very report, else refused.
        """
        target = self.archived
        if target.exists():
            if not _archive_intact(target, self.summary_sha256):
                raise InvalidRequest(f"{target} exists but does not hold this report; move it away and retry")
            self.discard()
            return target
        for path in self.staged.iterdir():
            _fsync(path)
        self.staged.rename(target)
        _fsync(target)
        _fsync(self.reports_root)
        return target


def _archive_intact(directory: Path, summary_sha256: str) -> bool:
    """Whether an archive directory holds the report named by its summary's hash, files and all."""
    summary_path = directory / SUMMARY
    if not summary_path.is_file() or file_sha256(summary_path) != summary_sha256:
        return False
    files = json.loads(summary_path.read_text(encoding="utf-8"))["files"]
    return all((directory / n).is_file() and file_sha256(directory / n) == files[n] for n in REPORT_FILES)


# ---------------------------------------------------------------- monitoring reports: issuance

@dataclass(frozen=True, slots=True)
class OwnerShare:
    """One owner's part of an issuance: its sites' units, as one serial range, and the account holding them."""

    organization_id: int
    organization: str
    account_id: int
    serial: str
    quantity: int
    sites: int


@dataclass(frozen=True, slots=True)
class ReportIssuance:
    """What issuing a report did: its report row, the issuance act, transfers to owners and each owner's share."""

    report: RowMapping
    issuance: ledger.ActResult
    transfers: list[ledger.ActResult]
    shares: list[OwnerShare]


def _oldest_holding_account(conn: Connection, organization_id: int) -> int | None:
    return conn.execute(
        select(func.min(accounts.c.id))
        .where(accounts.c.organization_id == organization_id, accounts.c.kind == "holding")
    ).scalar_one_or_none()


def _lock_accounts(tx: UnitOfWork, account_ids: Iterable[int]) -> None:
    """Lock every account the issuance touches in ascending id order (the ledger's lock order) on PostgreSQL."""
    if tx.dialect == "postgresql":
        tx.conn.execute(select(accounts.c.id).where(accounts.c.id.in_(sorted(set(account_ids))))
                        .order_by(accounts.c.id).with_for_update())


def check_sites(conn: Connection, summary: Summary) -> tuple[dict[str, RowMapping], dict[int, RowMapping]]:
    """Every site is a registered meter with the attributes the report was verified with."""
    registered = _meters_by_id(conn, [s.meter_id for s in summary.sites])
    missing = [s.meter_id for s in summary.sites if s.meter_id not in registered]
    if missing:
        raise InvalidRequest(f"{len(missing)} of the report's meters are not registered (tanhui mrv sites "
                             f"import): {listed(missing)}")
    owner_ids = {row["owner_organization_id"] for row in registered.values()}
    owners = {row["id"]: row for row in conn.execute(
        select(organizations).where(organizations.c.id.in_(owner_ids))).mappings()}
    problems = []
    for s in summary.sites:
        meter = registered[s.meter_id]
        reported = {"site_id": s.site_id, "owner": s.owner, "region": s.region,
                    "capacity_w": round(s.capacity_kw * 1000)}
        stored = {"site_id": meter["site_id"], "owner": owners[meter["owner_organization_id"]]["name"],
                  "region": meter["region"], "capacity_w": meter["capacity_w"]}
        diff = [f"{_in_file_units(k, reported[k])[0]} {_in_file_units(k, reported[k])[1]!r} "
                f"(registered {_in_file_units(k, stored[k])[1]!r})" for k in reported if reported[k] != stored[k]]
        if diff:
            problems.append(f"meter {s.meter_id}: {', '.join(diff)}")
    if problems:
        raise InvalidRequest(f"the report was verified with other site attributes than the registry holds: "
                             f"{listed(problems)}")
    return registered, owners


def _wh(kwh: float) -> int:
    return round(kwh * 1000)


def issue_from_report(tx: UnitOfWork, principal: Principal, report: StagedReport, *, registry: str,
                      credit_type: str, project_id: int, account_id: int | None = None,
                      to_owners: bool = False, through_lifecycle: bool = False) -> ReportIssuance:
    """Issue a checked monitoring report's total reduction, claim its meter-days and record it, all in ``tx``.

    The credits go into ``account_id`` (a holding or buffer account), or with ``to_owners`` each owner's
    sites' units go on to that owner's oldest holding account (the issuance account defaults then to the
    project owner's oldest holding account).  The archive is in place when this returns; the caller commits.
    A project registered from a declaration takes its reports through the lifecycle (verifier review, then
    sign-off), which calls this ``through_lifecycle``; issuing it directly is refused.
    """
    principal.require_operator("issue credits from a monitoring report")
    summary = report.summary
    issued = read_one(tx.conn, monitoring_reports, monitoring_reports.c.summary_sha256 == report.summary_sha256)
    if issued is not None:
        earlier = ledger.get_issuance(tx.conn, issued["issuance_id"])
        raise Conflict(f"monitoring report {report.summary_sha256} was already issued as "
                       f"{ledger.serial_of(earlier, 1, earlier['quantity'])} (report {issued['id']}, "
                       f"{utc(issued['created_at']):%Y-%m-%d %H:%M} UTC); nothing was changed")
    project = read_one(tx.conn, projects, projects.c.id == project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    if not through_lifecycle and read_one(tx.conn, declarations, declarations.c.project_id == project_id):
        raise InvalidRequest(f"project {project_id} was registered from a declaration, so its monitoring reports "
                             "are verified before issuance: submit this report (tanhui project submit-report, or "
                             f"POST /api/v1/projects/{project_id}/reports/mrv) for its verifier's review, and "
                             "sign it off when verified")
    if project["methodology"] != summary.methodology_code:
        raise InvalidRequest(f"project {project_id} follows methodology {project['methodology']}, but the report "
                             f"was verified under {summary.methodology_code} {summary.methodology_version}")
    if summary.period_start.year != summary.period_end.year:
        raise InvalidRequest(f"the monitoring period {summary.period_start}..{summary.period_end} spans two "
                             "years; a serial has one vintage, so verify and issue each year's part separately")
    if summary.reduction_kg == 0:
        raise InvalidRequest("the report reduces 0 kgCO2e: there is nothing to issue")
    registered, owners = check_sites(tx.conn, summary)

    if account_id is None:
        if not to_owners:
            raise InvalidRequest("give the account to issue into, or issue to the owners")
        account_id = _oldest_holding_account(tx.conn, project["owner_organization_id"])
        if account_id is None:
            raise InvalidRequest(f"the project owner, organisation {project['owner_organization_id']}, has no "
                                 "holding account to issue into; open one or name an account")
    holder = ledger.get_account(tx.conn, account_id)
    ranges = allocation.allocate(allocation.Contribution(s.meter_id, registered[s.meter_id]["owner_organization_id"],
                                                         s.reduction_kg) for s in summary.sites)
    runs = allocation.owner_ranges(ranges)
    destination = {owner: account_id for owner in runs}
    if to_owners:
        lacking = []
        for owner in runs:
            if owner != holder["organization_id"]:
                found = _oldest_holding_account(tx.conn, owner)
                if found is None:
                    lacking.append(f"{owners[owner]['name']} (organisation {owner})")
                else:
                    destination[owner] = found
        if lacking:
            raise InvalidRequest(f"these owners have no holding account to receive their credits: "
                                 f"{listed(lacking)}")
    meter_ids = [s.meter_id for s in summary.sites]
    taken = claimed_conflicts(tx.conn, meter_ids, summary.period_start, summary.period_end)
    if taken:
        raise Conflict(f"the report's meter-days are already claimed, so they cannot back these credits: "
                       f"{listed(taken)}")

    _lock_accounts(tx, destination.values())
    result = ledger.issue(tx, principal, registry=registry, project_id=project_id,
                          vintage=summary.period_start.year, period_start=summary.period_start,
                          period_end=summary.period_end, quantity=summary.reduction_kg, account_id=account_id,
                          credit_type=credit_type)
    issuance = result.detail
    assert issuance is not None  # issue() returns the issuance it made
    # The operator distributes the issuance as the report allocates it, acting for the holding account's
    # organisation (the journal records the operator as the actor of these transfers).
    distributor = Principal(principal.actor, holder["organization_id"],
                            ledger.get_organization(tx.conn, holder["organization_id"])["kind"], "admin")
    transfers = [ledger.transfer(tx, distributor, from_account_id=account_id, to_account_id=to,
                                 serial_range=ledger.serial_of(issuance, *runs[owner]))
                 for owner, to in sorted(destination.items()) if to != account_id]

    tx.entry("mrv.report.issued", summary_sha256=report.summary_sha256, project_id=project_id,
             issuance_id=issuance["id"], reduction_kg=summary.reduction_kg, sites=len(summary.sites))
    try:
        row = tx.insert(monitoring_reports, {
            "project_id": project_id, "issuance_id": issuance["id"], "period_start": summary.period_start,
            "period_end": summary.period_end, "methodology_code": summary.methodology_code,
            "methodology_version": summary.methodology_version, "methodology_title": summary.methodology_title,
            "grid_factor": canonical_json(summary.grid_factor), "summary_sha256": report.summary_sha256,
            "files": canonical_json(summary.files), "sites": len(summary.sites),
            "reported_wh": _wh(summary.reported_kwh), "accepted_wh": _wh(summary.accepted_kwh),
            "reduction_kg": summary.reduction_kg, "issued_by": principal.actor, "created_at": utcnow(),
        })
    except IntegrityError as exc:
        # It was not issued when checked above: another command issued it since, and the unique key says so.
        raise Conflict(f"monitoring report {report.summary_sha256} was issued by another command at the same "
                       "moment; nothing was changed") from exc
    tx.note(report_id=row["id"])
    by_meter = {sub.meter_id: sub for sub in ranges}
    _insert_rows(tx, report_sites, [{
        "report_id": row["id"], "meter_id": s.meter_id, "site_id": s.site_id,
        "owner_organization_id": registered[s.meter_id]["owner_organization_id"],
        "capacity_w": registered[s.meter_id]["capacity_w"], "region": s.region,
        "intervals_expected": s.intervals_expected, "reported_wh": _wh(s.reported_kwh),
        "accepted_wh": _wh(s.accepted_kwh), "reduction_kg": s.reduction_kg,
        "flag_counts": canonical_json(s.flag_counts),
        "serial_first": by_meter[s.meter_id].first if s.meter_id in by_meter else None,
        "serial_last": by_meter[s.meter_id].last if s.meter_id in by_meter else None,
    } for s in summary.sites])
    now = utcnow()
    whole = (1, issuance["quantity"])
    _claim(tx, [{
        "meter_id": s.meter_id, "first_day": summary.period_start, "last_day": summary.period_end,
        "instrument": "tanhui_credit", "report_id": row["id"], "declared_by": principal.actor, "created_at": now,
        # A site's own units, or the whole issuance for a site whose energy came to less than 1 kg.
        "reference": ledger.serial_of(issuance, *((by_meter[s.meter_id].first, by_meter[s.meter_id].last)
                                                  if s.meter_id in by_meter else whole)),
    } for s in summary.sites])
    report.archive()

    counts: dict[int, int] = defaultdict(int)
    for sub in ranges:
        counts[sub.owner] += 1
    shares = [OwnerShare(owner, owners[owner]["name"], destination[owner], ledger.serial_of(issuance, first, last),
                         last - first + 1, counts[owner]) for owner, (first, last) in sorted(runs.items())]
    return ReportIssuance(row, result, transfers, shares)


# ---------------------------------------------------------------- provenance

def _report_view(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"], "project_id": row["project_id"], "period_start": row["period_start"],
        "period_end": row["period_end"],
        "methodology": {"code": row["methodology_code"], "version": row["methodology_version"],
                        "title": row["methodology_title"]},
        "grid_factor": json.loads(row["grid_factor"]), "summary_sha256": row["summary_sha256"],
        "files": json.loads(row["files"]), "sites": row["sites"], "reported_kwh": row["reported_wh"] / 1000,
        "accepted_kwh": row["accepted_wh"] / 1000, "reduction_kg": row["reduction_kg"],
        "issued_at": utc(row["created_at"]),
    }


@lru_cache(maxsize=64)
def _verified(path: str, size: int, modified_ns: int, expected: str) -> bool:
    """Whether an archived file still has its recorded hash (remembered per file version)."""
    return file_sha256(Path(path)) == expected


def archived_intervals(reports_root: Path, report: RowMapping) -> Path:
    """The archived intervals.parquet of a report, checked against the hash recorded when it was issued."""
    path = reports_root / report["summary_sha256"] / "intervals.parquet"
    expected = json.loads(report["files"])["intervals.parquet"]
    if not path.is_file():
        raise NotFound(f"the archived files of monitoring report {report['id']} are missing from this server's "
                       "data directory (TANHUI_DATA_DIR)")
    stat = path.stat()
    if not _verified(str(path), stat.st_size, stat.st_mtime_ns, expected):
        raise Conflict(f"the archived intervals of monitoring report {report['id']} no longer match the hash "
                       "recorded at issuance; the archive was altered")
    return path


def provenance(conn: Connection, viewer: Principal, serial: str, *, reports_root: Path,
               after: tuple[int, ...] | None, limit: int, accepted_only: bool = True,
               ) -> tuple[dict[str, Any], tuple[int, ...] | None]:
    """The monitoring report, the sites and (paged) the intervals behind a serial range.

    Sites are those whose sub-range holds any unit of the range; the intervals are those sites' intervals
    from the archived report (only accepted ones unless ``accepted_only`` is False), by meter and time.
    Owners are named unless they are individuals; no accounts, coordinates or actors are shown.
    """
    try:
        issued, first, last = ledger.resolve_serial_range(conn, serial)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.detail, field="serial") from exc
    report = read_one(conn, monitoring_reports, monitoring_reports.c.issuance_id == issued["id"])
    if report is None:
        raise NotFound(f"issuance {issued['id']} was issued directly, not from a monitoring report: it has no "
                       "recorded provenance")
    rows = conn.execute(
        select(report_sites, organizations.c.name.label("owner_name"), organizations.c.kind.label("owner_kind"))
        .join(organizations, organizations.c.id == report_sites.c.owner_organization_id)
        .where(report_sites.c.report_id == report["id"],
               and_(report_sites.c.serial_first <= last, report_sites.c.serial_last >= first))
        .order_by(report_sites.c.serial_first)
    ).mappings().all()
    sites = [{
        "meter_id": r["meter_id"], "site_id": r["site_id"],
        "owner": queries.INDIVIDUAL if r["owner_kind"] == "individual" else r["owner_name"],
        "capacity_kw": r["capacity_w"] / 1000, "region": r["region"], "intervals_expected": r["intervals_expected"],
        "reported_kwh": r["reported_wh"] / 1000, "accepted_kwh": r["accepted_wh"] / 1000,
        "reduction_kg": r["reduction_kg"], "flag_counts": json.loads(r["flag_counts"]),
        "serial": ledger.serial_of(issued, r["serial_first"], r["serial_last"]),
    } for r in rows]
    intervals, next_key = _intervals(archived_intervals(reports_root, report), [r["meter_id"] for r in rows],
                                     after=after, limit=limit, accepted_only=accepted_only)
    view = {
        "serial": ledger.serial_of(issued, first, last), "quantity": last - first + 1,
        "issuance": queries.issuance(conn, viewer, issued["id"]), "report": _report_view(report),
        "sites": sites, "intervals": intervals,
    }
    return view, next_key


def _intervals(path: Path, meter_ids: list[str], *, after: tuple[int, ...] | None, limit: int,
               accepted_only: bool) -> tuple[list[dict[str, Any]], tuple[int, ...] | None]:
    """A page of the archived intervals of some meters, by meter and time; the key is the row offset, which an
    archived (hash-checked, never rewritten) file keeps stable."""
    import polars as pl

    offset = after[0] if after else 0
    frame = pl.scan_parquet(path).filter(pl.col("meter_id").is_in(meter_ids))
    if accepted_only:
        frame = frame.filter(pl.col("accepted_kwh") > 0)
    page = (frame.select("meter_id", "ts", "kwh", "accepted_kwh", "flags").sort("meter_id", "ts")
            .slice(offset, limit + 1).collect())
    items = page.head(limit).to_dicts()
    return items, ((offset + limit,) if page.height > limit else None)
