"""Form fields as people write them, on every generated form (``PostdeskView.scaffold_form``):
amounts without the stored scale's zeros, dates and date-times in the reader's calendar.

- An amount is shown as it was typed: ``5`` or ``2.5``, never the stored ``5.0000``
  (``schema.base.Money`` keeps four places). The value is the same Decimal.
- A date-time is shown as ``2026-11-01 07:00`` (UTC, like every time the admin takes), never
  with seconds; ``2026-11-01 07:00`` and ``2026-11-01 07:00:00`` are both read. A Persian reader
  sees and types the Solar Hijri date (``۱۴۰۵/۰۸/۱۰ ۰۷:۰۰``; ``admin.forms`` reads Jalali and
  Persian digits), so no Gregorian picker is attached for them; other readers get the date
  picker to the minute (``admin/static/date_fields.js``).
- A date (no time) is shown the same way: ISO with sqladmin's picker for en/ru, ``۱۴۰۵/۰۸/۱۰``
  typed as text for a Persian reader.

``minute_fields(form)`` returns the form class with these fields in place of the generated
ones; labels, validators and descriptions are kept.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from wtforms import Form
from wtforms.fields.core import UnboundField

from admin.date_inputs import date_input_text
from admin.forms import LocalDecimalField
from locales import get_language
from locales.jalali import to_jalali
from schema.base import utcnow

MINUTES = "%Y-%m-%d %H:%M"
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def amount_as_written(value: Decimal | int | None) -> str:
    """``5.0000`` -> ``5``, ``2.5000`` -> ``2.5``; no exponent (``1E+5`` is ``100000``)."""
    if value is None:
        return ""
    text = f"{Decimal(value).normalize():f}"
    return "0" if text in ("-0", "0.0") else text


def datetime_as_written(value: datetime | None, lang: str) -> str:
    """The form's text of a (UTC) date-time in the reader's calendar, to the minute."""
    if value is None:
        return ""
    if lang == "fa":
        day = to_jalali(value)
        text = f"{day.year:04d}/{day.month:02d}/{day.day:02d} {value:%H:%M}"
        return text.translate(PERSIAN_DIGITS)
    return value.strftime(MINUTES)


class AmountField(LocalDecimalField):
    """A money field showing the amount as people write it."""

    def _value(self) -> str:
        if self.raw_data:  # what was typed, when the form comes back with a reason
            return str(self.raw_data[0])
        return amount_as_written(self.data)


class _MinuteDateTime:
    """Mixed over the generated date-time field class (which reads Jalali and Persian
    digits): to the minute, and in the reader's calendar."""

    data: datetime | None
    raw_data: list[Any] | None

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(str(v) for v in self.raw_data)
        return datetime_as_written(self.data, get_language())

    def __call__(self, **kwargs: Any) -> Any:
        persian = get_language() == "fa"
        # sqladmin's script attaches its picker (with seconds) to "datetimepicker";
        # rule_tables.js attaches one to the minute, in Gregorian only.
        kwargs.setdefault("data-role", "text" if persian else "datetimepicker-minutes")
        kwargs.setdefault("dir", "ltr")
        kwargs.setdefault("autocomplete", "off")
        kwargs.setdefault("placeholder", "۱۴۰۵/۰۸/۱۰ ۰۷:۰۰" if persian else "2026-11-01 07:00")
        return super().__call__(**kwargs)  # type: ignore[misc]


class _ReaderDate:
    """Mixed over the generated date field class: a Persian reader types the Solar Hijri day
    (there is no picker of that calendar), others keep sqladmin's picker."""

    data: date | None
    raw_data: list[Any] | None

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(str(v) for v in self.raw_data)
        return date_input_text(self.data) if self.data else ""

    def __call__(self, **kwargs: Any) -> Any:
        if get_language() == "fa":
            kwargs.setdefault("data-role", "text")
            kwargs.setdefault("autocomplete", "off")
            kwargs.setdefault("inputmode", "numeric")
            kwargs.setdefault("placeholder", date_input_text(utcnow().date()))
        return super().__call__(**kwargs)  # type: ignore[misc]


@cache
def _minute_class(field_class: type) -> type:
    return type(field_class.__name__, (_MinuteDateTime, field_class), {})


@cache
def _date_class(field_class: type) -> type:
    return type(field_class.__name__, (_ReaderDate, field_class), {})


def _replacement(unbound: UnboundField) -> UnboundField | None:
    field_class = unbound.field_class
    if issubclass(field_class, LocalDecimalField) and not issubclass(field_class, AmountField):
        return UnboundField(AmountField, *unbound.args, **unbound.kwargs)
    if "DateTime" in field_class.__name__ and not issubclass(field_class, _MinuteDateTime):
        kwargs = dict(unbound.kwargs)
        kwargs["format"] = [MINUTES, "%Y-%m-%d %H:%M:%S"]  # the first is how it is shown
        return UnboundField(_minute_class(field_class), *unbound.args, **kwargs)
    if "Date" in field_class.__name__ and "DateTime" not in field_class.__name__ \
            and not issubclass(field_class, _ReaderDate):
        return UnboundField(_date_class(field_class), *unbound.args, **unbound.kwargs)
    return None


def minute_fields(form: type[Form]) -> type[Form]:
    """``form`` with its amount and date-time fields shown as people write them."""
    changed = {}
    for name in dir(form):
        value = getattr(form, name, None)
        if isinstance(value, UnboundField):
            replacement = _replacement(value)
            if replacement is not None:
                # Fields are laid out by their creation counter: keep each in its place.
                replacement.creation_counter = value.creation_counter
                changed[name] = replacement
    return type(form.__name__, (form,), changed) if changed else form
