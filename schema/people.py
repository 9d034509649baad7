"""Tenant stores, staff accounts and roles with their access matrix."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    INTERNAL,
    MERCHANT_ITSELF,
    N_,
    SHARED,
    AdminHints,
    Base,
    Currency,
    Editable,
    IdMixin,
    LabelledEnum,
    Money,
    UTCDateTime,
    enum_column,
    label,
    owned_by_merchant,
    utcnow,
)


class RoleCode(LabelledEnum):
    SUPERUSER = "superuser"
    MANAGER = "manager"
    MARKETER = "marketer"
    ADMINISTRATOR = "administrator"
    ACCOUNTANT = "accountant"
    OPERATOR = "operator"
    COURIER = "courier"
    PICKUP_OPERATOR = "pickup_operator"
    CASH_COLLECTOR = "cash_collector"
    TECHNICIAN = "technician"
    MERCHANT = "merchant"
    SORTING_CENTER = "sorting_center"
    # Not people: the locker terminal (a buyer at the screen) and the worker's scheduled rules
    # move parcels too, and the workflow names them like any role. Nobody signs in as them.
    TERMINAL = "terminal"
    SYSTEM = "system"

    __labels__ = {
        "superuser": N_("Superuser"),
        "manager": N_("Store manager"),
        "marketer": N_("Marketer"),
        "administrator": N_("Administrator"),
        "accountant": N_("Accountant"),
        "operator": N_("Operator"),
        "courier": N_("Courier"),
        "pickup_operator": N_("Pickup-point operator"),
        "cash_collector": N_("Cash collector"),
        "technician": N_("Technician"),
        "merchant": N_("Merchant"),
        "sorting_center": N_("Sorting-centre operator"),
        "terminal": N_("Locker terminal"),
        "system": N_("Scheduled rules"),
    }


# The roles a person can have (sign in with, be given in the users' form): all but the devices'.
DEVICE_ROLES = frozenset({RoleCode.TERMINAL, RoleCode.SYSTEM})
PEOPLE_ROLES = tuple(r for r in RoleCode if r not in DEVICE_ROLES)


class Merchant(Editable, Base):
    """A tenant store with its contract terms and prepaid balance."""

    __tablename__ = "merchants"
    __owner__ = MERCHANT_ITSELF
    __admin__ = AdminHints(
        label=N_("Merchant"), plural=N_("Merchants"), menu=N_("People"), rank=2,
        icon="fa-solid fa-store",
        list=("id", "name", "tax_id", "phone", "balance", "currency", "active"),
        search=("name", "tax_id", "email", "phone"), filters=("active", "currency"),
        sort=("id", "name", "balance"),
    )

    name: Mapped[str] = mapped_column(String(200), info=label(N_("Name")))
    legal_name: Mapped[str | None] = mapped_column(String(300), info=label(N_("Legal name")))
    tax_id: Mapped[str | None] = mapped_column(String(32), unique=True, info=label(N_("Tax id")))
    email: Mapped[str | None] = mapped_column(String(200), info=label(N_("E-mail")))
    phone: Mapped[str | None] = mapped_column(String(32), info=label(N_("Phone")))
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    # The sum of the merchant's ledger entries, kept by services.ledger only.
    balance: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Balance"), service=True)
    )
    cash_fee_percent: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Cash collection fee, %"))
    )
    # Registering a parcel may take the balance down to minus this, no further (issue 13).
    credit_limit: Mapped[Decimal] = mapped_column(
        Money, default=0, server_default="0", info=label(N_("Credit limit"))
    )
    # At or below it the merchant is e-mailed once, until a top-up lifts the balance again.
    low_balance_threshold: Mapped[Decimal | None] = mapped_column(
        Money, info=label(N_("Low-balance warning at"))
    )
    low_balance_notified_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Low-balance warning sent at"), service=True)
    )
    # The weekday (1 = Monday ... 7 = Sunday) the weekly payout is computed.
    payout_weekday: Mapped[int] = mapped_column(
        Integer, default=1, server_default="1", info=label(N_("Weekly payout day (1-7)"))
    )
    # What the merchant writes on its bank transfers: matches statement lines to it.
    payment_reference: Mapped[str | None] = mapped_column(
        String(64), unique=True, info=label(N_("Payment reference"))
    )
    bank_account: Mapped[str | None] = mapped_column(
        String(64), info=label(N_("Bank account (IBAN)"))
    )
    pickup_weekday: Mapped[int | None] = mapped_column(
        Integer, info=label(N_("Weekly courier pickup day (1-7)"))
    )
    # Seed 000: parcels wait their storage days "without extension". A contract may grant one
    # extension of this many days, applied once when the deadline comes.
    storage_extension_days: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0",
        info=label(N_("Storage extension, days (0: none)")),
    )
    # SHA-256 of the store plugin's API key: looked up on every API call.
    api_key_hash: Mapped[str | None] = mapped_column(
        String(200), unique=True, info=label(N_("API key"), secret=True)
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))

    def __str__(self) -> str:
        return self.name


class Role(Editable, Base):
    __tablename__ = "roles"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Role"), plural=N_("Roles"), menu=N_("People"), rank=3,
        icon="fa-solid fa-user-shield",
        list=("id", "code", "name"), search=("code", "name"), sort=("code",),
    )

    code: Mapped[RoleCode] = mapped_column(
        enum_column(RoleCode), unique=True, info=label(N_("Code"))
    )
    name: Mapped[str] = mapped_column(String(100), info=label(N_("Name")))
    permissions: Mapped[list[Permission]] = relationship(
        back_populates="role", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return self.name


class Permission(Editable, Base):
    """One cell of the access matrix: a role may do ``action`` on ``table``.

    ``table`` is a table name or ``*``; ``action`` is list/details/create/edit/delete/export,
    ``action:<slug>`` for a custom action, or ``*``.
    """

    __tablename__ = "permissions"
    __owner__ = SHARED
    __table_args__ = (UniqueConstraint("role_id", "table_name", "action"),)
    __admin__ = AdminHints(
        label=N_("Permission"), plural=N_("Permissions"), menu=N_("People"), rank=4,
        icon="fa-solid fa-key", list=("id", "role", "table_name", "action"),
        search=("table_name", "action"), filters=("role_id",), sort=("table_name",),
    )

    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), index=True, info=label(N_("Role"))
    )
    table_name: Mapped[str] = mapped_column(String(64), info=label(N_("Table")))
    action: Mapped[str] = mapped_column(String(64), info=label(N_("Action")))
    role: Mapped[Role] = relationship(back_populates="permissions")

    def __str__(self) -> str:
        return f"{self.table_name}: {self.action}"


class User(Editable, Base):
    """A person who signs in to the admin: staff, couriers, merchant users."""

    __tablename__ = "users"
    __owner__ = owned_by_merchant(optional=True, tenant_writes=False)
    __admin__ = AdminHints(
        label=N_("User"), plural=N_("Users"), menu=N_("People"), rank=1, icon="fa-solid fa-user",
        list=("id", "username", "full_name", "role", "merchant", "language", "active"),
        search=("username", "full_name", "email", "phone"),
        filters=("role_id", "active", "language"), sort=("id", "username", "full_name"),
        form_exclude=("password_hash", "failed_logins", "locked_until", "last_login_at"),
    )

    username: Mapped[str] = mapped_column(String(64), unique=True, info=label(N_("Username")))
    password_hash: Mapped[str] = mapped_column(
        String(200), default="", info=label(N_("Password"), secret=True)
    )
    full_name: Mapped[str] = mapped_column(String(200), default="", info=label(N_("Full name")))
    email: Mapped[str | None] = mapped_column(String(200), info=label(N_("E-mail")))
    phone: Mapped[str | None] = mapped_column(String(32), info=label(N_("Mobile")))
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id"), index=True, info=label(N_("Role"))
    )
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchants.id"), index=True, info=label(N_("Merchant"))
    )
    language: Mapped[str] = mapped_column(String(5), default="en", info=label(N_("Language")))
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Last login"))
    )
    note: Mapped[str | None] = mapped_column(Text, info=label(N_("Note")))

    role: Mapped[Role] = relationship(lazy="joined")
    merchant: Mapped[Merchant | None] = relationship()

    def __str__(self) -> str:
        return self.full_name or self.username


class Setting(Editable, Base):
    """Installation-wide defaults (system currency, storage days...), seeded from seed/data."""

    __tablename__ = "settings"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Setting"), plural=N_("Settings"), menu=N_("Settings"), rank=6,
        icon="fa-solid fa-gear", list=("key", "value", "description"), search=("key",),
        sort=("key",),
    )

    key: Mapped[str] = mapped_column(String(64), unique=True, info=label(N_("Key")))
    value: Mapped[str] = mapped_column(String(500), info=label(N_("Value")))
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))

    def __str__(self) -> str:
        return self.key


class CurrencyRow(Editable, Base):
    __tablename__ = "currencies"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Currency"), plural=N_("Currencies"), menu=N_("Settings"), rank=7,
        icon="fa-solid fa-coins", list=("code", "name", "decimals"), sort=("code",),
    )

    code: Mapped[str] = mapped_column(Currency(), unique=True, info=label(N_("Code")))
    name: Mapped[str] = mapped_column(String(64), info=label(N_("Name")))
    decimals: Mapped[int] = mapped_column(Integer, default=2, info=label(N_("Decimals")))

    def __str__(self) -> str:
        return self.code


class SeedMark(IdMixin, Base):
    """Remembers each default row `postdesk seed` has put in once, so a default a person later
    deleted is not put back by the next seeding."""

    __tablename__ = "seed_marks"
    __owner__ = INTERNAL
    __admin__ = AdminHints(
        label=N_("Seeded default"), plural=N_("Seeded defaults"), menu=N_("Settings"), rank=11,
        icon="fa-solid fa-seedling", list=("id", "key", "at"), search=("key",), sort=("key",),
        readonly=True,
    )

    key: Mapped[str] = mapped_column(String(200), unique=True, info=label(N_("Key")))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, info=label(N_("Date")))

    def __str__(self) -> str:
        return self.key
