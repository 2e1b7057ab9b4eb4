"""The regions of regions.toml, each with its offsetting rules by compliance year."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from tanhui.errors import UnknownReference
from tanhui.methodologies.methodology import Parameter
from tanhui.reference import read_text

REGIONS_FILE = "regions.toml"
OUTSIDE_POLICIES = ("allowed", "refused")
INCOMING_POLICIES = ("allowed", "approval", "refused")


@dataclass(frozen=True, slots=True)
class OffsetRules:
    """What a region accepts for compliance offsetting from ``from_year`` on."""

    from_year: int
    credit_types: tuple[str, ...]
    methodologies: tuple[str, ...]
    outside_credits: str
    cap_share: Parameter
    outside_cap_share: Parameter
    vintage_years: Parameter

    def describe(self) -> dict[str, Any]:
        return {"from_year": self.from_year, "credit_types": list(self.credit_types),
                "methodologies": list(self.methodologies), "outside_credits": self.outside_credits,
                **{p.name: p.describe() for p in (self.cap_share, self.outside_cap_share, self.vintage_years)}}


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name_zh: str
    name_en: str
    parent: str | None
    incoming_transfers: str
    rules: tuple[OffsetRules, ...]

    def rules_for(self, year: int) -> OffsetRules:
        """The rules in force for a compliance year; `UnknownReference` when the region has none for it."""
        applying = [rules for rules in self.rules if rules.from_year <= year]
        if not applying:
            raise UnknownReference(f"region {self.code} has no offsetting rules for compliance year {year} in "
                                   f"{REGIONS_FILE}; its operator must set them first")
        return max(applying, key=lambda rules: rules.from_year)

    def describe(self) -> dict[str, Any]:
        return {"code": self.code, "name_zh": self.name_zh, "name_en": self.name_en, "parent": self.parent,
                "incoming_transfers": self.incoming_transfers, "rules": [rules.describe() for rules in self.rules]}


def _figure(name: str, entry: dict[str, Any]) -> Parameter:
    return Parameter(name, Decimal(str(entry["value"])), "share" if name.endswith("share") else "years",
                     entry["tag"], entry["source"], entry.get("note", ""))


@cache
def regions() -> dict[str, Region]:
    """Every region by code, in file order."""
    built = {}
    for entry in tomllib.loads(read_text(REGIONS_FILE))["region"]:
        rules = tuple(
            OffsetRules(int(r["from_year"]), tuple(r["credit_types"]), tuple(r["methodologies"]),
                        r["outside_credits"], _figure("cap_share", r["cap_share"]),
                        _figure("outside_cap_share", r["outside_cap_share"]),
                        _figure("vintage_years", r["vintage_years"]))
            for r in entry.get("rules", [])
        )
        for rule in rules:
            assert rule.outside_credits in OUTSIDE_POLICIES, entry["code"]
            assert 0 <= rule.outside_cap_share.value <= rule.cap_share.value <= 1, entry["code"]
        assert entry["incoming_transfers"] in INCOMING_POLICIES, entry["code"]
        built[entry["code"]] = Region(entry["code"], entry["name_zh"], entry["name_en"], entry.get("parent"),
                                      entry["incoming_transfers"], rules)
    for region in built.values():
        assert region.parent is None or region.parent in built, region.code
    return built


def region(code: str) -> Region:
    """A region by code; `UnknownReference` lists the codes otherwise."""
    found = regions().get(code)
    if found is None:
        raise UnknownReference(f"unknown region {code!r}; known: {', '.join(regions())}")
    return found


def within(code: str, area: str) -> bool:
    """Whether region ``code`` is ``area`` itself or one of its districts (its parent is ``area``)."""
    known = regions()
    return code == area or (code in known and known[code].parent == area)


def same_area(a: str, b: str) -> bool:
    """Whether credits of region ``a`` count as inside region ``b``: the same region or one's parent province."""
    known = regions()
    if a == b:
        return True
    parent_a, parent_b = (known[c].parent if c in known else None for c in (a, b))
    return parent_a == b or parent_b == a
