"""Declarative base, the Money type, shared mixins and the admin hints every table carries.

Labels are plain English strings marked with ``N_`` so Babel extracts them; they are translated
where a person reads them (the admin, documents), which keeps the schema free of request state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    event,
    func,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator


def N_(message: str) -> str:
    """Mark a string for translation without translating it here."""
    return message


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    def __str__(self) -> str:
        # The admin prints related rows with str(): a table without its own __str__ reads
        # as its id, never as Python's ``<schema.x.Y object at 0x...>``.
        return f"#{getattr(self, 'id', '')}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


MONEY_SCALE = 4
_MONEY_FACTOR = Decimal(10) ** MONEY_SCALE


class Money(TypeDecorator[Decimal]):
    """A Decimal amount stored as an integer count of 1/10000 units.

    SQLite keeps ``Numeric`` as a float, so money is kept as BIGINT on every database: exact,
    sortable, summable. Four decimal places cover every currency we price in; an amount with
    more precision is refused instead of being rounded silently.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Any) -> int | None:
        if value is None:
            return None
        try:
            amount = Decimal(value)
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"not an amount: {value!r}") from exc
        scaled = amount * _MONEY_FACTOR
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more than {MONEY_SCALE} decimal places")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / _MONEY_FACTOR).quantize(Decimal(1).scaleb(-MONEY_SCALE))

    @property
    def python_type(self) -> type:
        return Decimal


SECRET_KEY_MISMATCH = (
    "The stored secrets were encrypted with another secret key: set POSTDESK_SECRET_KEY "
    "(or POSTDESK_SECRET_FILE) to the key this database was set up with."
)


class SecretKeyMismatch(RuntimeError):
    """A stored secret does not decrypt under the configured key: the database was set up
    (or its secrets rotated) with another one. Commands print the message as one line; the web
    app answers with it instead of a 500."""

    def __init__(self, message: str = SECRET_KEY_MISMATCH) -> None:
        super().__init__(message)


class _Cipher:
    """The key for secrets at rest, derived from the installation's secret key.

    Set once per process by whoever owns the settings (the web app, the commands, the tests);
    the schema never reads the environment itself.
    """

    fernet: Any = None
    invalid_token: type[Exception] = Exception  # cryptography's InvalidToken once configured


