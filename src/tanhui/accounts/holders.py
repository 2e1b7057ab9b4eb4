"""Who keeps a carbon account: unified social credit codes (GB 32100), industry codes (GB/T 4754), kinds and areas."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache

from tanhui.accounts.profile import AREAS, HolderKind
from tanhui.errors import InvalidRequest
from tanhui.reference import read_text

INDUSTRIES_FILE = "industries.csv"
HOLDER_KINDS: tuple[HolderKind, ...] = ("enterprise", "public_institution", "resident")

# GB 32100-2015: 31 characters (no I, O, S, V, Z), weights 3^i mod 31 over the first 17, check = 31 − Σ mod 31.
USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_character(first_17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    total = sum(USCC_CHARACTERS.index(c) * w for c, w in zip(first_17, USCC_WEIGHTS, strict=True))
    return USCC_CHARACTERS[(31 - total % 31) % 31]


def check_uscc(code: str) -> str:
    """A unified social credit code, upper-cased, if its 18 characters and check character are right."""
    text = code.strip().upper()
    if len(text) != 18:
        raise InvalidRequest(f"unified social credit code {code!r} must have 18 characters, not {len(text)}")
    wrong = sorted({c for c in text if c not in USCC_CHARACTERS})
    if wrong:
        raise InvalidRequest(f"unified social credit code {code!r} has characters GB 32100 does not use: "
                             f"{', '.join(wrong)}")
    if not text[2:8].isdigit():
        raise InvalidRequest(f"unified social credit code {code!r}: characters 3-8 must be the administrative "
                             f"division code (digits)")
    expected = uscc_check_character(text[:17])
    if text[17] != expected:
        raise InvalidRequest(f"unified social credit code {code!r} fails its check character: the 18th "
                             f"character should be {expected}, not {text[17]}")
    return text


@dataclass(frozen=True, slots=True)
class Division:
    """A GB/T 4754 division (two digits) and the section (letter) it belongs to."""

    section: str
    division: str
    name: str
    source: str
    tag: str


@cache
def divisions() -> dict[str, Division]:
    rows = csv.DictReader(io.StringIO(read_text(INDUSTRIES_FILE)))
    return {r["division"]: Division(r["section"], r["division"], r["name"], r["source"], r["tag"]) for r in rows}


def check_industry(code: str) -> str:
    """A GB/T 4754 code as the section letter and 2-4 digits (``C2511``); the letter may be left out."""
    text = code.strip().upper()
    letter, digits = (text[0], text[1:]) if text[:1].isalpha() else ("", text)
    if not digits.isdigit() or len(digits) not in (2, 3, 4):
        raise InvalidRequest(f"industry code {code!r} must be a GB/T 4754 division, group or class: 2-4 digits, "
                             f"optionally after the section letter (C2511)")
    division = divisions().get(digits[:2])
    if division is None:
        raise InvalidRequest(f"industry code {code!r}: GB/T 4754 has no division {digits[:2]} ({INDUSTRIES_FILE})")
    if letter and letter != division.section:
        raise InvalidRequest(f"industry code {code!r}: division {digits[:2]} is in section {division.section}, "
                             f"not {letter}")
    return division.section + digits


def industry_division(code: str) -> str:
    """The section and division an industry code falls in (``C25``): the level benchmarks are kept at."""
    return code[:3]


def check_kind(kind: str) -> HolderKind:
    if kind not in HOLDER_KINDS:
        raise InvalidRequest(f"holder kind must be one of {', '.join(HOLDER_KINDS)}, not {kind!r}")
    return kind


def check_area(area: str) -> str:
    if area not in AREAS:
        raise InvalidRequest(f"area must be one of {', '.join(AREAS)}, not {area!r}")
    return area
