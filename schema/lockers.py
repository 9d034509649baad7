"""Parcel lockers: zones, lockers and cells, tariffs, parcels, cash collection, and the
merchant's prepaid ledger and weekly payouts (R-LOCK, R-RULE-8)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
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
    MerchantOwned,
    Money,
    UTCDateTime,
    enum_column,
    label,
    owned_by_merchant,
    utcnow,
)

if TYPE_CHECKING:
    from schema.couriers import Courier
    from schema.orders import Order
    from schema.people import Merchant, User


class CellSize(LabelledEnum):
    S = "s"
    M = "m"
    L = "l"
    XL = "xl"

    __labels__ = {"s": N_("Small"), "m": N_("Medium"), "l": N_("Large"), "xl": N_("Extra large")}


class CellState(LabelledEnum):
    FREE = "free"
    RESERVED = "reserved"
    OCCUPIED = "occupied"
    OUT_OF_ORDER = "out_of_order"

    __labels__ = {
        "free": N_("Free"),
        "reserved": N_("Reserved"),
        "occupied": N_("Occupied"),
        "out_of_order": N_("Out of order"),
    }


class DropMode(LabelledEnum):
    COURIER_PICKUP = "courier_pickup"
    SELF_DROP = "self_drop"

    __labels__ = {
        "courier_pickup": N_("Courier picks up"),
        "self_drop": N_("Store drops it itself"),
    }


class LedgerKind(LabelledEnum):
    DEPOSIT = "deposit"
    CHARGE = "charge"
    CASH_COLLECTED = "cash_collected"
    FEE = "fee"
    PAYOUT = "payout"
    ADJUSTMENT = "adjustment"

    __labels__ = {
        "deposit": N_("Deposit"),
        "charge": N_("Charge"),
        "cash_collected": N_("Cash collected"),
        "fee": N_("Fee"),
        "payout": N_("Payout"),
        "adjustment": N_("Adjustment"),
    }


class PayoutStatus(LabelledEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PAID = "paid"

    __labels__ = {"draft": N_("Draft"), "approved": N_("Approved"), "paid": N_("Paid")}


class Zone(Editable, Base):
    """A tariff zone (1 to 10)."""

    __tablename__ = "zones"
    __owner__ = SHARED
    __table_args__ = (CheckConstraint("number BETWEEN 1 AND 10", name="number_range"),)
    __admin__ = AdminHints(
        label=N_("Zone"), plural=N_("Zones"), menu=N_("Lockers"), rank=6, icon="fa-solid fa-map",
        list=("id", "number", "code", "name"), search=("code", "name"),
        sort=("number", "code", "name"), default_sort=(("number", False),),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True, info=label(N_("Code")))
    name: Mapped[str] = mapped_column(String(100), info=label(N_("Name")))
    number: Mapped[int] = mapped_column(Integer, unique=True, info=label(N_("Number")))

    def __str__(self) -> str:
        return self.name


class Locker(Editable, Base):
    __tablename__ = "lockers"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Parcel locker"), plural=N_("Parcel lockers"), menu=N_("Lockers"), rank=2,
        icon="fa-solid fa-table-cells", list=("code", "name", "city", "address", "zone",
                                              "active"),
        search=("code", "name", "city", "address"), filters=("zone_id", "city", "active"),
        sort=("code", "name", "city"), default_sort=(("code", False),),
        form_exclude=("cells",),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True, info=label(N_("Code")))
    name: Mapped[str] = mapped_column(String(200), index=True, info=label(N_("Name")))
    address: Mapped[str | None] = mapped_column(Text, info=label(N_("Address")))
    city: Mapped[str | None] = mapped_column(String(100), index=True, info=label(N_("City")))
    zone_id: Mapped[int | None] = mapped_column(
        ForeignKey("zones.id"), index=True, info=label(N_("Zone"))
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=label(N_("Active")))
    latitude: Mapped[float | None] = mapped_column(Float, info=label(N_("Latitude")))
    longitude: Mapped[float | None] = mapped_column(Float, info=label(N_("Longitude")))

    zone: Mapped[Zone | None] = relationship()
    cells: Mapped[list[LockerCell]] = relationship(
        back_populates="locker", cascade="all, delete-orphan", order_by="LockerCell.code"
    )

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class LockerCell(Editable, Base):
    """A cell of a locker; a technician can put it out of order (R-LOCK-1)."""

    __tablename__ = "locker_cells"
    __owner__ = SHARED
    __table_args__ = (
        UniqueConstraint("locker_id", "code"),
        # Finding a free cell of a size at a locker.
        Index("ix_locker_cells_locker_state_size", "locker_id", "state", "size"),
    )
    __admin__ = AdminHints(
        label=N_("Locker cell"), plural=N_("Locker cells"), menu=N_("Lockers"), rank=3,
        icon="fa-solid fa-box-archive", list=("id", "locker", "code", "size", "state"),
        search=("code",), filters=("locker_id", "size", "state"), sort=("id", "code"),
    )

    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id", ondelete="CASCADE"), index=True, info=label(N_("Locker"))
    )
    code: Mapped[str] = mapped_column(String(16), info=label(N_("Code")))
    size: Mapped[CellSize] = mapped_column(
        enum_column(CellSize), default=CellSize.M, index=True, info=label(N_("Size"))
    )
    state: Mapped[CellState] = mapped_column(
        enum_column(CellState), default=CellState.FREE, index=True, info=label(N_("State"))
    )

    locker: Mapped[Locker] = relationship(back_populates="cells")

    def __str__(self) -> str:
        return self.code


class LockerTariff(Editable, Base):
    """Prices by zone (and optionally cell size; empty = every size). A store that drops
    parcels itself pays storage only (R-RULE-8)."""

    __tablename__ = "locker_tariffs"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Locker tariff"), plural=N_("Locker tariffs"), menu=N_("Lockers"), rank=5,
        icon="fa-solid fa-money-check-dollar",
        list=(
            "id", "zone", "size", "pickup_price", "delivery_price", "storage_price_3_days",
            "currency", "storage_days",
        ),
        filters=("zone_id", "size", "currency"), sort=("id",),
    )

    zone_id: Mapped[int] = mapped_column(
        ForeignKey("zones.id"), index=True, info=label(N_("Zone"))
    )
    size: Mapped[CellSize | None] = mapped_column(
        enum_column(CellSize), info=label(N_("Cell size"))
    )
    pickup_price: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Pickup price"))
    )
    delivery_price: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Delivery price"))
    )
    storage_price_3_days: Mapped[Decimal] = mapped_column(
        Money, default=0, info=label(N_("Storage price (3 days)"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    storage_days: Mapped[int] = mapped_column(
        Integer, default=3, info=label(N_("Storage days"))
    )

    zone: Mapped[Zone] = relationship()

    def __str__(self) -> str:
        size = self.size.value.upper() if self.size else ""
        return f"{size} {self.pickup_price} {self.currency}".strip()


class Parcel(Editable, MerchantOwned, Base):
    """A merchant's parcel for a locker; ``status`` is a code of the parcel workflow."""

    __tablename__ = "parcels"
    __table_args__ = (
        Index("ix_parcels_merchant_status", "merchant_id", "status"),
        Index("ix_parcels_locker_status", "locker_id", "status"),
    )
    __admin__ = AdminHints(
        label=N_("Parcel"), plural=N_("Parcels"), menu=N_("Lockers"), rank=1,
        icon="fa-solid fa-box",
        list=(
            "barcode", "status", "locker", "cell", "recipient_name", "recipient_phone",
            "declared_price", "stored_until",
        ),
        list_more=("paid", "merchant"),
        search=("barcode", "recipient_name", "recipient_phone"),
        filters=(
            "status", "merchant_id", "locker_id", "courier_id", "drop_mode", "paid",
            "drop_date", "stored_until",
        ),
        sort=("barcode", "created_at", "status", "stored_until", "drop_date"),
        default_sort=(("created_at", True),),
        form_exclude=("pickup_code_hash",),
    )

    barcode: Mapped[str] = mapped_column(String(64), unique=True, info=label(N_("Barcode")))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id"), index=True, info=label(N_("Order"))
    )
    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id"), index=True, info=label(N_("Parcel locker"))
    )
    cell_id: Mapped[int | None] = mapped_column(
        ForeignKey("locker_cells.id"), index=True, info=label(N_("Cell"), service=True)
    )
    size: Mapped[CellSize | None] = mapped_column(
        enum_column(CellSize), info=label(N_("Cell size"))
    )
    status: Mapped[str] = mapped_column(
        String(32), default="created", index=True, info=label(N_("Status"), workflow=True)
    )
    # Cash to collect from the buyer; empty when the parcel is prepaid.
    declared_price: Mapped[Decimal | None] = mapped_column(
        Money, info=label(N_("Declared price"))
    )
    # Set by the parcel's journey (payment at the locker, the cell it is given, its deadline).
    paid: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Paid"), service=True)
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    recipient_name: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("Recipient"))
    )
    recipient_phone: Mapped[str | None] = mapped_column(
        String(32), index=True, info=label(N_("Recipient phone"))
    )
    pickup_code_hash: Mapped[str | None] = mapped_column(
        String(200), info=label(N_("Pickup code"), secret=True, service=True)
    )
    drop_mode: Mapped[DropMode] = mapped_column(
        enum_column(DropMode), default=DropMode.COURIER_PICKUP, info=label(N_("Drop-off"))
    )
    drop_date: Mapped[date | None] = mapped_column(
        Date, index=True, info=label(N_("Drop-off date"))
    )
    stored_until: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Stored until"), service=True)
    )
    courier_id: Mapped[int | None] = mapped_column(
        ForeignKey("couriers.id"), index=True, info=label(N_("Courier"))
    )
    weight_g: Mapped[int | None] = mapped_column(Integer, info=label(N_("Weight, g")))

    merchant: Mapped[Merchant] = relationship()
    order: Mapped[Order | None] = relationship()
    locker: Mapped[Locker] = relationship()
    cell: Mapped[LockerCell | None] = relationship()
    courier: Mapped[Courier | None] = relationship()

    def __str__(self) -> str:
        return self.barcode


