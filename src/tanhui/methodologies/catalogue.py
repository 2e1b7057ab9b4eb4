"""The methodology library: every shipped version, built from methodologies.toml and its methodology's module."""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

from tanhui.methodologies import distributed_pv, ev_charging, lighting, personal_travel, wetland
from tanhui.methodologies.methodology import Methodology, Parameter
from tanhui.reference import (
    FUEL_FACTORS_FILE,
    UnknownReference,
    fuel_factor,
    grid_factor,
    methodology_entries,
)

# A methodology is a module (schemas, conditions, calculation) plus its versions' figures in the reference file.
MODULES: dict[str, ModuleType] = {
    module.CODE: module for module in (distributed_pv, ev_charging, lighting, wetland, personal_travel)
}


def _parameters(entry: dict[str, Any]) -> dict[str, Parameter]:
    parameters = {name: Parameter.from_reference(name, p)
                  for table in ("parameters", "applicability") for name, p in entry.get(table, {}).items()}
    if "fuel" in entry:
        fuel = fuel_factor(entry["fuel"])
        source = f"{fuel.source} ({FUEL_FACTORS_FILE}: {fuel.fuel})"
        for name, value, unit in (("fuel_ncv", fuel.ncv, fuel.ncv_unit),
                                  ("fuel_carbon_content", fuel.carbon_content, fuel.carbon_content_unit),
                                  ("fuel_oxidation", fuel.oxidation, "share")):
            parameters[name] = Parameter(name, value, unit, fuel.tag, source, fuel.note)
    return parameters


@cache
def versions() -> tuple[Methodology, ...]:
    """Every version of every methodology, in file order."""
    built = []
    for entry in methodology_entries():
        module = MODULES[entry["code"]]
        factor = entry.get("grid_factor")
        built.append(Methodology(
            code=entry["code"], version=entry["version"], title_zh=entry["title_zh"], title_en=entry["title"],
            scope=entry["scope"], default=bool(entry["default"]), parameters=_parameters(entry),
            grid_factor=grid_factor(factor["series"], int(factor["data_year"]), factor["region"]) if factor else None,
            design_fields=module.DESIGN_FIELDS, monitoring_fields=module.MONITORING_FIELDS,
            conditions=module.CONDITIONS, formula=module.FORMULA, calculation=module.calculate,
        ))
    return tuple(built)


def find(reference: str) -> Methodology:
    """The version ``CODE@VERSION``, or the default version of ``CODE``; `UnknownReference` lists what exists."""
    code, _, version = reference.strip().partition("@")
    candidates = [m for m in versions() if m.code == code]
    if not candidates:
        raise UnknownReference(f"unknown methodology {reference!r}; known: {', '.join(MODULES)}")
    for candidate in candidates:
        if candidate.version == version or (not version and candidate.default):
            return candidate
    raise UnknownReference(f"unknown version {reference!r}; known: {', '.join(m.reference for m in candidates)}")
