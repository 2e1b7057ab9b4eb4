"""The MRV registry on SQLite and PostgreSQL: meters, the (meter, day) exclusivity key, issuing reports, provenance.

Reports are built by hand per the summary contract (tanhui.mrv.summary/1): a few meters over a few local days,
daytime intervals of a fixed energy and one flagged interval a day, so every figure is known exactly.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tanhui.errors import Conflict, InvalidRequest, PermissionDenied
from tanhui.identity.principal import Principal
from tanhui.journal.audit import verify
from tanhui.methodologies import methodology
from tanhui.mrv import registry
from tanhui.mrv.frames import INTERVAL, LOCAL_TIMEZONE
from tanhui.mrv.tables import claimed_days, energy_claims, meters, monitoring_reports, report_sites
from tanhui.registry import ledger
from tanhui.unit_of_work import UnitOfWork
from tests.factories import World, holdings, invariant_problems, snapshot

# The methodology version the test reports follow, with its grid factor from the reference data.
VERSION = methodology("PV-DIST@1-EC2023")
JANUARY = (date(2024, 1, 1), date(2024, 1, 3))
# Daytime intervals (local 08:00-16:00) carry energy in the test reports; the first of each day is flagged.
DAYTIME = range(32, 64)


@dataclass(frozen=True)
class SiteSpec:
    """A test site: its meter, owner organisation's name and the energy of each daytime interval."""

    meter_id: str
    owner: str
    kwh: float = 1.25
    capacity_kw: float = 10.0
    region: str = "SIP"

    def site(self) -> registry.Site:
        return registry.Site(meter_id=self.meter_id, site_id=f"S-{self.meter_id}", owner=self.owner,
                             capacity_kw=self.capacity_kw, latitude=31.3, longitude=120.72, region=self.region,
                             commissioned=date(2023, 5, 1), tilt=25.0, azimuth=180.0, grid_point="T1")


def kg(days: int, kwh: float) -> int:
    """The credits a test site earns over ``days``: 31 accepted daytime intervals a day of ``kwh`` each."""
    return VERSION.reduction_kg(days * 31 * kwh)


# What the usual test sites earn over JANUARY's three days.
M1_KG, M2_KG = kg(3, 1.25), kg(3, 0.5)


def owners(world: World) -> tuple[str, str]:
    """The names of the world's project owner and buyer organisations (site owners in these tests)."""
    return "Org project_owner", "Org buyer"


def register(engine: Engine, principal: Principal, specs: list[SiteSpec], *, update: bool = False
             ) -> registry.SiteImport:
    with UnitOfWork(engine, principal.actor) as tx:
        done = registry.register_sites(tx, principal, [s.site() for s in specs], update=update)
        tx.commit()
    return done


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def intervals_frame(specs: list[SiteSpec], start: date, end: date) -> pl.DataFrame:
    """Every interval of the period for every meter, as intervals.parquet holds them."""
    rows: list[dict[str, Any]] = []
    first_local = datetime(start.year, start.month, start.day)
    for spec in sorted(specs, key=lambda s: s.meter_id):
        for day in range((end - start).days + 1):
            for index in range(96):
                daytime = index in DAYTIME
                flagged = index == DAYTIME[0]
                kwh = spec.kwh if daytime else 0.0
                rows.append({"meter_id": spec.meter_id, "local": first_local + timedelta(days=day) + index * INTERVAL,
                             "kwh": kwh, "flags": ["outlier"] if flagged else [],
                             "accepted_kwh": 0.0 if flagged else kwh})
    return pl.DataFrame(rows).select(
        "meter_id", pl.col("local").dt.replace_time_zone(LOCAL_TIMEZONE).dt.convert_time_zone("UTC").alias("ts"),
        "kwh", pl.col("flags").cast(pl.List(pl.String)), "accepted_kwh")


