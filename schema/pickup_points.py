"""Pickup points and sorting centers: their operators, addressed storage and cash shifts
(R-LOCK-9, R-LOCK-3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    INTERNAL,
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
    utcnow,
)

if TYPE_CHECKING:
    from schema.people import User


class PickupPointKind(LabelledEnum):
    PICKUP_POINT = "pickup_point"
    SORTING_CENTER = "sorting_center"
    POST_OFFICE = "post_office"

    __labels__ = {
        "pickup_point": N_("Pickup point"),
        "sorting_center": N_("Sorting center"),
        "post_office": N_("Post office"),
    }


class PickupPoint(Editable, Base):
    __tablename__ = "pickup_points"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Pickup point"), plural=N_("Pickup points"), menu=N_("Delivery"), rank=3,
        icon="fa-solid fa-shop", list=("code", "name", "kind", "city", "address", "phone",
                                       "active"),
        search=("code", "name", "city", "address", "phone"),
        filters=("kind", "city", "active"), sort=("code", "name", "city"),
        default_sort=(("code", False),), form_exclude=("operators", "storage_cells"),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True, info=label(N_("Code")))
    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    kind: Mapped[PickupPointKind] = mapped_column(
        enum_column(PickupPointKind), default=PickupPointKind.PICKUP_POINT, index=True,
        info=label(N_("Kind")),
    )
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    city: Mapped[str | None] = mapped_column(String(100), index=True, info=label(N_("City")))
    phone: Mapped[str | None] = mapped_column(String(32), info=label(N_("Phone")))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))

    operators: Mapped[list[PickupPointOperator]] = relationship(
        back_populates="pickup_point", cascade="all, delete-orphan",
        order_by="PickupPointOperator.id",
    )
    storage_cells: Mapped[list[StorageCell]] = relationship(
        back_populates="pickup_point", cascade="all, delete-orphan",
        order_by="StorageCell.code",
    )

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PickupPointOperator(Editable, Base):
    """A user who works at a pickup point."""

    __tablename__ = "pickup_point_operators"
    __owner__ = INTERNAL
    __table_args__ = (UniqueConstraint("pickup_point_id", "user_id"),)
    __admin__ = AdminHints(
        label=N_("Pickup-point operator"), plural=N_("Pickup-point operators"),
        menu=N_("Delivery"), rank=7,
        icon="fa-solid fa-user-tag", list=("id", "pickup_point", "user"),
        filters=("pickup_point_id", "user_id"), sort=("id",),
    )

    pickup_point_id: Mapped[int] = mapped_column(
        ForeignKey("pickup_points.id", ondelete="CASCADE"), index=True,
        info=label(N_("Pickup point")),
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, info=label(N_("User"))
    )

    pickup_point: Mapped[PickupPoint] = relationship(back_populates="operators")
    user: Mapped[User] = relationship()


class StorageCell(Editable, Base):
    """A shelf cell of a pickup point's addressed storage."""

    __tablename__ = "storage_cells"
    __owner__ = SHARED
    __table_args__ = (UniqueConstraint("pickup_point_id", "code"),)
    __admin__ = AdminHints(
        label=N_("Storage cell"), plural=N_("Storage cells"), menu=N_("Delivery"), rank=6,
        icon="fa-solid fa-boxes-stacked", list=("id", "pickup_point", "shelf", "code"),
        search=("code", "shelf"), filters=("pickup_point_id", "shelf"),
        sort=("id", "shelf", "code"),
    )

    pickup_point_id: Mapped[int] = mapped_column(
        ForeignKey("pickup_points.id", ondelete="CASCADE"), index=True,
        info=label(N_("Pickup point")),
    )
    code: Mapped[str] = mapped_column(String(32), info=label(N_("Code")))
    shelf: Mapped[str | None] = mapped_column(String(32), index=True, info=label(N_("Shelf")))

    pickup_point: Mapped[PickupPoint] = relationship(back_populates="storage_cells")

    def __str__(self) -> str:
        return f"{self.shelf}/{self.code}" if self.shelf else self.code


class Shift(Editable, Base):
    """An operator's shift at a pickup point; closing it totals the cash taken."""

    __tablename__ = "shifts"
    __owner__ = INTERNAL
    __table_args__ = (
        # One open shift per operator and pickup point.
        Index(
            "uq_shifts_open", "pickup_point_id", "operator_id", unique=True,
            postgresql_where=text("closed_at IS NULL"), sqlite_where=text("closed_at IS NULL"),
        ),
    )
    __admin__ = AdminHints(
        label=N_("Shift"), plural=N_("Shifts"), menu=N_("Delivery"), rank=5,
        icon="fa-solid fa-cash-register",
        list=("id", "pickup_point", "operator", "opened_at", "closed_at", "cash_total",
              "currency"),
        filters=("pickup_point_id", "operator_id", "opened_at", "closed_at"),
        sort=("id", "opened_at", "closed_at", "cash_total"),
        default_sort=(("opened_at", True),),
    )

    pickup_point_id: Mapped[int] = mapped_column(
        ForeignKey("pickup_points.id"), index=True, info=label(N_("Pickup point"))
    )
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), index=True, info=label(N_("Operator"))
    )
    opened_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Opened at"))
    )
    closed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Closed at"))
    )
    cash_total: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Cash total"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))

    pickup_point: Mapped[PickupPoint] = relationship()
    operator: Mapped[User] = relationship()