class CashCollection(Editable, Base):
    """Cash taken out of a locker by a collector (R-LOCK-7); printed as a cash-collection act."""

    __tablename__ = "cash_collections"
    __owner__ = INTERNAL
    __admin__ = AdminHints(
        label=N_("Cash collection"), plural=N_("Cash collections"), menu=N_("Lockers"), rank=4,
        icon="fa-solid fa-sack-dollar",
        list=("id", "locker", "collector", "collected_at", "amount", "currency", "note"),
        filters=("locker_id", "collector_id", "collected_at"),
        sort=("id", "collected_at", "amount"), default_sort=(("collected_at", True),),
    )

    locker_id: Mapped[int] = mapped_column(
        ForeignKey("lockers.id"), index=True, info=label(N_("Parcel locker"))
    )
    collector_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), index=True, info=label(N_("Collector"))
    )
    collected_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Collected at"))
    )
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    note: Mapped[str | None] = mapped_column(Text, info=label(N_("Note")))

    locker: Mapped[Locker] = relationship()
    collector: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class Payout(Editable, MerchantOwned, Base):
    """A weekly settlement: the cash collected for the merchant minus the contract fee."""

    __tablename__ = "payouts"
    __owner__ = owned_by_merchant(tenant_writes=False)
    __table_args__ = (UniqueConstraint("merchant_id", "period_start", "period_end"),)
    __admin__ = AdminHints(
        label=N_("Payout"), plural=N_("Payouts"), menu=N_("Finance"), rank=4,
        icon="fa-solid fa-hand-holding-dollar",
        list=(
            "id", "merchant", "period_start", "period_end", "amount", "fee", "currency",
            "status", "paid_at",
        ),
        filters=("merchant_id", "status", "period_start", "paid_at"),
        sort=("id", "period_start", "amount", "paid_at"),
        default_sort=(("period_start", True),), form_exclude=("entries",),
    )

    period_start: Mapped[date] = mapped_column(
        Date, index=True, info=label(N_("Period start"))
    )
    period_end: Mapped[date] = mapped_column(Date, info=label(N_("Period end")))
    amount: Mapped[Decimal] = mapped_column(
        Money, default=0, index=True, info=label(N_("Amount"))
    )
    fee: Mapped[Decimal] = mapped_column(Money, default=0, info=label(N_("Fee")))
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    status: Mapped[PayoutStatus] = mapped_column(
        enum_column(PayoutStatus), default=PayoutStatus.DRAFT, index=True,
        info=label(N_("Status")),
    )
    paid_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Paid at"))
    )

    merchant: Mapped[Merchant] = relationship()
    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="payout", order_by="LedgerEntry.id"
    )

    def __str__(self) -> str:
        return f"{self.period_start} – {self.period_end}"


