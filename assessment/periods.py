"""Assessment periods (week, month, quarter, year): parsing, naming, and the previous one."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

KINDS = ("week", "month", "quarter", "year")


@dataclass(frozen=True, order=True)
class Period:
    kind: str
    start: dt.date

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        if self.kind == "week":
            return self.start + dt.timedelta(days=7)
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        month = self.start.month - 1 + months
        return dt.date(self.start.year + month // 12, month % 12 + 1, 1)

    @property
    def previous(self) -> Period:
        if self.kind == "week":
            return Period("week", self.start - dt.timedelta(days=7))
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        month = self.start.month - 1 - months
        return Period(self.kind, dt.date(self.start.year + month // 12, month % 12 + 1, 1))

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _day = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    def __str__(self) -> str:
        return f"{self.kind}:{self.label}"

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """Start and end as aware datetimes in the deployment's time zone."""
        zone = timezone.get_current_timezone()
        return (dt.datetime.combine(self.start, dt.time(), zone), dt.datetime.combine(self.end, dt.time(), zone))


def period_containing(kind: str, day: dt.date) -> Period:
    if kind == "week":
        return Period("week", day - dt.timedelta(days=day.weekday()))
    if kind == "month":
        return Period("month", day.replace(day=1))
    if kind == "quarter":
        return Period("quarter", dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1))
    if kind == "year":
        return Period("year", dt.date(day.year, 1, 1))
    raise ValueError(kind)


_PATTERNS = [
    (
        re.compile(r"^week:(\d{4})-W(\d{2})$"),
        lambda m: Period("week", dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)),
    ),
    (re.compile(r"^month:(\d{4})-(\d{2})$"), lambda m: Period("month", dt.date(int(m[1]), int(m[2]), 1))),
    (
        re.compile(r"^quarter:(\d{4})-Q([1-4])$"),
        lambda m: Period("quarter", dt.date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1)),
    ),
    (re.compile(r"^year:(\d{4})$"), lambda m: Period("year", dt.date(int(m[1]), 1, 1))),
]


def parse_period(text: str | None, *, default_kind: str = "month") -> Period:
    """`month:2026-10`, `week:2026-W43`, `quarter:2026-Q4`, `year:2026`, or a bare kind for the current one."""
    if not text:
        return period_containing(default_kind, timezone.localdate())
    text = text.strip()
    if text in KINDS:
        return period_containing(text, timezone.localdate())
    for pattern, build in _PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return build(match)
            except ValueError:
                break
    raise ValueError(_("A period is month:2026-10, week:2026-W43, quarter:2026-Q4 or year:2026."))


def recent_periods(kind: str, count: int, *, until: dt.date | None = None) -> list[Period]:
    """The `count` periods of a kind up to the one containing `until` (today), oldest first."""
    period = period_containing(kind, until or timezone.localdate())
    periods = [period]
    while len(periods) < count:
        periods.append(periods[-1].previous)
    return periods[::-1]
