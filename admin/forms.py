"""Form fields for Postdesk's column types: exact money, translated choices, numbers typed
in any of our languages' digits."""

from __future__ import annotations

import enum
from functools import cache
from typing import Any

from sqladmin.forms import ModelConverter, converts
from sqlalchemy.orm import ColumnProperty
from wtforms import DecimalField, Field, FloatField, IntegerField, SelectField, validators
from wtforms.fields.core import UnboundField
from wtforms.widgets import TextInput

from locales import ascii_number, gettext, gregorian_text, lazy_gettext
from schema.base import MONEY_SCALE, LabelledEnum


def _code(value: Any) -> str:
    return value.value if isinstance(value, enum.Enum) else str(value)


class _TypedDigits:
    """A number field that reads Persian (۱۲۳) and Arabic-Indic (١٢٣) digits and the Arabic
    separators as the number they write, before the field parses and validates it.

    The input is a text box with a numeric keyboard: a browser's ``type="number"`` empties a
    value in Persian digits before the form is sent, so it never reaches this point."""

    widget = TextInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        typed = [ascii_number(v) if isinstance(v, str) else v for v in valuelist]
        super().process_formdata(typed)  # type: ignore[misc]


class LocalDecimalField(_TypedDigits, DecimalField):
    """Exact: the text becomes a Decimal, never passing through a float."""


class LocalIntegerField(_TypedDigits, IntegerField):
    """A whole number typed in any of the three digit sets."""


class LocalFloatField(_TypedDigits, FloatField):
    """A float (never money) typed in any of the three digit sets."""


class _TypedDate:
    """A date(-time) field that also reads a Solar Hijri date (year below 1700) and Persian
    digits as typed by a Persian reader: ``۱۴۰۵/۰۱/۰۱ ۰۹:۰۵`` is 2026-03-21 09:05. The stored
    value and the picker stay Gregorian UTC."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            typed = [gregorian_text(v) if isinstance(v, str) else v for v in valuelist]
        except ValueError as exc:  # wtforms shows it under the field
            raise ValueError(gettext("There is no such day in the Solar Hijri calendar.")) from exc
        super().process_formdata(typed)  # type: ignore[misc]


@cache
def _typed_date_class(field_class: type[Field]) -> type[Field]:
    return type(field_class.__name__, (_TypedDate, field_class), {})


def _numeric(kwargs: dict[str, Any], inputmode: str) -> dict[str, Any]:
    kwargs["render_kw"] = {"inputmode": inputmode, "dir": "ltr", **kwargs.get("render_kw", {})}
    return kwargs


class PostdeskConverter(ModelConverter):
    @converts("Integer")  # includes BigInteger and SmallInteger
    def conv_integer(self, model: type, prop: ColumnProperty,
                     kwargs: dict[str, Any]) -> UnboundField:
        return LocalIntegerField(**_numeric(kwargs, "numeric"))

    @converts("Numeric")
    def conv_decimal(self, model: type, prop: ColumnProperty,
                     kwargs: dict[str, Any]) -> UnboundField:
        kwargs.setdefault("places", None)
        return LocalDecimalField(**_numeric(kwargs, "decimal"))

    @converts("DateTime")
    def conv_datetime(self, model: type, prop: ColumnProperty,
                      kwargs: dict[str, Any]) -> UnboundField:
        field = super().conv_datetime(model, prop, kwargs)
        return UnboundField(_typed_date_class(field.field_class), *field.args, **field.kwargs)

    @converts("Date")
    def conv_date(self, model: type, prop: ColumnProperty,
                  kwargs: dict[str, Any]) -> UnboundField:
        field = super().conv_date(model, prop, kwargs)
        return UnboundField(_typed_date_class(field.field_class), *field.args, **field.kwargs)

    @converts("schema.base.Money")
    def conv_money(self, model: type, prop: ColumnProperty, kwargs: dict[str, Any]) -> UnboundField:
        kwargs.setdefault("places", None)
        kwargs.setdefault("validators", [])
        kwargs["validators"].append(validators.Optional() if prop.columns[0].nullable
                                    else validators.InputRequired())
        kwargs["render_kw"] = {"step": f"{10 ** -MONEY_SCALE:.{MONEY_SCALE}f}",
                               **kwargs.get("render_kw", {})}
        return LocalDecimalField(**_numeric(kwargs, "decimal"))

    @converts("Float", "Double")  # SQLAlchemy 2.1 no longer derives Float from Numeric
    def conv_float(self, model: type, prop: ColumnProperty, kwargs: dict[str, Any]) -> UnboundField:
        return LocalFloatField(**_numeric(kwargs, "decimal"))

    @converts("Enum")
    def conv_enum(self, model: type, prop: ColumnProperty, kwargs: dict[str, Any]) -> UnboundField:
        column_type = prop.columns[0].type
        enum_cls = getattr(column_type, "enum_class", None)
        if enum_cls is not None and issubclass(enum_cls, LabelledEnum):
            choices = [(m.value, lazy_gettext(m.label)) for m in enum_cls]
        else:
            choices = [(e, e) for e in column_type.enums]  # type: ignore[attr-defined]
        accepted: list[Any] = [value for value, _ in choices]
        if prop.columns[0].nullable:
            kwargs.setdefault("validate_choice", False)
            choices = [("", "—"), *choices]
            accepted.append(None)
            kwargs["filters"] = [*kwargs.get("filters", []), lambda x: x or None]
        kwargs["choices"] = choices
        kwargs.setdefault("validators", [])
        kwargs["validators"].append(validators.AnyOf(accepted))
        kwargs["coerce"] = _code
        return SelectField(**kwargs)
