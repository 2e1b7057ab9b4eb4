"""The journal's fast canonical JSON writes exactly the bytes of ``canonical_json``, so old chains still verify."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tanhui.journal.chain import canonical_json, journal_json

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
