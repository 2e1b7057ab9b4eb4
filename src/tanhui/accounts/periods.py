"""Accounting periods: a year, a month or a run of whole months, written 2025, 2025-03 or 2025-01..2025-06."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from tanhui.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # inclusive

    def __str__(self) -> str:
        if (self.start.month, self.start.day, self.end.month, self.end.day) == (1, 1, 12, 31) \
                and self.start.year == self.end.year:
            return str(self.start.year)
        first, last = f"{self.start:%Y-%m}", f"{self.end:%Y-%m}"
        return first if first == last else f"{first}..{last}"

    @classmethod
    def parse(cls, text: str) -> Period:
        parts = text.strip().split("..")
        try:
            if len(parts) == 1 and len(parts[0]) == 4:
                year = int(parts[0])
                return cls(date(year, 1, 1), date(year, 12, 31))
            if len(parts) in (1, 2) and all(len(p) == 7 for p in parts):
                first = date.fromisoformat(parts[0] + "-01")
                last = date.fromisoformat(parts[-1] + "-01")
                if first <= last:
                    return cls(first, last.replace(day=calendar.monthrange(last.year, last.month)[1]))
        except ValueError:
            pass
        raise InvalidRequest(f"{text!r} is not a period like 2025, 2025-03 or 2025-01..2025-06")

    @property
    def months(self) -> tuple[str, ...]:
        found, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            found.append(f"{year}-{month:02}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return tuple(found)

    def year_before(self) -> Period:
        """The same months a year earlier (what the historical-decline dimension compares with)."""
        def back(day: date) -> date:
            return day.replace(year=day.year - 1, day=min(day.day, calendar.monthrange(day.year - 1, day.month)[1]))
        return Period(back(self.start), back(self.end))
