"""The journal's fast canonical JSON writes exactly the bytes of ``canonical_json``, so old chains still verify;
the parts PostgreSQL hashes an entry from make the same bytes."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tanhui.journal.chain import canonical_json, entry_hash, entry_parts, journal_json

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))  # lone surrogates are not UTF-8
_LEAF = st.none() | st.booleans() | st.integers() | _TEXT
_VALUES = st.recursive(_LEAF, lambda inner: st.lists(inner) | st.dictionaries(_TEXT, inner), max_leaves=25)


@given(_VALUES)
def test_journal_json_is_canonical_json_byte_for_byte(value: Any) -> None:
    assert journal_json(value) == canonical_json(value).encode("utf-8")


def test_every_escape_and_a_huge_integer_match() -> None:
    text = "".join(map(chr, range(0x3000))) + "\u2028\u2029\U0001f600"
    value = {text: [text, -(2**63)], "b": {"a": None}}
    assert journal_json(value) == canonical_json(value).encode("utf-8")
    for slow in ({"big": 2**70}, {3: True}):  # beyond orjson: canonical_json writes them
        assert journal_json(slow) == canonical_json(slow).encode("utf-8")


_HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@given(kind=_TEXT, actor=_TEXT, payload=_TEXT, seq=st.integers(min_value=1, max_value=2**62), prev=_HEX)
def test_entry_parts_around_time_and_link_hash_as_entry_hash(kind: str, actor: str, payload: str, seq: int,
                                                            prev: str) -> None:
    """What PostgreSQL hashes where it takes the head is byte for byte the entry's canonical JSON."""
    at = "2026-12-02T04:30:00.123456Z"
    before_at, after_at = entry_parts(kind=kind, actor=actor, payload=payload)
    body = before_at + at.encode() + after_at + f'{prev}","seq":{seq}}}'.encode()
    assert hashlib.sha256(body).hexdigest() == entry_hash(seq=seq, at=at, kind=kind, actor=actor, payload=payload,
                                                          prev_hash=prev)