def write_report(directory: Path, specs: list[SiteSpec], period: tuple[date, date] = JANUARY, *,
                 edit: dict[str, Any] | None = None) -> Path:
    """A monitoring report directory per the contract; ``edit`` overrides top-level summary members."""
    directory.mkdir(parents=True, exist_ok=True)
    start, end = period
    frame = intervals_frame(specs, start, end)
    frame.write_parquet(directory / "intervals.parquet")
    daily = (frame.with_columns(pl.col("ts").dt.convert_time_zone(LOCAL_TIMEZONE).dt.date().alias("date"))
             .group_by("meter_id", "date").agg(pl.col("kwh").sum().alias("reported_kwh"),
                                               pl.col("accepted_kwh").sum()).sort("meter_id", "date"))
    daily.write_parquet(directory / "daily.parquet")
    sums = {r["meter_id"]: r for r in frame.group_by("meter_id").agg(
        pl.col("kwh").sum(), pl.col("accepted_kwh").sum(), pl.len().alias("n")).iter_rows(named=True)}
    days = (end - start).days + 1
    sites = [{
        "meter_id": s.meter_id, "site_id": f"S-{s.meter_id}", "owner": s.owner, "region": s.region,
        "capacity_kw": s.capacity_kw, "intervals_expected": sums[s.meter_id]["n"],
        "reported_kwh": sums[s.meter_id]["kwh"], "accepted_kwh": sums[s.meter_id]["accepted_kwh"],
        "flag_counts": {"outlier": days},
        "reduction_kg": VERSION.reduction_kg(sums[s.meter_id]["accepted_kwh"]),
    } for s in sorted(specs, key=lambda s: s.meter_id)]
    summary = {
        "format": "tanhui.mrv.summary/1",
        "period": {"start": start.isoformat(), "end": end.isoformat(), "timezone": LOCAL_TIMEZONE},
        "methodology": VERSION.describe(),
        "parameters": {}, "sites": sites,
        "totals": {"sites": len(sites), "reported_kwh": sum(s["reported_kwh"] for s in sites),
                   "accepted_kwh": sum(s["accepted_kwh"] for s in sites),
                   "reduction_kg": sum(s["reduction_kg"] for s in sites), "flag_counts": {"outlier": days}},
        "files": {name: _sha256(directory / name) for name in ("intervals.parquet", "daily.parquet")},
        "inputs": [], "notes": [], "generated_at": "2024-02-01T00:00:00Z", "tanhui_version": "test",
        **(edit or {}),
    }
    (directory / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return directory


def issue(world: World, report: Path, reports_root: Path, *, account: int | None = None,
          to_owners: bool = False, project: int | None = None) -> registry.ReportIssuance:
    with registry.StagedReport(report, reports_root) as staged, \
            UnitOfWork(world.engine, world.operator.actor) as tx:
        done = registry.issue_from_report(tx, world.operator, staged, registry="TH", credit_type="PHCER",
                                          project_id=project or world.project, account_id=account, to_owners=to_owners)
        tx.commit()
    return done


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def archived(reports_root: Path) -> list[str]:
    """Names in the archive directory (staging copies included, so a leftover would show)."""
    return sorted(p.name for p in reports_root.iterdir()) if reports_root.exists() else []


@pytest.fixture
def reports_root(tmp_path: Path) -> Path:
    return tmp_path / "data" / "reports"


# ---------------------------------------------------------------- meters

def test_registering_sites_is_idempotent_and_changes_are_explicit(world: World) -> None:
    owner, _ = owners(world)
    specs = [SiteSpec("000000000001", owner), SiteSpec("000000000002", owner)]
    assert register(world.engine, world.operator, specs).registered == ["000000000001", "000000000002"]
    before = snapshot(world.engine)
    again = register(world.engine, world.operator, specs)
    assert (again.registered, again.updated, again.unchanged) == ([], [], ["000000000001", "000000000002"])
    assert snapshot(world.engine) == before

    bigger = [specs[0], replace(specs[1], capacity_kw=12.5)]
    with pytest.raises(InvalidRequest, match=r"meter 000000000002: capacity_kw 10.0 → 12.5") as refused:
        register(world.engine, world.operator, bigger)
    assert "import with update" in refused.value.detail
    assert snapshot(world.engine) == before
    done = register(world.engine, world.operator, bigger, update=True)
    assert (done.updated, done.unchanged) == (["000000000002"], ["000000000001"])
    with world.engine.connect() as conn:
        assert conn.execute(sa.select(meters.c.capacity_w).where(meters.c.meter_id == "000000000002")
                            ).scalar_one() == 12500
    assert verify(world.engine).ok


def test_a_bad_site_list_names_rows_and_changes_nothing(world: World) -> None:
    owner, _ = owners(world)
    before = snapshot(world.engine)
    bad = [SiteSpec("M1", owner).site(), replace(SiteSpec("M2", owner).site(), latitude=91.0),
           replace(SiteSpec("M1", owner).site(), capacity_kw=0.0)]
    with pytest.raises(InvalidRequest) as refused, UnitOfWork(world.engine, world.operator.actor) as tx:
        registry.register_sites(tx, world.operator, bad)
    assert "row 2 (meter 'M2'): latitude must be a number of degrees from -90 to 90, not 91.0" in refused.value.detail
    assert "row 3 (meter 'M1'): capacity_kw must be" in refused.value.detail
    assert "meter M1 is also on row 1" in refused.value.detail
    with pytest.raises(InvalidRequest, match="'Nobody Ltd' on rows 1"):
        register(world.engine, world.operator, [SiteSpec("M1", "Nobody Ltd")])
    assert snapshot(world.engine) == before


def test_only_the_operator_or_the_owner_registers_a_meter(world: World) -> None:
    owner, buyer = owners(world)
    before = snapshot(world.engine)
    with pytest.raises(PermissionDenied, match="only the registry operator or the owner"):
        register(world.engine, world.buyer, [SiteSpec("M1", owner)])
    assert snapshot(world.engine) == before
    assert register(world.engine, world.owner, [SiteSpec("M1", owner)]).registered == ["M1"]
    # The owner cannot give its meter away by re-importing it under another owner.
    with pytest.raises(PermissionDenied):
        register(world.engine, world.owner, [SiteSpec("M1", buyer)], update=True)


# ---------------------------------------------------------------- issuing a report

def test_issuing_a_report_records_it_claims_its_meter_days_and_archives_it(world: World, tmp_path: Path,
                                                                           reports_root: Path) -> None:
    owner, _ = owners(world)
    specs = [SiteSpec("M1", owner), SiteSpec("M2", owner, kwh=0.5), SiteSpec("M3", owner, kwh=0.0)]
    register(world.engine, world.operator, specs)
    report = write_report(tmp_path / "report", specs)
    done = issue(world, report, reports_root, account=world.owner_account)

    # M1: 3 days × 31 accepted intervals × 1.25 kWh = 116.25 kWh; M2: 46.5 kWh; M3: nothing.
    total = M1_KG + M2_KG
    assert done.issuance.act["quantity"] == total
    serial = done.issuance.serials[0]
    assert serial.endswith(f".1-{total}")
    with world.engine.connect() as conn:
        contributions = conn.execute(sa.select(report_sites.c.meter_id, report_sites.c.serial_first,
                                               report_sites.c.serial_last, report_sites.c.accepted_wh)
                                     .order_by(report_sites.c.meter_id)).all()
        days = conn.execute(sa.select(claimed_days.c.meter_id, sa.func.count()).group_by(claimed_days.c.meter_id)
                            .order_by(claimed_days.c.meter_id)).all()
    assert [tuple(r) for r in contributions] == [("M1", 1, M1_KG, 116250), ("M2", M1_KG + 1, total, 46500),
                                                 ("M3", None, None, 0)]
    assert [tuple(r) for r in days] == [("M1", 3), ("M2", 3), ("M3", 3)]
    sha = hashlib.sha256((report / "summary.json").read_bytes()).hexdigest()
    assert archived(reports_root) == [sha]
    assert sorted(p.name for p in (reports_root / sha).iterdir()) == ["daily.parquet", "intervals.parquet",
                                                                     "summary.json"]
    assert holdings(world.engine, world.owner_account) == [(done.issuance.detail["id"], 1, total, "available")]
    assert invariant_problems(world.engine) == []
    assert verify(world.engine).ok


def test_the_same_report_cannot_be_issued_twice(world: World, tmp_path: Path, reports_root: Path) -> None:
    owner, _ = owners(world)
    register(world.engine, world.operator, [SiteSpec("M1", owner)])
    report = write_report(tmp_path / "report", [SiteSpec("M1", owner)])
    first = issue(world, report, reports_root, account=world.owner_account)
    before, files = snapshot(world.engine), archived(reports_root)
    with pytest.raises(Conflict, match=rf"already issued as {first.issuance.serials[0]}"):
        issue(world, report, reports_root, account=world.owner_account)
    assert snapshot(world.engine) == before
    assert archived(reports_root) == files


def test_an_overlapping_report_is_refused_by_the_meter_day_key(world: World, tmp_path: Path,
                                                               reports_root: Path) -> None:
    owner, _ = owners(world)
    register(world.engine, world.operator, [SiteSpec("M1", owner), SiteSpec("M2", owner)])
    issue(world, write_report(tmp_path / "a", [SiteSpec("M1", owner)]), reports_root, account=world.owner_account)
    before, files = snapshot(world.engine), archived(reports_root)
    # Another report, another period that overlaps January 3rd, and another site besides.
    overlapping = write_report(tmp_path / "b", [SiteSpec("M1", owner), SiteSpec("M2", owner)],
                               (date(2024, 1, 3), date(2024, 1, 5)))
    with pytest.raises(Conflict, match=r"meter M1 on 2024-01-03 by tanhui_credit TH1\.SIP\.PHCER\.P\d+\.V2024\.I\d+"
                                       rf"\.1-{M1_KG} \(claim \d+\)") as refused:
        issue(world, overlapping, reports_root, account=world.owner_account)
    assert "M2" not in refused.value.detail
    assert snapshot(world.engine) == before
    assert archived(reports_root) == files


def test_the_database_refuses_a_second_claim_on_a_meter_day_even_past_the_checks(world: World) -> None:
    """The key, not the check before it, is the guarantee: a claim written directly still cannot overlap."""
    owner, _ = owners(world)
    register(world.engine, world.operator, [SiteSpec("M1", owner)])
    claim = {"meter_id": "M1", "instrument": "green_certificate", "report_id": None, "declared_by": "test",
             "created_at": datetime.now(UTC)}
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        tx.entry("test")
        first = tx.insert(energy_claims, claim | {"first_day": date(2024, 1, 1), "last_day": date(2024, 1, 1),
                                                  "reference": "GC-1"})
        tx.insert(claimed_days, {"meter_id": "M1", "day": date(2024, 1, 1), "claim_id": first["id"]})
        tx.commit()
    before = snapshot(world.engine)
    with pytest.raises(sa.exc.IntegrityError), UnitOfWork(world.engine, world.operator.actor) as tx:
        tx.entry("test")
        second = tx.insert(energy_claims, claim | {"first_day": date(2024, 1, 1), "last_day": date(2024, 1, 1),
                                                   "reference": "GC-2"})
        tx.insert(claimed_days, {"meter_id": "M1", "day": date(2024, 1, 1), "claim_id": second["id"]})
        tx.commit()
    assert snapshot(world.engine) == before
    # Claims are facts: the key cannot be lifted by deleting a day.
    with pytest.raises(sa.exc.DBAPIError), world.engine.begin() as conn:
        conn.execute(sa.delete(claimed_days))


def test_an_external_claim_blocks_issuance_of_those_days_and_vice_versa(world: World, tmp_path: Path,
                                                                        reports_root: Path) -> None:
    owner, _ = owners(world)
    register(world.engine, world.operator, [SiteSpec("M1", owner), SiteSpec("M2", owner)])
    with UnitOfWork(world.engine, world.owner.actor) as tx:
        registry.declare_claim(tx, world.owner, meter_id="M2", first_day=date(2024, 1, 2),
                               last_day=date(2024, 1, 2), instrument="green_certificate", reference="GEC-2024-0007")
        tx.commit()
    before = snapshot(world.engine)
    report = write_report(tmp_path / "r", [SiteSpec("M1", owner), SiteSpec("M2", owner)])
    with pytest.raises(Conflict, match=r"meter M2 on 2024-01-02 by green_certificate GEC-2024-0007"):
        issue(world, report, reports_root, account=world.owner_account)
    assert snapshot(world.engine) == before
    assert archived(reports_root) == []

    issue(world, write_report(tmp_path / "r1", [SiteSpec("M1", owner)]), reports_root, account=world.owner_account)
    before = snapshot(world.engine)
    with pytest.raises(Conflict, match=r"meter M1 on 2024-01-03 by tanhui_credit") as refused, \
            UnitOfWork(world.engine, world.owner.actor) as tx:
        registry.declare_claim(tx, world.owner, meter_id="M1", first_day=date(2024, 1, 3),
                               last_day=date(2024, 1, 9), instrument="other_registry", reference="GS-1-2-3")
    assert "2024-01-04" not in refused.value.detail
    assert snapshot(world.engine) == before
    with pytest.raises(PermissionDenied), UnitOfWork(world.engine, world.buyer.actor) as tx:
        registry.declare_claim(tx, world.buyer, meter_id="M1", first_day=date(2024, 2, 1),
                               last_day=date(2024, 2, 1), instrument="other_registry", reference="X")


def test_a_tampered_report_is_refused_and_changes_nothing(world: World, tmp_path: Path,
                                                          reports_root: Path) -> None:
    owner, _ = owners(world)
    specs = [SiteSpec("M1", owner)]
    register(world.engine, world.operator, specs)
    before = snapshot(world.engine)

    altered = write_report(tmp_path / "altered", specs)
    frame = pl.read_parquet(altered / "intervals.parquet")
    frame.with_columns(pl.col("accepted_kwh") * 2).write_parquet(altered / "intervals.parquet")
    with pytest.raises(InvalidRequest, match=r"was altered: intervals\.parquet has SHA-256 [0-9a-f]{64}, but "
                                             r"summary\.json records"):
        issue(world, altered, reports_root, account=world.owner_account)

    # The data files intact, the summary claiming more than its intervals back.
    inflated = write_report(tmp_path / "inflated", specs)
    summary = json.loads((inflated / "summary.json").read_text())
    summary["sites"][0]["reduction_kg"] += 1000
    summary["totals"]["reduction_kg"] += 1000
    (inflated / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(InvalidRequest, match=rf"does not add up: meter M1: reduction_kg {M1_KG + 1000} is not "
                                             rf"{M1_KG}, what PV-DIST@1-EC2023 makes of 116\.25 kWh"):
        issue(world, inflated, reports_root, account=world.owner_account)

    # A summary that credits more by stating a larger grid factor than its methodology version uses.
    boosted = write_report(tmp_path / "boosted", specs)
    summary = json.loads((boosted / "summary.json").read_text())
    summary["methodology"]["grid_factor"]["tco2_per_mwh"] = 0.9
    (boosted / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(InvalidRequest, match=r"used the grid factor mee-nbs-average 2023 east 0\.9 tCO2/MWh, but "
                                             r"PV-DIST@1-EC2023 uses mee-nbs-average 2023 east"):
        issue(world, boosted, reports_root, account=world.owner_account)

    broken = write_report(tmp_path / "broken", specs)
    (broken / "summary.json").write_text('{"format": "tanhui.mrv.summary/1",')
    with pytest.raises(InvalidRequest, match=r"summary\.json is not valid JSON"):
        issue(world, broken, reports_root, account=world.owner_account)
    utc_days = write_report(tmp_path / "utc", specs, edit={"period": {"start": "2024-01-01", "end": "2024-01-03",
                                                                      "timezone": "UTC"}})
    with pytest.raises(InvalidRequest, match=r"period\.timezone must be 'Asia/Shanghai'"):
        issue(world, utc_days, reports_root, account=world.owner_account)

    missing = write_report(tmp_path / "missing", specs)
    (missing / "daily.parquet").unlink()
    with pytest.raises(InvalidRequest, match=r"daily\.parquet is missing"):
        issue(world, missing, reports_root, account=world.owner_account)
    assert snapshot(world.engine) == before
    assert archived(reports_root) == []


def test_a_report_must_match_the_project_and_the_registered_sites(world: World, tmp_path: Path,
                                                                  reports_root: Path) -> None:
    owner, buyer = owners(world)
    register(world.engine, world.operator, [SiteSpec("M1", owner)])
    with UnitOfWork(world.engine, world.operator.actor) as tx:
        chargers = ledger.register_project(tx, world.operator, name="Chargers", methodology="EV-CHARGE",
                                           owner_organization_id=world.owner_org, region="SIP")["id"]
        tx.commit()
    before = snapshot(world.engine)
    with pytest.raises(InvalidRequest, match=f"project {chargers} follows methodology EV-CHARGE, but the report "
                                             "was verified under PV-DIST 1-EC2023"):
        issue(world, write_report(tmp_path / "a", [SiteSpec("M1", owner)]), reports_root,
              account=world.owner_account, project=chargers)
    cases = [
        (write_report(tmp_path / "v", [SiteSpec("M1", owner)],
                      edit={"methodology": VERSION.describe() | {"version": "9-XX"}}),
         "unknown methodology version 'PV-DIST@9-XX'"),
        (write_report(tmp_path / "b", [SiteSpec("M1", owner), SiteSpec("M9", owner)]),
         "1 of the report's meters are not registered .*: M9"),
        (write_report(tmp_path / "c", [SiteSpec("M1", buyer, capacity_kw=11.0)]),
         "meter M1: owner 'Org buyer' \\(registered 'Org project_owner'\\), capacity_kw 11.0 \\(registered 10.0\\)"),
        (write_report(tmp_path / "d", [SiteSpec("M1", owner)], (date(2023, 12, 31), date(2024, 1, 1))),
         "spans two years"),
        (write_report(tmp_path / "e", [SiteSpec("M1", owner)], edit={"format": "something/2"}),
         "format must be 'tanhui.mrv.summary/1'"),
    ]
    for report, message in cases:
        with pytest.raises(InvalidRequest, match=message):
            issue(world, report, reports_root, account=world.owner_account)
    assert snapshot(world.engine) == before
    assert archived(reports_root) == []


def test_issuing_to_owners_transfers_each_owners_units_as_one_range(world: World, tmp_path: Path,
                                                                    reports_root: Path) -> None:
    owner, buyer = owners(world)
    specs = [SiteSpec("M1", buyer), SiteSpec("M2", owner), SiteSpec("M3", buyer, kwh=0.5)]
    register(world.engine, world.operator, specs)
    done = issue(world, write_report(tmp_path / "r", specs), reports_root, to_owners=True)
    issuance = done.issuance.detail["id"]
    # Owners in id order (project owner before buyer), each owner's sites in meter order: M2 | M1, M3.
    assert [(s.organization, s.account_id, s.quantity, s.sites) for s in done.shares] == [
        (owner, world.owner_account, M1_KG, 1), (buyer, world.buyer_account, M1_KG + M2_KG, 2)]
    assert holdings(world.engine, world.owner_account) == [(issuance, 1, M1_KG, "available")]
    assert holdings(world.engine, world.buyer_account) == [(issuance, M1_KG + 1, 2 * M1_KG + M2_KG, "available")]
    assert [t.act["kind"] for t in done.transfers] == ["transfer"]
    assert invariant_problems(world.engine) == []
    assert verify(world.engine).ok


# ---------------------------------------------------------------- provenance

def test_provenance_of_a_serial_in_the_middle_of_a_sites_range(world: World, tmp_path: Path,
                                                               reports_root: Path) -> None:
    owner, _ = owners(world)
    specs = [SiteSpec("M1", owner), SiteSpec("M2", owner, kwh=0.5)]
    register(world.engine, world.operator, specs)
    done = issue(world, write_report(tmp_path / "r", specs), reports_root, account=world.owner_account)
    prefix = done.issuance.serials[0].rsplit(".", 1)[0]
    with world.engine.connect() as conn:
        view, next_key = registry.provenance(conn, world.buyer, f"{prefix}.30-31", reports_root=reports_root,
                                             after=None, limit=50)
        assert [s["meter_id"] for s in view["sites"]] == ["M1"]
        site = view["sites"][0]
        assert (site["serial"], site["accepted_kwh"], site["reduction_kg"]) == (f"{prefix}.1-{M1_KG}", 116.25, M1_KG)
        assert view["report"]["grid_factor"]["source"] == VERSION.grid_factor.source
        assert view["issuance"]["account_id"] is None  # the buyer may not see the owner's account
        assert [i["meter_id"] for i in view["intervals"]] == ["M1"] * 50
        assert all(i["accepted_kwh"] == 1.25 and i["flags"] == [] for i in view["intervals"])
        pages = view["intervals"]
        while next_key is not None:
            view, next_key = registry.provenance(conn, world.buyer, f"{prefix}.30-31", reports_root=reports_root,
                                                 after=next_key, limit=50)
            pages += view["intervals"]
        assert len(pages) == 3 * 31  # every accepted interval of M1, once
        assert len({i["ts"] for i in pages}) == 3 * 31
        both, _ = registry.provenance(conn, world.buyer, f"{prefix}.{M1_KG}-{M1_KG + 1}", reports_root=reports_root,
                                      after=None, limit=600, accepted_only=False)
        assert [s["meter_id"] for s in both["sites"]] == ["M1", "M2"]
        assert len(both["intervals"]) == 2 * 3 * 96


@pytest.mark.parametrize("same_report", [True, False], ids=["same report", "overlapping reports"])
def test_two_issuances_at_the_same_moment_issue_once(world: World, tmp_path: Path, reports_root: Path,
                                                     same_report: bool) -> None:
    """Whichever commits first wins; the other is refused by a unique key (or by the checks, if it starts after)."""
    owner, _ = owners(world)
    register(world.engine, world.operator, [SiteSpec("M1", owner)])
    first = write_report(tmp_path / "a", [SiteSpec("M1", owner)])
    second = first if same_report else write_report(tmp_path / "b", [SiteSpec("M1", owner)],
                                                     (date(2024, 1, 2), date(2024, 1, 4)))
    start = threading.Barrier(2)

    def attempt(report: Path) -> registry.ReportIssuance | Conflict:
        start.wait()
        try:
            return issue(world, report, reports_root, account=world.owner_account)
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, [first, second]))
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(refused) == 1, outcomes
    assert count(world.engine, monitoring_reports) == 1
    assert count(world.engine, claimed_days) == 3
    assert invariant_problems(world.engine) == [] and verify(world.engine).ok