class LedgerEntry(Editable, MerchantOwned, Base):
    """One movement of a merchant's prepaid balance; ``amount`` is signed (+ credits the
    merchant). The merchant's ``balance`` is the running sum, so entries are written by the
    services only (readonly in the admin)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_merchant_at", "merchant_id", "at"),)
    __admin__ = AdminHints(
        label=N_("Ledger entry"), plural=N_("Merchant ledger"), menu=N_("Finance"), rank=5,
        icon="fa-solid fa-book", list=("id", "at", "merchant", "kind", "amount", "currency",
                                       "parcel", "payout", "description"),
        search=("description",),
        filters=("merchant_id", "kind", "parcel_id", "payout_id", "at"),
        sort=("id", "at", "amount"), default_sort=(("at", True),), readonly=True,
    )

    kind: Mapped[LedgerKind] = mapped_column(
        enum_column(LedgerKind), index=True, info=label(N_("Kind"))
    )
    amount: Mapped[Decimal] = mapped_column(Money, info=label(N_("Amount")))
    currency: Mapped[str] = mapped_column(Currency(), default="BYN", info=label(N_("Currency")))
    parcel_id: Mapped[int | None] = mapped_column(
        ForeignKey("parcels.id"), index=True, info=label(N_("Parcel"))
    )
    payout_id: Mapped[int | None] = mapped_column(
        ForeignKey("payouts.id"), index=True, info=label(N_("Payout"))
    )
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))
    at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Date"))
    )

    merchant: Mapped[Merchant] = relationship()
    parcel: Mapped[Parcel | None] = relationship()
    payout: Mapped[Payout | None] = relationship(back_populates="entries")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
