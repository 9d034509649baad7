"""Couriers: the people who deliver orders and load lockers (R-COUR, R-LOCK-4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    SHARED,
    AdminHints,
    Base,
    Editable,
    UTCDateTime,
    label,
)

if TYPE_CHECKING:
    from schema.people import User


class Courier(Editable, Base):
    """A courier's personal details; ``user`` is the login (its username is unique), the badge
    number and PIN open the courier menu of a locker terminal."""

    __tablename__ = "couriers"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Courier"), plural=N_("Couriers"), menu=N_("Delivery"), rank=1,
        icon="fa-solid fa-person-biking",
        list=("id", "full_name", "mobile", "service_area", "vehicle", "badge_number", "active"),
        search=("full_name", "mobile", "badge_number", "national_id", "service_area"),
        filters=("active", "service_area"), sort=("id", "full_name", "badge_number"),
        form_exclude=("pin_hash",),
    )

    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True, info=label(N_("User"))
    )
    full_name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Full name")))
    national_id: Mapped[str | None] = mapped_column(
        String(32), index=True, info=label(N_("National id"))
    )
    birth_date: Mapped[date | None] = mapped_column(Date, info=label(N_("Date of birth")))
    mobile: Mapped[str] = mapped_column(String(32), index=True, info=label(N_("Mobile")))
    phone: Mapped[str | None] = mapped_column(String(32), info=label(N_("Phone")))
    email: Mapped[str | None] = mapped_column(String(200), info=label(N_("E-mail")))
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    service_area: Mapped[str | None] = mapped_column(
        String(200), index=True, info=label(N_("Service area"))
    )
    vehicle: Mapped[str | None] = mapped_column(String(100), info=label(N_("Vehicle")))
    badge_number: Mapped[str | None] = mapped_column(
        String(32), unique=True, info=label(N_("Badge number"))
    )
    pin_hash: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("PIN"), secret=True)
    )
    # A terminal's PIN checks are throttled like the admin's sign-in (services.terminal).
    pin_failures: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", info=label(N_("Failed PIN entries"), service=True)
    )
    pin_locked_until: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("PIN locked until"), service=True)
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))
    note: Mapped[str | None] = mapped_column(Text, info=label(N_("Note")))

    user: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return self.full_name
