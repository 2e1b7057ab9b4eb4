"""Carbon credit reports (碳征信报告): a profile's canonical content, its SHA-256, issuing it and reading it back."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict
from datetime import date, datetime
from fractions import Fraction
from typing import Any, cast, get_args

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection, RowMapping

from tanhui.accounts import register
from tanhui.accounts.periods import Period
from tanhui.accounts.profile import (
    AREAS,
    CreditProfile,
    DataQuality,
    Evaluation,
    FactorUsed,
    HolderKind,
)
from tanhui.accounts.profiles import credit_profile
from tanhui.errors import InvalidRequest, NotFound
from tanhui.finance.tables import credit_reports
from tanhui.identity.principal import Principal
from tanhui.journal.chain import canonical_json, canonical_value
from tanhui.registry.queries import utc
from tanhui.types import utcnow
from tanhui.unit_of_work import UnitOfWork, read_one

# The version of the content's layout: a verifier needs it to know which fields the hash covers.
CONTENT_FORMAT = "tanhui-credit-report@1"
_FRACTIONS = ("value_added_10k_yuan", "output_value_10k_yuan", "intensity_per_value_added",
              "intensity_per_output_value", "benchmark_intensity")
_MASSES = ("emissions_kg", "green_electricity_deducted_kg", "retired_offsets_kg")


def _fraction_text(value: Fraction | None) -> str | None:
    # "7/3", never a float: the hash must not depend on how a platform prints binary fractions.
    return None if value is None else str(value)


def _evaluation_json(evaluation: Evaluation | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    return {"scheme": evaluation.scheme, "outcome": evaluation.outcome,
            "score": _fraction_text(evaluation.score), "reasons": list(evaluation.reasons)}


def profile_json(profile: CreditProfile) -> dict[str, Any]:
    """The profile as JSON values only (exact fractions as "n/d" text, dates as ISO text)."""
    out = asdict(profile)
    for name in _FRACTIONS:
        out[name] = _fraction_text(getattr(profile, name))
    for name in ("label", "carbon_efficiency", "credit_rating"):
        out[name] = _evaluation_json(getattr(profile, name))
    out["period_start"] = profile.period_start.isoformat()
    out["period_end"] = profile.period_end.isoformat()
    out["monthly_emissions_kg"] = [[month, kg] for month, kg in profile.monthly_emissions_kg]
    out["data_quality"]["notes"] = list(profile.data_quality.notes)
    out["factors"] = [{**asdict(f), "value": str(f.value)} for f in profile.factors]
    return out


def _fraction(value: Any, where: str) -> Fraction | None:
    if value is None:
        return None
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise InvalidRequest(f"{where} must be an exact number such as 12.5 or 25/2, not {value!r}") from None


def _evaluation(value: Any, where: str) -> Evaluation | None:
    if value is None:
        return None
    try:
        return Evaluation(scheme=str(value["scheme"]), outcome=str(value["outcome"]),
                          score=_fraction(value.get("score"), f"{where}.score"),
                          reasons=tuple(str(r) for r in value["reasons"]))
    except (KeyError, TypeError, AttributeError):
        raise InvalidRequest(f"{where} needs scheme, outcome, score and reasons") from None


def profile_from_json(data: Any) -> CreditProfile:
    """A profile from ``profile_json``'s shape (a file, a request body or a stored report); checked."""
    if not isinstance(data, dict):
        raise InvalidRequest("a credit profile must be a JSON object")
    try:
        quality = data["data_quality"]
        profile = CreditProfile(
            holder_id=data["holder_id"], holder_kind=data["holder_kind"], name=data["name"],
            unified_social_credit_code=data.get("unified_social_credit_code"),
            industry_code=data.get("industry_code"), region_code=data["region_code"], area=data["area"],
            period_start=date.fromisoformat(data["period_start"]), period_end=date.fromisoformat(data["period_end"]),
            emissions_kg=data["emissions_kg"],
            emissions_by_area_kg=dict(data["emissions_by_area_kg"]),
            emissions_by_scope_kg=dict(data["emissions_by_scope_kg"]),
            green_electricity_deducted_kg=data["green_electricity_deducted_kg"],
            retired_offsets_kg=data["retired_offsets_kg"],
            monthly_emissions_kg=tuple((str(m), kg) for m, kg in data["monthly_emissions_kg"]),
            value_added_10k_yuan=_fraction(data.get("value_added_10k_yuan"), "value_added_10k_yuan"),
            output_value_10k_yuan=_fraction(data.get("output_value_10k_yuan"), "output_value_10k_yuan"),
            intensity_per_value_added=_fraction(data.get("intensity_per_value_added"), "intensity_per_value_added"),
            intensity_per_output_value=_fraction(data.get("intensity_per_output_value"),
                                                 "intensity_per_output_value"),
            benchmark_intensity=_fraction(data.get("benchmark_intensity"), "benchmark_intensity"),
            benchmark_source=data.get("benchmark_source"),
            label=_evaluation(data.get("label"), "label"),
            carbon_efficiency=_evaluation(data.get("carbon_efficiency"), "carbon_efficiency"),
            credit_rating=_evaluation(data.get("credit_rating"), "credit_rating"),
            data_quality=DataQuality(
                records=quality["records"], metered_records=quality["metered_records"],
                declared_records=quality["declared_records"], months_covered=quality["months_covered"],
                months_in_period=quality["months_in_period"],
                notes=tuple(str(n) for n in quality.get("notes", ()))),
            factors=tuple(FactorUsed(name=str(f["name"]), value=cast(Fraction, _fraction(f["value"], "factor")),
                                     unit=str(f["unit"]), source=str(f["source"]), tag=str(f["tag"]))
                          for f in data["factors"]),
        )
    except KeyError as exc:
        raise InvalidRequest(f"the credit profile lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidRequest(f"the credit profile is malformed: {exc}") from None
    check_profile(profile)
    return profile


def _whole(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(f"{where} must be a whole, non-negative number of kgCO2e, not {value!r}")


def check_profile(profile: CreditProfile) -> None:
    """Refuse a profile whose figures do not add up: a report states nothing it cannot back."""
    if isinstance(profile.holder_id, bool) or not isinstance(profile.holder_id, int) or profile.holder_id < 1:
        raise InvalidRequest(f"holder_id must be a positive whole number, not {profile.holder_id!r}")
    if profile.holder_kind not in get_args(HolderKind):
        raise InvalidRequest(f"holder_kind must be one of {', '.join(get_args(HolderKind))}")
    if not isinstance(profile.name, str) or not 0 < len(profile.name.strip()) <= 200:
        raise InvalidRequest("the holder's name must be 1 to 200 characters")
    if profile.area not in AREAS:
        raise InvalidRequest(f"area must be one of {', '.join(AREAS)}, not {profile.area!r}")
    if profile.period_start > profile.period_end:
        raise InvalidRequest(f"the period starts ({profile.period_start}) after it ends ({profile.period_end})")
    for name in _MASSES:
        _whole(getattr(profile, name), name)
    for where, parts in (("emissions_by_area_kg", profile.emissions_by_area_kg),
                         ("emissions_by_scope_kg", profile.emissions_by_scope_kg)):
        for key, kg in parts.items():
            _whole(kg, f"{where}[{key}]")
        if sum(parts.values()) != profile.emissions_kg:
            raise InvalidRequest(f"{where} adds up to {sum(parts.values())} kgCO2e, not the total "
                                 f"{profile.emissions_kg}")
    unknown = set(profile.emissions_by_area_kg) - set(AREAS)
    if unknown:
        raise InvalidRequest(f"unknown areas in emissions_by_area_kg: {', '.join(sorted(unknown))}")
    first, last = profile.period_start.strftime("%Y-%m"), profile.period_end.strftime("%Y-%m")
    months = [month for month, _ in profile.monthly_emissions_kg]
    for month, kg in profile.monthly_emissions_kg:
        _whole(kg, f"monthly_emissions_kg[{month}]")
        if not first <= month <= last or len(month) != 7:
            raise InvalidRequest(f"month {month!r} is not a YYYY-MM month of the period {first}..{last}")
    if months != sorted(set(months)):
        raise InvalidRequest("monthly_emissions_kg must list each month once, in order")
    for factor in profile.factors:
        if factor.tag not in ("V", "T", "R", "P"):
            raise InvalidRequest(f"factor {factor.name} has tag {factor.tag!r}; one of V, T, R, P")


def report_content(profile: CreditProfile, issued_at: datetime) -> dict[str, Any]:
    """What a report states and its hash covers: the profile and the issue time (UTC, to the microsecond)."""
    return {"format": CONTENT_FORMAT, "issued_at": canonical_value(issued_at), "profile": profile_json(profile)}


def content_text(content: dict[str, Any]) -> str:
    """The canonical JSON of a report's content: sorted keys, no spaces, UTF-8; the bytes that are hashed."""
    return canonical_json(content)


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 (hex) of the content's canonical JSON."""
    return hashlib.sha256(content_text(content).encode("utf-8")).hexdigest()


def issue_report(tx: UnitOfWork, principal: Principal, profile: CreditProfile, *,
                 holder_organization_id: int | None = None) -> RowMapping:
    """The platform operator issues the report of a registered holder's period; the content and its hash are
    kept.  ``holder_organization_id`` links a holder not yet linked (and must match the link of one that is)."""
    principal.require_operator("issue carbon credit reports")
    check_profile(profile)
    holder_organization_id = _acting_organization(tx, principal, profile, holder_organization_id)
    issued_at = utcnow()
    content = report_content(profile, issued_at)
    digest = content_hash(content)
    tx.entry("credit_report.issued", holder_id=profile.holder_id, period_start=profile.period_start,
             period_end=profile.period_end, content_sha256=digest)
    row = tx.insert(credit_reports, {
        "holder_id": profile.holder_id, "holder_organization_id": holder_organization_id,
        "holder_name": profile.name.strip(), "period_start": profile.period_start, "period_end": profile.period_end,
        "label": profile.label and profile.label.outcome,
        "carbon_efficiency_grade": profile.carbon_efficiency and profile.carbon_efficiency.outcome,
        "credit_rating": profile.credit_rating and profile.credit_rating.outcome,
        "content": content_text(content), "content_sha256": digest,
        "verification_code": secrets.token_urlsafe(18), "issued_at": issued_at,
        "issued_by": principal.actor})
    tx.note(report_id=row["id"])
    return row


def _acting_organization(tx: UnitOfWork, principal: Principal, profile: CreditProfile,
                         asked: int | None) -> int:
    """The organisation acting for the profile's holder, which must be the registered holder it describes."""
    found = register.holder(tx.conn, profile.holder_id)
    for field, theirs in (("holder_kind", found["kind"]),
                          ("unified_social_credit_code", found["unified_social_credit_code"])):
        if getattr(profile, field) != theirs:
            raise InvalidRequest(f"the profile's {field} is {getattr(profile, field)!r}, but holder "
                                 f"{profile.holder_id}'s is {theirs!r}: it describes another holder")
    linked = found["organization_id"]
    if linked is None:
        if asked is None:
            raise InvalidRequest(f"holder {profile.holder_id} is linked to no registry organisation: name the one "
                                 "acting for it (holder_organization_id, or --holder-org: the report links it), or "
                                 "link it first (tanhui accounts link-organization)")
        return int(register.link_organization(tx, principal, profile.holder_id, asked)["organization_id"])
    if asked is not None and asked != linked:
        raise InvalidRequest(f"holder {profile.holder_id} is linked to organisation {linked}, not {asked}")
    return int(linked)


def issue_holder_report(tx: UnitOfWork, principal: Principal, holder_id: int, period: Period, *,
                        holder_organization_id: int | None = None) -> RowMapping:
    """Issue the report of a holder's period from the accounting as it stands now (records, factors, benchmarks
    and the newest evaluation schemes)."""
    principal.require_operator("issue carbon credit reports")
    return issue_report(tx, principal, credit_profile(tx.conn, holder_id, period),
                        holder_organization_id=holder_organization_id)


def get_report(conn: Connection, report_id: int) -> RowMapping:
    row = read_one(conn, credit_reports, credit_reports.c.id == report_id)
    if row is None:
        raise NotFound(f"credit report {report_id} does not exist")
    return row


def holder_reports(conn: Connection, holder_id: int) -> list[RowMapping]:
    """A holder's reports, newest period first."""
    return list(conn.execute(
        select(credit_reports).where(credit_reports.c.holder_id == holder_id)
        .order_by(credit_reports.c.period_end.desc(), credit_reports.c.id.desc())).mappings())


def stored_profile(row: RowMapping) -> tuple[CreditProfile, datetime]:
    """The profile and issue time a stored report states, after checking its content still has its hash."""
    text = row["content"]
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != row["content_sha256"]:
        raise InvalidRequest(f"credit report {row['id']}'s stored content does not match its hash")
    content = orjson.loads(text)
    return profile_from_json(content["profile"]), datetime.fromisoformat(content["issued_at"])


def verified(conn: Connection, report_id: int, code: str) -> RowMapping:
    """The report whose verification code (from its QR code) is ``code``; 404 alike for a wrong code or id."""
    row = read_one(conn, credit_reports, credit_reports.c.id == report_id)
    if row is None or not secrets.compare_digest(row["verification_code"].encode(), code.encode()):
        raise NotFound(f"no credit report {report_id} with this verification code; scan the report's QR code "
                       "or copy the address printed on it")
    return row


def public_view(row: RowMapping) -> dict[str, Any]:
    """What anyone may see of a report: enough to compare a PDF with, and its hash; no figures."""
    return {"report_id": row["id"], "holder_name": row["holder_name"],
            "period_start": row["period_start"], "period_end": row["period_end"], "label": row["label"],
            "carbon_efficiency_grade": row["carbon_efficiency_grade"], "credit_rating": row["credit_rating"],
            "issued_at": utc(row["issued_at"]), "content_format": CONTENT_FORMAT,
            "content_sha256": row["content_sha256"]}
