"""Buyers, their groups (by points) and point movements."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    SHARED,
    AdminHints,
    Base,
    Currency,
    Editable,
    LabelledEnum,
    MerchantOwned,
    Money,
    enum_column,
    label,
    owned_through,
)

if TYPE_CHECKING:
    from schema.people import Merchant


class CustomerKind(LabelledEnum):
    INDIVIDUAL = "individual"
    LEGAL = "legal"

    __labels__ = {"individual": N_("Individual"), "legal": N_("Legal entity")}


class CustomerGroup(Editable, Base):
    """Membership follows points: a customer belongs to the group whose range holds its points."""

    __tablename__ = "customer_groups"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Customer group"), plural=N_("Customer groups"), menu=N_("Marketing"), rank=3,
        icon="fa-solid fa-users-rectangle",
        list=("id", "name", "min_points", "max_points"), search=("name",),
        sort=("name", "min_points"),
    )

    name: Mapped[str] = mapped_column(String(100), unique=True, info=label(N_("Name")))
    min_points: Mapped[int | None] = mapped_column(Integer, info=label(N_("From points")))
    max_points: Mapped[int | None] = mapped_column(Integer, info=label(N_("Up to points")))
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))

    def __str__(self) -> str:
        return self.name


class Customer(Editable, MerchantOwned, Base):
    __tablename__ = "customers"
    __admin__ = AdminHints(
        label=N_("Customer"), plural=N_("Customers"), menu=N_("Sales"), rank=2,
        icon="fa-solid fa-address-book",
        list=("name", "kind", "phone", "email", "group", "points"),
        list_more=("id", "tax_id", "city", "wallet_balance", "registered", "merchant"),
        export=("id", "name", "kind", "phone", "email", "group", "points", "merchant"),
        search=("name", "phone", "email", "tax_id"),
        filters=("kind", "group_id", "merchant_id"), sort=("id", "name", "points"),
    )

    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    kind: Mapped[CustomerKind] = mapped_column(
        enum_column(CustomerKind), default=CustomerKind.INDIVIDUAL, info=label(N_("Kind"))
    )
    tax_id: Mapped[str | None] = mapped_column(String(32), index=True, info=label(N_("Tax id")))
    phone: Mapped[str | None] = mapped_column(String(32), index=True, info=label(N_("Mobile")))
    email: Mapped[str | None] = mapped_column(String(200), info=label(N_("E-mail")))
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    city: Mapped[str | None] = mapped_column(String(100), info=label(N_("City")))
    postcode: Mapped[str | None] = mapped_column(String(16), info=label(N_("Postcode")))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_groups.id"), index=True, info=label(N_("Group"))
    )
    points: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Points")))
    wallet_balance: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Wallet balance"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    registered: Mapped[bool] = mapped_column(
        Boolean, default=True, info=label(N_("Has an account"))
    )
    language: Mapped[str] = mapped_column(String(5), default="ru", info=label(N_("Language")))

    group: Mapped[CustomerGroup | None] = relationship()
    merchant: Mapped[Merchant] = relationship()

    def __str__(self) -> str:
        return self.name


class PointEntry(Editable, Base):
    """Points earned or spent; the customer's ``points`` is their running sum."""

    __tablename__ = "point_entries"
    __owner__ = owned_through("customer_id")
    __admin__ = AdminHints(
        label=N_("Point entry"), plural=N_("Point entries"), menu=N_("Marketing"), rank=4,
        icon="fa-solid fa-star", list=("id", "customer", "points", "reason", "order_id"),
        filters=("customer_id",), sort=("id",),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True, info=label(N_("Customer"))
    )
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id"), index=True, info=label(N_("Order"))
    )
    points: Mapped[int] = mapped_column(Integer, info=label(N_("Points")))
    reason: Mapped[str] = mapped_column(String(200), default="", info=label(N_("Reason")))

    customer: Mapped[Customer] = relationship()

    def __str__(self) -> str:
        return f"{self.points:+d} {self.reason}".strip()
