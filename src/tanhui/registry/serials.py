"""Serial numbers: the versioned, human-readable names of credit blocks, and their parsing.

Format version 1 (``TH1`` when the registry code is ``TH``)::

    TH1.SIP.PHCER.P42.V2024.I17.1-500000
    │ │ │   │     │   │     │   └──────── inclusive unit range start-end (1-based within the issuance)
    │ │ │   │     │   │     └──────────── issuance number
    │ │ │   │     │   └────────────────── vintage year
    │ │ │   │     └────────────────────── project number
    │ │ │   └──────────────────────────── credit type
    │ │ └──────────────────────────────── region code
    │ └────────────────────────────────── format version
    └──────────────────────────────────── registry code (letters only: the version digits after it are unambiguous)

Numbers carry no leading zeros, so every block has exactly one canonical serial.  A single unit may be
written ``…I17.250``; it is printed canonically as ``…I17.250-250``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

FORMAT_VERSION = 1
REGISTRY_PATTERN = r"[A-Z]{2,8}"
REGION_PATTERN = r"[A-Z][A-Z0-9]{1,11}"
CREDIT_TYPE_PATTERN = r"[A-Z][A-Z0-9]{1,9}"
_NUMBER = r"[1-9][0-9]{0,14}"
_LARGEST = 10**15 - 1  # the largest unit number _NUMBER admits

_HEAD = re.compile(rf"^(?P<registry>{REGISTRY_PATTERN})(?P<version>[0-9]+)\.")
_V1 = re.compile(
    rf"^(?P<registry>{REGISTRY_PATTERN})1"
    rf"\.(?P<region>{REGION_PATTERN})"
    rf"\.(?P<credit_type>{CREDIT_TYPE_PATTERN})"
    rf"\.P(?P<project>{_NUMBER})"
    rf"\.V(?P<vintage>[12][0-9]{{3}})"
    rf"\.I(?P<issuance>{_NUMBER})"
    rf"\.(?P<first>{_NUMBER})(?:-(?P<last>{_NUMBER}))?$"
)


class SerialError(ValueError):
    """A serial number or range that does not follow the registry's format."""


@dataclass(frozen=True, slots=True)
class Serial:
    """A parsed serial: one issuance's inclusive unit range ``first..last``."""

    registry: str
    region: str
    credit_type: str
    project_id: int
    vintage: int
    issuance_id: int
    first: int
    last: int
    version: int = FORMAT_VERSION

    @property
    def quantity(self) -> int:
        """Units (kgCO2e) in the range."""
        return self.last - self.first + 1

    @property
    def prefix(self) -> str:
        """Everything before the unit range, shared by every block of one issuance."""
        return (
            f"{self.registry}{self.version}.{self.region}.{self.credit_type}"
            f".P{self.project_id}.V{self.vintage}.I{self.issuance_id}"
        )

    def __str__(self) -> str:
        return f"{self.prefix}.{self.first}-{self.last}"

    def with_range(self, first: int, last: int) -> Serial:
        """The same issuance with another unit range."""
        return Serial(
            self.registry, self.region, self.credit_type, self.project_id, self.vintage,
            self.issuance_id, first, last, self.version,
        )


def format_serial(
    *, registry: str, region: str, credit_type: str, project_id: int, vintage: int,
    issuance_id: int, first: int, last: int,
) -> str:
    """The canonical serial of a block; validates every part so no malformed serial is ever printed."""
    if not (isinstance(first, int) and isinstance(last, int) and 1 <= first <= last <= _LARGEST):
        raise SerialError(f"cannot form a serial of units {first!r}-{last!r}")
    return f"{_prefix(registry, region, credit_type, project_id, vintage, issuance_id)}.{first}-{last}"


@lru_cache(maxsize=4096)
def _prefix(registry: str, region: str, credit_type: str, project_id: int, vintage: int, issuance_id: int) -> str:
    """An issuance's serial prefix, checked once against the grammar (every act prints its blocks' serials)."""
    serial = Serial(registry, region, credit_type, project_id, vintage, issuance_id, 1, 1)
    if parse_serial(str(serial)) != serial:  # pragma: no cover - guards against a part that breaks the grammar
        raise SerialError(f"cannot form a serial from {serial!r}")
    return serial.prefix


def parse_serial(text: str) -> Serial:
    """Parse a serial or serial range; raises SerialError naming what is wrong."""
    if not isinstance(text, str):
        raise SerialError("a serial must be a string")
    text = text.strip()
    head = _HEAD.match(text)
    if head is None:
        raise SerialError(
            f"{text!r} is not a serial: expected REGISTRY+VERSION first, like 'TH1.SIP.PHCER.P42.V2024.I17.1-500'"
        )
    version = int(head.group("version"))
    if version != FORMAT_VERSION:
        raise SerialError(f"{text!r} uses serial format version {version}; this registry reads version 1")
    match = _V1.match(text)
    if match is None:
        raise SerialError(f"{text!r} is not a version-1 serial: {_explain_v1(text)}")
    first = int(match.group("first"))
    last = int(match.group("last") or first)
    if last < first:
        raise SerialError(f"{text!r}: range end {last} is before its start {first}")
    return Serial(
        registry=match.group("registry"),
        region=match.group("region"),
        credit_type=match.group("credit_type"),
        project_id=int(match.group("project")),
        vintage=int(match.group("vintage")),
        issuance_id=int(match.group("issuance")),
        first=first,
        last=last,
    )


def _explain_v1(text: str) -> str:
    """Name the first part of a malformed version-1 serial that is wrong."""
    parts = text.split(".")
    names = ["registry and version", "region", "credit type", "project (P…)", "vintage (V…)",
             "issuance (I…)", "unit range (start-end)"]
    if len(parts) != len(names):
        return f"expected {len(names)} dot-separated parts ({', '.join(names)}), found {len(parts)}"
    checks = [
        rf"{REGISTRY_PATTERN}1", REGION_PATTERN, CREDIT_TYPE_PATTERN, rf"P{_NUMBER}", r"V[12][0-9]{3}",
        rf"I{_NUMBER}", rf"{_NUMBER}(-{_NUMBER})?",
    ]
    for name, part, pattern in zip(names, parts, checks, strict=True):
        if not re.fullmatch(pattern, part):
            return f"the {name} part {part!r} is malformed (numbers have no leading zeros or signs)"
    return "malformed"  # pragma: no cover - every failing case is named above
