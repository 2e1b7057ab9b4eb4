"""MRV registry tables: registered meters, monitoring reports and their sites, and the energy-claim exclusivity key.

Every value is an integer, a date or text, because the journal keeps exact values only (no floats): capacities
in watts, coordinates and angles in micro-degrees, energies in watt-hours.  The exact figures of a report stay
in its archived ``summary.json``, which ``monitoring_reports.summary_sha256`` identifies.

Exclusivity: ``claimed_days`` has one row per (meter, local day) that backs an instrument, and (meter_id, day)
is its primary key.  Monitoring periods and declared claims are whole local days, so a day row claims that
day's 96 intervals, and no two instruments can ever claim one interval: the second insert fails on the key.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tanhui.db import metadata
from tanhui.types import Id, one_of

INSTRUMENTS = ("tanhui_credit", "green_certificate", "other_registry")
# Instruments declared from outside (by a meter's owner or the operator); tanhui_credit claims come from reports.
EXTERNAL_INSTRUMENTS = ("green_certificate", "other_registry")
METER_ID_LENGTH = 64
REGION_LENGTH = 40
GRID_POINT_LENGTH = 100
REFERENCE_LENGTH = 200
# Coordinates and angles are stored as integer micro-degrees (1e-6 degree is about 0.1 m of latitude).
MICRODEGREES = 1_000_000



def _between(column: str, low: int, high: int, *, nullable: bool = False) -> str:
    check = f"{column} BETWEEN {low} AND {high}"
    return f"{column} IS NULL OR {check}" if nullable else check


meters = Table(
    "meters", metadata,
    Column("id", Id, primary_key=True),
    Column("meter_id", String(METER_ID_LENGTH), nullable=False, unique=True),
    Column("site_id", String(METER_ID_LENGTH), nullable=False),
    Column("owner_organization_id", Id, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("capacity_w", BigInteger, nullable=False),
    Column("latitude_microdeg", Integer, nullable=False),
    Column("longitude_microdeg", Integer, nullable=False),
    Column("tilt_microdeg", Integer),
    Column("azimuth_microdeg", Integer),
    Column("grid_point", String(GRID_POINT_LENGTH)),
    Column("region", String(REGION_LENGTH), nullable=False),
    Column("commissioned", Date, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("capacity_w > 0", name="capacity"),
    CheckConstraint(_between("latitude_microdeg", -90 * MICRODEGREES, 90 * MICRODEGREES), name="latitude"),
    CheckConstraint(_between("longitude_microdeg", -180 * MICRODEGREES, 180 * MICRODEGREES), name="longitude"),
    CheckConstraint(_between("tilt_microdeg", 0, 90 * MICRODEGREES, nullable=True), name="tilt"),
    CheckConstraint(_between("azimuth_microdeg", 0, 360 * MICRODEGREES, nullable=True), name="azimuth"),
)

monitoring_reports = Table(
    "monitoring_reports", metadata,
    Column("id", Id, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False, index=True),
    Column("issuance_id", Id, ForeignKey("issuances.id"), nullable=False, unique=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("methodology_code", String(40), nullable=False),
    Column("methodology_version", String(40), nullable=False),
    Column("methodology_title", String(200), nullable=False),
    Column("grid_factor", Text, nullable=False),  # the summary's grid_factor object, canonical JSON
    # A report is known by the SHA-256 of its summary.json: issuing the same report twice fails on this key.
    Column("summary_sha256", String(64), nullable=False, unique=True),
    Column("files", Text, nullable=False),  # {file name: sha256} of the report's data files, canonical JSON
    Column("sites", Integer, nullable=False),
    Column("reported_wh", BigInteger, nullable=False),
    Column("accepted_wh", BigInteger, nullable=False),
    Column("reduction_kg", BigInteger, nullable=False),
    Column("issued_by", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("period_start <= period_end", name="period"),
    CheckConstraint("reduction_kg > 0", name="reduction"),
)

report_sites = Table(
    "report_sites", metadata,
    Column("report_id", Id, ForeignKey("monitoring_reports.id"), primary_key=True),
    Column("meter_id", String(METER_ID_LENGTH), ForeignKey("meters.meter_id"), primary_key=True),
    # As the report was verified and issued: the meter's registration may change later, the report does not.
    Column("site_id", String(METER_ID_LENGTH), nullable=False),
    Column("owner_organization_id", Id, ForeignKey("organizations.id"), nullable=False),
    Column("capacity_w", BigInteger, nullable=False),
    Column("region", String(REGION_LENGTH), nullable=False),
    Column("intervals_expected", Integer, nullable=False),
    Column("reported_wh", BigInteger, nullable=False),
    Column("accepted_wh", BigInteger, nullable=False),
    Column("reduction_kg", BigInteger, nullable=False),
    Column("flag_counts", Text, nullable=False),  # {flag name: intervals}, canonical JSON
    # The site's contribution: units serial_first..serial_last of the report's issuance (none for 0 kg).
    Column("serial_first", BigInteger),
    Column("serial_last", BigInteger),
    CheckConstraint(
        "(reduction_kg = 0 AND serial_first IS NULL AND serial_last IS NULL) OR "
        "(reduction_kg > 0 AND serial_first >= 1 AND serial_last = serial_first + reduction_kg - 1)",
        name="contribution",
    ),
    Index("ix_report_sites_serials", "report_id", "serial_first"),
)

energy_claims = Table(
    "energy_claims", metadata,
    Column("id", Id, primary_key=True),
    Column("meter_id", String(METER_ID_LENGTH), ForeignKey("meters.meter_id"), nullable=False, index=True),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("instrument", String(20), nullable=False),
    # The instrument's own identifier: this registry's serials, a certificate number, another registry's serial.
    Column("reference", String(REFERENCE_LENGTH), nullable=False),
    Column("report_id", Id, ForeignKey("monitoring_reports.id"), index=True),
    Column("declared_by", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("id", "meter_id"),  # target of claimed_days' (claim_id, meter_id) key
    CheckConstraint("first_day <= last_day", name="period"),
    CheckConstraint(one_of("instrument", INSTRUMENTS), name="instrument"),
    CheckConstraint("(instrument = 'tanhui_credit') = (report_id IS NOT NULL)", name="report"),
)

claimed_days = Table(
    "claimed_days", metadata,
    # The exclusivity key: one instrument per meter and local day.
    Column("meter_id", String(METER_ID_LENGTH), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("claim_id", Id, nullable=False, index=True),
    # A day row belongs to a claim on the same meter.
    ForeignKeyConstraint(["claim_id", "meter_id"], ["energy_claims.id", "energy_claims.meter_id"],
                         name="fk_claimed_days_claim"),
)
