"""Forecast periods: calendar quarters ("2026-Q4") and months ("2026-12")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.core.errors import InvalidInput

__all__ = ["Period", "parse_period", "period_of"]

_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True, order=True)
class Period:
    kind: str  # quarter | month
    index: int  # months (or quarters) since year 0: consecutive periods differ by one

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return f"{self.index // 4}-Q{self.index % 4 + 1}"
        return f"{self.index // 12}-{self.index % 12 + 1:02d}"

    @property
    def start(self) -> date:
        if self.kind == "quarter":
            return date(self.index // 4, 3 * (self.index % 4) + 1, 1)
        return date(self.index // 12, self.index % 12 + 1, 1)

    @property
    def end(self) -> date:
        """The last day of the period (inclusive)."""
        return self.shift(1).start - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def season_length(self) -> int:
        return 4 if self.kind == "quarter" else 12

    def shift(self, n: int) -> Period:
        return Period(self.kind, self.index + n)

    def __str__(self) -> str:
        return self.label


def period_of(day: date, kind: str = "quarter") -> Period:
    if kind == "quarter":
        return Period("quarter", day.year * 4 + (day.month - 1) // 3)
    if kind == "month":
        return Period("month", day.year * 12 + day.month - 1)
    raise InvalidInput(f"Unknown period kind '{kind}': use quarter or month.")


def parse_period(text: str | None, today: date) -> Period:
    """'2026-Q4', '2026Q4' or '2026-12'; None or '' means the current quarter."""
    if not text or not text.strip():
        return period_of(today, "quarter")
    value = text.strip()
    if m := _QUARTER.match(value):
        return Period("quarter", int(m.group(1)) * 4 + int(m.group(2)) - 1)
    if (m := _MONTH.match(value)) and 1 <= int(m.group(2)) <= 12:
        return Period("month", int(m.group(1)) * 12 + int(m.group(2)) - 1)
    raise InvalidInput(f"Period '{text}' is not understood: use a quarter like 2026-Q4 or a month like 2026-12.")
