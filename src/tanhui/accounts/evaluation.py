"""Versioned evaluation schemes: Zhejiang carbon-efficiency grades, Quzhou's four colours, carbon credit ratings."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any

from tanhui.accounts.profile import Evaluation
from tanhui.errors import UnknownReference
from tanhui.reference import read_text

SCHEMES_FILE = "evaluation_schemes.toml"
KINDS = ("carbon_efficiency", "four_colours", "credit_rating")


@dataclass(frozen=True, slots=True)
class Step:
    """``value ≤ at_most`` (lower is better) or ``value ≥ at_least`` (higher is better) gives ``result``."""

    result: str  # an outcome, or points as text
    bound: Fraction
    at_most: bool

    def matches(self, value: Fraction) -> bool:
        return value <= self.bound if self.at_most else value >= self.bound

    def describe(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {show(self.bound)}"


@dataclass(frozen=True, slots=True)
class Dimension:
    """One weighted dimension (four colours) or indicator (credit rating)."""

    name: str
    weight: Fraction
    steps: tuple[Step, ...]
    otherwise: int
    missing: int | None

    def points(self, value: Fraction | None) -> tuple[int, str]:
        if value is None:
            if self.missing is None:
                raise UnknownReference(f"{self.name} has no input and its scheme gives no points for that")
            return self.missing, f"{self.name}: no input → {self.missing} points"
        for step in self.steps:
            if step.matches(value):
                return int(step.result), f"{self.name}: {show(value)} {step.describe()} → {step.result} points"
        return self.otherwise, f"{self.name}: {show(value)} beyond every step → {self.otherwise} points"


@dataclass(frozen=True, slots=True)
class Scheme:
    id: str
    version: int
    kind: str
    tag: str
    source: str
    note: str
    outcomes: tuple[Step, ...]
    otherwise: str
    dimensions: tuple[Dimension, ...]

    @property
    def reference(self) -> str:
        return f"{self.id}@{self.version}"

    def outcome(self, value: Fraction) -> tuple[str, str]:
        for step in self.outcomes:
            if step.matches(value):
                return step.result, f"{show(value)} {step.describe()} → {step.result}"
        return self.otherwise, f"{show(value)} beyond every threshold → {self.otherwise}"

    def describe(self) -> dict[str, Any]:
        return {"reference": self.reference, "kind": self.kind, "tag": self.tag, "source": self.source,
                "note": self.note,
                "outcomes": [{"outcome": s.result, ("at_most" if s.at_most else "at_least"): show(s.bound)}
                             for s in self.outcomes], "otherwise": self.otherwise,
                "dimensions": [{"name": d.name, "weight": show(d.weight), "otherwise": d.otherwise,
                                "missing": d.missing,
                                "steps": [{"points": int(s.result), ("at_most" if s.at_most else "at_least"):
                                           show(s.bound)} for s in d.steps]} for d in self.dimensions]}


def show(value: Fraction) -> str:
    """A ratio or score for people: exact when it is a decimal of at most 4 places, else to 4 decimals."""
    if (value * 10_000).denominator == 1:
        return format((Decimal(value.numerator) / value.denominator).normalize(), "f")
    return f"{float(value):.4f}"


def _step(entry: dict[str, Any], result_key: str) -> Step:
    at_most = "at_most" in entry
    assert at_most != ("at_least" in entry), entry
    return Step(str(entry[result_key]), Fraction(entry["at_most" if at_most else "at_least"]), at_most)


@cache
def schemes() -> tuple[Scheme, ...]:
    """Every scheme version of evaluation_schemes.toml, in file order."""
    built = []
    for entry in tomllib.loads(read_text(SCHEMES_FILE))["scheme"]:
        outcomes = entry.get("grades") or entry.get("labels") or []
        dimensions = tuple(
            Dimension(d["name"], Fraction(d["weight"]), tuple(_step(s, "points") for s in d["steps"]),
                      int(d["otherwise"]), d.get("missing"))
            for d in entry.get("dimension", []) + entry.get("indicator", []))
        scheme = Scheme(entry["id"], int(entry["version"]), entry["kind"], entry["tag"], entry["source"],
                        entry.get("note", ""), tuple(_step(s, "outcome") for s in outcomes), entry["otherwise"],
                        dimensions)
        assert scheme.kind in KINDS and scheme.tag in ("V", "T", "P"), scheme.id
        assert scheme.tag != "P" or scheme.note.startswith("placeholder"), scheme.id
        assert not dimensions or sum(d.weight for d in dimensions) == 1, f"{scheme.id}: weights must add up to 1"
        built.append(scheme)
    return tuple(built)


def scheme(kind: str, version: int | None = None) -> Scheme:
    """The scheme of a kind, at a version or its newest; `UnknownReference` lists what exists otherwise."""
    found = [s for s in schemes() if s.kind == kind and (version is None or s.version == version)]
    if not found:
        raise UnknownReference(f"no {kind} scheme{'' if version is None else f' version {version}'} in "
                               f"{SCHEMES_FILE}; known: {', '.join(s.reference for s in schemes())}")
    return max(found, key=lambda s: s.version)


def ratio(numerator: Fraction | None, denominator: Fraction | None) -> Fraction | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def carbon_efficiency(applied: Scheme, intensity: Fraction | None, industry_average: Fraction | None
                      ) -> Evaluation | None:
    """Zhejiang's grade 1-5 from K = L / industry average L; None without both."""
    k = ratio(intensity, industry_average)
    if k is None or intensity is None or industry_average is None:
        return None
    grade, why = applied.outcome(k)
    return Evaluation(applied.reference, grade, k, (f"K = L / industry average L = {show(intensity)} / "
                                                    f"{show(industry_average)}: K {why}",))


