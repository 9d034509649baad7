"""Shipping methods with their ordered cost rows, and postal systems (R-RULE-3, R-RULE-4,
R-RULE-7)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    SHARED,
    AdminHints,
    Base,
    Currency,
    Editable,
    Encrypted,
    LabelledEnum,
    Money,
    enum_column,
    label,
)

if TYPE_CHECKING:
    from schema.catalog import Category


class CostRule(LabelledEnum):
    FIXED = "fixed"
    BY_WEIGHT = "by_weight"
    PERCENT = "percent"

    __labels__ = {
        "fixed": N_("Fixed"),
        "by_weight": N_("By weight (price per gram)"),
        "percent": N_("Percent of the cart"),
    }


class PostalSystemKind(LabelledEnum):
    FROTEL = "frotel"
    CENTRAL_POST = "central_post"
    ASEMANWEB = "asemanweb"
    BELPOST = "belpost"
    OTHER = "other"

    __labels__ = {
        "frotel": N_("Frotel"),
        "central_post": N_("Central post"),
        "asemanweb": N_("AsemanWeb"),
        "belpost": N_("Belpost"),
        "other": N_("Other"),
    }


# The categories a method is offered for; none means every category.
shipping_method_categories = Table(
    "shipping_method_categories",
    Base.metadata,
    Column(
        "shipping_method_id", ForeignKey("shipping_methods.id", ondelete="CASCADE"),
        primary_key=True, info=label(N_("Shipping method")),
    ),
    Column(
        "category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True,
        index=True, info=label(N_("Category")),
    ),
)


class PostalSystem(Editable, Base):
    """A postal operator's account an order can be handed to from its detail page."""

    __tablename__ = "postal_systems"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Postal system"), plural=N_("Postal systems"), menu=N_("Delivery"), rank=4,
        icon="fa-solid fa-envelopes-bulk", list=("id", "name", "kind", "username", "active"),
        search=("name", "username"), filters=("kind", "active"), sort=("id", "name", "kind"),
    )

    kind: Mapped[PostalSystemKind] = mapped_column(
        enum_column(PostalSystemKind), index=True, info=label(N_("Kind"))
    )
    name: Mapped[str] = mapped_column(String(100), info=label(N_("Name")))
    active: Mapped[bool] = mapped_column(Boolean, default=False, info=label(N_("Active")))
    username: Mapped[str | None] = mapped_column(String(100), info=label(N_("Username")))
    password: Mapped[str | None] = mapped_column(
        Encrypted, info=label(N_("Password"), secret=True)
    )
    api_key: Mapped[str | None] = mapped_column(
        Encrypted, info=label(N_("API key"), secret=True)
    )

    def __str__(self) -> str:
        return self.name


class ShippingMethod(Editable, Base):
    """How an order travels and what it costs: the base rule, then ordered cost rows.

    ``base_cost`` means, by ``cost_rule``: the fixed amount per order, the price per gram of
    cart weight, or the percent of the cart price. Rows are tried by ``position``; the first
    that matches gives the cost (or makes the method unavailable when it is out of range);
    when none matches the base rule applies.
    """

    __tablename__ = "shipping_methods"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Shipping method"), plural=N_("Shipping methods"), menu=N_("Delivery"), rank=2,
        icon="fa-solid fa-truck-fast",
        list=("id", "name", "cost_rule", "base_cost", "currency", "postpaid", "active"),
        search=("name",), filters=("cost_rule", "active", "postpaid", "postal_system_id"),
        sort=("id", "name"),
    )

    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))
    cost_rule: Mapped[CostRule] = mapped_column(
        enum_column(CostRule), default=CostRule.FIXED, info=label(N_("Cost rule"))
    )
    base_cost: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Base cost (amount, per gram or percent)"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    max_weight_g: Mapped[int | None] = mapped_column(
        Integer, info=label(N_("Maximum weight, g"))
    )
    postpaid: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Shipping paid on delivery"))
    )
    # Seed 004: a method can be linked to a configured postal system.
    postal_system_id: Mapped[int | None] = mapped_column(
        ForeignKey("postal_systems.id"), index=True, info=label(N_("Postal system"))
    )

    postal_system: Mapped[PostalSystem | None] = relationship()
    categories: Mapped[list[Category]] = relationship(
        secondary=shipping_method_categories, order_by="Category.name"
    )
    rows: Mapped[list[ShippingCostRow]] = relationship(
        back_populates="shipping_method", cascade="all, delete-orphan",
        order_by="(ShippingCostRow.position, ShippingCostRow.id)",
    )

    def __str__(self) -> str:
        return self.name


class ShippingCostRow(Editable, Base):
    """One variable-cost row; a zero condition is ignored. Amounts are in the method's
    currency."""

    __tablename__ = "shipping_cost_rows"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Shipping cost row"), plural=N_("Shipping cost rows"), menu=N_("Delivery"), rank=8,
        icon="fa-solid fa-table-list",
        list=(
            "id", "shipping_method", "position", "min_cart_price", "min_item_count",
            "min_weight_g", "min_distance_m", "out_of_range", "cost",
        ),
        filters=("shipping_method_id", "out_of_range"), sort=("id", "position"),
        default_sort=(("position", False),),
    )

    shipping_method_id: Mapped[int] = mapped_column(
        ForeignKey("shipping_methods.id", ondelete="CASCADE"), index=True,
        info=label(N_("Shipping method")),
    )
    position: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Position")))
    min_cart_price: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Minimum cart price"))
    )
    min_item_count: Mapped[int] = mapped_column(
        Integer, default=0, info=label(N_("Minimum item count"))
    )
    min_weight_g: Mapped[int] = mapped_column(
        Integer, default=0, info=label(N_("Minimum weight, g"))
    )
    min_distance_m: Mapped[int] = mapped_column(
        Integer, default=0, info=label(N_("Minimum distance, m"))
    )
    out_of_range: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Out of range"))
    )
    cost: Mapped[Decimal] = mapped_column(Money, default=0, info=label(N_("Cost")))

    shipping_method: Mapped[ShippingMethod] = relationship(back_populates="rows")

    def __str__(self) -> str:
        return f"{self.position}: {self.cost}"
