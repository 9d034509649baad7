"""Date inputs people fill in their own calendar.

English and Russian readers get the browser's date picker (``type=date``, ISO values). Persian
readers count days in the Solar Hijri calendar, which no browser picker offers: they get a text
input prefilled and hinted in Jalali (``۱۴۰۵/۰۹/۱۰``, Persian digits), whose value the server
reads with ``locales.parse_date`` (either calendar, any digits). Stored dates stay Gregorian.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from markupsafe import Markup, escape

from locales import GREGORIAN, _digits, calendar_of, get_language
from locales.jalali import to_jalali
from schema.base import utcnow


def date_input_text(value: date | None, lang: str | None = None) -> str:
    """What the input holds for ``value``: ISO for a Gregorian reader, ``yyyy/mm/dd`` Solar
    Hijri in Persian digits for a Persian one."""
    if value is None:
        return ""
    lang = lang or get_language()
    if calendar_of(lang) == GREGORIAN:
        return value.isoformat()
    day = to_jalali(value)
    return _digits(f"{day.year:04d}/{day.month:02d}/{day.day:02d}", lang)


def datetime_input_example(lang: str | None = None) -> str:
    """A date-time as a reader types it where no picker of their calendar exists: today and
    09:05 (``۱۴۰۵/۰۹/۱۰ ۰۹:۰۵`` in Persian)."""
    lang = lang or get_language()
    return f"{date_input_text(utcnow().date(), lang)} {_digits('09:05', lang)}"


def date_input(name: str, value: date | None = None, **attrs: Any) -> Markup:
    """An ``<input>`` for a date in the reader's calendar; ``attrs`` become attributes
    (``class_`` for ``class``, ``True`` for a bare attribute, None/False left out)."""
    lang = get_language()
    fields: dict[str, Any] = {"name": name}
    if calendar_of(lang) == GREGORIAN:
        fields.update(type="date", value=date_input_text(value, lang) or None)
    else:
        # No dir="ltr": a date's digits and slashes are one left-to-right run anyway, and the
        # text then sits on the right like the Persian fields around it.
        fields.update(type="text", inputmode="numeric", autocomplete="off",
                      value=date_input_text(value, lang) or None,
                      placeholder=date_input_text(utcnow().date(), lang),
                      **{"data-calendar": "persian"})
    for key, item in attrs.items():
        fields[key.rstrip("_").replace("_", "-")] = item
    parts = []
    for key, item in fields.items():
        if item is None or item is False:
            continue
        parts.append(str(escape(key)) if item is True
                     else f'{escape(key)}="{escape(item)}"')
    return Markup(f"<input {' '.join(parts)}>")
