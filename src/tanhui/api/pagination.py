"""Cursor pagination for every list: ``?limit=`` and an opaque ``?cursor=``, answered {items, next_cursor}."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from tanhui.errors import InvalidRequest
from tanhui.registry import queries

T = TypeVar("T", bound=BaseModel)
MAX_LIMIT = 500
_KEY = re.compile(r"^[0-9]{1,19}(\.[0-9]{1,19})*$")
_LARGEST = 2**63 - 1  # keys are 64-bit database ids


class Page(BaseModel, Generic[T]):
    """A page of a list; pass ``next_cursor`` back as ``?cursor=`` for the next one (null: no more)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Where a page starts (the decoded cursor) and how long it is."""

    after: tuple[int, ...] | None
    limit: int


def encode_cursor(key: tuple[int, ...] | None) -> str | None:
    """The cursor of a list position: base64url of its key, so clients treat it as opaque."""
    if key is None:
        return None
    return base64.urlsafe_b64encode(".".join(map(str, key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[int, ...]:
    """The key a cursor encodes; InvalidRequest naming the cursor when it is not one this list gave out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    key = tuple(int(part) for part in text.split(".")) if _KEY.match(text) else ()
    if len(key) != arity or any(part > _LARGEST for part in key):
        raise InvalidRequest(f"cursor {cursor!r} is not one this list gave out; pass next_cursor unchanged",
                             field="query.cursor")
    return key


def paging(arity: int = 1) -> Callable[..., PageRequest]:
    """A dependency reading ``limit`` and ``cursor`` for a list whose keys have ``arity`` parts."""

    def page_request(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
        cursor: Annotated[str | None, Query(max_length=200, description="the previous next_cursor")] = None,
    ) -> PageRequest:
        return PageRequest(None if cursor is None else decode_cursor(cursor, arity), limit)

    return page_request


def page_of(page: queries.Page, model: type[T]) -> Page[T]:
    """The response for one page of query rows."""
    return Page[model](  # type: ignore[valid-type]
        items=[model.model_validate(item) for item in page.items], next_cursor=encode_cursor(page.next_key))