def fernet_for(secret_key: str) -> Any:
    """The Fernet cipher that secrets at rest use under ``secret_key`` (a SHA-256 derivation,
    so any string works as a key and the session-signing key is never used as-is)."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"postdesk secrets at rest\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def configure_encryption(secret_key: str) -> None:
    from cryptography.fernet import InvalidToken

    _Cipher.fernet = fernet_for(secret_key)
    _Cipher.invalid_token = InvalidToken


class Encrypted(TypeDecorator[str]):
    """A secret (gateway password, API key, certificate) stored encrypted (Fernet: AES-128-CBC
    + HMAC-SHA256). Reading gives the plain text back to the code that needs it; the admin never
    renders it. A value that does not decrypt under the configured key raises
    ``SecretKeyMismatch`` (never cryptography's bare ``InvalidToken``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        if _Cipher.fernet is None:
            raise RuntimeError("secrets at rest need configure_encryption(secret_key) first")
        return str(_Cipher.fernet.encrypt(value.encode()).decode())

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        if _Cipher.fernet is None:
            raise RuntimeError("secrets at rest need configure_encryption(secret_key) first")
        try:
            return str(_Cipher.fernet.decrypt(value.encode()).decode())
        except _Cipher.invalid_token:
            raise SecretKeyMismatch() from None


def Currency() -> Any:
    return String(3)


def enum_column(enum_cls: type[enum.StrEnum]) -> SAEnum:
    """Store a StrEnum by its stable code in a VARCHAR, never as a native database enum."""
    return SAEnum(
        enum_cls,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class LabelledEnum(enum.StrEnum):
    """A choice whose stored value is a stable code and whose label is translatable.

    Subclasses define ``__labels__ = {member_value: N_("Label")}``.
    """

    @property
    def label(self) -> str:
        labels: dict[str, str] = getattr(type(self), "__labels__", {})
        return labels.get(self.value, self.value.replace("_", " ").capitalize())


def label(text: str, **info: Any) -> dict[str, Any]:
    """Column ``info`` with a translatable label: ``mapped_column(info=label(N_("Name")))``.

    Flags the admin reads: ``secret=True`` (never rendered back, never exported),
    ``workflow=True`` (a status moved only through its workflow), ``service=True`` (money or
    state a service owns and recomputes — totals, balances, a parcel's cell and deadline:
    shown, never a form field)."""
    return {"label": text, **info}


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, info=label(N_("Id")))


class Editable(IdMixin):
    """Every table people edit: timestamps and a version for optimistic locking."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.current_timestamp(),
        info=label(N_("Created at")),
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.current_timestamp(),
        info=label(N_("Updated at")),
    )
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # SQLAlchemy then issues UPDATE ... WHERE version = <loaded>, so a concurrent save
        # can never be lost even between our own version check and the flush.
        return {"version_id_col": cls.__table__.c.version}


@event.listens_for(Session, "before_flush")
def _version_link_edits(session: Session, _ctx: Any, _instances: Any) -> None:
    """A row whose only change is in a many-to-many collection (a method's categories, a
    discount's products) issues no UPDATE of its own, so neither its version nor its
    ``updated_at`` would move: concurrent edits of the links would not conflict, and readers
    that watch versions (services.rule_snapshot) would not see them. Touching ``updated_at``
    makes the row's UPDATE, and the version bump, happen."""
    for obj in session.dirty:
        if isinstance(obj, Editable) and session.is_modified(obj):
            obj.updated_at = utcnow()


class OwnerKind(enum.StrEnum):
    MERCHANT = "merchant"   # the row's own ``merchant_id`` names its merchant
    ITSELF = "itself"       # the row is a merchant (merchants.id)
    PARENT = "parent"       # the row belongs to whoever owns the row its foreign key names
    RECORD = "record"       # a log row about (``table_name``, ``record_id``): owned as that row
    SHARED = "shared"       # reference data: every tenant reads it, no tenant writes it
    INTERNAL = "internal"   # the platform's own: no tenant reads or writes it


@dataclass(frozen=True)
class Owner:
    """Who a table's rows belong to, declared once per table as ``__owner__``.

    ``services.scoping`` derives every read filter and write check from these declarations;
    ``tests/test_isolation.py`` fails for a mapped table that declares none.
    ``via`` names the foreign-key column of a PARENT row. ``optional`` lets a MERCHANT row have
    no merchant (a platform user): such rows belong to no tenant. ``tenant_writes=False``: the
    merchant reads its rows but never writes them, whatever the access matrix says (its users,
    whose role decides what they may do; its payouts, which the platform settles).
    """

    kind: OwnerKind
    via: str | None = None
    optional: bool = False
    tenant_writes: bool = True

    @property
    def tenant(self) -> bool:
        """Rows of this table belong to one merchant each (scoped, not shared or internal)."""
        return self.kind not in (OwnerKind.SHARED, OwnerKind.INTERNAL)


def owned_by_merchant(*, optional: bool = False, tenant_writes: bool = True) -> Owner:
    return Owner(OwnerKind.MERCHANT, optional=optional, tenant_writes=tenant_writes)


def owned_through(fk_column: str) -> Owner:
    """The row belongs to the owner of the row its ``fk_column`` points at."""
    return Owner(OwnerKind.PARENT, via=fk_column)


MERCHANT_ITSELF = Owner(OwnerKind.ITSELF, tenant_writes=False)
RECORD_OF = Owner(OwnerKind.RECORD)
SHARED = Owner(OwnerKind.SHARED)
INTERNAL = Owner(OwnerKind.INTERNAL)


def owner_of(model: type) -> Owner | None:
    """The declared owner of a mapped class, or None when the table declares none."""
    found = getattr(model, "__owner__", None)
    return found if isinstance(found, Owner) else None


class MerchantOwned:
    """Rows a tenant store owns. Scoping by merchant is applied centrally (services.scoping)."""

    __owner__ = owned_by_merchant()

    @declared_attr
    def merchant_id(cls) -> Mapped[int]:
        return mapped_column(
            ForeignKey("merchants.id", ondelete="RESTRICT"), index=True, nullable=False,
            info=label(N_("Merchant")),
        )


class SoftDeleted:
    deleted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, nullable=True, index=True, info=label(N_("Deleted at"))
    )


@dataclass(frozen=True)
class AdminHints:
    """What a person needs to work with a table, next to the table itself.

    ``menu`` is one of MENUS; ``list``/``search``/``filters``/``sort`` name attributes
    (``"customer.name"`` follows a relationship). ``roles`` are the roles the default access
    matrix gives this table to (the matrix in seed/data is authoritative once loaded).

    ``list`` are the columns a list shows by default: the ones the job needs at a glance,
    few enough to fit a 1366 px screen. ``list_more`` are the further columns a person may
    switch on in the list's column chooser (remembered per person, schema/preferences.py).
    ``rank`` orders the entries of a menu by how often the job needs them: lower first,
    ties by table name. ``export`` names the columns of the list's XLSX/CSV download, in
    order; empty: every column the list offers.
    """

    label: str
    plural: str
    menu: str
    icon: str = "fa-solid fa-table"
    list: tuple[str, ...] = ()
    list_more: tuple[str, ...] = ()
    export: tuple[str, ...] = ()
    rank: int = 100
    search: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()
    default_sort: tuple[tuple[str, bool], ...] = (("id", True),)
    details_exclude: tuple[str, ...] = ()
    form_exclude: tuple[str, ...] = ()
    readonly: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


MENUS = (
    N_("Sales"),
    N_("Catalog"),
    N_("Delivery"),
    N_("Lockers"),
    N_("Marketing"),
    N_("Finance"),
    N_("Settings"),
    N_("People"),
)
