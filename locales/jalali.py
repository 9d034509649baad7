"""Solar Hijri (Jalali) dates, the calendar Persian readers count days in.

Babel knows the Persian calendar's data but formats only Gregorian dates, so the date fields
of its patterns (year, month, day) are taken here from ``jdatetime``'s conversion while the
rest of the pattern — the locale's order of fields, weekday names, the time — stays Babel's.
Dates are stored in UTC; only the way they are written changes.
"""

from __future__ import annotations

from datetime import date, datetime

import jdatetime
from babel import Locale, dates

# jdatetime's spelling of the twelve months (فروردین … اسفند), in the order of the calendar.
MONTHS_FA: tuple[str, ...] = tuple(jdatetime.date.j_months_fa)
# "ه‍.ش." (hijri shamsi) is how Persian marks the era when a pattern asks for one.
ERA_FA = "ه\u200d.ش."

PREDEFINED = ("full", "long", "medium", "short")


def to_jalali(value: date) -> jdatetime.date:
    day = value.date() if isinstance(value, datetime) else value
    return jdatetime.date.fromgregorian(date=day)


def month_start(value: date, solar_hijri: bool) -> date:
    """The first day of ``value``'s month in the reader's calendar (1 Azar is 22 November)."""
    if not solar_hijri:
        return value.replace(day=1)
    day = to_jalali(value)
    return from_jalali(day.year, day.month, 1)


def year_start(value: date, solar_hijri: bool) -> date:
    """The first day of ``value``'s year in the reader's calendar (1 Farvardin, Nowruz)."""
    if not solar_hijri:
        return value.replace(month=1, day=1)
    return from_jalali(to_jalali(value).year, 1, 1)


def from_jalali(year: int, month: int, day: int) -> date:
    """The Gregorian date of a Solar Hijri one; ValueError when there is no such day."""
    return jdatetime.date(year, month, day).togregorian()


class JalaliFormat(dates.DateTimeFormat):
    """Babel's field formatter with the calendar fields read from the Solar Hijri date."""

    def __init__(self, value: date | datetime, locale: Locale | str) -> None:
        super().__init__(value, locale)
        self.jalali = to_jalali(value)

    def __getitem__(self, name: str) -> str:
        char, num = name[0], len(name)
        if char in ("y", "Y", "u"):
            year = self.format(self.jalali.year, num)
            return year[-2:] if num == 2 else year
        if char in ("M", "L"):
            if num <= 2:
                return f"{self.jalali.month:0{num}d}"
            return MONTHS_FA[self.jalali.month - 1]
        if char == "d":
            return self.format(self.jalali.day, num)
        if char == "D":
            return self.format(self.jalali.yday(), num)
        if char == "G":
            return ERA_FA
        if char in ("Q", "q", "w", "W", "F", "g"):
            # Quarters and week numbers of the Gregorian year would contradict the date
            # beside them; no pattern of ours asks for them.
            raise KeyError(f"field {char!r} has no Solar Hijri form here")
        return super().__getitem__(name)


def format_date(value: date, fmt: str, locale: str) -> str:
    pattern = dates.get_date_format(fmt, locale) if fmt in PREDEFINED else dates.parse_pattern(fmt)
    return pattern.format % JalaliFormat(value, locale)


def format_datetime(value: datetime, fmt: str, locale: str) -> str:
    if fmt not in PREDEFINED:
        return dates.parse_pattern(fmt).format % JalaliFormat(value, locale)
    # The locale's glue ("{1}، ساعت {0}") with Babel's time and the Solar Hijri date.
    return (
        dates.get_datetime_format(fmt, locale=locale).replace("'", "")
        .replace("{0}", dates.format_time(value, fmt, tzinfo=None, locale=locale))
        .replace("{1}", format_date(value, fmt, locale))
    )
