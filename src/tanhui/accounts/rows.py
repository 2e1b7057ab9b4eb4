"""Fields of holders, economic figures and energy records as given (API, CSV, XLSX), checked column by column."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from tanhui.accounts.energy import check_period, check_unit, energy_type, parse_quantity
from tanhui.accounts.holders import check_area, check_industry, check_kind, check_uscc
from tanhui.errors import InvalidRequest, UnknownReference
from tanhui.regions.catalogue import region as find_region

HOLDER_COLUMNS = ("reference", "kind", "name", "unified_social_credit_code", "industry_code", "region", "area",
                  "organization_id")
ECONOMICS_COLUMNS = ("reference", "period_start", "period_end", "output_value_10k_yuan", "value_added_10k_yuan",
                     "pollution_score", "source")
RECORD_COLUMNS = ("reference", "energy_type", "unit", "quantity", "period_start", "period_end", "source", "metered",
                  "area", "certificate_id")
REQUIRED = {
    "holders": ("reference", "kind", "name", "region", "area"),
    "economics": ("reference", "period_start", "period_end", "source"),
    "records": ("reference", "energy_type", "unit", "quantity", "period_start", "period_end", "source"),
}
Problems = list[tuple[str, str]]  # (column, what is wrong)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = (value.isoformat() if isinstance(value, date) else str(value)).strip()
    return text or None


def _limited(limit: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        if len(text) > limit:
            raise InvalidRequest(f"at most {limit} characters, not {len(text)}")
        return text
    return check


def _day(text: str) -> date:
    try:
        # XLSX cells come as datetimes at midnight: their date is meant.
        return date.fromisoformat(text[:10] if text[10:11] in ("", " ", "T") else text)
    except ValueError:
        raise InvalidRequest(f"{text!r} is not a date like 2025-01-31") from None


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise InvalidRequest(f"{text!r} is not a number of 10k yuan") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.0001")):
        raise InvalidRequest(f"{text!r} must be a non-negative amount with at most 4 decimals (10k yuan)")
    return value.normalize() if value else Decimal(0)


def _whole(low: int, high: int) -> Callable[[str], int]:
    def check(text: str) -> int:
        if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
            raise InvalidRequest(f"{text!r} must be a whole number from {low} to {high}")
        return int(text)
    return check


def _region(text: str) -> str:
    try:
        return find_region(text.upper()).code
    except UnknownReference as exc:
        raise InvalidRequest(exc.detail) from None


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false", "yes", "no", "1", "0"):
        raise InvalidRequest(f"{text!r} must be true or false")
    return lowered in ("true", "yes", "1")


_CHECKS: dict[str, Callable[[str], Any]] = {
    "reference": _limited(64), "kind": check_kind, "name": _limited(200), "unified_social_credit_code": check_uscc,
    "industry_code": check_industry, "region": _region, "area": check_area, "organization_id": _whole(1, 2**62),
    "period_start": _day, "period_end": _day, "output_value_10k_yuan": _money, "value_added_10k_yuan": _money,
    "pollution_score": _whole(0, 100), "source": _limited(120), "energy_type": energy_type,
    "unit": _limited(10), "quantity": parse_quantity, "metered": _flag, "certificate_id": _limited(100),
}


def clean(kind: str, fields: Mapping[str, Any]) -> tuple[dict[str, Any], Problems]:
    """The fields of one holder, economics or record row, checked; every problem with the column it is in."""
    columns = {"holders": HOLDER_COLUMNS, "economics": ECONOMICS_COLUMNS, "records": RECORD_COLUMNS}[kind]
    values: dict[str, Any] = {}
    problems: Problems = []
    for column in columns:
        text = _text(fields.get(column))
        if text is None:
            if column in REQUIRED[kind]:
                problems.append((column, "is required"))
            values[column] = None
            continue
        try:
            checked = _CHECKS[column](text)
        except InvalidRequest as exc:
            problems.append((column, exc.detail))
            continue
        values[column] = checked.code if column == "energy_type" else checked
    if problems:
        return values, problems
    if kind == "holders":
        problems += _holder_rules(values)
    elif kind == "records":
        values["metered"] = bool(values["metered"])
        for column, check in (("unit", lambda: check_unit(values["energy_type"], values["unit"])),
                              ("period_end", lambda: check_period(values["period_start"], values["period_end"]))):
            try:
                check()
            except InvalidRequest as exc:
                problems.append((column, exc.detail))
        green = values["energy_type"] == "green_electricity"
        if green != (values["certificate_id"] is not None):
            problems.append(("certificate_id", "green electricity needs its certificate id, and only it has one"))
    elif values["period_start"] > values["period_end"]:
        problems.append(("period_end", f"the period starts {values['period_start']}, after it ends "
                                       f"{values['period_end']}"))
    return values, problems


def _holder_rules(values: dict[str, Any]) -> Problems:
    kind, problems = values["kind"], []
    if kind == "enterprise":
        problems += [(c, "is required for an enterprise") for c in ("unified_social_credit_code", "industry_code")
                     if values[c] is None]
    if kind == "resident":
        problems += [(c, "a resident has none") for c in ("unified_social_credit_code", "industry_code")
                     if values[c] is not None]
    return problems


def describe(problems: Problems) -> str:
    return "; ".join(f"{column}: {what}" for column, what in problems)
