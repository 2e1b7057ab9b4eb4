"""Checks of the plain text fields that use cases take: names, reasons, notes, findings."""

from __future__ import annotations

from tanhui.errors import InvalidRequest


def text(value: str | None, what: str, *, required: bool = True, limit: int = 200) -> str | None:
    """``value`` stripped, within ``limit`` characters; `InvalidRequest` naming ``what`` otherwise."""
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidRequest(f"{what} is required")
        return None
    if len(value) > limit:
        raise InvalidRequest(f"{what} is longer than {limit} characters")
    return value
