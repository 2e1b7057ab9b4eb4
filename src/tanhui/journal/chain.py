"""The hash chain: canonical JSON of an entry and SHA-256 linking it to the one before."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import orjson

GENESIS = "0" * 64
# Value types the journal keeps as they are: ids, quantities, codes, most values.
PLAIN_TYPES = (int, str, bool)


def canonical_value(value: Any) -> Any:
    """A JSON-ready form of a database value that both SQLite and PostgreSQL round-trip identically."""
    if value is None or type(value) in PLAIN_TYPES:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # SQLite returns naive values; everything is stored in UTC
            value = value.astimezone(UTC).replace(tzinfo=None)
        if value.year >= 1000:  # isoformat spells these as strftime does, several times faster
            return value.isoformat(timespec="microseconds") + "Z"
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | str) or value is None:
        return value
    raise TypeError(f"cannot put {type(value).__name__} in the journal")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text: one byte string for one meaning."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def journal_json(value: Any) -> bytes:
    """``canonical_json`` as UTF-8, for the journal's values (ids, quantities, codes, ``canonical_value`` text).

    orjson writes the same bytes for them (sorted keys, no spaces, the same escapes) about five times
    faster; what it cannot write (integers beyond 64 bits, non-text keys) goes to ``canonical_json``,
    which decides.  Floats never reach the journal (``canonical_value`` refuses them), so orjson's
    different spelling of some floats does not matter here.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json(value).encode("utf-8")


def entry_hash(*, seq: int, at: str, kind: str, actor: str, payload: str, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of an entry, its payload text and the previous entry's hash."""
    body = journal_json(
        {"seq": seq, "at": at, "kind": kind, "actor": actor, "payload": payload, "prev_hash": prev_hash}
    )
    return hashlib.sha256(body).hexdigest()


def entry_parts(*, kind: str, actor: str, payload: str) -> tuple[bytes, bytes]:
    """An entry's canonical JSON around its time and its link: ``entry_hash`` is the SHA-256 of
    ``before_at + at + after_at + prev_hash + '","seq":' + seq + '}'`` (UTF-8), the keys in sorted order.

    For the database to hash an entry where it takes the journal head (PostgreSQL's ``tanhui_journal_append``):
    only the time, the sequence and the previous hash, all plain ASCII, are filled in there.
    """
    return (b'{"actor":' + journal_json(actor) + b',"at":"',
            b'","kind":' + journal_json(kind) + b',"payload":' + journal_json(payload) + b',"prev_hash":"')


def secret_digest(value: str) -> str:
    """What the journal keeps of a secret column: enough to detect a change, nothing to log in with."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()
