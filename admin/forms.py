"""Form fields for Postdesk's column types: exact money, translated choices."""

from __future__ import annotations

import enum
from typing import Any

from sqladmin.forms import ModelConverter, converts
from sqlalchemy.orm import ColumnProperty
from wtforms import DecimalField, FloatField, SelectField, validators
from wtforms.fields.core import UnboundField

from locales import lazy_gettext
from schema.base import MONEY_SCALE, LabelledEnum


def _code(value: Any) -> str:
    return value.value if isinstance(value, enum.Enum) else str(value)


class PostdeskConverter(ModelConverter):
    @converts("schema.base.Money")
    def conv_money(self, model: type, prop: ColumnProperty, kwargs: dict[str, Any]) -> UnboundField:
        kwargs.setdefault("places", None)
        kwargs.setdefault("validators", [])
        kwargs["validators"].append(validators.Optional() if prop.columns[0].nullable
                                    else validators.InputRequired())
        kwargs["render_kw"] = {"step": f"{10 ** -MONEY_SCALE:.{MONEY_SCALE}f}",
                               "inputmode": "decimal", **kwargs.get("render_kw", {})}
        return DecimalField(**kwargs)

    @converts("Float", "Double")  # SQLAlchemy 2.1 no longer derives Float from Numeric
    def conv_float(self, model: type, prop: ColumnProperty, kwargs: dict[str, Any]) -> UnboundField:
        return FloatField(**kwargs)

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
