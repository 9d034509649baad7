"""Discounts, the products they may be limited to, and every use of one (R-RULE-1, R-RULE-2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    SHARED,
    AdminHints,
    Base,
    Currency,
    Editable,
    LabelledEnum,
    Money,
    UTCDateTime,
    enum_column,
    label,
    owned_through,
    utcnow,
)

if TYPE_CHECKING:
    from schema.catalog import Product
    from schema.customers import Customer, CustomerGroup
    from schema.orders import Order


class DiscountKind(LabelledEnum):
    PERCENT = "percent"
    AMOUNT = "amount"

    __labels__ = {"percent": N_("Percent"), "amount": N_("Fixed amount")}


class DiscountTarget(LabelledEnum):
    CUSTOMER = "customer"
    GROUP = "group"
    EVERYONE = "everyone"

    __labels__ = {
        "customer": N_("One customer"),
        "group": N_("Customer group"),
        "everyone": N_("Everyone"),
    }


class DiscountChannel(LabelledEnum):
    WEB = "web"
    APP = "app"
    BOTH = "both"

    __labels__ = {"web": N_("Website"), "app": N_("App"), "both": N_("Website and app")}


# The products a discount is limited to; none means the whole cart.
discount_products = Table(
    "discount_products",
    Base.metadata,
    Column(
        "discount_id", ForeignKey("discounts.id", ondelete="CASCADE"), primary_key=True,
        info=label(N_("Discount")),
    ),
    Column(
        "product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True,
        index=True, info=label(N_("Product")),
    ),
)


class Discount(Editable, Base):
    """A discount rule: a condition (code, target, channel, minimums, limits) and a benefit
    (kind and value).

    ``code`` is empty for an automatic discount. ``times_used`` is the counter services raise
    with a conditional UPDATE (``WHERE total_uses_allowed IS NULL OR times_used <
    total_uses_allowed``) so concurrent checkouts can never exceed the limit. With products
    chosen, the minimum price and count apply per product line, otherwise to the whole cart.
    """

    __tablename__ = "discounts"
    __owner__ = SHARED
    __table_args__ = (Index("ix_discounts_active_automatic", "active", "automatic"),)
    __admin__ = AdminHints(
        label=N_("Discount"), plural=N_("Discounts"), menu=N_("Marketing"), rank=1,
        icon="fa-solid fa-tags",
        list=(
            "id", "name", "code", "automatic", "kind", "value", "currency", "starts_at",
            "expires_at", "target", "channel", "times_used", "active",
        ),
        search=("name", "code"),
        filters=(
            "automatic", "kind", "target", "channel", "active", "customer_id",
            "customer_group_id", "expires_at",
        ),
        sort=("id", "name", "code", "starts_at", "expires_at", "priority", "times_used"),
        form_exclude=("times_used", "usages"),
    )

    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    code: Mapped[str | None] = mapped_column(String(64), unique=True, info=label(N_("Code")))
    automatic: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Automatic"))
    )
    kind: Mapped[DiscountKind] = mapped_column(
        enum_column(DiscountKind), default=DiscountKind.PERCENT, info=label(N_("Kind"))
    )
    value: Mapped[Decimal] = mapped_column(Money, default=0, info=label(N_("Value")))
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    # Empty: in force at once. A discount before its start is "scheduled" and not applied.
    starts_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Starts at"))
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Expires at"))
    )
    total_uses_allowed: Mapped[int | None] = mapped_column(
        Integer, info=label(N_("Total uses allowed"))
    )
    # Only for logged-in customers, and not when the target is a single customer.
    uses_per_customer: Mapped[int | None] = mapped_column(
        Integer, info=label(N_("Uses per customer"))
    )
    min_cart_price: Mapped[Decimal | None] = mapped_column(
        Money, info=label(N_("Minimum cart price"))
    )
    min_item_count: Mapped[int | None] = mapped_column(
        Integer, info=label(N_("Minimum item count"))
    )
    target: Mapped[DiscountTarget] = mapped_column(
        enum_column(DiscountTarget), default=DiscountTarget.EVERYONE, index=True,
        info=label(N_("Target")),
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id"), index=True, info=label(N_("Customer"))
    )
    customer_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_groups.id"), index=True, info=label(N_("Customer group"))
    )
    channel: Mapped[DiscountChannel] = mapped_column(
        enum_column(DiscountChannel), default=DiscountChannel.BOTH, info=label(N_("Channel"))
    )
    priority: Mapped[int] = mapped_column(
        Integer, default=0, index=True, info=label(N_("Priority"))
    )
    combinable: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Combinable with other discounts"))
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))
    times_used: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False, index=True,
        info=label(N_("Times used"), service=True),
    )
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))

    customer: Mapped[Customer | None] = relationship()
    customer_group: Mapped[CustomerGroup | None] = relationship()
    products: Mapped[list[Product]] = relationship(
        secondary=discount_products, order_by="Product.name"
    )
    usages: Mapped[list[DiscountUsage]] = relationship(
        viewonly=True, order_by="DiscountUsage.id"
    )

    def __str__(self) -> str:
        return self.name


class DiscountUsage(Editable, Base):
    """One order's use of a discount; the detail view lists these (times used, total amount,
    the invoices that used it)."""

    __tablename__ = "discount_usages"
    __owner__ = owned_through("order_id")
    __table_args__ = (
        UniqueConstraint("discount_id", "order_id"),
        Index("ix_discount_usages_discount_customer", "discount_id", "customer_id"),
    )
    __admin__ = AdminHints(
        label=N_("Discount use"), plural=N_("Discount uses"), menu=N_("Marketing"), rank=2,
        icon="fa-solid fa-receipt",
        list=("id", "discount", "order", "customer", "amount", "currency", "used_at"),
        filters=("discount_id", "customer_id", "used_at"), sort=("id", "used_at", "amount"),
        default_sort=(("used_at", True),),
    )

    discount_id: Mapped[int] = mapped_column(
        ForeignKey("discounts.id", ondelete="RESTRICT"), index=True,
        info=label(N_("Discount")),
    )
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, info=label(N_("Order"))
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id"), index=True, info=label(N_("Customer"))
    )
    amount: Mapped[Decimal] = mapped_column(Money, default=0, info=label(N_("Amount")))
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    used_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Used at"))
    )

    discount: Mapped[Discount] = relationship()
    order: Mapped[Order] = relationship()
    customer: Mapped[Customer | None] = relationship()

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