def weighted(applied: Scheme, inputs: dict[str, Fraction | None]) -> Evaluation:
    """Four colours or a credit rating: Σ weight × points of each dimension, then the outcome of that score."""
    score = Fraction(0)
    reasons = []
    for dimension in applied.dimensions:
        points, why = dimension.points(inputs.get(dimension.name))
        score += dimension.weight * points
        reasons.append(f"{why} × weight {show(dimension.weight)}")
    outcome, why = applied.outcome(score)
    return Evaluation(applied.reference, outcome, score, (*reasons, f"score {why}"))


@dataclass(frozen=True, slots=True)
class Standing:
    """What the schemes read of a holder and period, and of its benchmarks."""

    intensity: Fraction | None  # tCO2e / 10k yuan value added
    industry_median: Fraction | None
    industry_average: Fraction | None
    region_average: Fraction | None
    previous_intensity: Fraction | None
    value_added: Fraction | None
    output_value: Fraction | None
    green_kwh: Fraction
    electricity_kwh: Fraction
    pollution_score: int | None


def evaluate(standing: Standing) -> tuple[Evaluation | None, Evaluation | None, Evaluation | None]:
    """The four-colour label, carbon-efficiency grade and credit rating; None where the inputs are lacking."""
    efficiency = carbon_efficiency(scheme("carbon_efficiency"), standing.intensity, standing.industry_average)
    if standing.intensity is None or standing.industry_median is None:
        return None, efficiency, None
    label = weighted(scheme("four_colours"), {
        "industry_advancement": ratio(standing.intensity, standing.industry_median),
        "regional_contribution": ratio(standing.intensity, standing.region_average),
        "historical_decline": ratio(standing.intensity, standing.previous_intensity),
    })
    rating = weighted(scheme("credit_rating"), {
        "economy": ratio(standing.value_added, standing.output_value),
        "energy": ratio(standing.green_kwh, standing.electricity_kwh),
        "pollution": None if standing.pollution_score is None else Fraction(standing.pollution_score),
        "carbon": efficiency.score if efficiency else None,
    })
    return label, efficiency, rating
